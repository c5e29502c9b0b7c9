"""``get_xarray``: the eager ``xarray.Dataset`` of an AOI read, and its layout.

Dims ``(time, geometry, y, x)``; one variable per band in its native dtype (``_FillValue`` =
nodata); pixel-centre ``x`` / ``y``; a scalar ``spatial_ref`` coordinate with CF grid-mapping
attributes (``crs_wkt``, ``spatial_ref``, ``GeoTransform``) that rioxarray and odc-geo read.
Every record of one AOI is on one shared grid (the engine's ``stack`` layout), so records with
the same datetime are mosaicked (first valid pixel wins) and the time axis is regular.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rasteret.read.aoi import read_chips
from rasteret.read.failures import no_data_error

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from rasteret.read.requests import AoiRequest, ReadOptions, XarrayOptions
    from rasteret.records import RecordSource
    from rasteret_io import Chip, ReadOutcome

__all__ = [
    "DIMS",
    "aoi_coords",
    "build_dataset",
    "combine_parts",
    "get_xarray",
    "naive_time",
    "spatial_ref_attrs",
    "variable_attrs",
]


def spatial_ref_attrs(crs: Any, transform: Sequence[float]) -> dict[str, Any]:
    """CF grid-mapping attributes for ``crs`` plus GDAL's ``GeoTransform`` string."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    attrs = dict(c.to_cf())
    wkt = c.to_wkt()
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt
    attrs["projjson"] = c.to_json()
    a, b, cc, d, e, f = transform
    attrs["GeoTransform"] = f"{cc} {a} {b} {f} {d} {e}"
    return attrs


def naive_time(value: Any) -> Any:
    """``value`` as a naive-UTC ``numpy.datetime64[ns]`` (NaT for None)."""
    import numpy as np

    if value is None:
        return np.datetime64("NaT", "ns")
    if getattr(value, "tzinfo", None) is not None:
        value = value.replace(tzinfo=None)
    return np.datetime64(value, "ns")


DIMS = ("time", "geometry", "y", "x")
"""Dimensions of every ``get_xarray`` variable."""


def variable_attrs(nodata: float | int | None) -> dict[str, Any]:
    """Attributes of a band variable (grid mapping, ``_FillValue`` = nodata when known)."""
    attrs: dict[str, Any] = {"grid_mapping": "spatial_ref"}
    if nodata is not None:
        attrs["_FillValue"] = nodata
    return attrs


def aoi_coords(
    times: Sequence[Any],
    aoi_index: int,
    transform: Sequence[float],
    shape: tuple[int, int],
    crs: Any,
) -> dict[str, Any]:
    """Coordinates of one AOI's Dataset: time, 1-based geometry id, pixel centres, CRS."""
    import numpy as np

    h, w = shape
    a, _b, c, _d, e, f = transform
    return {
        "time": np.array(times, dtype="datetime64[ns]"),
        "geometry": np.array([aoi_index + 1], dtype=np.int64),
        "y": f + e * (np.arange(h) + 0.5),
        "x": c + a * (np.arange(w) + 0.5),
        "spatial_ref": ((), np.int64(0), spatial_ref_attrs(crs, transform)),
    }


def _aoi_dataset(chips: list[Chip], aoi_index: int, bands: Sequence[str]) -> xr.Dataset:
    import numpy as np
    import xarray as xr

    first = chips[0]
    h, w = first.data.shape
    times = sorted({naive_time(ch.datetime) for ch in chips})
    t_index = {t: i for i, t in enumerate(times)}
    data_vars = {}
    for band in bands:
        bchips = [ch for ch in chips if ch.band == band]
        if not bchips:
            continue
        dtype = bchips[0].data.dtype
        fill = bchips[0].fill
        arr = np.full((len(times), 1, h, w), fill, dtype=dtype)
        done = np.zeros((len(times), h, w), dtype=bool)
        # records sharing a datetime: first valid pixel wins, by record id (independent of
        # the order rows happen to be stored in)
        for ch in sorted(bchips, key=lambda x: (str(x.record_id), x.record_index)):
            ti = t_index[naive_time(ch.datetime)]
            take = ch.valid & ~done[ti]
            arr[ti, 0][take] = ch.data[take]
            done[ti] |= take
        data_vars[band] = (DIMS, arr, variable_attrs(bchips[0].nodata))
    coords = aoi_coords(times, aoi_index, first.transform, (h, w), first.crs)
    return xr.Dataset(data_vars, coords=coords)


def build_dataset(outcome: ReadOutcome, bands: Sequence[str], xr_combine: str) -> xr.Dataset:
    """Assemble the Dataset (see module docs); several AOIs are combined with ``xr_combine``."""
    by_aoi: dict[int, list[Any]] = {}
    for ch in outcome.chips:
        by_aoi.setdefault(ch.aoi_index, []).append(ch)
    parts = [_aoi_dataset(chs, i, bands) for i, chs in sorted(by_aoi.items())]
    return combine_parts(parts, xr_combine)


def combine_parts(parts: list[xr.Dataset], xr_combine: str) -> xr.Dataset:
    """Combine per-AOI Datasets (eager or dask-backed) into the ``get_xarray`` result.

    AOIs on one grid are concatenated along ``geometry``; otherwise ``xr_combine`` decides
    (``combine_first``, ``merge`` or ``merge_override``). Time ascends; ``y`` descends for
    north-up grids. Sorting is skipped when an axis is already in order (on dask arrays a
    sort is a large fancy-indexing gather).
    """
    import xarray as xr

    if len(parts) == 1:
        ds = parts[0]
    elif all(p.sizes["y"] == parts[0].sizes["y"] and p.sizes["x"] == parts[0].sizes["x"]
             and (p.x.values == parts[0].x.values).all() and (p.y.values == parts[0].y.values).all()
             for p in parts):  # fmt: skip
        ds = xr.concat(parts, dim="geometry", join="outer", combine_attrs="override")
    elif xr_combine == "combine_first":
        ds = parts[0]
        for p in parts[1:]:
            ds = ds.combine_first(p)
    elif xr_combine == "merge":
        ds = xr.merge(parts, join="outer", combine_attrs="override")
    else:  # merge_override
        ds = xr.merge(parts, join="outer", compat="override", combine_attrs="override")
    if not ds.indexes["time"].is_monotonic_increasing:
        ds = ds.sortby("time")
    north_up = parts[0].y.values[0] > parts[0].y.values[-1] if parts[0].sizes["y"] > 1 else True
    y = ds.indexes["y"]
    if not (y.is_monotonic_decreasing if north_up else y.is_monotonic_increasing):
        ds = ds.sortby("y", ascending=not north_up)
    return ds


def get_xarray(
    source: RecordSource, request: AoiRequest, output: XarrayOptions, options: ReadOptions
) -> xr.Dataset:
    """The eager ``xarray.Dataset`` (dims ``(time, geometry, y, x)``) of an AOI read.

    Raises:
        NoDataError: Nothing could be read.
        MemoryBudgetError: The read does not fit the memory budget (nothing was fetched).
    """
    outcome, _ = read_chips(source, request, options, layout="stack", method="get_xarray", copies=1)
    if not outcome.chips:
        raise no_data_error(outcome.failures)
    return build_dataset(outcome, request.bands, output.xr_combine)
