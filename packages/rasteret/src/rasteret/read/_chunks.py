"""Engine-neutral chunk reads: one chunk of the ``get_xarray`` cube, computed on its own.

The client plans a ``get_xarray`` read exactly as the eager path does
(:func:`rasteret_io.engine.plan_tasks`, no I/O: only the Parquet index is used), then cuts
the output cube of every AOI into chunks ``(time block, y block, x block)``. A
:class:`ChunkSpec` carries everything one chunk needs — the band sources of the records in
its time block that touch it, the eager window of each, the output grid and the AOI mask
key — and :func:`read_chunk` turns it into the chunk's array. Only the tiles under the chunk
are fetched. Every output pixel is computed with the same arithmetic as the eager read (same
source window, same target pixel centres, same AOI mask), so a lazily computed cube equals
the eager one bit for bit.

:func:`read_chunk` is a plain, picklable function: Dask, Ray, ``multiprocessing`` or a loop
can run it. It reads through a fetcher over the :class:`rasteret_io.BatchReader`'s backend,
i.e. the process's own event loop and connection pool (created lazily in each worker process).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from rasteret.read._adapter import reader_fetcher
from rasteret_io import (
    BandSource,
    BatchReader,
    Grid,
    Window,
    WindowRequest,
    check_budget,
    geometry_mask,
    nearest_index,
    plan_warp,
    read_windows,
    run_sync,
    source_valid,
)

__all__ = ["ChunkItem", "ChunkSpec", "MaskSpec", "Opaque", "read_chunk", "read_opaque_chunk"]


@dataclass(frozen=True, slots=True)
class MaskSpec:
    """The AOI mask of one output grid (computed once per process, then sliced per chunk).

    Attributes:
        geom_wkb: AOI polygon (WKB) in the grid's CRS.
        transform: Geotransform of the full output grid.
        shape: ``(height, width)`` of the full output grid.
        all_touched: Rasterize with ``all_touched``.
    """

    geom_wkb: bytes
    transform: tuple[float, ...]
    shape: tuple[int, int]
    all_touched: bool


@dataclass(frozen=True, slots=True)
class ChunkItem:
    """One record's band in a chunk.

    Attributes:
        t: Time index inside the chunk's time block.
        order: Mosaic priority (the record's position; lower wins).
        source: The band source (from the index).
        level: Pyramid level read (0 unless the eager plan chose an overview).
        window: The eager source window (aligned grids: the boundless window that *is* the
            output grid; warped: the source window resampled onto ``out_grid``).
        out_grid: Output grid when records are resampled, else None (aligned case).
        mask: The AOI mask of the output grid.
    """

    t: int
    order: int
    source: BandSource
    level: int
    window: Window
    out_grid: Grid | None
    mask: MaskSpec


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """A chunk of one band: rows ``r0:r1`` and columns ``c0:c1`` of the output grid, ``ntimes`` steps.

    Attributes:
        items: Record bands that may contribute (any order; mosaicked by ``order``).
        region: ``(r0, r1, c0, c1)`` in output-grid pixels.
        ntimes: Time steps in the block.
        dtype: Output dtype (the first record's band dtype, as eager).
        fill: Value of pixels no record covers (the first record's fill, as eager).
    """

    items: tuple[ChunkItem, ...]
    region: tuple[int, int, int, int]
    ntimes: int
    dtype: str
    fill: int | float


_MASKS: OrderedDict[MaskSpec, np.ndarray] = OrderedDict()
_MASKS_LOCK = threading.Lock()
_MASKS_MAX = 16
_PLANS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _full_mask(spec: MaskSpec) -> np.ndarray:
    """The AOI mask of a whole output grid, cached per process (a few grids at a time)."""
    with _MASKS_LOCK:
        hit = _MASKS.get(spec)
        if hit is not None:
            _MASKS.move_to_end(spec)
            return hit
    m = geometry_mask(
        shapely.from_wkb(spec.geom_wkb),
        spec.transform,  # type: ignore[arg-type]
        spec.shape,
        all_touched=spec.all_touched,
    )
    with _MASKS_LOCK:
        _MASKS[spec] = m
        while len(_MASKS) > _MASKS_MAX:
            _MASKS.popitem(last=False)
    return m


def _nearest_plan(source: BandSource, level: int, grid: Grid) -> Any:
    """GDAL's warp plan of one band level onto an output grid (cached per process)."""
    key = (source.url, source.band, level, grid)
    with _MASKS_LOCK:
        hit = _PLANS.get(key)
    if hit is None:
        hit = plan_warp(
            source.grid(level),
            grid,
            "nearest",
            src_dtype=source.spec.dtype,
            src_nodata=source.nodata,
        )
        with _MASKS_LOCK:
            _PLANS[key] = hit
            while len(_PLANS) > _MASKS_MAX:
                _PLANS.popitem(last=False)
    return hit


def _plan_item(item: ChunkItem, region: tuple[int, int, int, int]) -> tuple[Any, Any] | None:
    """``(window to fetch, how to place it)`` for one item, or None when it misses the chunk."""
    r0, r1, c0, c1 = region
    win = item.window
    lv = item.source.levels[item.level]
    image = Window(0, 0, lv.width, lv.height)
    if item.out_grid is None:
        sub = Window(win.col_off + c0, win.row_off + r0, c1 - c0, r1 - r0)
        if sub.intersection(image) is None:
            return None
        return sub, None
    # Warped: GDAL's nearest source pixel of each target pixel of this region, exactly as the
    # eager read maps it (rasteret_io.nearest_index), relative to the eager window.
    ok, sr, sc = nearest_index(
        _nearest_plan(item.source, item.level, item.out_grid), (r0, r1), (c0, c1)
    )
    ci, ri = sc - win.col_off, sr - win.row_off
    ok &= (ci >= 0) & (ci < win.width) & (ri >= 0) & (ri < win.height)
    if not ok.any():
        return None
    cmin, cmax = int(ci[ok].min()), int(ci[ok].max())
    rmin, rmax = int(ri[ok].min()), int(ri[ok].max())
    sub = Window(win.col_off + cmin, win.row_off + rmin, cmax - cmin + 1, rmax - rmin + 1)
    return sub, (ok, ri - rmin, ci - cmin)


def read_chunk(reader: BatchReader, spec: ChunkSpec) -> np.ndarray:
    """Compute one chunk: ``(ntimes, 1, r1 - r0, c1 - c0)`` in ``spec.dtype``.

    Records of one time step are mosaicked in ``order`` (first valid pixel wins); pixels no
    record covers hold ``spec.fill``. Runs in any process: the reads go through
    ``reader``'s fetcher on that process's event loop and connection pool.

    Raises:
        rasteret_io.errors.ReadError: A read failed and ``reader.error_policy`` is ``"raise"``.
        rasteret_io.errors.MemoryBudgetError: The chunk (or the windows it decodes) exceeds
            ``reader.memory_budget``: pass smaller ``chunks=``.
    """
    r0, r1, c0, c1 = spec.region
    h, w = r1 - r0, c1 - c0
    budget = reader.memory_budget
    check_budget((spec.ntimes, 1, h, w), spec.dtype, what="a get_xarray chunk", budget=budget)
    out = np.full((spec.ntimes, 1, h, w), spec.fill, dtype=spec.dtype)
    planned: list[tuple[ChunkItem, Any]] = []
    reqs: list[WindowRequest] = []
    for item in sorted(spec.items, key=lambda it: it.order):
        p = _plan_item(item, spec.region)
        if p is None:
            continue
        reqs.append(WindowRequest(item.source, p[0], item.level, len(reqs)))
        planned.append((item, p[1]))
    if not reqs:
        return out
    results = run_sync(read_windows(reqs, reader_fetcher(reader), budget=budget))
    done = np.zeros((spec.ntimes, h, w), dtype=bool)
    failed = []
    for (item, place), res in zip(planned, results, strict=True):
        if res.data is None:
            failed.append(
                f"record_id={item.source.record_id!r} band={item.source.band!r}: {res.error}"
            )
            continue
        read_valid = res.valid if res.valid is not None else np.ones(res.data.shape, bool)
        if place is None:
            data, valid = res.data, read_valid
        else:
            ok, ri, ci = place
            sh, sw = res.data.shape
            ri_c, ci_c = np.clip(ri, 0, max(sh - 1, 0)), np.clip(ci, 0, max(sw - 1, 0))
            data = res.data[ri_c, ci_c]
            got = None if res.valid is None else res.valid[ri_c, ci_c]
            valid = ok & source_valid(data, got, item.source.nodata)
        inside = _full_mask(item.mask)[r0:r1, c0:c1]
        take = valid & inside & ~done[item.t]
        out[item.t, 0][take] = data[take]
        done[item.t] |= take
    if failed:
        more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
        warnings.warn(
            f"Some records failed to load in a lazy chunk: {'; '.join(failed[:3])}{more}",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


class Opaque:
    """Holds a task payload so that graph engines do not walk into it.

    Dask's task parser recurses into tuples, lists, dicts and dataclasses looking for keys;
    a chunk spec holds whole tile tables, so walking it costs far more than reading the
    chunk. This plain class is pickled as a unit.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getstate__(self) -> Any:
        return self.value

    def __setstate__(self, state: Any) -> None:
        self.value = state


def read_opaque_chunk(reader: BatchReader, spec: Opaque) -> np.ndarray:
    """:func:`read_chunk` of a spec wrapped in :class:`Opaque` (the Dask task function)."""
    return read_chunk(reader, spec.value)


def split(n: int, size: int | None) -> tuple[int, ...]:
    """Block sizes cutting ``n`` into pieces of ``size`` (None / <= 0: one block)."""
    if not size or size <= 0 or size >= n:
        return (n,)
    full, rest = divmod(n, size)
    return (size,) * full + ((rest,) if rest else ())


def offsets(blocks: Sequence[int]) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of consecutive blocks."""
    out, pos = [], 0
    for b in blocks:
        out.append((pos, pos + b))
        pos += b
    return out
