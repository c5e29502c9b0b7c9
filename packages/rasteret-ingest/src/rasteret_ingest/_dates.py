"""Date-range bounds as UTC instants (STAC searches, static-catalog filtering, updates)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

__all__ = ["utc_instant"]


def utc_instant(value: Any, *, end: bool = False) -> _dt.datetime:
    """``value`` (datetime, date or ISO text) as a UTC instant.

    A date-only value is that day's first microsecond, or its last when it is an ``end``
    bound (so that an end date covers its whole day); naive values are taken as UTC.

    Raises:
        ValueError: Text that is not an ISO date or datetime.
    """
    if isinstance(value, _dt.datetime):
        d = value
    elif isinstance(value, _dt.date):
        d = _dt.datetime.combine(value, _dt.time.max if end else _dt.time.min)
    else:
        s = str(value)
        if len(s) <= 10:
            day = _dt.date.fromisoformat(s)
            d = _dt.datetime.combine(day, _dt.time.max if end else _dt.time.min)
        else:
            d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return d.replace(tzinfo=_dt.UTC) if d.tzinfo is None else d.astimezone(_dt.UTC)
