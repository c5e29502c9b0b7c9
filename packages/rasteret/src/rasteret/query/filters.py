"""``Collection.subset`` criteria as one validated value, and their ``pyarrow`` expressions.

:class:`Subset` is built once from the keywords of ``subset`` (or the ``**filters`` of a read)
with every value checked; :meth:`Subset.expression` then needs only the schema to check the
columns and build the dataset filter.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.errors import InvalidFilterError
from rasteret.query.geometry import geometry_bounds
from rasteret.query.validate import Box, DateBound, validate_bbox, validate_date_range
from rasteret_catalog.schema import BboxField, Col

__all__ = [
    "FILTER_KEYWORDS",
    "Subset",
    "bbox_fields",
    "combine",
    "date_expression",
    "overlap",
    "require_column",
    "split_expression",
]

FILTER_KEYWORDS = ("cloud_cover_lt", "date_range", "bbox", "geometries", "split", "split_column")
"""The keywords of ``subset``, also accepted as ``**filters`` by the reads."""


def combine(a: ds.Expression | None, b: ds.Expression | None) -> ds.Expression | None:
    """AND two optional expressions."""
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def bbox_fields(column: str = Col.BBOX) -> tuple[ds.Expression, ...]:
    """``(xmin, ymin, xmax, ymax)`` fields of the bbox struct ``column``."""
    return tuple(ds.field(column, k.value) for k in BboxField)


def overlap(box: Box, fields: Sequence[ds.Expression] | None = None) -> ds.Expression:
    """Rows whose bbox overlaps ``box`` (touching counts).

    A row bbox with ``xmin > 0 > xmax`` crosses the antimeridian (the STAC / GeoJSON form): it
    covers ``[xmin, 180]`` and ``[-180, xmax]`` and overlaps ``box`` when either part does.
    The crossing test compares each bound with 0, not the two bounds with each other, so that
    Parquet row-group statistics still prune on longitude (a comparison of two columns
    cannot be decided from statistics, and would make every row group a candidate): only the
    row groups that straddle the prime meridian lose longitude pruning. A footprint wider
    than 180 degrees that crosses the antimeridian with both bounds on one side of 0 (not a
    scene footprint) is not matched.

    Args:
        box: ``(minx, miny, maxx, maxy)``.
        fields: ``(xmin, ymin, xmax, ymax)`` of each row's bbox (default: the ``bbox`` struct).
    """
    minx, miny, maxx, maxy = box
    xmin, ymin, xmax, ymax = fields if fields is not None else bbox_fields()
    west, east = xmin <= maxx, xmax >= minx  # both: a plain overlap; either: a crossing one
    crossing = (xmin > 0) & (xmax < 0)  # decidable from statistics, unlike xmin > xmax
    in_x = west & east
    if maxx > 0:  # a crossing bbox's eastern half, [xmin > 0, 180], can reach the box
        in_x = in_x | (crossing & west)
    if minx < 0:  # its western half, [-180, xmax < 0]
        in_x = in_x | (crossing & east)
    return in_x & (ymin <= maxy) & (ymax >= miny)


def _split_names(split: Any) -> tuple[str, ...]:
    values: list[Any] | None = None
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
    return tuple(values)


def _cloud_cover(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFilterError(
            f"cloud_cover_lt must be a number in [0, 100], got {type(value).__name__}"
        )
    if not 0 <= value <= 100:
        raise InvalidFilterError(f"cloud_cover_lt must be in [0, 100], got {value}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Subset:
    """Validated ``subset`` criteria; every given one must hold.

    Attributes:
        cloud_cover_lt: Keep ``eo:cloud_cover < value``.
        date_range: Parsed ``(start, end)``, both inclusive (a date-only end includes its day).
        bbox: Lon/lat box; records whose bbox overlaps it.
        geometry_boxes: Lon/lat bounds of ``geometries``; records overlapping any of them.
        split: Split names matched on ``split_column``.
        split_column: Column holding split names.
    """

    cloud_cover_lt: float | None = None
    date_range: tuple[DateBound, DateBound] | None = None
    bbox: Box | None = None
    geometry_boxes: tuple[Box, ...] | None = None
    split: tuple[str, ...] | None = None
    split_column: str = "split"

    @classmethod
    def build(
        cls,
        *,
        cloud_cover_lt: Any = None,
        date_range: Any = None,
        bbox: Any = None,
        geometries: Any = None,
        split: Any = None,
        split_column: str = "split",
    ) -> Subset:
        """Check every given criterion.

        Raises:
            InvalidFilterError: No criterion given, or an invalid value (an
                :class:`~rasteret.errors.InvalidInputError` for a bad date range or bbox).
        """
        if all(v is None for v in (cloud_cover_lt, date_range, bbox, geometries, split)):
            raise InvalidFilterError(
                "No filters provided: pass at least one of cloud_cover_lt, date_range, bbox, "
                "geometries or split"
            )
        boxes = None
        if geometries is not None:
            boxes = tuple(geometry_bounds(geometries))
            if not boxes:
                raise InvalidFilterError("geometries is empty; pass at least one geometry")
        return cls(
            cloud_cover_lt=None if cloud_cover_lt is None else _cloud_cover(cloud_cover_lt),
            date_range=None if date_range is None else validate_date_range(date_range),
            bbox=None if bbox is None else validate_bbox(bbox, allow_degenerate=True),
            geometry_boxes=boxes,
            split=None if split is None else _split_names(split),
            split_column=str(split_column),
        )

    @classmethod
    def from_keywords(cls, filters: Mapping[str, Any]) -> Subset | None:
        """The criteria of a read's ``**filters`` (None when there are none).

        Raises:
            TypeError: A keyword that is not a ``subset`` criterion.
        """
        if not filters:
            return None
        unknown = sorted(set(filters) - set(FILTER_KEYWORDS))
        if unknown:
            raise TypeError(
                f"unexpected keyword argument(s) {unknown}; filters accepted: "
                f"{list(FILTER_KEYWORDS)}"
            )
        return cls.build(**filters)

    def expression(self, schema: pa.Schema) -> ds.Expression:
        """The dataset filter of these criteria on ``schema``.

        Raises:
            InvalidFilterError: A criterion needs a column ``schema`` lacks (or of another type).
        """
        parts: list[ds.Expression] = []
        if self.cloud_cover_lt is not None:
            _require(schema, Col.CLOUD_COVER, "cloud_cover_lt")
            parts.append(ds.field(Col.CLOUD_COVER) < self.cloud_cover_lt)
        if self.date_range is not None:
            parts.append(_date_expression(schema, *self.date_range))
        if self.bbox is not None:
            _bbox_struct(schema, "bbox")
            parts.append(overlap(self.bbox))
        if self.geometry_boxes is not None:
            _bbox_struct(schema, "geometries")
            expr = overlap(self.geometry_boxes[0])
            for box in self.geometry_boxes[1:]:
                expr = expr | overlap(box)
            parts.append(expr)
        if self.split is not None:
            parts.append(_split_expression(schema, self.split, self.split_column))
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return out


def require_column(schema: pa.Schema, column: str, missing: str) -> pa.Field:
    """The field ``column`` of ``schema``.

    Raises:
        InvalidFilterError: ``missing``, followed by the schema's columns.
    """
    idx = schema.get_field_index(str(column))
    if idx < 0:
        raise InvalidFilterError(f"{missing} (columns: {', '.join(schema.names)})")
    return schema.field(idx)


def _require(schema: pa.Schema, column: str, why: str) -> pa.Field:
    return require_column(
        schema, column, f"{why} needs a {str(column)!r} column, which this collection does not have"
    )


def _bbox_struct(schema: pa.Schema, why: str) -> None:
    f = _require(schema, Col.BBOX, why)
    if not pa.types.is_struct(f.type) or not all(f.type.get_field_index(k) >= 0 for k in BboxField):
        raise InvalidFilterError(
            f"{why} needs 'bbox' to be a struct<xmin, ymin, xmax, ymax>, got {f.type}"
        )


def _ts_scalar(value: _dt.datetime, field_type: pa.DataType) -> pa.Scalar:
    if getattr(field_type, "tz", None):
        value = value.replace(tzinfo=_dt.UTC)
    return pa.scalar(value, type=field_type)


def _date_expression(
    schema: pa.Schema, start: DateBound, end: DateBound, column: str = Col.DATETIME
) -> ds.Expression:
    """Rows whose ``column`` (default ``datetime``) falls in ``[start, end]``.

    A reduced-precision end (a date, a month, a year) includes the whole period:
    ``("2024-01-01", "2024-01-31")`` keeps a record at ``2024-01-31T23:00``.
    """
    f = _require(schema, column, "date_range")
    if not pa.types.is_timestamp(f.type):
        raise InvalidFilterError(
            f"date_range needs a timestamp {str(column)!r} column, got {f.type}"
        )
    expr = ds.field(column) >= _ts_scalar(start.start, f.type)
    if end.stop is None:
        return expr & (ds.field(column) <= _ts_scalar(end.start, f.type))
    return expr & (ds.field(column) < _ts_scalar(end.stop, f.type))


def date_expression(
    schema: pa.Schema, date_range: tuple[DateBound, DateBound], column: str = Col.DATETIME
) -> ds.Expression:
    """Rows whose timestamp ``column`` falls in the parsed ``date_range`` (ends inclusive).

    Raises:
        InvalidFilterError: ``column`` is missing or not a timestamp.
    """
    return _date_expression(schema, *date_range, column=column)


def split_expression(schema: pa.Schema, values: tuple[str, ...], column: str) -> ds.Expression:
    """Rows whose ``column`` equals one of the split names ``values``.

    Raises:
        InvalidFilterError: ``column`` is missing.
    """
    return _split_expression(schema, values, column)


def _split_expression(schema: pa.Schema, values: tuple[str, ...], column: str) -> ds.Expression:
    missing = f"collection has no split column {column!r}; pass split_column="
    typ = require_column(schema, column, missing).type
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    try:
        typed = pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        typed = pa.array(values)
    if len(values) == 1:
        return ds.field(column) == typed[0]
    return ds.field(column).isin(typed)
