"""GeoPandas, shapely-array and GeoArrow inputs, rewritten as plain values with their CRS.

Every public function that takes AOIs, points or a record table passes its input through
:func:`plain_geometries` (or :func:`plain_table`) first, so nothing below the public methods
sees a pandas object:

- a ``GeoDataFrame`` becomes an Arrow table whose geometry column is GeoArrow WKB (its other
  columns kept, a named index too); its ``.crs`` is the CRS of the geometries;
- a ``GeoSeries`` / ``GeometryArray`` becomes a list of shapely geometries plus its ``.crs``;
- a numpy array of shapely geometries becomes a list;
- an Arrow array (or an object exporting one) with a GeoArrow extension type keeps the CRS in
  its extension metadata; native GeoArrow encodings (``geoarrow.polygon``...) are converted to
  WKB through GeoPandas.

CRS rules: the CRS an object carries beats ``geometry_crs="auto"``; an explicit
``geometry_crs`` that contradicts it is an error (never a silent reprojection or relabelling);
a GeoPandas object without a CRS needs an explicit ``geometry_crs``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rasteret.errors import InvalidInputError, UnsupportedGeometryError

__all__ = ["GeoInput", "is_geopandas", "plain_geometries", "plain_table"]

_WKB_LIKE = ("geoarrow.wkb", "geoarrow.wkt")


@dataclass(frozen=True, slots=True)
class GeoInput:
    """A geometry input without pandas objects.

    Attributes:
        value: The input, rewritten (a ``pa.Table``, a list of shapely geometries, an Arrow
            array) or unchanged.
        geometry_column: The geometry column of a tabular value (None: find it).
        geometry_crs: ``"auto"`` or the CRS to use (a pyproj CRS, an EPSG code, ...).
    """

    value: Any
    geometry_column: str | None
    geometry_crs: Any


def is_geopandas(obj: Any) -> bool:
    """Whether ``obj`` is a GeoPandas object (checked without importing GeoPandas)."""
    return type(obj).__module__.split(".", 1)[0] == "geopandas"


def _is_frame(obj: Any) -> bool:
    return is_geopandas(obj) and hasattr(obj, "columns") and hasattr(obj, "set_geometry")


def _crs_text(crs: Any) -> str:
    try:
        return str(crs.to_string())
    except AttributeError:
        return repr(crs)


def _pick_crs(carried: Any, geometry_crs: Any, what: str, kind: str) -> Any:
    """The CRS of an object carrying ``carried`` (None: none) under ``geometry_crs``."""
    from rasteret_io import resolve_crs

    explicit = geometry_crs not in ("auto", None)
    if carried is None:
        if not explicit:
            raise InvalidInputError(
                f"{what}: the {kind} has no CRS; set one (e.g. .set_crs('EPSG:4326')) or pass "
                "geometry_crs=..."
            )
        return geometry_crs
    carried = resolve_crs(carried)
    if explicit:
        try:
            given = resolve_crs(geometry_crs)
        except Exception as exc:  # pyproj.exceptions.CRSError
            raise InvalidInputError(
                f"{what}: geometry_crs={geometry_crs!r} is not a CRS: {exc}"
            ) from None
        if not given.equals(carried, ignore_axis_order=True):
            raise InvalidInputError(
                f"{what}: geometry_crs={geometry_crs!r} contradicts the {kind}'s CRS "
                f"{_crs_text(carried)}; drop geometry_crs, or reproject with .to_crs(...)"
            )
    return carried


def _frame_table(gdf: Any, geometry_column: str | None, what: str) -> tuple[Any, str]:
    """A GeoDataFrame as a pyarrow Table with WKB geometry columns, and its geometry column."""
    import pyarrow as pa

    if geometry_column is not None:
        if geometry_column not in gdf.columns:
            raise InvalidInputError(
                f"geometry_column={geometry_column!r} not found in table columns. "
                f"Available columns: {list(map(str, gdf.columns))}"
            )
        try:
            gdf = gdf.set_geometry(geometry_column)
        except (TypeError, ValueError) as exc:
            raise UnsupportedGeometryError(
                f"{what}: column {geometry_column!r} does not hold geometries ({exc})"
            ) from None
    try:
        name = gdf.geometry.name
    except AttributeError:
        raise InvalidInputError(
            f"{what}: the GeoDataFrame has no active geometry column; pass geometry_column="
        ) from None
    table = pa.table(gdf.to_arrow(index=None, geometry_encoding="WKB"))
    pandas_meta = {b"pandas"}
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k not in pandas_meta}
    return table.replace_schema_metadata(meta or None), str(name)


def _extension_crs(field: Any) -> tuple[str | None, Any]:
    """``(GeoArrow extension name or None, CRS or None)`` of an Arrow field."""
    import pyarrow as pa

    md = dict(field.metadata or {})
    name = md.get(b"ARROW:extension:name", b"").decode() or None
    raw = md.get(b"ARROW:extension:metadata")
    if isinstance(field.type, pa.ExtensionType):
        name = field.type.extension_name
        try:
            raw = field.type.__arrow_ext_serialize__()
        except Exception:
            raw = None
    if not name or not name.startswith("geoarrow"):
        return None, None
    try:
        meta = json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        meta = {}
    return name, meta.get("crs") if isinstance(meta, dict) else None


def _array_with_field(obj: Any) -> tuple[Any, Any] | None:
    """``(pyarrow array, its field)`` of an Arrow array or array-exporting object, else None."""
    import pyarrow as pa

    if isinstance(obj, pa.ChunkedArray):
        return obj, pa.field("geometry", obj.type)
    if isinstance(obj, pa.Array):
        return obj, pa.field("geometry", obj.type)
    if hasattr(obj, "__arrow_c_array__") and not hasattr(obj, "__arrow_c_stream__"):
        schema_capsule, _ = obj.__arrow_c_array__()
        field = pa.Field._import_from_c_capsule(schema_capsule)
        schema_capsule, array_capsule = obj.__arrow_c_array__()
        array = pa.Array._import_from_c_capsule(schema_capsule, array_capsule)
        return array, field
    return None


def _native_to_shapely(array: Any, field: Any, what: str) -> list[Any]:
    """Native GeoArrow geometries (points, polygons... as nested lists) as shapely objects."""
    try:
        import geopandas
    except ImportError:
        raise UnsupportedGeometryError(
            f"{what}: native GeoArrow geometries ({field.type}) need GeoPandas to decode "
            "(pip install 'rasteret[geopandas]'), or pass WKB (geoarrow.wkb)"
        ) from None
    import pyarrow as pa

    table = pa.table({field.name: array}, schema=pa.schema([field]))
    return list(geopandas.GeoDataFrame.from_arrow(table).geometry)


def plain_geometries(
    value: Any,
    *,
    geometry_column: str | None = None,
    geometry_crs: Any = "auto",
    what: str = "geometries",
) -> GeoInput:
    """Rewrite GeoPandas / numpy / GeoArrow geometry inputs as plain values (module docs).

    Anything else (tuples, shapely, WKB, GeoJSON, plain Arrow tables and arrays...) is
    returned unchanged.

    Raises:
        InvalidInputError: A CRS conflict, a GeoPandas object without CRS under ``"auto"``,
            an unknown ``geometry_column``.
        UnsupportedGeometryError: A column that holds no geometries, native GeoArrow without
            GeoPandas.
        TypeError: ``geometry_column`` with a non-tabular GeoPandas input.
    """
    if is_geopandas(value):
        if _is_frame(value):
            table, name = _frame_table(value, geometry_column, what)
            crs = _pick_crs(value[name].crs, geometry_crs, what, "GeoDataFrame")
            return GeoInput(table, name, crs)
        if hasattr(value, "crs"):  # GeoSeries, GeometryArray
            if geometry_column is not None:
                raise TypeError("geometry_column= is only valid with tabular inputs")
            crs = _pick_crs(value.crs, geometry_crs, what, type(value).__name__)
            return GeoInput(list(value), None, crs)
    if type(value).__module__ == "numpy" and str(getattr(value, "dtype", "")) == "object":
        return GeoInput(list(value.ravel()), geometry_column, geometry_crs)
    found = _array_with_field(value)
    if found is not None:
        return _plain_array(*found, geometry_column, geometry_crs, what)
    if geometry_column is None and _has_native_geoarrow(value):
        return _native_table(value, geometry_crs, what)
    return GeoInput(value, geometry_column, geometry_crs)


def _plain_array(
    array: Any, field: Any, geometry_column: str | None, geometry_crs: Any, what: str
) -> GeoInput:
    """An Arrow geometry array: WKB storage (or shapely objects) plus its CRS."""
    import pyarrow as pa

    ext, crs = _extension_crs(field)
    if ext is None:
        return GeoInput(array, geometry_column, geometry_crs)
    if geometry_column is not None:
        raise TypeError("geometry_column= is only valid with tabular inputs")
    if crs is not None:
        geometry_crs = _pick_crs(crs, geometry_crs, what, "GeoArrow array")
    if ext not in _WKB_LIKE:
        return GeoInput(_native_to_shapely(array, field, what), None, geometry_crs)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    return GeoInput(array, None, geometry_crs)


def _has_native_geoarrow(value: Any) -> bool:
    import pyarrow as pa

    if not isinstance(value, pa.Table | pa.RecordBatch):
        return False
    return any((_extension_crs(f)[0] or "geoarrow.wkb") not in _WKB_LIKE for f in value.schema)


def _native_table(value: Any, geometry_crs: Any, what: str) -> GeoInput:
    """An Arrow table with a native GeoArrow column, through GeoPandas, as a WKB table."""
    try:
        import geopandas
    except ImportError:
        raise UnsupportedGeometryError(
            f"{what}: native GeoArrow geometries need GeoPandas to decode "
            "(pip install 'rasteret[geopandas]'), or pass WKB (geoarrow.wkb)"
        ) from None
    frame = geopandas.GeoDataFrame.from_arrow(value)
    if frame.crs is None and geometry_crs in ("auto", None):
        raise InvalidInputError(
            "Tabular Arrow geometry input is missing GeoArrow CRS metadata. Pass geometry_crs=..."
        )
    return plain_geometries(frame, geometry_crs=geometry_crs, what=what)


def plain_table(value: Any, *, what: str) -> Any:
    """A GeoDataFrame record table as an Arrow table (WKB geometry carrying its CRS).

    Anything else is returned unchanged. A GeoDataFrame without CRS keeps a geometry without
    CRS metadata (footprints are then taken as lon/lat, the collection contract).
    """
    if not _is_frame(value):
        return value
    table, _ = _frame_table(value, None, what)
    return table
