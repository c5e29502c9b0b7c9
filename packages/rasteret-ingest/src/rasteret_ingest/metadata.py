"""Collection key-value metadata, GeoParquet 1.1 ``geo`` metadata and GeoArrow field tags."""

from __future__ import annotations

import datetime as _dt
import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rasteret_catalog.schema import (
    LEGACY_COLLECTION_VERSION,
    SCHEMA_VERSION,
    BboxField,
    Col,
    MetaKey,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "GEOARROW_WKB",
    "collection_metadata",
    "crs84_projjson",
    "date_range_string",
    "datetime_span",
    "geoparquet_metadata",
    "merge_geoparquet_metadata",
    "parse_date_range",
    "tag_geoarrow_wkb",
    "wkb_geometry_types",
]

GEOARROW_WKB = "geoarrow.wkb"
_EXT_NAME = b"ARROW:extension:name"
_EXT_META = b"ARROW:extension:metadata"

_WKB_TYPES = {
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _iso(value: Any) -> str:
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return str(value)


def date_range_string(date_range: Sequence[Any] | None) -> str:
    """``"start,end"`` (ISO) or ``""`` when there is no range."""
    if not date_range or not any(date_range):
        return ""
    return f"{_iso(date_range[0])},{_iso(date_range[1])}"


def datetime_span(batches: Iterable[pa.RecordBatch | pa.Table]) -> tuple[Any, Any] | None:
    """Earliest and latest ``datetime`` of the records in ``batches`` (None without a
    timestamp column or without any non-null value)."""
    import pyarrow as pa  # the rest of this module needs no pyarrow at import
    import pyarrow.compute as pc

    lows, highs = [], []
    for batch in batches:
        if Col.DATETIME.value not in batch.schema.names:
            return None
        col = batch.column(Col.DATETIME.value)
        if not pa.types.is_timestamp(col.type):
            return None
        if col.null_count < len(col):
            span = pc.min_max(col)
            lows.append(span["min"].as_py())
            highs.append(span["max"].as_py())
    return (min(lows), max(highs)) if lows else None


def parse_date_range(text: str | bytes | None) -> tuple[str, str] | None:
    """Inverse of :func:`date_range_string` (None for empty or malformed values)."""
    if isinstance(text, bytes):
        text = text.decode()
    if not text or "," not in text:
        return None
    start, end = text.split(",", 1)
    return (start, end) if start and end else None


def collection_metadata(
    *,
    name: str,
    description: str = "",
    data_source: str = "",
    date_range: Sequence[Any] | None = None,
    created: _dt.datetime | str | None = None,
) -> dict[str, str]:
    """The Parquet key-value metadata of a collection (keys from :class:`MetaKey`).

    Args:
        name: Collection name.
        description: Free text.
        data_source: Data source id.
        date_range: ``(start, end)`` or None.
        created: Creation time (default: now, local ISO timestamp as 0.4.1 writes it).

    Returns:
        ``{name, description, data_source, date_range, created, rasteret_collection_version,
        rasteret_schema_version}`` as strings.
    """
    if created is None:
        created = _dt.datetime.now().isoformat()
    return {
        MetaKey.NAME.value: name or "",
        MetaKey.DESCRIPTION.value: description or "",
        MetaKey.DATA_SOURCE.value: data_source or "",
        MetaKey.DATE_RANGE.value: date_range_string(date_range),
        MetaKey.CREATED.value: _iso(created),
        MetaKey.COLLECTION_VERSION.value: LEGACY_COLLECTION_VERSION,
        MetaKey.SCHEMA_VERSION.value: SCHEMA_VERSION,
    }


@functools.cache
def crs84_projjson() -> dict[str, Any]:
    """PROJJSON of OGC:CRS84 (lon/lat WGS 84), from pyproj."""
    from pyproj import CRS

    return CRS.from_string("OGC:CRS84").to_json_dict()


def _type_name(code: int, has_z: bool) -> str | None:
    base = _WKB_TYPES.get(code)
    if base is None:
        return None
    return f"{base} Z" if has_z else base


def wkb_geometry_types(column: Any) -> list[str]:
    """Distinct GeoParquet geometry type names found in a WKB column (ISO and EWKB flags).

    Args:
        column: A binary Arrow array / chunked array (null values are skipped).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.binary())
    if isinstance(column.type, pa.ExtensionType):
        column = column.storage
    if pa.types.is_null(column.type) or len(column) == 0:
        return []
    heads = pc.unique(pc.binary_slice(column.drop_null(), 0, 5)).to_pylist()
    found: set[str] = set()
    for h in heads:
        if h is None or len(h) < 5:
            continue
        raw = int.from_bytes(h[1:5], "little" if h[0] == 1 else "big")
        has_z = bool(raw & 0x80000000)
        code = raw & 0x0FFFFFFF
        if code >= 1000:
            has_z = has_z or (code // 1000) in (1, 3)
            code %= 1000
        name = _type_name(code, has_z)
        if name:
            found.add(name)
    return sorted(found)


def geoparquet_metadata(table: pa.Table) -> str:
    """GeoParquet 1.1 ``geo`` metadata (JSON) for a collection table.

    WKB encoding, ``geometry_types`` scanned from the WKB type codes, the overall ``bbox`` and a
    ``covering.bbox`` pointing at the ``bbox`` struct when it exists. No ``crs`` member, so
    GeoParquet's default (OGC:CRS84) applies.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    col: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": wkb_geometry_types(table.column(Col.GEOMETRY)),
    }
    if Col.BBOX in table.column_names and pa.types.is_struct(table.schema.field(Col.BBOX).type):
        bb = table.column(Col.BBOX)
        names = {bb.type.field(i).name for i in range(bb.type.num_fields)}
        fields = [f.value for f in BboxField]
        if set(fields) <= names:
            col["covering"] = {"bbox": {f: [Col.BBOX.value, f] for f in fields}}
            if table.num_rows and bb.null_count < len(bb):
                xmin = pc.min(pc.struct_field(bb, BboxField.XMIN)).as_py()
                ymin = pc.min(pc.struct_field(bb, BboxField.YMIN)).as_py()
                xmax = pc.max(pc.struct_field(bb, BboxField.XMAX)).as_py()
                ymax = pc.max(pc.struct_field(bb, BboxField.YMAX)).as_py()
                if None not in (xmin, ymin, xmax, ymax):
                    col["bbox"] = [xmin, ymin, xmax, ymax]
    geo = {
        "version": "1.1.0",
        "primary_column": Col.GEOMETRY.value,
        "columns": {Col.GEOMETRY.value: col},
    }
    return json.dumps(geo)


def merge_geoparquet_metadata(old: str | bytes | None, table: pa.Table) -> str:
    """``geo`` metadata of a collection made of the rows described by ``old`` plus ``table``.

    Used when rows are appended without rewriting the old files: ``geometry_types`` become
    the union and the overall ``bbox`` the union of both boxes. A missing or unreadable
    ``old`` gives ``table``'s own metadata.
    """
    new = json.loads(geoparquet_metadata(table))
    try:
        before = json.loads(old) if old else None
        old_col = before["columns"][Col.GEOMETRY.value] if before else None
    except (ValueError, KeyError, TypeError):
        old_col = None
    if not isinstance(old_col, dict):
        return json.dumps(new)
    col = new["columns"][Col.GEOMETRY.value]
    new_types, old_types = col.get("geometry_types") or [], old_col.get("geometry_types") or []
    # an empty list means "any type": it stays empty
    col["geometry_types"] = (
        sorted(set(new_types) | set(old_types)) if new_types and old_types else []
    )
    boxes = [b for b in (old_col.get("bbox"), col.get("bbox")) if b and len(b) == 4]
    if boxes:
        col["bbox"] = [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ]
    return json.dumps(new)


def _tag_field(field: pa.Field) -> pa.Field:
    md = dict(field.metadata or {})
    md[_EXT_NAME] = GEOARROW_WKB.encode()
    md[_EXT_META] = json.dumps({"crs": crs84_projjson()}).encode()
    return field.with_metadata(md)


def tag_geoarrow_wkb(schema_or_field: pa.Schema | pa.Field) -> pa.Schema | pa.Field:
    """Tag the geometry field as GeoArrow ``geoarrow.wkb`` with CRS84 PROJJSON.

    Args:
        schema_or_field: A schema (its ``geometry`` field is tagged; returned unchanged when it
            has none) or a single field.

    Returns:
        The tagged schema or field (new objects; inputs are not modified).
    """
    import pyarrow as pa

    if isinstance(schema_or_field, pa.Field):
        return _tag_field(schema_or_field)
    idx = schema_or_field.get_field_index(Col.GEOMETRY)
    if idx < 0:
        return schema_or_field
    return schema_or_field.set(idx, _tag_field(schema_or_field.field(idx)))
