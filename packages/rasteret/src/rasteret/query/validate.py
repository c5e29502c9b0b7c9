"""Validation of dates and boxes shared by builds, ``subset`` and the CLI (stdlib only).

Dates are parsed without pandas. A *reduced-precision* value (``"2024"``, ``"2024-03"``,
``"2024-03-31"`` or a ``datetime.date``) denotes a whole period: as the start of a range it
means the period's first instant, as the end it means the whole period is included (rasteret
0.4.1 treated a date-only end as midnight and dropped the rest of that day).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rasteret.errors import InvalidInputError

__all__ = [
    "Box",
    "DateBound",
    "numbers",
    "parse_date_bound",
    "validate_bbox",
    "validate_date_range",
]

Box = tuple[float, float, float, float]
"""``(west, south, east, north)`` / ``(minx, miny, maxx, maxy)``."""

_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class DateBound:
    """A parsed date or instant.

    Attributes:
        start: First instant covered (naive UTC).
        stop: First instant *after* the value: the next day / month / year for reduced
            precision, else ``None`` (an exact instant).
        text: The ISO text of ``start`` (date only when reduced precision).
    """

    start: _dt.datetime
    stop: _dt.datetime | None
    text: str

    @property
    def exact(self) -> bool:
        """Whether the value is an exact instant (not a whole day / month / year)."""
        return self.stop is None


def _naive_utc(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value.replace(tzinfo=None)


def _next_month(year: int, month: int) -> _dt.datetime:
    return _dt.datetime(year + (month == 12), month % 12 + 1, 1)


def parse_date_bound(value: Any, *, what: str = "date") -> DateBound:
    """Parse one end of a date range.

    Args:
        value: ISO 8601 string (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or a full timestamp,
            ``Z``/offsets allowed and converted to UTC), ``datetime.date``,
            ``datetime.datetime`` (pandas ``Timestamp`` included) or ``numpy.datetime64``.
        what: Name used in error messages.

    Raises:
        InvalidInputError: Empty or unparseable value.
    """
    if hasattr(value, "dtype") and str(getattr(value, "dtype", "")).startswith("datetime64"):
        value = str(value)  # numpy.datetime64 -> ISO text
    if isinstance(value, _dt.datetime):
        v = _naive_utc(value)
        return DateBound(v, None, v.isoformat())
    if isinstance(value, _dt.date):
        d = _dt.datetime(value.year, value.month, value.day)
        return DateBound(d, d + _dt.timedelta(days=1), value.isoformat())
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} must be an ISO date string, date or datetime, got {type(value).__name__}"
        )
    text = value.strip()
    if not text:
        raise InvalidInputError(f"{what} is empty; expected an ISO date like '2024-01-31'")
    if _YEAR.match(text):
        y = int(text)
        return DateBound(_dt.datetime(y, 1, 1), _dt.datetime(y + 1, 1, 1), text)
    m = _MONTH.match(text)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise InvalidInputError(f"{what} {value!r} has an invalid month")
        return DateBound(_dt.datetime(y, mo, 1), _next_month(y, mo), text)
    if len(text) == 10:
        try:
            day = _dt.date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInputError(f"{what} {value!r} is not a valid ISO date: {exc}") from None
        return parse_date_bound(day, what=what)
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what} {value!r} is not an ISO 8601 date or timestamp "
            "(examples: '2024-01-31', '2024-01-31T12:00:00Z')"
        ) from None
    v = _naive_utc(parsed)
    return DateBound(v, None, v.isoformat())


def validate_date_range(date_range: Any) -> tuple[DateBound, DateBound]:
    """Validate a ``(start, end)`` pair and return both parsed ends.

    Raises:
        InvalidInputError: Not a pair, an end that does not parse, or start after end.
    """
    if isinstance(date_range, str) or not isinstance(date_range, Sequence) or len(date_range) != 2:
        raise InvalidInputError(
            f"date_range must be a (start, end) pair such as ('2024-01-01', '2024-01-31'), "
            f"got {date_range!r}"
        )
    start = parse_date_bound(date_range[0], what="date_range start")
    end = parse_date_bound(date_range[1], what="date_range end")
    after_end = start.start > end.start if end.stop is None else start.start >= end.stop
    if after_end:
        raise InvalidInputError(
            f"date_range start {start.text} is after its end {end.text}; pass (start, end)"
        )
    return start, end


def numbers(values: Any, count: int, expected: str) -> tuple[float, ...]:
    """``values`` as ``count`` floats.

    Raises:
        InvalidInputError: ``expected``, followed by what was given.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | Iterable):
        raise InvalidInputError(f"{expected}, got {values!r}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{expected}, got {values!r}") from None
    if len(out) != count:
        raise InvalidInputError(f"{expected}, got {values!r}")
    return out


def validate_bbox(bbox: Any, *, what: str = "bbox", allow_degenerate: bool = False) -> Box:
    """Validate ``(west, south, east, north)`` and return it as floats.

    Args:
        bbox: The box.
        what: Name used in error messages.
        allow_degenerate: Accept west == east / south == north (a line or point box).

    Raises:
        InvalidInputError: Wrong length, non-numeric or non-finite values, or an inverted box
            (west >= east or south >= north).
    """
    w, s, e, n = numbers(bbox, 4, f"{what} must be 4 numbers (west, south, east, north)")
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InvalidInputError(f"{what} values must be finite, got {bbox!r}")
    if w > e or (w == e and not allow_degenerate):
        raise InvalidInputError(
            f"{what} west ({w}) must be less than east ({e}); order is (west, south, east, north)"
        )
    if s > n or (s == n and not allow_degenerate):
        raise InvalidInputError(
            f"{what} south ({s}) must be less than north ({n}); order is (west, south, east, north)"
        )
    return w, s, e, n
