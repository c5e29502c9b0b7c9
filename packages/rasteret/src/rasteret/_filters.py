"""Translate ``Collection.subset`` arguments into ``pyarrow.dataset`` expressions."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret._geometry import geometry_bounds
from rasteret._validate import validate_bbox, validate_date_range
from rasteret.errors import InvalidFilterError
from rasteret_catalog.schema import BboxField, Col

__all__ = ["build_subset_expression", "combine"]


def combine(a: ds.Expression | None, b: ds.Expression | None) -> ds.Expression | None:
    """AND two optional expressions."""
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _require(schema: pa.Schema, column: str, why: str) -> pa.Field:
    column = str(column)
    idx = schema.get_field_index(column)
    if idx < 0:
        raise InvalidFilterError(
            f"{why} needs a {column!r} column, which this collection does not have "
            f"(columns: {', '.join(schema.names)})"
        )
    return schema.field(idx)


def _bbox_struct(schema: pa.Schema, why: str) -> None:
    f = _require(schema, Col.BBOX, why)
    if not pa.types.is_struct(f.type) or not all(f.type.get_field_index(k) >= 0 for k in BboxField):
        raise InvalidFilterError(
            f"{why} needs 'bbox' to be a struct<xmin, ymin, xmax, ymax>, got {f.type}"
        )


def _overlap(box: tuple[float, float, float, float]) -> ds.Expression:
    """Rows whose bbox struct overlaps ``box`` (touching counts)."""
    minx, miny, maxx, maxy = box
    return (
        (ds.field(Col.BBOX, BboxField.XMIN) <= maxx)
        & (ds.field(Col.BBOX, BboxField.XMAX) >= minx)
        & (ds.field(Col.BBOX, BboxField.YMIN) <= maxy)
        & (ds.field(Col.BBOX, BboxField.YMAX) >= miny)
    )


def _ts_scalar(value: _dt.datetime, field_type: pa.DataType) -> pa.Scalar:
    if getattr(field_type, "tz", None):
        value = value.replace(tzinfo=_dt.UTC)
    return pa.scalar(value, type=field_type)


def cloud_cover_expression(schema: pa.Schema, value: Any) -> ds.Expression:
    """``eo:cloud_cover < value`` (strict)."""
    _require(schema, Col.CLOUD_COVER, "cloud_cover_lt")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFilterError(
            f"cloud_cover_lt must be a number in [0, 100], got {type(value).__name__}"
        )
    if not 0 <= value <= 100:
        raise InvalidFilterError(f"cloud_cover_lt must be in [0, 100], got {value}")
    return ds.field(Col.CLOUD_COVER) < value


def date_range_expression(schema: pa.Schema, date_range: Any) -> ds.Expression:
    """Rows whose ``datetime`` falls in ``date_range``.

    Both ends are inclusive. A reduced-precision end (a date, a month, a year) includes the
    whole period: ``("2024-01-01", "2024-01-31")`` keeps a record at ``2024-01-31T23:00``.
    """
    f = _require(schema, Col.DATETIME, "date_range")
    if not pa.types.is_timestamp(f.type):
        raise InvalidFilterError(f"date_range needs a timestamp 'datetime' column, got {f.type}")
    start, end = validate_date_range(date_range)
    expr = ds.field(Col.DATETIME) >= _ts_scalar(start.start, f.type)
    if end.stop is None:
        return expr & (ds.field(Col.DATETIME) <= _ts_scalar(end.start, f.type))
    return expr & (ds.field(Col.DATETIME) < _ts_scalar(end.stop, f.type))


def bbox_expression(schema: pa.Schema, bbox: Any) -> ds.Expression:
    """Rows whose lon/lat ``bbox`` overlaps ``bbox``."""
    _bbox_struct(schema, "bbox")
    return _overlap(validate_bbox(bbox, allow_degenerate=True))


def geometries_expression(schema: pa.Schema, geometries: Any) -> ds.Expression:
    """Rows overlapping the bounding box of any of ``geometries`` (lon/lat assumed)."""
    _bbox_struct(schema, "geometries")
    boxes = geometry_bounds(geometries)
    if not boxes:
        raise InvalidFilterError("geometries is empty; pass at least one geometry")
    expr: ds.Expression | None = None
    for box in boxes:
        e = _overlap(box)
        expr = e if expr is None else (expr | e)
    assert expr is not None
    return expr


def split_expression(schema: pa.Schema, split: Any, split_column: str) -> ds.Expression:
    """Rows whose ``split_column`` equals ``split`` (a str) or is in ``split`` (strings)."""
    values: list[str] | None = None
    if isinstance(split, str):
        values = [split]
    elif isinstance(split, Iterable) and not isinstance(split, bytes | dict):
        values = list(split)
        if not values or not all(isinstance(v, str) for v in values):
            values = None
    if values is None:
        raise InvalidFilterError(
            f"Invalid split filter {split!r}: pass a split name or a non-empty list of names"
        )
    idx = schema.get_field_index(split_column)
    if idx < 0:
        raise InvalidFilterError(
            f"collection has no split column {split_column!r}; pass split_column= "
            f"(columns: {', '.join(schema.names)})"
        )
    typ = schema.field(idx).type
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    try:
        typed = pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        typed = pa.array(values)
    if len(values) == 1:
        return ds.field(split_column) == typed[0]
    return ds.field(split_column).isin(typed)


def build_subset_expression(
    schema: pa.Schema,
    *,
    cloud_cover_lt: Any = None,
    date_range: Sequence[Any] | None = None,
    bbox: Sequence[float] | None = None,
    geometries: Any = None,
    split: str | Sequence[str] | None = None,
    split_column: str = "split",
) -> ds.Expression:
    """AND together the expressions of every given criterion.

    Raises:
        InvalidFilterError: No criterion given, or one is invalid for ``schema``.
    """
    parts: list[ds.Expression] = []
    if cloud_cover_lt is not None:
        parts.append(cloud_cover_expression(schema, cloud_cover_lt))
    if date_range is not None:
        parts.append(date_range_expression(schema, date_range))
    if bbox is not None:
        parts.append(bbox_expression(schema, bbox))
    if geometries is not None:
        parts.append(geometries_expression(schema, geometries))
    if split is not None:
        parts.append(split_expression(schema, split, split_column))
    if not parts:
        raise InvalidFilterError(
            "No filters provided: pass at least one of cloud_cover_lt, date_range, bbox, "
            "geometries or split"
        )
    expr = parts[0]
    for p in parts[1:]:
        expr = expr & p
    return expr
