"""Bounding boxes of the geometry inputs accepted by ``subset(geometries=...)``.

Only bounds are needed to filter records, so GeoJSON and bbox tuples are handled without
shapely; WKB and GeoArrow inputs use shapely (a dependency, imported when needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rasteret.errors import InvalidInputError, UnsupportedGeometryError
from rasteret.query.validate import Box, validate_bbox

__all__ = ["geometry_bounds"]


def _coords_bounds(coords: Any) -> Box | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c, list | tuple) and c and isinstance(c[0], int | float):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        elif isinstance(c, list | tuple):
            for sub in c:
                walk(sub)

    walk(coords)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _geojson_bounds(obj: Mapping[str, Any]) -> list[Box]:
    kind = obj.get("type")
    if kind == "FeatureCollection":
        return [b for f in obj.get("features", []) for b in _geojson_bounds(f)]
    if kind == "Feature":
        geom = obj.get("geometry")
        return _geojson_bounds(geom) if geom else []
    if kind == "GeometryCollection":
        return [b for g in obj.get("geometries", []) for b in _geojson_bounds(g)]
    if "coordinates" in obj:
        box = _coords_bounds(obj["coordinates"])
        return [box] if box else []
    raise InvalidInputError(f"unsupported GeoJSON object of type {kind!r}")


def _wkb_bounds(values: Iterable[bytes | None]) -> list[Box]:
    import shapely

    out: list[Box] = []
    for v in values:
        if v is None:
            continue
        try:
            g = shapely.from_wkb(v)
        except Exception as exc:  # shapely raises GEOSException subclasses
            raise UnsupportedGeometryError(
                f"geometry bytes are not OGC WKB ({exc}); from DuckDB pass ST_AsWKB(geom)"
            ) from None
        if not g.is_empty:
            out.append(tuple(float(x) for x in g.bounds))  # type: ignore[arg-type]
    return out


def _arrow_bounds(arr: Any) -> list[Box]:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    storage = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    t = storage.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return _wkb_bounds(storage.to_pylist())
    raise UnsupportedGeometryError(
        f"geometry array of type {arr.type} is not supported; pass WKB (geoarrow.wkb) geometries"
    )


def _table_geometry_column(table: Any) -> Any:
    import pyarrow as pa

    candidates = [
        f.name
        for f in table.schema
        if (f.metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"geoarrow")
        or (isinstance(f.type, pa.ExtensionType) and f.type.extension_name.startswith("geoarrow"))
    ]
    if len(candidates) > 1:
        raise InvalidInputError(
            f"table has several GeoArrow geometry columns {candidates}; select one first"
        )
    if candidates:
        return table.column(candidates[0])
    if "geometry" in table.column_names:
        return table.column("geometry")
    raise UnsupportedGeometryError(
        "table has no GeoArrow geometry column and no 'geometry' column "
        f"(columns: {', '.join(table.column_names)})"
    )


def _lonlat_series(series: Any) -> Any:
    """A GeoSeries in lon/lat: reprojected when it carries another CRS (no CRS: taken as
    lon/lat, as every other input of ``subset(geometries=...)``)."""
    crs = series.crs
    if crs is None:
        return series
    from pyproj import CRS

    if crs.equals(CRS.from_string("OGC:CRS84"), ignore_axis_order=True):
        return series
    return series.to_crs("OGC:CRS84")


def geometry_bounds(geometries: Any) -> list[Box]:
    """Return one ``(minx, miny, maxx, maxy)`` box per input geometry (empty ones dropped).

    Accepted: a 4-number tuple (a box), a shapely geometry, WKB bytes, a GeoJSON mapping
    (geometry, Feature, FeatureCollection), a pyarrow WKB array, an Arrow table with a
    geometry column (anything exporting an Arrow stream), a GeoPandas object (reprojected to
    lon/lat when it carries another CRS), or a list of any of the single-geometry forms.

    Raises:
        InvalidInputError: A malformed GeoJSON object or box.
        UnsupportedGeometryError: (a ``TypeError``) an unsupported input, or bytes that are
            not WKB.
    """
    g = geometries
    if isinstance(g, tuple) and len(g) == 4 and all(isinstance(v, int | float) for v in g):
        return [validate_bbox(g, what="geometries box", allow_degenerate=True)]
    if isinstance(g, bytes | bytearray | memoryview):
        return _wkb_bounds([bytes(g)])
    if isinstance(g, Mapping):
        return _geojson_bounds(g)
    if type(g).__module__.startswith("shapely") and hasattr(g, "bounds"):  # shapely geometry
        return [] if g.is_empty else [tuple(float(x) for x in g.bounds)]  # type: ignore[list-item]
    if hasattr(g, "geometry") and hasattr(g, "crs") and hasattr(g.geometry, "bounds"):
        g = g.geometry  # GeoDataFrame -> GeoSeries
    if hasattr(g, "crs") and hasattr(g, "bounds") and hasattr(g, "to_wkb"):  # GeoSeries
        g = _lonlat_series(g)
        return [tuple(map(float, row)) for row in g.bounds.to_numpy() if all(v == v for v in row)]  # type: ignore[misc]
    import pyarrow as pa

    if isinstance(g, pa.Array | pa.ChunkedArray):
        return _arrow_bounds(g)
    if isinstance(g, pa.Table | pa.RecordBatch):
        return _arrow_bounds(_table_geometry_column(g))
    if hasattr(g, "__arrow_c_stream__"):
        return _arrow_bounds(_table_geometry_column(pa.table(g)))
    if isinstance(g, Iterable) and not isinstance(g, str):
        out: list[Box] = []
        for item in g:
            if isinstance(item, list):
                raise UnsupportedGeometryError(
                    "a bbox must be a tuple (minx, miny, maxx, maxy), not a list; nested lists "
                    "are not geometries"
                )
            out.extend(geometry_bounds(item))
        return out
    raise UnsupportedGeometryError(
        f"unsupported geometries input of type {type(g).__name__}: pass a bbox tuple, shapely "
        "geometries, WKB bytes, GeoJSON, or an Arrow table/array of WKB"
    )
