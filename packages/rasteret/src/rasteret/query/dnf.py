"""``subset`` criteria as disjunctive normal form, and the min/max test that prunes row groups.

A streaming scan (``hf://`` collections) cannot hand a ``pyarrow.dataset`` expression to a
dataset scanner; it reads Parquet files itself. :func:`subset_dnf` turns validated
:class:`~rasteret.query.filters.Subset` criteria into clauses ``((field, op, value), ...)``
(an OR of ANDs; ``field`` is a column name or a struct path such as ``("bbox", "xmin")``;
``op`` is one of ``== >= <= > < in``), and :func:`may_match` decides from a row group's column
statistics whether any of its rows can satisfy them. The exact filter is applied to the rows
read afterwards (:meth:`Subset.expression`), so pruning only ever skips row groups that hold
no match.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rasteret.query.filters import Subset
from rasteret_catalog.schema import BboxField, Col

__all__ = [
    "Clause",
    "ColumnStats",
    "Dnf",
    "FieldPath",
    "Predicate",
    "and_dnf",
    "criteria_dnf",
    "may_match",
    "subset_dnf",
]

FieldPath = str | tuple[str, ...]
Predicate = tuple[FieldPath, str, Any]
Clause = tuple[Predicate, ...]
Dnf = tuple[Clause, ...]

OPS = ("==", ">=", "<=", ">", "<", "in")


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Min / max statistics of one column chunk.

    Attributes:
        min: Smallest non-null value (None when unknown).
        max: Largest non-null value (None when unknown).
        all_null: Every value of the chunk is null (no predicate can hold).
    """

    min: Any
    max: Any
    all_null: bool = False


def _box_dnf(box: tuple[float, float, float, float]) -> Dnf:
    """Rows whose bbox overlaps ``box``, as :func:`rasteret.query.filters.overlap` tests it:
    a plain overlap, or a bbox crossing the antimeridian (``xmin > 0 > xmax``) one of whose
    halves meets ``box``."""
    minx, miny, maxx, maxy = box
    b = Col.BBOX.value
    west: Predicate = ((b, BboxField.XMIN.value), "<=", maxx)
    east: Predicate = ((b, BboxField.XMAX.value), ">=", minx)
    lat: Clause = (
        ((b, BboxField.YMIN.value), "<=", maxy),
        ((b, BboxField.YMAX.value), ">=", miny),
    )
    crossing: Clause = (((b, BboxField.XMIN.value), ">", 0), ((b, BboxField.XMAX.value), "<", 0))
    out: list[Clause] = [(west, east, *lat)]
    if maxx > 0:  # a crossing bbox's eastern half, [xmin > 0, 180], can reach the box
        out.append((*crossing, west, *lat))
    if minx < 0:  # its western half, [-180, xmax < 0]
        out.append((*crossing, east, *lat))
    return tuple(out)


def subset_dnf(criteria: Subset) -> Dnf:
    """The criteria as DNF clauses (every given criterion holds; geometries are ORed)."""
    common: list[Predicate] = []
    if criteria.cloud_cover_lt is not None:
        common.append((Col.CLOUD_COVER.value, "<", criteria.cloud_cover_lt))
    if criteria.date_range is not None:
        start, end = criteria.date_range
        common.append((Col.DATETIME.value, ">=", start.start))
        if end.stop is None:
            common.append((Col.DATETIME.value, "<=", end.start))
        else:
            common.append((Col.DATETIME.value, "<", end.stop))
    if criteria.split is not None:
        names = criteria.split
        if len(names) == 1:
            common.append((criteria.split_column, "==", names[0]))
        else:
            common.append((criteria.split_column, "in", tuple(names)))
    out: Dnf = (tuple(common),)
    if criteria.bbox is not None:
        out = and_dnf(out, _box_dnf(criteria.bbox))
    if criteria.geometry_boxes is not None:
        out = and_dnf(out, tuple(c for box in criteria.geometry_boxes for c in _box_dnf(box)))
    return out


def and_dnf(a: Dnf | None, b: Dnf) -> Dnf:
    """``a AND b`` in DNF (clause cross product)."""
    if a is None:
        return b
    return tuple(x + y for x in a for y in b)


def criteria_dnf(criteria: Iterable[Subset]) -> Dnf | None:
    """AND of several criteria (None when there are none)."""
    out: Dnf | None = None
    for c in criteria:
        out = and_dnf(out, subset_dnf(c))
    return out


def _comparable(value: Any, stat: Any) -> tuple[Any, Any]:
    """Bring a predicate value and a statistic to comparable Python values."""
    if isinstance(stat, bytes) and isinstance(value, str):
        stat = stat.decode("utf-8", "replace")
    if isinstance(stat, _dt.datetime) and isinstance(value, _dt.datetime):
        if stat.tzinfo is not None:
            stat = stat.astimezone(_dt.UTC).replace(tzinfo=None)
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value, stat


def _cannot_hold(op: str, value: Any, stats: ColumnStats) -> bool:
    """Whether ``column op value`` is false for every row of a chunk with ``stats``."""
    if stats.all_null:
        return True
    lo, hi = stats.min, stats.max
    if lo is None or hi is None:
        return False
    try:
        if op == "in":
            return all(_cannot_hold("==", v, stats) for v in value)
        v, lo = _comparable(value, lo)
        v, hi = _comparable(value, hi)
        if op == "==":
            return bool(v < lo or v > hi)
        if op == ">=":
            return bool(hi < v)
        if op == ">":
            return bool(hi <= v)
        if op == "<=":
            return bool(lo > v)
        if op == "<":
            return bool(lo >= v)
    except TypeError:  # incomparable statistic (another type): keep the row group
        return False
    return False


def may_match(dnf: Dnf, stats: Callable[[FieldPath], ColumnStats | None]) -> bool:
    """Whether a row group with these column ``stats`` may hold a row satisfying ``dnf``.

    Args:
        dnf: Clauses (OR of ANDs).
        stats: Statistics of a column of the row group (None when there are none).
    """
    for clause in dnf:
        if not any(
            (s := stats(field)) is not None and _cannot_hold(op, value, s)
            for field, op, value in clause
        ):
            return True
    return False
