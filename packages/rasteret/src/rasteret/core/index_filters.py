"""``subset`` criteria translated onto a record index, and staged onto the wide data.

For each criterion, :func:`translate` finds the index column playing the contract role
(``field_roles``), checks that the index is declared able to filter on it
(``filter_capabilities`` / ``surface_fields`` of surface ``index``) and that the column has a
usable type, and builds the index expression. An integer-year ``datetime`` role (AEF's
``year``) matches every year the date range touches: a record of year *Y* covers *Y-01-01* to
*Y-12-31*. The same criterion is *staged* onto the wide scan when the ``collection`` surface
supports it, with the same meaning (a date range on integer years is widened to whole years),
so that scans of wide data prune row groups by statistics and never disagree with the index.

A criterion the index cannot serve comes back as :class:`Unserved`, with the reason; the
collection then falls back to the wide data for that view (see :mod:`rasteret.core.record_index`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.core.index_spec import INDEX, WIDE, RecordIndexSpec
from rasteret.query.filters import (
    Subset,
    bbox_fields,
    date_expression,
    overlap,
    split_expression,
)
from rasteret.query.validate import Box, DateBound, parse_date_bound
from rasteret_catalog.schema import BboxField, Col

__all__ = ["Pushdown", "Unserved", "on_wide", "translate"]

_OnIndex = tuple[str, str, Callable[[pa.Field], ds.Expression | str]]


@dataclass(frozen=True, slots=True)
class Pushdown:
    """Criteria the index evaluates.

    Attributes:
        index: The expression on index columns.
        wide: The same criteria on the wide data's contract columns (None when the
            ``collection`` surface cannot take all of them; the index then decides alone).
    """

    index: ds.Expression
    wide: Subset | None


@dataclass(frozen=True, slots=True)
class Unserved:
    """Criteria the index cannot evaluate, and why (for the log and the error messages)."""

    criterion: str
    reason: str


def _field(schema: pa.Schema, column: str) -> pa.Field | None:
    idx = schema.get_field_index(column)
    return None if idx < 0 else schema.field(idx)


def _year_bounds(date_range: tuple[DateBound, DateBound]) -> tuple[int, int]:
    start, end = date_range
    last = end.start if end.stop is None else end.stop - _dt.timedelta(microseconds=1)
    return start.start.year, last.year


def _years(date_range: tuple[DateBound, DateBound]) -> tuple[DateBound, DateBound]:
    """The whole years ``date_range`` touches (``("2022-03-01", "2023-02-01")`` -> 2022..2023)."""
    first, last = _year_bounds(date_range)
    return parse_date_bound(str(first)), parse_date_bound(str(last))


def _date_on_index(
    f: pa.Field, date_range: tuple[DateBound, DateBound], schema: pa.Schema
) -> ds.Expression | None:
    col = ds.field(f.name)
    t = f.type
    if pa.types.is_integer(t):
        first_year, last_year = _year_bounds(date_range)
        return (col >= first_year) & (col <= last_year)
    if pa.types.is_timestamp(t):
        return date_expression(schema, date_range, column=f.name)
    if pa.types.is_date(t):
        start, end = date_range
        last_instant = end.start if end.stop is None else end.stop - _dt.timedelta(microseconds=1)
        lo = pa.scalar(start.start.date(), pa.date32()).cast(t)
        hi = pa.scalar(last_instant.date(), pa.date32()).cast(t)
        return (col >= lo) & (col <= hi)
    return None


def _integer_years(spec: RecordIndexSpec, schema: pa.Schema) -> bool:
    f = _field(schema, spec.column(Col.DATETIME))
    return f is not None and pa.types.is_integer(f.type)


def _is_bbox_struct(f: pa.Field | None) -> bool:
    return (
        f is not None
        and pa.types.is_struct(f.type)
        and all(f.type.get_field_index(k.value) >= 0 for k in BboxField)
    )


def _number_on_index(f: pa.Field, limit: float) -> ds.Expression | str:
    if not (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)):
        return f"index column {f.name!r} is {f.type}, not a number"
    return ds.field(f.name) < limit


def _dates_on_index(
    f: pa.Field, date_range: tuple[DateBound, DateBound], schema: pa.Schema
) -> ds.Expression | str:
    expr = _date_on_index(f, date_range, schema)
    return f"index column {f.name!r} holds {f.type}, not dates" if expr is None else expr


def _boxes_on_index(f: pa.Field, boxes: tuple[Box, ...]) -> ds.Expression | str:
    if not _is_bbox_struct(f):
        return f"index column {f.name!r} is not a bbox struct"
    fields = bbox_fields(f.name)
    expr = overlap(boxes[0], fields)
    for box in boxes[1:]:
        expr = expr | overlap(box, fields)
    return expr


def _split_on_index(f: pa.Field, names: tuple[str, ...], schema: pa.Schema) -> ds.Expression:
    return split_expression(schema, names, f.name)


def _on_index(criteria: Subset, schema: pa.Schema) -> Iterator[_OnIndex]:
    """Each given criterion: its text, the contract role (capability) it filters on, and
    how it becomes an expression on the index column of that role (or why it cannot)."""
    if criteria.cloud_cover_lt is not None:
        limit = criteria.cloud_cover_lt
        yield f"cloud_cover_lt={limit:g}", Col.CLOUD_COVER, partial(_number_on_index, limit=limit)
    if criteria.date_range is not None:
        start, end = criteria.date_range
        on = partial(_dates_on_index, date_range=criteria.date_range, schema=schema)
        yield f"date_range=({start.text}, {end.text})", Col.DATETIME, on
    if criteria.bbox is not None:
        yield "bbox", Col.BBOX, partial(_boxes_on_index, boxes=(criteria.bbox,))
    if criteria.geometry_boxes is not None:
        yield "geometries", Col.BBOX, partial(_boxes_on_index, boxes=criteria.geometry_boxes)
    if criteria.split is not None:
        on = partial(_split_on_index, names=criteria.split, schema=schema)
        yield f"split={list(criteria.split)}", criteria.split_column, on


def translate(criteria: Subset, spec: RecordIndexSpec, schema: pa.Schema) -> Pushdown | Unserved:
    """``criteria`` on the record index with ``schema``, or why they cannot run there."""
    parts: list[ds.Expression] = []
    staged = True
    for what, capability, on_index in _on_index(criteria, schema):
        if not spec.supports(INDEX, capability):
            return Unserved(what, f"the index is not declared to filter on {str(capability)!r}")
        column = spec.column(capability)
        f = _field(schema, column)
        if f is None:
            return Unserved(what, f"the index has no {column!r} column")
        expr = on_index(f)
        if isinstance(expr, str):
            return Unserved(what, expr)
        parts.append(expr)
        staged = staged and spec.supports(WIDE, capability)
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return Pushdown(out, on_wide(criteria, spec, schema) if staged else None)


def on_wide(criteria: Subset, spec: RecordIndexSpec, index_schema: pa.Schema) -> Subset:
    """``criteria`` with the meaning they have on the index, for a scan of the wide data.

    A date range on an integer-year index matches whole years; the wide data's ``datetime``
    is a timestamp, so the range is widened to those years.
    """
    if criteria.date_range is None or not _integer_years(spec, index_schema):
        return criteria
    return replace(criteria, date_range=_years(criteria.date_range))
