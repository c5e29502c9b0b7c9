"""``get_xarray``: the eager ``xarray.Dataset`` of a stacked AOI read, and its layout.

Dims ``(time, geometry, y, x)``; one variable per band (dtype, nodata and fill per
:mod:`rasteret_io.band_output`); every AOI on one regular grid that covers all of them
(:meth:`rasteret.read.plan.CubePlan.covering_grid`), each AOI's layer masked to its polygon;
time steps per ``groupby`` (:mod:`rasteret.read.steps`), records of a step fused first valid
pixel wins (valid = read, inside the AOI, not nodata); attributes and coordinates per
:mod:`rasteret.read.xr_conventions` (``spatial_ref`` with CF attributes that rioxarray and
odc-geo read, ``id`` and STAC properties on ``time``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rasteret.read.arrays import execute
from rasteret.read.failures import no_data_error
from rasteret.read.plan import CubePlan, check_plan_budget, placement, plan_cube
from rasteret.read.steps import Member, Step, fusion_valid, naive_time, warn_fused
from rasteret.read.xr_conventions import (
    DIMS,
    dataset_attrs,
    spatial_ref_attrs,
    step_coords,
    time_attrs,
    variable_attrs,
    xy_coords,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from rasteret.read.requests import AoiRequest, ReadOptions, XarrayOptions
    from rasteret.records import RecordSource
    from rasteret_io import Chip, Grid, ReadOutcome

__all__ = [
    "DIMS",
    "band_layout",
    "build_dataset",
    "dataset_coords",
    "get_xarray",
    "naive_time",
    "spatial_ref_attrs",
    "variable_attrs",
]


def band_layout(plan: CubePlan, band: str) -> tuple[np.dtype, Any, Any, str | None] | None:
    """``(dtype, fill, nodata, resampling)`` of a band variable (from its first task), or None
    when nothing of the band is planned. ``resampling`` is the kernel when some record of the
    band is resampled onto the grid, else None."""
    tasks = plan.band_tasks(band)
    if not tasks or tasks[0].output is None:
        return None
    out = tasks[0].output
    warped = any(t.plan is not None for t in tasks)
    return np.dtype(out.dtype), out.fill, out.nodata, (out.resampling.value if warped else None)


def dataset_coords(
    plan: CubePlan, steps: Sequence[Step], aoi_ids: Sequence[int], cover: Grid
) -> dict[str, Any]:
    """Coordinates of the Dataset: time (+ id and properties), geometry, y, x, spatial_ref."""
    times = np.array([s.time for s in steps], dtype="datetime64[ns]")
    coords: dict[str, Any] = {
        "time": ("time", times, time_attrs()),
        "geometry": (
            "geometry",
            np.array([i + 1 for i in aoi_ids], dtype=np.int64),
            {"long_name": "AOI number (1-based, input order)"},
        ),
        **xy_coords(cover.transform, cover.shape, cover.crs),
    }
    coords.update(step_coords(steps, plan.records, plan.properties))
    return coords


def build_dataset(
    plan: CubePlan, outcome: ReadOutcome, output: XarrayOptions, *, stacklevel: int = 2
) -> xr.Dataset:
    """Assemble the Dataset of a read ``plan`` (see module docs); ``stacklevel`` points the
    fused-records warning at the caller's frame."""
    import xarray as xr

    cover = plan.covering_grid()
    assert cover is not None  # there are chips, so there are tasks
    members = {
        ch.record_index: Member(ch.record_index, str(ch.record_id), naive_time(ch.datetime))
        for ch in outcome.chips
    }
    steps = plan.steps(output.groupby, list(members.values()))
    warn_fused(steps, output.groupby, stacklevel=stacklevel + 1)
    step_of = {m.index: k for k, s in enumerate(steps) for m in s.members}
    rank = {m.index: r for s in steps for r, m in enumerate(s.members)}
    aoi_ids = sorted({ch.aoi_index for ch in outcome.chips})
    g_of = {a: j for j, a in enumerate(aoi_ids)}
    shape = (len(steps), len(aoi_ids), cover.height, cover.width)
    data_vars = {}
    for band in plan.request.bands:
        chips = [ch for ch in outcome.chips if ch.band == band]
        layout = band_layout(plan, band)
        if not chips or layout is None:
            continue
        dtype, fill, nodata, kernel = layout
        arr = np.full(shape, fill, dtype=dtype)
        _place(arr, chips, cover, step_of, rank, g_of, steps)
        data_vars[band] = (DIMS, arr, variable_attrs(nodata, dtype, kernel))
    ds = xr.Dataset(data_vars, coords=dataset_coords(plan, steps, aoi_ids, cover))
    ds.attrs.update(dataset_attrs(output.groupby))
    return ds


def _place(
    arr: np.ndarray,
    chips: list[Chip],
    cover: Grid,
    step_of: dict[int, int],
    rank: dict[int, int],
    g_of: dict[int, int],
    steps: Sequence[Step],
) -> None:
    """Write chips into ``arr``: a single record per step is copied, fused steps are
    mosaicked first valid pixel wins, in the step's record order."""
    from rasteret_io import Grid

    done: dict[tuple[int, int], np.ndarray] = {}
    for ch in sorted(chips, key=lambda c: (step_of[c.record_index], rank[c.record_index])):
        t, g = step_of[ch.record_index], g_of[ch.aoi_index]
        h, w = ch.data.shape
        r, c = placement(Grid(cover.crs, ch.transform, w, h), cover)
        region = arr[t, g, r : r + h, c : c + w]
        if len(steps[t].members) == 1:
            ok = ch.valid_mask
            if ok is None:
                region[...] = ch.data
            else:
                region[ok] = ch.data[ok]
            continue
        seen = done.get((t, g))
        if seen is None:
            seen = done[(t, g)] = np.zeros(arr.shape[2:], dtype=bool)
        sub = seen[r : r + h, c : c + w]
        take = fusion_valid(ch.data, ch.valid_mask, ch.nodata) & ~sub
        region[take] = ch.data[take]
        sub |= take


def get_xarray(
    source: RecordSource, request: AoiRequest, output: XarrayOptions, options: ReadOptions
) -> xr.Dataset:
    """The eager ``xarray.Dataset`` (dims ``(time, geometry, y, x)``) of an AOI read.

    Raises:
        NoDataError: Nothing could be read.
        MemoryBudgetError: The read does not fit the memory budget (nothing was fetched).
    """
    plan = plan_cube(source, request, options, shared=True, with_properties=True)
    check_plan_budget(plan, options, "get_xarray", output)
    plan, outcome = execute(plan, options, method="get_xarray", xarray=output)
    if not outcome.chips:
        raise no_data_error(outcome.failures)
    # user -> Collection.get_xarray -> entry.get_xarray -> here
    return build_dataset(plan, outcome, output, stacklevel=4)
