"""AOI inputs: normalise the many ways users pass geometries, and resolve their CRS.

Accepted: a ``(minx, miny, maxx, maxy)`` tuple, shapely geometries (or a list), WKB bytes
(or a list), GeoJSON dicts (or a list), pyarrow arrays of WKB / GeoArrow WKB, and any
Arrow-exportable table (pyarrow Table/RecordBatch/Reader/Dataset, DuckDB, Polars, GeoPandas
via ``to_arrow``) with ``geometry_column`` or exactly one GeoArrow column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rasteret_io.errors import UnsupportedGeometryError

__all__ = ["AoiInput", "normalize_aois", "resolve_crs", "to_crs"]

_GEOARROW = (
    "geoarrow.wkb",
    "geoarrow.wkt",
    "geoarrow.polygon",
    "geoarrow.multipolygon",
    "geoarrow.point",
)


@dataclass(frozen=True, slots=True)
class AoiInput:
    """Normalised AOIs.

    Attributes:
        geometries: shapely geometries, in input order.
        crs: Their CRS (a pyproj ``CRS``).
        attributes: Non-geometry columns of a tabular input (a ``pa.Table``), else None.
    """

    geometries: tuple[Any, ...]
    crs: Any
    attributes: Any = None


def resolve_crs(value: Any) -> Any:
    """A pyproj CRS for an int / string / dict / pyproj input (``OGC:CRS84`` kept as is)."""
    from pyproj import CRS

    if isinstance(value, CRS):
        return value
    if isinstance(value, dict):
        return CRS.from_json_dict(value)
    return CRS.from_user_input(value)


def to_crs(geoms: Sequence[Any], src: Any, dst: Any) -> list[Any]:
    """Transform geometries vertex by vertex (no densification), like ``transform_geom``."""
    import shapely

    from rasteret_io.warp import same_crs, transformer

    if same_crs(src, dst):
        return list(geoms)
    tr = transformer(src, dst)

    def fn(coords: Any) -> Any:
        import numpy as np

        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return [shapely.transform(g, fn) for g in geoms]


def _is_tabular(obj: Any) -> bool:
    import pyarrow as pa

    if isinstance(obj, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return True
    if hasattr(obj, "to_table") and hasattr(obj, "schema") and not isinstance(obj, pa.Array):
        return True
    return hasattr(obj, "__arrow_c_stream__") and not isinstance(obj, pa.Array | pa.ChunkedArray)


def _table_of(obj: Any) -> Any:
    import pyarrow as pa

    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    if hasattr(obj, "to_table") and hasattr(obj, "schema"):
        return obj.to_table()
    return pa.table(obj)


def _field_crs(field: Any) -> Any:
    md = field.metadata or {}
    ext = md.get(b"ARROW:extension:metadata")
    if not ext:
        return None
    try:
        meta = json.loads(ext)
    except ValueError:
        return None
    if meta.get("edges", "planar") != "planar":
        raise ValueError(f"GeoArrow column {field.name!r} has non-planar edges {meta['edges']!r}")
    return meta.get("crs")


def _from_arrow_array(arr: Any, name: str = "geometry") -> list[Any]:
    import pyarrow as pa
    import shapely

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    storage = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    t = storage.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        values = storage.to_pylist()
        try:
            return [None if v is None else shapely.from_wkb(v) for v in values]
        except Exception as exc:  # shapely.errors.GEOSException
            raise UnsupportedGeometryError(
                f"column {name!r} holds binary values that are not OGC WKB ({exc}); "
                "DuckDB users: select ST_AsWKB(geom)"
            ) from exc
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [None if v is None else shapely.from_wkt(v) for v in storage.to_pylist()]
    raise UnsupportedGeometryError(
        f"column {name!r} has type {arr.type}; pass WKB (e.g. GeoArrow geoarrow.wkb) geometries"
    )


def normalize_aois(
    geometries: Any, *, geometry_column: str | None = None, geometry_crs: Any = "auto"
) -> AoiInput:
    """Normalise AOIs to shapely geometries plus a CRS.

    Args:
        geometries: Any accepted AOI input (see module docs).
        geometry_column: Column holding geometries for tabular inputs.
        geometry_crs: CRS of the geometries; ``"auto"`` reads GeoArrow field metadata of
            tabular inputs and means EPSG:4326 for everything else.

    Raises:
        TypeError: ``geometry_column`` with a non-tabular input, or no geometry column.
        ValueError: unknown ``geometry_column``, several GeoArrow columns, or a tabular input
            without CRS metadata under ``"auto"``.
    """
    import shapely
    from shapely.geometry import box, shape

    attributes = None
    field_crs = None
    if geometries is None:
        raise TypeError("geometries must not be None")
    if _is_tabular(geometries):
        table = _table_of(geometries)
        if geometry_column is None:
            geo_cols = [
                f.name
                for f in table.schema
                if (f.metadata or {}).get(b"ARROW:extension:name", b"").decode() in _GEOARROW
                or getattr(f.type, "extension_name", "") in _GEOARROW
            ]
            if len(geo_cols) > 1:
                raise ValueError(
                    f"several GeoArrow geometry columns {geo_cols}; pass geometry_column="
                )
            if not geo_cols:
                raise TypeError(
                    f"no GeoArrow geometry column among {table.column_names}; pass geometry_column="
                )
            geometry_column = geo_cols[0]
        if geometry_column not in table.column_names:
            raise ValueError(
                f"geometry_column={geometry_column!r} not found in table columns. "
                f"Available columns: {table.column_names}"
            )
        field = table.schema.field(geometry_column)
        field_crs = _field_crs(field)
        geoms = _from_arrow_array(table.column(geometry_column), geometry_column)
        attributes = table.drop_columns([geometry_column])
        if geometry_crs == "auto":
            if field_crs is None:
                raise ValueError(
                    "Tabular Arrow geometry input is missing GeoArrow CRS metadata. Pass geometry_crs=..."
                )
            geometry_crs = field_crs
    else:
        if geometry_column is not None:
            raise TypeError("geometry_column= is only valid with tabular (Arrow) inputs")
        geoms = _geoms_from_python(geometries, box, shape, shapely)
        if geometry_crs == "auto":
            geometry_crs = 4326
    if any(g is None for g in geoms):
        raise UnsupportedGeometryError("null geometries are not valid AOIs")
    return AoiInput(tuple(geoms), resolve_crs(geometry_crs), attributes)


def _geoms_from_python(obj: Any, box: Any, shape: Any, shapely: Any) -> list[Any]:
    import pyarrow as pa

    if isinstance(obj, pa.Array | pa.ChunkedArray):
        return _from_arrow_array(obj)
    if isinstance(obj, tuple) and len(obj) == 4 and all(isinstance(v, int | float) for v in obj):
        minx, miny, maxx, maxy = (float(v) for v in obj)
        if minx >= maxx or miny >= maxy:
            raise ValueError(f"bbox must be (minx, miny, maxx, maxy) with min < max, got {obj}")
        return [box(minx, miny, maxx, maxy)]
    if isinstance(obj, bytes | bytearray | memoryview):
        return [shapely.from_wkb(bytes(obj))]
    if isinstance(obj, dict):
        return [shape(obj.get("geometry", obj))]
    if isinstance(obj, shapely.Geometry):
        return [obj]
    if isinstance(obj, list | tuple):
        out: list[Any] = []
        for item in obj:
            if isinstance(item, list | tuple) and len(item) == 4:
                out.extend(_geoms_from_python(tuple(item), box, shape, shapely))
            else:
                out.extend(_geoms_from_python(item, box, shape, shapely))
        return out
    raise UnsupportedGeometryError(f"unsupported geometry input of type {type(obj).__name__}")
