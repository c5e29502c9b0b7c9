"""Pixel reads of a Collection, on top of ``rasteret_io``'s read engine.

``Collection.<read>(...)`` validates its arguments (``_reads.py``) and calls the function of
the same name here with the filtered view. This module turns the view into rows, resolves the
backend / band map / AOIs, runs one engine call through the per-process event loop and shapes
the result (NumPy here; xarray, GeoPandas and Arrow in their own modules).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rasteret._progress import progress_callback
from rasteret.errors import InvalidInputError
from rasteret_catalog.schema import Col

if TYPE_CHECKING:
    import numpy as np

    from rasteret.collection import Collection

__all__ = ["get_gdf", "get_numpy", "get_xarray", "iterate_rasters", "read_window", "sample_points"]

_BASE_COLUMNS = (
    Col.ID,
    Col.DATETIME,
    Col.ASSETS,
    Col.BBOX,
    Col.PROJ_EPSG,
    Col.CRS,
    Col.CLOUD_COVER,
    Col.COLLECTION,
)


# -- shared plumbing ------------------------------------------------------------------------


def band_map_for(data_source: str | None) -> dict[str, str] | None:
    """The registered band map of ``data_source`` (None when there is none)."""
    from rasteret_catalog import BandRegistry

    return BandRegistry.get(data_source or "") or None


def table_of(view: Collection, bands: Sequence[str], band_map: dict[str, str] | None) -> Any:
    """Records of ``view`` as a ``pyarrow.Table`` of only the columns a read needs."""
    from rasteret_io.arrow_sources import read_columns

    extra = [c.value for c in _BASE_COLUMNS]
    return view.to_table(columns=read_columns(view.schema, bands, band_map, extra=extra))


def rows_of(
    view: Collection, bands: Sequence[str], band_map: dict[str, str] | None
) -> list[dict[str, Any]]:
    """Rows of ``view`` holding only the columns a read needs (as Python dicts)."""
    return table_of(view, bands, band_map).to_pylist()


def backend_for(view: Collection, backend: Any, cloud_config: Any, data_source: str | None) -> Any:
    """The backend to read with: the caller's, else one built from the cloud config (cached)."""
    if backend is not None:
        return backend
    from rasteret_catalog import CloudConfig

    cfg = cloud_config or CloudConfig.get_config(data_source)
    if cfg is None:
        return None
    key = ("backend", data_source, id(cfg))
    state = view._engine_state
    if key not in state:
        from rasteret_io import create_backend

        state[key] = create_backend(cloud_config=cfg)
    return state[key]


def fetcher_for(view: Collection, params: dict[str, Any], error_policy: str = "skip") -> Any:
    """A fetcher bound to the resolved backend and ``max_concurrent``."""
    from rasteret_io.engine import default_fetcher

    backend = backend_for(
        view, params.get("backend"), params.get("cloud_config"), params.get("data_source")
    )
    return default_fetcher(
        backend, max_concurrent=params.get("max_concurrent", 50), error_policy=error_policy
    )


def narrow_to_aois(view: Collection, aois: Any) -> Collection:
    """Restrict ``view`` to records whose CRS84 bbox meets the union of the AOIs' bboxes."""
    from rasteret_io.aoi import to_crs

    if not aois.geometries or Col.BBOX not in view.schema.names:
        return view
    geoms = to_crs(aois.geometries, aois.crs, 4326)
    xs0, ys0, xs1, ys1 = zip(*(g.bounds for g in geoms), strict=True)
    bbox = (min(xs0), min(ys0), max(xs1), max(ys1))
    if bbox[0] > bbox[2] or bbox[1] > bbox[3] or any(v != v for v in bbox):
        return view
    try:
        return view.subset(bbox=bbox)
    except ValueError:
        return view


def raise_or_warn(failures: Sequence[Any], what: str, *, produced: int) -> None:
    """Warn about records/bands that could not be read; raise when nothing was produced.

    A band that cannot be resolved for any record (no asset, no indexed header) raises its
    :class:`~rasteret_io.errors.BandResolutionError`; when other records did produce data the
    skipped ones are reported in one ``RuntimeWarning`` naming them.
    """
    from rasteret_io.errors import BandResolutionError

    if not failures:
        return
    if not produced:
        for f in failures:
            if isinstance(f.error, BandResolutionError):
                raise f.error
        return
    shown = "; ".join(f"record_id={f.record_id!r} band={f.band!r}: {f.error}" for f in failures[:3])
    more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
    warnings.warn(
        f"Some records failed to load in {what}: {shown}{more}", RuntimeWarning, stacklevel=4
    )


def no_data_error(failures: Sequence[Any]) -> ValueError:
    """``ValueError("No valid data found ...")`` chained to the first failure."""
    if failures:
        err = ValueError(
            f"No valid data found. {len(failures)} record/band read(s) failed; first: {failures[0].error}"
        )
        err.__cause__ = failures[0].error
        return err
    return ValueError("No valid data found: no record intersects the geometries")


def aoi_rows(
    view: Collection, params: dict[str, Any], *, arrow: bool = False
) -> tuple[Any, dict[str, str] | None, Any]:
    """Normalised polygon AOIs, the band map and the rows of the records they may touch
    (row dicts, or a ``pyarrow.Table`` with ``arrow=True``).

    Raises:
        UnsupportedGeometryError: an AOI is not a (Multi)Polygon.
    """
    from rasteret_io.aoi import normalize_aois
    from rasteret_io.errors import UnsupportedGeometryError

    aois = normalize_aois(
        params["geometries"],
        geometry_column=params.get("geometry_column"),
        geometry_crs=params.get("geometry_crs", "auto"),
    )
    for i, g in enumerate(aois.geometries):
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise UnsupportedGeometryError(
                f"Unsupported geometry for AOI {i}: {g.geom_type}; get_* reads need Polygon or "
                "MultiPolygon geometries (use sample_points for Point geometries)"
            )
    band_map = band_map_for(params.get("data_source"))
    rows = table_of(narrow_to_aois(view, aois), params["bands"], band_map)
    return aois, band_map, rows if arrow else rows.to_pylist()


def read_chips(view: Collection, params: dict[str, Any], *, layout: str) -> tuple[Any, Any, Any]:
    """Run the AOI engine for a get_* call; returns ``(outcome, aois, table)``.

    The engine takes the records as Arrow (no per-row Python dicts, no tile lists).
    """
    from rasteret_io.engine import read_aois
    from rasteret_io.runtime import run_sync

    aois, band_map, rows = aoi_rows(view, params, arrow=True)
    target = params.get("target_crs")
    with progress_callback(bool(params.get("progress")), "rasteret read") as on_progress:
        outcome = run_sync(
            read_aois(
                rows,
                params["bands"],
                aois,
                fetcher_for(view, params),
                band_map=band_map,
                layout="stack" if (layout == "stack" or target is not None) else "native",  # type: ignore[arg-type]
                all_touched=bool(params.get("all_touched")),
                target_crs=target,
                progress=on_progress,
            )
        )
    raise_or_warn(outcome.failures, "the read", produced=len(outcome.chips))
    return outcome, aois, rows


# -- get_numpy --------------------------------------------------------------------------------


def get_numpy(view: Collection, **params: Any) -> np.ndarray:
    """``[N, H, W]`` (one band) or ``[N, C, H, W]``; N = (record, AOI) pairs with data."""
    import numpy as np

    outcome, _aois, _rows = read_chips(view, params, layout="stack")
    bands = params["bands"]
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for c in outcome.chips:
        pairs.setdefault((c.record_index, c.aoi_index), {})[c.band] = c
    complete = [(k, v) for k, v in sorted(pairs.items()) if all(b in v for b in bands)]
    if not complete:
        raise no_data_error(outcome.failures)
    shapes = {v[b].data.shape for _, v in complete for b in bands}
    if len(shapes) > 1:
        raise InvalidInputError(
            f"Ragged shapes across AOIs {sorted(shapes)}: AOIs of different sizes cannot be stacked "
            "into one array; read them separately, or use get_xarray / get_gdf"
        )
    dtype = np.result_type(*[v[b].data.dtype for _, v in complete for b in bands])
    (shape,) = shapes
    out = np.empty((len(complete), len(bands), *shape), dtype=dtype)  # one copy per chip
    for n, (_, v) in enumerate(complete):
        for c, b in enumerate(bands):
            out[n, c] = v[b].data
    return out[:, 0] if len(bands) == 1 else out


# -- read_window ------------------------------------------------------------------------------


def read_window(view: Collection, **params: Any) -> np.ndarray:
    """Mosaic (or stack with ``group_by``) ``record_ids`` on the ``bounds`` x ``res`` grid."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from rasteret_io.grid import Grid
    from rasteret_io.grid_read import read_grid
    from rasteret_io.runtime import run_sync

    ids = params["record_ids"]
    sub = view.where(ds.field(Col.ID).isin(pa.array(ids, pa.string())))
    data_source = view._infer_data_source(None)
    band_map = band_map_for(data_source)
    rows = rows_of(sub, params["bands"], band_map)
    order = {rid: i for i, rid in enumerate(ids)}
    rows.sort(key=lambda r: order.get(str(r[Col.ID]), len(order)))
    if not rows:
        raise InvalidInputError(
            f"read_window: none of the record_ids {ids[:5]} is in the collection"
        )
    crs = params.get("target_crs")
    if crs is None:
        crs = rows[0].get(Col.PROJ_EPSG) or rows[0].get(Col.CRS)
    if crs is None:
        raise InvalidInputError("read_window: no target_crs given and the first record has no CRS")
    grid = Grid.from_bounds(crs, params["bounds"], params["res"], snap=False)
    fetch_params = {**params, "data_source": data_source, "cloud_config": None}
    res = run_sync(
        read_grid(
            rows,
            params["bands"],
            grid,
            fetcher_for(view, fetch_params),
            band_map=band_map,
            group_by=params.get("group_by"),
        )
    )
    if res.failures:
        warnings.warn(
            f"read_window skipped unreadable records: {[f.record_id for f in res.failures][:5]}",
            RuntimeWarning,
            stacklevel=3,
        )
    return res.data


# -- get_xarray / get_gdf / sample_points: in their own modules --------------------------------


def get_xarray(view: Collection, **params: Any) -> Any:
    """``xarray.Dataset`` with dims ``(time, geometry, y, x)``; see :mod:`rasteret._xarray_out`."""
    chunks = params.pop("chunks", None)
    if chunks is not None:  # lazy, dask-backed: see rasteret.integrations.dask
        from rasteret.integrations.dask import lazy_xarray

        return lazy_xarray(view, params, chunks)
    from rasteret._xarray_out import build_dataset

    outcome, aois, rows = read_chips(view, params, layout="stack")
    if not outcome.chips:
        raise no_data_error(outcome.failures)
    return build_dataset(
        outcome, aois, rows, params["bands"], params.get("xr_combine", "combine_first")
    )


def get_gdf(view: Collection, **params: Any) -> Any:
    """GeoDataFrame, one row per (record, AOI, band); see :mod:`rasteret._gdf_out`."""
    from rasteret._gdf_out import build_gdf

    outcome, aois, table = read_chips(view, params, layout="native")
    keep = [
        c
        for c in (Col.ID, Col.DATETIME, Col.CLOUD_COVER, Col.COLLECTION)
        if c in table.column_names
    ]
    return build_gdf(outcome, aois, table.select(keep).to_pylist(), params)


def sample_points(view: Collection, **params: Any) -> Any:
    """Arrow table of point samples; see :mod:`rasteret._points_out`."""
    from rasteret._points_out import sample

    return sample(view, params)


async def iterate_rasters(view: Collection, **params: Any) -> Any:
    """Yield one :class:`~rasteret._raster.RasterAccessor` per filtered row."""
    from rasteret._raster import RasterAccessor

    data_source = params.get("data_source") or view._infer_data_source(None)
    for batch in view.to_batches():
        for row in batch.to_pylist():
            missing = [c for c in (Col.ID, Col.DATETIME, Col.ASSETS) if c not in row]
            if missing:
                raise InvalidInputError(f"iterate_rasters needs columns {missing}")
            yield RasterAccessor.from_row(row, data_source=data_source, collection=view)
