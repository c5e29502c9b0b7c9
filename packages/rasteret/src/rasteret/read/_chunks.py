"""Engine-neutral chunk reads: one chunk of the ``get_xarray`` cube, computed on its own.

The client plans a ``get_xarray`` read exactly as the eager path does
(:func:`rasteret.read.plan.plan_cube`, no I/O: only the Parquet index is used), then cuts
the covering grid of the cube into chunks ``(time block, AOI, y block, x block)``. A
:class:`ChunkSpec` carries everything one chunk needs — the band sources of the records in
its time block whose AOI grid touches it, the eager window and output grid of each, where
that grid sits in the cube, the band's output values and the AOI mask key — and
:func:`read_chunk` turns it into the chunk's array. Only the source pixels under the chunk
are fetched (nearest: the pixels GDAL's mapping picks; other kernels: the source window the
kernel reaches, :func:`rasteret_io.region_source_window`). Every output pixel is computed
with the same arithmetic as the eager read (same warp plan, same target pixel centres, same
AOI mask, same fusion), so a lazily computed cube equals the eager one bit for bit.

:func:`read_chunk` is a plain, picklable function: Dask, Ray, ``multiprocessing`` or a loop
can run it. It reads through a fetcher over the :class:`rasteret_io.BatchReader`'s backend,
i.e. the process's own event loop and connection pool (created lazily in each worker process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from rasteret.read._adapter import reader_fetcher
from rasteret.read.failures import apply_policy
from rasteret.read.steps import fusion_valid
from rasteret_io import (
    BandOutput,
    BandSource,
    BatchReader,
    Grid,
    ReadFailure,
    Window,
    WindowRequest,
    check_budget,
    convert_values,
    geometry_mask,
    nearest_index,
    read_windows,
    region_source_window,
    run_sync,
    source_valid,
    warp_into,
    warp_plan,
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
        order: Fusion priority inside the time step (lower wins).
        source: The band source (from the index).
        level: Pyramid level read (0 unless the eager plan chose an overview).
        window: The eager source window (copies: the output grid in source pixels;
            resampled: the source window GDAL reads).
        grid: The AOI's output grid of the eager plan.
        offset: ``(row, col)`` of ``grid``'s first pixel in the cube's covering grid.
        warped: Whether the band is resampled onto ``grid`` (else copied).
        output: The band's output values (dtype, nodata, fill, kernel).
        mask: The AOI mask of ``grid``.
    """

    t: int
    order: int
    source: BandSource
    level: int
    window: Window
    grid: Grid
    offset: tuple[int, int]
    warped: bool
    output: BandOutput
    mask: MaskSpec


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """A chunk of one band and one AOI: rows ``r0:r1`` and columns ``c0:c1`` of the covering
    grid, ``ntimes`` steps.

    Attributes:
        items: Record bands that may contribute (any order; fused by ``(t, order)``).
        region: ``(r0, r1, c0, c1)`` in covering-grid pixels.
        ntimes: Time steps in the block.
        dtype: Output dtype of the band.
        fill: Value of pixels no record covers.
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


def _warp_plan(item: ChunkItem) -> Any:
    """The eager read's GDAL warp plan of an item (cached per process)."""
    key = (item.source.url, item.source.band, item.level, item.grid, item.output)
    with _MASKS_LOCK:
        hit = _PLANS.get(key)
    if hit is None:
        hit = warp_plan(item.source, item.level, item.grid, item.output)
        with _MASKS_LOCK:
            _PLANS[key] = hit
            while len(_PLANS) > _MASKS_MAX:
                _PLANS.popitem(last=False)
    return hit


def _sub_region(
    item: ChunkItem, region: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    """The chunk region in the item grid's pixels (None when they do not overlap)."""
    r0, r1, c0, c1 = region
    orow, ocol = item.offset
    a0, a1 = max(r0 - orow, 0), min(r1 - orow, item.grid.height)
    b0, b1 = max(c0 - ocol, 0), min(c1 - ocol, item.grid.width)
    if a0 >= a1 or b0 >= b1:
        return None
    return a0, a1, b0, b1


def _plan_item(item: ChunkItem, sub: tuple[int, int, int, int]) -> tuple[Window, Any] | None:
    """``(window to fetch, how to place it)`` for one item, or None when it misses the chunk."""
    a0, a1, b0, b1 = sub
    win = item.window
    lv = item.source.levels[item.level]
    image = Window(0, 0, lv.width, lv.height)
    if not item.warped:
        w = Window(win.col_off + b0, win.row_off + a0, b1 - b0, a1 - a0)
        return (w, None) if w.intersection(image) is not None else None
    plan = _warp_plan(item)
    if item.output.resampling.value != "nearest":
        rw = region_source_window(plan, (a0, a1), (b0, b1))
        if rw is None:
            return None
        return rw, ("warp", plan)
    # nearest: GDAL's nearest source pixel of each target pixel of this region, exactly as
    # the eager read maps it (rasteret_io.nearest_index), relative to the eager window.
    ok, sr, sc = nearest_index(plan, (a0, a1), (b0, b1))
    ci, ri = sc - win.col_off, sr - win.row_off
    ok &= (ci >= 0) & (ci < win.width) & (ri >= 0) & (ri < win.height)
    if not ok.any():
        return None
    cmin, cmax = int(ci[ok].min()), int(ci[ok].max())
    rmin, rmax = int(ri[ok].min()), int(ri[ok].max())
    w = Window(win.col_off + cmin, win.row_off + rmin, cmax - cmin + 1, rmax - rmin + 1)
    return w, ("nearest", ok, ri - rmin, ci - cmin)


def _values(item: ChunkItem, sub: tuple[int, int, int, int], place: Any, res: Any) -> Any:
    """``(data, valid)`` of an item over its sub-region, in the band's output dtype, exactly
    as the eager read computes them."""
    out, src = item.output, item.source
    if place is None:  # a copy of the source window, converted like the eager copy
        data, valid = res.data, res.valid_mask
        if out.converted:
            data, valid = out.convert(data, valid, src.nodata)
        return data, (np.ones(data.shape, bool) if valid is None else valid)
    work = np.promote_types(res.data.dtype, np.dtype(out.dtype))
    if place[0] == "warp":
        a0, a1, b0, b1 = sub
        data, valid = warp_into(
            res.data,
            src.grid(item.level),
            item.grid,
            out.resampling,
            src_window=res.request.window,
            src_valid=res.valid_mask,
            nodata=src.nodata,
            dst_nodata=out.nodata,
            src_has_mask=src.mask is not None and item.level == 0,
            out=np.empty((a1 - a0, b1 - b0), dtype=work),
            plan=place[1],
            region=sub,
        )
    else:
        _kind, ok, ri, ci = place
        sh, sw = res.data.shape
        ri_c, ci_c = np.clip(ri, 0, max(sh - 1, 0)), np.clip(ci, 0, max(sw - 1, 0))
        data = res.data[ri_c, ci_c].astype(work, copy=False)
        got = None if res.valid_mask is None else res.valid_mask[ri_c, ci_c]
        valid = ok & source_valid(data, got, src.nodata)
        data = np.where(valid, data, np.asarray(0 if out.nodata is None else out.nodata, work))
    if work != np.dtype(out.dtype):
        data = convert_values(data, out.dtype)
        data[~valid] = out.fill
    return data, valid


def read_chunk(reader: BatchReader, spec: ChunkSpec) -> np.ndarray:
    """Compute one chunk: ``(ntimes, 1, r1 - r0, c1 - c0)`` in ``spec.dtype``.

    Records of one time step are fused in ``order`` (first valid pixel wins; valid = read,
    inside the AOI, not nodata); pixels no record covers hold ``spec.fill``. Runs in any
    process: the reads go through ``reader``'s fetcher on that process's event loop and
    connection pool.

    Raises:
        rasteret_io.errors.ReadError: A read failed and ``reader.error_policy`` is ``"raise"``.
        rasteret_io.errors.MemoryBudgetError: The chunk (or the windows it decodes) exceeds
            ``reader.memory_budget``: pass smaller ``chunks=``.

    Warns:
        RuntimeWarning: Records that failed under ``"skip"`` (left out of the chunk) or
            ``"nodata"`` (filled), named as the eager read names them.
    """
    r0, r1, c0, c1 = spec.region
    h, w = r1 - r0, c1 - c0
    budget = reader.memory_budget
    check_budget((spec.ntimes, 1, h, w), spec.dtype, what="a get_xarray chunk", budget=budget)
    out = np.full((spec.ntimes, 1, h, w), spec.fill, dtype=spec.dtype)
    planned: list[tuple[ChunkItem, tuple[int, int, int, int], Any]] = []
    reqs: list[WindowRequest] = []
    for item in sorted(spec.items, key=lambda it: (it.t, it.order)):
        sub = _sub_region(item, spec.region)
        if sub is None:
            continue
        p = _plan_item(item, sub)
        if p is None:
            continue
        reqs.append(WindowRequest(item.source, p[0], item.level, len(reqs)))
        planned.append((item, sub, p[1]))
    if not reqs:
        return out
    results = run_sync(read_windows(reqs, reader_fetcher(reader), budget=budget))
    done = np.zeros((spec.ntimes, h, w), dtype=bool)
    failed: list[ReadFailure] = []
    for (item, sub, place), res in zip(planned, results, strict=True):
        if res.error is not None:  # skipped (no data) or filled with nodata (never valid)
            failed.append(ReadFailure(item.source.record_id, item.source.band, None, res.error))
        if res.data is None:
            continue
        data, valid = _values(item, sub, place, res)
        a0, a1, b0, b1 = sub
        inside = _full_mask(item.mask)[a0:a1, b0:b1]
        ok = fusion_valid(data, valid & inside, item.output.nodata)  # as the eager cube fuses
        orow, ocol = item.offset
        rows = slice(a0 + orow - r0, a1 + orow - r0)
        cols = slice(b0 + ocol - c0, b1 + ocol - c0)
        seen = done[item.t, rows, cols]
        take = ok & ~seen
        out[item.t, 0, rows, cols][take] = data[take]
        seen |= take
    # one RuntimeWarning naming the records, worded as the eager read's
    apply_policy(failed, "a get_xarray chunk", produced=1, policy=reader.error_policy)
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
