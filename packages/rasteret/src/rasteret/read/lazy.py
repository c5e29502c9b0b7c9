"""Lazy ``get_xarray(..., chunks=...)``: a dask-backed cube planned from the index alone.

The read is planned on the client exactly as the eager path plans it
(:func:`rasteret_io.plan_tasks`; only the Parquet index is used, no pixel or header request),
then every AOI's output cube is cut into chunks ``(time block, y block, x block)``: one dask
task per chunk and band, each running :func:`rasteret.read._chunks.read_chunk`, which fetches
only the tiles under its chunk through the worker process's own event loop and connection
pool. Dims, coordinates, attributes and dtypes are those of the eager Dataset, and the
computed values are identical. Needs ``rasteret[dask]``.
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
from rasteret.read.aoi import aoi_records
from rasteret.read.cube import DIMS, aoi_coords, combine_parts, naive_time, variable_attrs
from rasteret.read.failures import apply_policy, no_data_error
from rasteret.read.limits import budget_for
from rasteret_cog import fill_value
from rasteret_io import ReadOutcome, Window, plan_tasks, window_transform

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from rasteret.read.requests import AoiRequest, Chunking, ReadOptions, XarrayOptions
    from rasteret.records import RecordSource
    from rasteret_io import BatchReader

__all__ = ["lazy_xarray"]


def _require_dask() -> None:
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError:
        raise missing_dependency("dask", "dask", "get_xarray(chunks=...)") from None


def _chip_grid(task: Any) -> tuple[tuple[float, ...], tuple[int, int], Any]:
    """Transform, shape and CRS of the chip the eager read makes for ``task``."""
    if task.out_grid is None:
        lv = task.source.levels[task.level]
        return (
            window_transform(lv.transform, task.window),
            (task.window.height, task.window.width),
            task.source.crs,
        )
    g = task.out_grid
    return g.transform, g.shape, g.crs


def _chunk_items(
    by_time: dict[int, list[tuple[Any, MaskSpec]]],
    prio: dict[tuple[str, int], int],
    times: tuple[int, int],
    region: tuple[int, int, int, int],
) -> tuple[ChunkItem, ...]:
    """The record bands of time steps ``times`` that may contribute to pixel ``region``."""
    t0, t1 = times
    r0, r1, c0, c1 = region
    items = []
    for k in range(t0, t1):
        for t, mask in by_time.get(k, ()):
            if t.out_grid is None:
                lv = t.source.levels[t.level]
                sub = Window(t.window.col_off + c0, t.window.row_off + r0, c1 - c0, r1 - r0)
                if sub.intersection(Window(0, 0, lv.width, lv.height)) is None:
                    continue
            items.append(
                ChunkItem(
                    k - t0,
                    prio[(t.record.record_id, t.record.index)],
                    t.source,
                    t.level,
                    t.window,
                    t.out_grid,
                    mask,
                )
            )
    return tuple(items)


def _aoi_dataset(
    tasks: list[Any],
    aoi_index: int,
    bands: Sequence[str],
    reader: BatchReader,
    chunks: Chunking,
    all_touched: bool,
) -> xr.Dataset:
    import xarray as xr
    from dask.base import tokenize

    order = {b: j for j, b in enumerate(bands)}
    tasks = sorted(tasks, key=lambda t: (t.record.index, order[t.source.band]))
    # mosaic priority within a time step: record id, then position (as the eager path)
    prio = {
        idx: rank
        for rank, idx in enumerate(sorted({(t.record.record_id, t.record.index) for t in tasks}))
    }
    transform, (h, w), crs = _chip_grid(tasks[0])
    times = sorted({naive_time(t.record.datetime) for t in tasks})
    t_index = {t: i for i, t in enumerate(times)}
    blocks = (split(len(times), chunks.time), split(h, chunks.y), split(w, chunks.x))
    data_vars = {}
    for band in bands:
        btasks = [t for t in tasks if t.source.band == band]
        if not btasks:
            continue
        first = btasks[0]
        spec0 = first.source.level_spec(first.level)
        dtype = np.dtype(spec0.dtype)
        fill = fill_value(spec0)
        by_time: dict[int, list[tuple[Any, MaskSpec]]] = {}
        for t in btasks:
            tr, shape, _ = _chip_grid(t)
            mask = MaskSpec(t.geom.wkb, tuple(tr), shape, bool(all_touched))
            by_time.setdefault(t_index[naive_time(t.record.datetime)], []).append((t, mask))
        name = f"rasteret-xarray-{band}-" + tokenize(
            reader, aoi_index, band, [(t.record.record_id, t.window, t.level) for t in btasks]
        )
        dsk: dict[Any, Any] = {}
        for ti, (t0, t1) in enumerate(offsets(blocks[0])):
            for yi, (r0, r1) in enumerate(offsets(blocks[1])):
                for xi, (c0, c1) in enumerate(offsets(blocks[2])):
                    region = (r0, r1, c0, c1)
                    items = _chunk_items(by_time, prio, (t0, t1), region)
                    spec = ChunkSpec(items, region, t1 - t0, dtype.str, fill)
                    dsk[(name, ti, 0, yi, xi)] = (read_opaque_chunk, reader, Opaque(spec))
        arr = _dask_array(name, dsk, (blocks[0], (1,), blocks[1], blocks[2]), dtype)
        data_vars[band] = (DIMS, arr, variable_attrs(first.source.nodata))
    coords = aoi_coords(times, aoi_index, transform, (h, w), crs)
    return xr.Dataset(data_vars, coords=coords)


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
    """
    _require_dask()
    assert output.chunks is not None
    records = aoi_records(source, request, options)
    bands = list(request.bands)
    outcome = ReadOutcome()
    tasks = plan_tasks(
        records.record_sources(bands, options.band_map),
        bands,
        request.aoi_input(),
        layout="stack",
        target_crs=request.target_crs,
        resolution=None,
        outcome=outcome,
    )
    apply_policy(outcome.failures, "get_xarray", produced=len(tasks), policy=options.error_policy)
    if not tasks:
        raise no_data_error(outcome.failures)
    reader = batch_reader(
        bands, options, budget=budget_for(options.memory_budget, "get_xarray(chunks=...)")
    )
    by_aoi: dict[int, list[Any]] = {}
    for t in tasks:
        by_aoi.setdefault(t.aoi_index, []).append(t)
    parts = [
        _aoi_dataset(ts, i, bands, reader, output.chunks, request.all_touched)
        for i, ts in sorted(by_aoi.items())
    ]
    return combine_parts(parts, output.xr_combine)
