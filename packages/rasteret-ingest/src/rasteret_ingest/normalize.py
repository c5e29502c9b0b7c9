"""Bring any record table to the collection contract (ids, times, footprints, assets, CRS).

:func:`normalize_table` runs, in order: ``column_map`` aliasing, ``id`` to string, ``datetime``
to naive-UTC ``timestamp[us]``, ``assets`` from ``href_column`` + ``band_index_map`` (with URL
rewrites), footprint to CRS84 WKB (GeoArrow CRSs other than CRS84 are reprojected), ``bbox``,
``year`` / ``month`` and the CRS sidecars. Every missing required column is reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret_catalog.arrow import asset_type, bbox_type
from rasteret_catalog.cloud import CloudConfig, rewrite_url
from rasteret_catalog.schema import COLUMNS, BboxField, Col
from rasteret_ingest._crs import crs_sidecars
from rasteret_ingest.errors import TableNormalizationError

__all__ = [
    "NORMALIZE_REQUIRED",
    "add_bbox",
    "add_partitions",
    "alias_columns",
    "build_assets",
    "normalize_datetime",
    "normalize_geometry",
    "normalize_table",
]

NORMALIZE_REQUIRED: tuple[str, ...] = (
    Col.ID.value,
    Col.DATETIME.value,
    Col.GEOMETRY.value,
    Col.ASSETS.value,
)
"""Columns a record table must have (``bbox`` and the rest are derived)."""

_EXT_NAME = b"ARROW:extension:name"
_EXT_META = b"ARROW:extension:metadata"
_TS_US = pa.timestamp("us")


def _replace(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    idx = table.schema.get_field_index(name)
    field = pa.field(name, values.type)
    if idx >= 0:
        return table.set_column(idx, field, values)
    return table.append_column(field, values)


def alias_columns(table: pa.Table, column_map: Mapping[str, str] | None) -> pa.Table:
    """Append ``canonical`` aliases of ``source`` columns (sources are kept).

    An alias is added only when the canonical name is not present yet.

    Raises:
        TableNormalizationError: a source column is missing.
    """
    if not column_map:
        return table
    missing = [src for src in column_map if src not in table.column_names]
    if missing:
        raise TableNormalizationError(
            f"column_map refers to columns not in the table: {missing} "
            f"(available: {table.column_names})"
        )
    for src, canonical in column_map.items():
        if canonical not in table.column_names:
            table = table.append_column(
                pa.field(canonical, table.schema.field(src).type), table.column(src)
            )
    return table


def normalize_datetime(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Convert a ``datetime`` column to naive-UTC ``timestamp[us]``.

    Integer years become January 1 of that year; tz-aware timestamps and RFC 3339 strings with
    an offset become the UTC instant; dates become midnight UTC; a null-typed column becomes
    null timestamps.

    Raises:
        TableNormalizationError: naive strings (no offset) or an unsupported type.
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), _TS_US)
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.cast(arr, pa.timestamp(t.unit, "UTC"))
        return pc.cast(arr, pa.timestamp(t.unit), safe=False).cast(_TS_US, safe=False)
    if pa.types.is_integer(t):
        text = pc.binary_join_element_wise(pc.cast(arr, pa.string()), pa.scalar("-01-01"), "")
        try:
            return pc.strptime(text, format="%Y-%m-%d", unit="us")
        except pa.ArrowInvalid as exc:
            raise TableNormalizationError(
                f"integer datetime values are read as years; some are out of range: {exc}"
            ) from None
    if pa.types.is_date(t):
        return pc.cast(pc.cast(arr, pa.timestamp("ms")), _TS_US)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        try:
            aware = pc.cast(pc.cast(arr, pa.string()), pa.timestamp("us", "UTC"))
        except pa.ArrowInvalid as exc:
            raise TableNormalizationError(
                "datetime strings must be RFC 3339 with an explicit UTC offset "
                f"(e.g. '2024-01-01T10:00:00Z'): {exc}"
            ) from None
        return pc.cast(aware, _TS_US)
    raise TableNormalizationError(
        f"datetime column has unsupported type {t}: expected a timestamp, date, integer year "
        "or RFC 3339 string with offset"
    )


def _href_patterns(
    url_rewrite_patterns: Mapping[str, str] | None, data_source: str | None
) -> Mapping[str, str] | None:
    if url_rewrite_patterns is not None:
        return url_rewrite_patterns
    cfg = CloudConfig.get_config(data_source) if data_source else None
    return cfg.url_patterns if cfg is not None else None


def build_assets(
    table: pa.Table,
    href_column: str,
    band_index_map: Mapping[str, int],
    url_rewrite_patterns: Mapping[str, str] | None = None,
) -> pa.Table:
    """Add ``assets = {band: {href, band_index}}`` from one URL column (one multi-band COG).

    Raises:
        TableNormalizationError: ``href_column`` is missing.
    """
    if href_column not in table.column_names:
        raise TableNormalizationError(
            f"href_column {href_column!r} not found in the table (columns: {table.column_names})"
        )
    urls = pc.cast(table.column(href_column), pa.string()).to_pylist()
    cache: dict[str, str] = {}
    hrefs: list[str | None] = []
    for u in urls:
        if u is None:
            hrefs.append(None)
            continue
        if u not in cache:
            cache[u] = rewrite_url(u, dict(url_rewrite_patterns or {}))
        hrefs.append(cache[u])
    href_arr = pa.array(hrefs, pa.string())
    valid = pc.is_valid(href_arr)
    entries = []
    bands = list(band_index_map)
    for band in bands:
        idx = pa.array([int(band_index_map[band])] * len(href_arr), pa.int32())
        entry = pa.StructArray.from_arrays(
            [href_arr, idx],
            fields=list(asset_type()),
            mask=pc.invert(valid),
        )
        entries.append(entry)
    assets = pa.StructArray.from_arrays(entries, names=bands) if bands else None
    if assets is None:
        raise TableNormalizationError("band_index_map is empty: no bands to build assets for")
    return _replace(table, Col.ASSETS.value, assets)


def _wrap_string_assets(table: pa.Table) -> pa.Table:
    """Turn ``assets`` struct children that are plain href strings into ``{href, band_index}``."""
    t = table.schema.field(Col.ASSETS).type
    if not pa.types.is_struct(t):
        return table
    if not any(pa.types.is_string(t.field(i).type) for i in range(t.num_fields)):
        return table
    col = table.column(Col.ASSETS).combine_chunks()
    children = []
    for i in range(t.num_fields):
        child = col.field(i)
        if pa.types.is_string(child.type):
            child = pa.StructArray.from_arrays(
                [child, pa.nulls(len(child), pa.int32())],
                fields=list(asset_type()),
                mask=pc.is_null(child),
            )
        children.append(child)
    names = [t.field(i).name for i in range(t.num_fields)]
    return _replace(table, Col.ASSETS.value, pa.StructArray.from_arrays(children, names=names))


def _geoarrow_crs(field: pa.Field) -> Any:
    md = dict(field.metadata or {})
    raw = md.get(_EXT_META)
    if raw is None and isinstance(field.type, pa.ExtensionType):
        try:
            raw = field.type.__arrow_ext_serialize__()
        except Exception:
            raw = None
    if not raw:
        return None
    try:
        meta = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return meta.get("crs") if isinstance(meta, dict) else None


def _is_crs84(crs: Any) -> bool:
    from pyproj import CRS

    try:
        src = CRS.from_user_input(crs)
    except Exception:
        raise TableNormalizationError(
            f"geometry column has an unparsable GeoArrow CRS: {crs!r}"
        ) from None
    return src.equals(CRS.from_string("OGC:CRS84"), ignore_axis_order=True)


def normalize_geometry(table: pa.Table) -> tuple[pa.Table, bool]:
    """Make ``geometry`` plain WKB in CRS84.

    Returns:
        ``(table, reprojected)``: ``reprojected`` is True when a GeoArrow CRS other than CRS84
        was found and coordinates were transformed (the bbox must then be recomputed).
    """
    field = table.schema.field(Col.GEOMETRY)
    col = table.column(Col.GEOMETRY)
    t = field.type
    crs = _geoarrow_crs(field)
    if isinstance(t, pa.ExtensionType):
        col = pa.chunked_array([c.storage for c in col.chunks], t.storage_type)
        t = t.storage_type
    if pa.types.is_null(t):
        return table, False
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        import shapely

        geoms = shapely.from_wkt(col.to_numpy(zero_copy_only=False), on_invalid="ignore")
        col = pa.chunked_array([pa.array(shapely.to_wkb(geoms), pa.binary())])
        t = pa.binary()
    elif pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        col = pc.cast(col, pa.binary())
        t = pa.binary()
    elif not pa.types.is_binary(t):
        raise TableNormalizationError(
            f"geometry column has type {t}; expected WKB binary, GeoArrow WKB or WKT strings"
        )
    reprojected = False
    if crs is not None and not _is_crs84(crs):
        import shapely
        from pyproj import CRS, Transformer

        tr = Transformer.from_crs(
            CRS.from_user_input(crs), CRS.from_string("OGC:CRS84"), always_xy=True
        )
        geoms = shapely.from_wkb(col.to_numpy(zero_copy_only=False), on_invalid="ignore")

        def fn(xy: Any) -> Any:
            import numpy as np

            x, y = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        geoms = shapely.transform(geoms, fn)
        col = pa.chunked_array([pa.array(shapely.to_wkb(geoms), pa.binary())])
        reprojected = True
    out = _replace(table, Col.GEOMETRY.value, col)
    idx = out.schema.get_field_index(Col.GEOMETRY)
    out = out.cast(out.schema.set(idx, pa.field(Col.GEOMETRY.value, pa.binary())))
    return out, reprojected


def _bbox_from_geometry(geometry: pa.ChunkedArray) -> pa.Array:
    import numpy as np
    import shapely

    if pa.types.is_null(geometry.type):
        return pa.nulls(len(geometry), bbox_type())
    geoms = shapely.from_wkb(geometry.to_numpy(zero_copy_only=False), on_invalid="ignore")
    b = shapely.bounds(geoms)
    ok = ~np.isnan(b).any(axis=1)
    arrays = [pa.array(b[:, i], pa.float64()) for i in range(4)]
    return pa.StructArray.from_arrays(arrays, fields=list(bbox_type()), mask=pa.array(~ok))


def add_bbox(table: pa.Table, *, recompute: bool = False) -> pa.Table:
    """Ensure a ``bbox`` struct: converted from a 4-value list, else derived from ``geometry``."""
    if Col.BBOX in table.column_names and not recompute:
        t = table.schema.field(Col.BBOX).type
        if pa.types.is_struct(t):
            bb = table.column(Col.BBOX)
            if bb.null_count == 0 or Col.GEOMETRY not in table.column_names:
                return table
            derived = _bbox_from_geometry(table.column(Col.GEOMETRY)).cast(t)
            filled = pc.if_else(pc.is_valid(bb), bb, derived)  # fill gaps from footprints
            return _replace(table, Col.BBOX.value, filled)
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            vals = table.column(Col.BBOX).to_pylist()
            rows: list[dict[str, Any] | None] = []
            for v in vals:
                if v is None or len(v) < 4:
                    rows.append(None)
                elif len(v) >= 6:  # 3D bbox: xmin, ymin, zmin, xmax, ymax, zmax
                    rows.append(dict(zip(BboxField, (v[0], v[1], v[3], v[4]))))
                else:
                    rows.append(dict(zip(BboxField, v[:4])))
            return _replace(table, Col.BBOX.value, pa.array(rows, bbox_type()))
    if Col.GEOMETRY not in table.column_names:
        return table
    return _replace(table, Col.BBOX.value, _bbox_from_geometry(table.column(Col.GEOMETRY)))


def add_partitions(table: pa.Table) -> pa.Table:
    """Add ``year`` / ``month`` (int32) from ``datetime`` when absent."""
    ts = table.column(Col.DATETIME)
    for name, fn in ((Col.YEAR.value, pc.year), (Col.MONTH.value, pc.month)):
        if name not in table.column_names:
            table = table.append_column(pa.field(name, pa.int32()), pc.cast(fn(ts), pa.int32()))
    return table


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary-encoded contract columns (stac-geoparquet's ``collection``...) become plain."""
    for c in COLUMNS:
        if c.name in table.column_names:
            t = table.schema.field(c.name).type
            if pa.types.is_dictionary(t):
                table = _replace(table, c.name, pc.cast(table.column(c.name), t.value_type))
    return table


def normalize_table(
    table: pa.Table,
    *,
    column_map: Mapping[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: Mapping[str, int] | None = None,
    url_rewrite_patterns: Mapping[str, str] | None = None,
    data_source: str | None = None,
    required: Sequence[str] = NORMALIZE_REQUIRED,
) -> pa.Table:
    """Normalise a record table to the collection contract.

    Args:
        table: Input records.
        column_map: ``{source: canonical}`` aliases (sources are kept).
        href_column: Column of COG URLs used with ``band_index_map`` to build ``assets`` when the
            table has none.
        band_index_map: ``{band: sample index}`` of the COG in ``href_column``.
        url_rewrite_patterns: Prefix rewrites applied to ``href_column`` URLs; defaults to the
            registered ``CloudConfig`` of ``data_source``.
        data_source: Data source id (only used for the default URL rewrites).
        required: Columns that must exist after aliasing / asset building.

    Returns:
        The normalised table.

    Raises:
        TableNormalizationError: missing required columns (all named), bad datetime values,
            unusable geometry.
    """
    table = alias_columns(table, column_map)
    if Col.ASSETS not in table.column_names and href_column and band_index_map:
        table = build_assets(
            table, href_column, band_index_map, _href_patterns(url_rewrite_patterns, data_source)
        )
    missing = [c for c in required if c not in table.column_names]
    if missing:
        hint = ""
        if Col.ASSETS in missing and href_column and not band_index_map:
            hint = " (href_column needs band_index_map to build assets)"
        raise TableNormalizationError(f"Table is missing required columns: {missing}{hint}")
    table = _decode_dictionaries(table)
    if Col.ID in table.column_names:
        ids = table.column(Col.ID)
        if not pa.types.is_string(ids.type):
            table = _replace(table, Col.ID.value, pc.cast(ids, pa.string()))
    if Col.DATETIME in table.column_names:
        table = _replace(table, Col.DATETIME.value, normalize_datetime(table.column(Col.DATETIME)))
    if Col.ASSETS in table.column_names:
        table = _wrap_string_assets(table)
    reprojected = False
    if Col.GEOMETRY in table.column_names:
        table, reprojected = normalize_geometry(table)
    table = add_bbox(table, recompute=reprojected)
    if Col.DATETIME in table.column_names:
        table = add_partitions(table)
    return crs_sidecars(table)
