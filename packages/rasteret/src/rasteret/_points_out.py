"""``sample_points``: normalise point inputs, sample through the engine, build the Arrow table.

Output schema (stable, also when empty): ``point_index, point_x, point_y, point_crs,
record_id, datetime, collection, band, value, raster_crs[, neighbourhood_values]`` followed by
the input table's own columns (taken by ``point_index``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasteret.errors import InvalidInputError
from rasteret_catalog.schema import Col

if TYPE_CHECKING:
    import pyarrow as pa

    from rasteret.collection import Collection

__all__ = ["output_schema", "sample"]

_XY_PAIRS = (("x", "y"), ("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))


def output_schema(neighbourhood: bool) -> pa.Schema:
    """The fixed schema of ``sample_points`` results."""
    import pyarrow as pa

    fields = [
        pa.field("point_index", pa.int64(), nullable=False),
        pa.field("point_x", pa.float64(), nullable=False),
        pa.field("point_y", pa.float64(), nullable=False),
        pa.field("point_crs", pa.int32()),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("datetime", pa.timestamp("us")),
        pa.field("collection", pa.string(), nullable=False),
        pa.field("band", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("raster_crs", pa.int32()),
    ]
    if neighbourhood:
        fields.append(pa.field("neighbourhood_values", pa.list_(pa.float64())))
    return pa.schema(fields)


def _points(params: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """``(xs, ys, crs, attributes_table_or_None)`` from any accepted point input."""
    import numpy as np
    import pyarrow as pa

    from rasteret_io.aoi import _is_tabular, _table_of, normalize_aois, resolve_crs

    pts = params["points"]
    xcol, ycol, gcol = params.get("x_column"), params.get("y_column"), params.get("geometry_column")
    crs = params.get("geometry_crs", "auto")
    if _is_tabular(pts):
        table = _table_of(pts)
        if gcol is None and (xcol or ycol or not _has_geoarrow(table)):
            if not (xcol and ycol):
                pair = next(
                    (
                        p
                        for p in _XY_PAIRS
                        if p[0] in table.column_names and p[1] in table.column_names
                    ),
                    None,
                )
                if pair is None:
                    raise InvalidInputError(
                        f"points table has no geometry column and no x/y columns among {table.column_names}; "
                        "pass geometry_column= or x_column= / y_column="
                    )
                xcol, ycol = pair
            if crs == "auto":
                raise InvalidInputError(
                    "Point table with coordinate columns is missing GeoArrow CRS metadata. Pass geometry_crs=..."
                )
            xs = np.asarray(table.column(xcol).cast(pa.float64()).to_numpy(zero_copy_only=False))
            ys = np.asarray(table.column(ycol).cast(pa.float64()).to_numpy(zero_copy_only=False))
            return xs, ys, resolve_crs(crs), table
        aoi = normalize_aois(table, geometry_column=gcol, geometry_crs=crs)
        attrs = table
    else:
        if xcol or ycol or gcol:
            raise TypeError(
                "x_column / y_column / geometry_column are only valid with tabular point inputs"
            )
        aoi = normalize_aois(pts, geometry_crs=crs)
        attrs = None
    bad = [g.geom_type for g in aoi.geometries if g.geom_type != "Point"]
    if bad:
        from rasteret_io.errors import UnsupportedGeometryError

        raise UnsupportedGeometryError(
            f"sample_points needs Point geometries, got {sorted(set(bad))}"
        )
    xs = np.array([g.x for g in aoi.geometries], dtype=np.float64)
    ys = np.array([g.y for g in aoi.geometries], dtype=np.float64)
    return xs, ys, aoi.crs, attrs


def _has_geoarrow(table: Any) -> bool:
    return any(
        (f.metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"geoarrow")
        or getattr(f.type, "extension_name", "").startswith("geoarrow")
        for f in table.schema
    )


def sample(view: Collection, params: dict[str, Any]) -> pa.Table:
    """Run ``sample_points`` (see module docs)."""
    import warnings

    import pyarrow as pa

    from rasteret._engine import band_map_for, fetcher_for, rows_of
    from rasteret._progress import progress_callback
    from rasteret_io.points import sample_points
    from rasteret_io.runtime import run_sync

    xs, ys, crs, attrs = _points(params)
    epsg = crs.to_epsg()
    if epsg is None:
        raise InvalidInputError(f"geometry_crs must resolve to an EPSG code, got {crs.name!r}")
    neighbourhood = params.get("return_neighbourhood", "off") != "off"
    schema = output_schema(neighbourhood)
    band_map = band_map_for(params.get("data_source"))
    rows = rows_of(view, params["bands"], band_map) if len(xs) else []
    match = params.get("match", "all")
    if match == "latest":
        rows.sort(key=lambda r: (r.get(Col.DATETIME) is None, r.get(Col.DATETIME)), reverse=True)
    with progress_callback(bool(params.get("progress")), "rasteret sample_points") as on_progress:
        result = run_sync(
            sample_points(
                rows, params["bands"], xs, ys, epsg, fetcher_for(view, params), band_map=band_map, match=match,
                max_distance_pixels=params.get("max_distance_pixels", 0),
                return_neighbourhood=params.get("return_neighbourhood", "off"),
                progress=on_progress,
            )
        )  # fmt: skip
    if result.failures and not result.samples:
        raise ValueError(
            f"No point samples resolved: {result.failures[0].error}"
        ) from result.failures[0].error
    if result.failures:
        warnings.warn(
            f"Some point samples failed: {result.failures[0].error}", RuntimeWarning, stacklevel=3
        )
    ds_name = params.get("data_source") or ""
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    for s in result.samples:
        row = rows[s.record_index]
        cols["point_index"].append(s.point_index)
        cols["point_x"].append(float(xs[s.point_index]))
        cols["point_y"].append(float(ys[s.point_index]))
        cols["point_crs"].append(epsg)
        cols["record_id"].append(str(row.get(Col.ID)))
        cols["datetime"].append(row.get(Col.DATETIME))
        cols["collection"].append(row.get(Col.COLLECTION) or ds_name)
        cols["band"].append(s.band)
        cols["value"].append(s.value)
        cols["raster_crs"].append(row.get(Col.PROJ_EPSG))
        if neighbourhood:
            cols["neighbourhood_values"].append(
                list(s.neighbourhood) if s.neighbourhood is not None else None
            )
    table = pa.table(cols, schema=schema)
    if attrs is not None and attrs.num_columns:
        clash = sorted(set(attrs.column_names) & set(schema.names))
        if clash:
            raise InvalidInputError(
                f"point table columns collide with sample_points output columns: {clash}"
            )
        taken = attrs.take(pa.array(cols["point_index"], pa.int64()))
        for name in taken.column_names:
            table = table.append_column(taken.schema.field(name), taken.column(name))
    return table
