"""Lazy ``get_xarray(..., chunks=...)``: a dask-backed cube planned from the index alone.

The read is planned on the client exactly as the eager path plans it
(:func:`rasteret.read.plan.plan_cube`; only the Parquet index is used, no pixel or header
request), then the cube's covering grid is cut into chunks ``(time block, AOI, y block,
x block)``: one dask task per chunk and band, each running
:func:`rasteret.read._chunks.read_chunk`, which fetches only the source pixels under its
chunk through the worker process's own event loop and connection pool. Dims, coordinates,
attributes and dtypes are those of the eager Dataset, and the computed values are identical.
Needs ``rasteret[dask]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rasteret.errors import missing_dependency
from rasteret.read._adapter import batch_reader
from rasteret.read._chunks import (
    ChunkItem,
    ChunkSpec,
    MaskSpec,
    Opaque,
    offsets,
    read_opaque_chunk,
    split,
)
from rasteret.read.cube import band_layout, dataset_coords
from rasteret.read.failures import apply_policy, no_data_error
from rasteret.read.limits import budget_for
from rasteret.read.plan import CubePlan, placement, plan_cube
from rasteret.read.steps import warn_fused
from rasteret.read.xr_conventions import DIMS, dataset_attrs, variable_attrs

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from rasteret.read.requests import AoiRequest, Chunking, ReadOptions, XarrayOptions
    from rasteret.read.steps import Step
    from rasteret.records import RecordSource
    from rasteret_io import AoiTask, BatchReader, Grid

__all__ = ["lazy_xarray"]


def _require_dask() -> None:
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError:
        raise missing_dependency("dask", "dask", "get_xarray(chunks=...)") from None


def _items(
    tasks: Sequence[AoiTask],
    cover: Grid,
    step_of: dict[int, int],
    rank: dict[int, int],
    all_touched: bool,
) -> dict[tuple[int, int], list[tuple[ChunkItem, tuple[int, int, int, int]]]]:
    """Chunk items of one band by ``(time step, AOI)``, each with its extent in the cube."""
    out: dict[tuple[int, int], list[tuple[ChunkItem, tuple[int, int, int, int]]]] = {}
    for t in tasks:
        grid, output = t.out_grid, t.output
        assert grid is not None and output is not None
        r, c = placement(grid, cover)
        mask = MaskSpec(t.geom.wkb, tuple(grid.transform), grid.shape, bool(all_touched))
        step = step_of[t.record.index]
        item = ChunkItem(
            step, rank[t.record.index], t.source, t.level, t.window, grid, (r, c),
            t.plan is not None, output, mask,
        )  # fmt: skip
        out.setdefault((step, t.aoi_index), []).append(
            (item, (r, r + grid.height, c, c + grid.width))
        )
    return out


def _band_graph(
    name: str,
    by_step: dict[tuple[int, int], list[tuple[ChunkItem, tuple[int, int, int, int]]]],
    aoi_ids: Sequence[int],
    blocks: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    reader: BatchReader,
    dtype: np.dtype,
    fill: Any,
) -> dict[Any, Any]:
    from dataclasses import replace

    dsk: dict[Any, Any] = {}
    for ti, (t0, t1) in enumerate(offsets(blocks[0])):
        for gi, aoi in enumerate(aoi_ids):
            for yi, (r0, r1) in enumerate(offsets(blocks[1])):
                for xi, (c0, c1) in enumerate(offsets(blocks[2])):
                    items = []
                    for step in range(t0, t1):
                        for item, (a0, a1, b0, b1) in by_step.get((step, aoi), ()):
                            if a0 < r1 and r0 < a1 and b0 < c1 and c0 < b1:
                                items.append(replace(item, t=step - t0))
                    spec = ChunkSpec(tuple(items), (r0, r1, c0, c1), t1 - t0, dtype.str, fill)
                    dsk[(name, ti, gi, yi, xi)] = (read_opaque_chunk, reader, Opaque(spec))
    return dsk


def _dataset(
    plan: CubePlan,
    steps: list[Step],
    reader: BatchReader,
    chunks: Chunking,
    output: XarrayOptions,
) -> xr.Dataset:
    import xarray as xr
    from dask.base import tokenize

    cover = plan.covering_grid()
    assert cover is not None
    step_of = {m.index: k for k, s in enumerate(steps) for m in s.members}
    rank = {m.index: r for s in steps for r, m in enumerate(s.members)}
    aoi_ids = plan.aoi_ids()
    blocks = (split(len(steps), chunks.time), split(cover.height, chunks.y),
              split(cover.width, chunks.x))  # fmt: skip
    data_vars = {}
    for band in plan.request.bands:
        tasks = plan.band_tasks(band)
        layout = band_layout(plan, band)
        if not tasks or layout is None:
            continue
        dtype, fill, nodata, kernel = layout
        by_step = _items(tasks, cover, step_of, rank, plan.request.all_touched)
        name = f"rasteret-xarray-{band}-" + tokenize(
            reader, band, cover, [(t.record.record_id, t.aoi_index, t.window, t.level) for t in tasks],
            [(s.time, [m.index for m in s.members]) for s in steps],
        )  # fmt: skip
        dsk = _band_graph(name, by_step, aoi_ids, blocks, reader, dtype, fill)
        arr = _dask_array(name, dsk, (blocks[0], (1,) * len(aoi_ids), blocks[1], blocks[2]), dtype)
        data_vars[band] = (DIMS, arr, variable_attrs(nodata, dtype, kernel))
    ds = xr.Dataset(data_vars, coords=dataset_coords(plan, steps, aoi_ids, cover))
    ds.attrs.update(dataset_attrs(output.groupby))
    return ds


def _dask_array(name: str, dsk: dict[Any, Any], chunks: tuple[Any, ...], dtype: Any) -> Any:
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, chunks=chunks, dtype=dtype, meta=np.empty((0, 0, 0, 0), dtype))


def lazy_xarray(
    source: RecordSource, request: AoiRequest, output: XarrayOptions, options: ReadOptions
) -> xr.Dataset:
    """The lazy (dask-backed) counterpart of the eager ``get_xarray`` (see module docs).

    Raises:
        MissingDependencyError: dask is not installed.
        NoDataError: Nothing to read.
        MemoryBudgetError: When a chunk is computed, its arrays do not fit the budget.
    """
    _require_dask()
    assert output.chunks is not None
    plan = plan_cube(source, request, options, shared=True, with_properties=True)
    # nothing is allocated here: each chunk checks its own arrays against the budget when
    # it is computed (rasteret.read._chunks.read_chunk), with advice to pass smaller chunks
    budget = budget_for(options.memory_budget, "get_xarray(chunks=...)")
    apply_policy(
        plan.outcome.failures, "get_xarray", produced=len(plan.tasks), policy=options.error_policy
    )
    if not plan.tasks:
        raise no_data_error(plan.outcome.failures)
    steps = plan.steps(output.groupby)
    warn_fused(steps, output.groupby, stacklevel=4)  # user -> Collection -> entry -> here
    reader = batch_reader(list(request.bands), options, budget=budget)
    return _dataset(plan, steps, reader, output.chunks, output)
