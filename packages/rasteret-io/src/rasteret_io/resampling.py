"""Warping a source raster window onto a target grid with GDAL's resampling semantics.

:func:`warp_into` resamples ``src`` (a window of one source raster or overview level) onto
``dst_grid`` and gives what ``rasterio.warp.reproject(source_band, dst, resampling=...)`` (GDAL's
warper) gives for that raster: the same chunking, the same approximate coordinate transformer
(``error_threshold``, 0.125 source pixels by default, as GDAL and rasterio use; 0 for the exact
transformer), the same kernels and the same rounding. :func:`plan_warp` tells the caller which
source window GDAL would read, so it can fetch exactly that.

Kernels: ``nearest``, ``bilinear``, ``cubic``, ``average``, ``mode``, ``min``, ``max``, ``med``,
``q1``, ``q3`` (:class:`Resampling`). See ``docs/read-engine.md`` for what is bit-exact and the
measured tolerances.

This module is light at import time; numpy and pyproj load on first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rasteret_io.grid import Grid, Window, union_windows

if TYPE_CHECKING:
    import numpy as np

    from rasteret_io._pixel_map import PixelMap
    from rasteret_io._warp_chunks import Chunk

__all__ = [
    "Resampling",
    "WarpOptions",
    "WarpPlan",
    "nearest_index",
    "plan_warp",
    "region_source_window",
    "source_valid",
    "warp_into",
]


class Resampling(StrEnum):
    """Resampling kernels, named as GDAL / rasterio name them."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    CUBIC = "cubic"
    AVERAGE = "average"
    MODE = "mode"
    MIN = "min"
    MAX = "max"
    MED = "med"
    Q1 = "q1"
    Q3 = "q3"

    @property
    def radius(self) -> int:
        """GDAL's filter radius (source window margin) of the kernel."""
        return {"bilinear": 1, "cubic": 2}.get(self.value, 0)

    @property
    def is_area(self) -> bool:
        """Whether the kernel reduces the source box under each target pixel."""
        return self.value in ("average", "mode", "min", "max", "med", "q1", "q3")


@dataclass(frozen=True, slots=True)
class WarpOptions:
    """How GDAL would be asked to warp (the defaults are GDAL's and rasterio's).

    Attributes:
        error_threshold: Maximum error, in source pixels, of GDAL's linear approximation of
            the coordinate transformation along each scanline. 0.125 is GDAL's default and
            what ``rasterio.warp.reproject`` always uses; 0 computes every pixel exactly
            (``gdalwarp -et 0``, ``WarpedVRT(tolerance=0)``).
        mem_limit: GDAL's warp memory limit in bytes; it decides how the target grid is split
            into chunks (64 MiB, GDAL's default when rasterio passes ``warp_mem_limit=0``).
        block_pixels: Target pixels processed at once (bounds memory; does not change results).
    """

    error_threshold: float = 0.125
    mem_limit: float = 64.0 * 1024 * 1024
    block_pixels: int = 1 << 18


@dataclass(frozen=True, slots=True)
class WarpPlan:
    """GDAL's chunking of one warp, computed once and reusable for every band of a raster.

    Attributes:
        src_grid: The whole source raster (or overview level).
        dst_grid: The target grid.
        resampling: The kernel.
        options: Warp options.
        chunks: GDAL's chunks (target window + source window each).
        pmap: The pixel mapping.
    """

    src_grid: Grid
    dst_grid: Grid
    resampling: Resampling
    options: WarpOptions
    chunks: tuple[Chunk, ...]
    pmap: PixelMap = field(repr=False)

    @property
    def source_window(self) -> Window | None:
        """Union of the source windows GDAL reads (None when no source pixel is needed)."""
        used = [c for c in self.chunks if c.sw > 0 and c.sh > 0]
        if not used:
            return None
        c0 = min(c.sx for c in used)
        r0 = min(c.sy for c in used)
        c1 = max(c.sx + c.sw for c in used)
        r1 = max(c.sy + c.sh for c in used)
        return Window(c0, r0, c1 - c0, r1 - r0)


def _working_dtype(src_dtype: Any, dst_dtype: Any) -> Any:
    import numpy as np

    return np.promote_types(np.dtype(src_dtype), np.dtype(dst_dtype))


def plan_warp(
    src_grid: Grid,
    dst_grid: Grid,
    resampling: Resampling | str = Resampling.NEAREST,
    *,
    src_dtype: Any = "float32",
    dst_dtype: Any = None,
    src_nodata: float | None = None,
    dst_nodata: float | None = None,
    src_has_mask: bool = False,
    options: WarpOptions | None = None,
) -> WarpPlan:
    """Plan a warp as GDAL would: its chunks and the source windows it reads.

    Args:
        src_grid: The *whole* source raster or overview level (CRS, transform, size).
        dst_grid: The target grid.
        resampling: Kernel name or :class:`Resampling`.
        src_dtype: Source pixel type (with the target type it sets GDAL's memory estimate).
        dst_dtype: Target pixel type (default: ``src_dtype``).
        src_nodata: Source nodata, if any (adds GDAL's validity mask to the estimate).
        dst_nodata: Target nodata (default: ``src_nodata``, as rasterio defaults it).
        src_has_mask: Whether the source has a per-dataset (internal) mask.
        options: Warp options.
    """
    from rasteret_io._pixel_map import PixelMap
    from rasteret_io._warp_chunks import ChunkCosts, plan_chunks

    kind = Resampling(resampling)
    opts = options or WarpOptions()
    if dst_nodata is None:
        dst_nodata = src_nodata
    work = _working_dtype(src_dtype, dst_dtype if dst_dtype is not None else src_dtype)
    bits = work.itemsize * 8
    src_bits = bits + (1 if src_nodata is not None else 0) + (1 if src_has_mask else 0)
    dst_bits = bits + (1 if dst_nodata is not None else 0)
    pmap = PixelMap.build(
        src_grid.transform,
        src_grid.crs,
        (src_grid.width, src_grid.height),
        dst_grid.transform,
        dst_grid.crs,
    )
    costs = ChunkCosts(src_bits, dst_bits, opts.mem_limit, kind.radius)
    chunks = plan_chunks(
        pmap, src_grid.crs, (src_grid.width, src_grid.height), dst_grid.shape[::-1], costs
    )
    return WarpPlan(src_grid, dst_grid, kind, opts, tuple(chunks), pmap)


def _scale(chunk: Chunk) -> tuple[float, float]:
    """GDAL 3.10's per-chunk ``dfXScale`` / ``dfYScale``."""

    def one(dst: int, src: int, extra: float) -> float:
        s = dst / (src - extra) if src - extra != 0 else 1.0
        if src >= dst and src <= dst + extra:
            s = 1.0
        if s < 1.0:
            rec = 1.0 / s
            n = int(rec + 0.5)
            if abs(rec - n) < 0.05:
                s = 1.0 / n
        return s

    return one(chunk.dw, chunk.sw, chunk.extra_x), one(chunk.dh, chunk.sh, chunk.extra_y)


def _to_dtype(val: np.ndarray, dtype: np.dtype, avoid: float | None) -> np.ndarray:
    """GDAL's conversion of a computed value to the working type (``CLAMP`` / casts)."""
    import numpy as np

    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        v = np.where(np.isnan(val), 0.0, val)
        v = np.clip(np.floor(v + 0.5), info.min, info.max).astype(dtype)
        if avoid is not None and info.min <= avoid <= info.max and float(avoid) == int(avoid):
            hit = v == int(avoid)
            if hit.any():
                repl = info.min + 1 if int(avoid) == info.min else int(avoid) - 1
                v = np.where(hit, dtype.type(repl), v)
        return v
    with np.errstate(over="ignore", invalid="ignore"):
        return val.astype(dtype)


def source_valid(data: np.ndarray, valid: np.ndarray | None, nodata: float | None) -> np.ndarray:
    """GDAL's validity of source pixels: ``valid`` (or all) and not equal to ``nodata``.

    A NaN nodata matches NaN pixels; an integer band compares in its own type.
    """
    import numpy as np

    ok = np.ones(data.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if nodata is None:
        return ok
    if isinstance(nodata, float) and math.isnan(nodata):
        return ok & ~np.isnan(data)
    if data.dtype.kind in "ui":
        info = np.iinfo(data.dtype)
        if not (info.min <= nodata <= info.max) or float(nodata) != int(nodata):
            return ok
        return ok & (data != data.dtype.type(int(nodata)))
    return ok & (data != np.asarray(nodata).astype(data.dtype))


def _sample_points(
    plan: WarpPlan, ch: Chunk, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chunk-relative source coordinates of the pixel centres of chunk rows ``r0:r1``.

    Returns:
        ``(x, y, ok, idx)``: coordinates relative to the chunk's source window, whether GDAL
        accepts the point (after its exact retry near the window edge) and, for accepted
        points, the nearest ``(col, row)`` in the chunk window.
    """
    import numpy as np

    from rasteret_io import _kernels_point as point
    from rasteret_io._pixel_map import approx_rows

    xs = np.arange(ch.dw, dtype=np.float64) + 0.5 + ch.dx
    ys = np.arange(r0, r1, dtype=np.float64) + ch.dy + 0.5
    sx, sy = approx_rows(plan.pmap, xs, ys, plan.options.error_threshold)
    x, y = sx - ch.sx, sy - ch.sy
    ok, retry = point.check_offsets(x, y, ch.sw, ch.sh)
    if retry.any():  # GDAL re-transforms these points exactly
        rr, cc = np.nonzero(retry)
        ex, ey = plan.pmap.exact(xs[cc], ys[rr])
        x[rr, cc], y[rr, cc] = ex - ch.sx, ey - ch.sy
        ok[rr, cc] = point.check_offsets(x[rr, cc], y[rr, cc], ch.sw, ch.sh)[0]
    return x, y, ok, point.index(x, y, ch.sw, ch.sh, ok)


def _chunks_meeting(
    plan: WarpPlan, rows: tuple[int, int], cols: tuple[int, int]
) -> Iterator[tuple[Chunk, tuple[int, int], tuple[int, int]]]:
    """The GDAL chunks of ``plan`` that read source pixels and meet the target region, each
    with the rows and columns of the region it covers."""
    (r0, r1), (c0, c1) = rows, cols
    for ch in plan.chunks:
        if ch.sw <= 0 or ch.sh <= 0:
            continue
        a0, a1 = max(r0, ch.dy), min(r1, ch.dy + ch.dh)
        b0, b1 = max(c0, ch.dx), min(c1, ch.dx + ch.dw)
        if a0 < a1 and b0 < b1:
            yield ch, (a0, a1), (b0, b1)


def region_source_window(
    plan: WarpPlan, rows: tuple[int, int], cols: tuple[int, int]
) -> Window | None:
    """A source window covering every source pixel the kernel reads for a target region.

    The region's target pixel edges (its outline and a grid inside it) are mapped exactly to
    the source, grown by the kernel's reach (``radius / scale``) plus two pixels, and clipped
    to the source windows of the GDAL chunks the region meets. Fetching it and calling
    :func:`warp_into` with ``region=`` gives the whole-grid warp's values for the region.

    Returns:
        The window, or None when the region needs no source pixel.
    """
    import numpy as np

    out: list[Window] = []
    for ch, (a0, a1), (b0, b1) in _chunks_meeting(plan, rows, cols):
        xs = np.unique(np.concatenate([np.arange(b0, b1 + 1, 8), [b1]])).astype(np.float64)
        ys = np.unique(np.concatenate([np.arange(a0, a1 + 1, 8), [a1]])).astype(np.float64)
        edge_x = np.arange(b0, b1 + 1, dtype=np.float64)
        edge_y = np.arange(a0, a1 + 1, dtype=np.float64)
        gx, gy = np.meshgrid(xs, ys)
        px = np.concatenate(
            [gx.ravel(), edge_x, edge_x, np.full(edge_y.size, b0), np.full(edge_y.size, b1)]
        )
        py = np.concatenate(
            [gy.ravel(), np.full(edge_x.size, a0), np.full(edge_x.size, a1), edge_y, edge_y]
        )
        sx, sy = plan.pmap.exact(px, py)
        fin = np.isfinite(sx) & np.isfinite(sy)
        win = Window(ch.sx, ch.sy, ch.sw, ch.sh)
        if fin.all():
            xscale, yscale = _scale(ch)
            m = math.ceil(max(plan.resampling.radius, 1) / min(xscale, yscale, 1.0)) + 2
            x0, x1 = math.floor(float(sx.min())) - m, math.ceil(float(sx.max())) + m
            y0, y1 = math.floor(float(sy.min())) - m, math.ceil(float(sy.max())) + m
            tight = Window(x0, y0, x1 - x0, y1 - y0).intersection(win)
            if tight is None:
                continue
            win = tight
        out.append(win)
    return union_windows(out)


def nearest_index(
    plan: WarpPlan, rows: tuple[int, int], cols: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GDAL's nearest source pixel of every target pixel in a region of the target grid.

    The same mapping :func:`warp_into` uses for ``nearest``, computed for rows
    ``rows[0]:rows[1]`` and columns ``cols[0]:cols[1]`` only (scanlines are still
    approximated over whole GDAL chunks, so any region agrees with the whole-grid warp).

    Returns:
        ``(ok, src_row, src_col)``: whether a source pixel is sampled, and its row and column
        in the source level (meaningful where ``ok``).
    """
    import numpy as np

    r0, r1 = rows
    c0, c1 = cols
    shape = (max(r1 - r0, 0), max(c1 - c0, 0))
    ok = np.zeros(shape, dtype=bool)
    src_row = np.zeros(shape, dtype=np.int64)
    src_col = np.zeros(shape, dtype=np.int64)
    for ch, (cr0, cr1), (cc0, cc1) in _chunks_meeting(plan, rows, cols):
        _x, _y, cok, idx = _sample_points(plan, ch, cr0 - ch.dy, cr1 - ch.dy)
        sl = slice(cc0 - ch.dx, cc1 - ch.dx)
        dst = (slice(cr0 - r0, cr1 - r0), slice(cc0 - c0, cc1 - c0))
        ok[dst] = cok[:, sl]
        src_col[dst] = idx[0][:, sl] + ch.sx
        src_row[dst] = idx[1][:, sl] + ch.sy
    return ok, src_row, src_col


def warp_into(
    src: np.ndarray,
    src_grid: Grid,
    dst_grid: Grid,
    resampling: Resampling | str = Resampling.NEAREST,
    *,
    src_window: Window | None = None,
    src_valid: np.ndarray | None = None,
    nodata: float | None = None,
    dst_nodata: float | None = None,
    src_has_mask: bool = False,
    out: np.ndarray | None = None,
    options: WarpOptions | None = None,
    plan: WarpPlan | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``src`` onto ``dst_grid`` the way GDAL's warper does.

    Args:
        src: ``(h, w)`` source pixels: the window ``src_window`` of ``src_grid``.
        src_grid: The whole source raster or overview level (CRS, transform, size). Pixel
            coordinates are computed in this grid, as GDAL computes them, so results do not
            depend on which window was read as long as it covers
            :attr:`WarpPlan.source_window`.
        dst_grid: The target grid.
        resampling: Kernel name or :class:`Resampling`.
        src_window: Where ``src`` sits in ``src_grid`` (default: the whole grid).
        src_valid: Optional validity of ``src`` pixels (missing tiles, masks); combined with
            ``nodata``.
        nodata: Source nodata: pixels equal to it (NaN matches NaN) are invalid.
        dst_nodata: Value of target pixels no valid source reaches (default ``nodata``,
            else 0). Interpolated or aggregated integer values equal to the source ``nodata``
            are nudged by one, as GDAL does.
        src_has_mask: The source has a per-dataset mask (affects GDAL's chunking only).
        out: Target buffer of shape ``dst_grid.shape``; its dtype sets the computation's
            working type and rounding (default: a new array of ``src.dtype``). Pixels with no
            valid source are set to the fill value.
        options: Warp options (ignored when ``plan`` is given).
        plan: A plan from :func:`plan_warp` to reuse.
        region: ``(row0, row1, col0, col1)``: compute only this part of the target grid
            (``out`` and the results then have the region's shape). Each pixel gets exactly
            the value the whole-grid warp gives it, provided ``src`` covers
            :func:`region_source_window`.

    Returns:
        ``(out, valid)``: the target array and where it holds a resampled value.
    """
    import numpy as np

    from rasteret_io import _kernels_area as area
    from rasteret_io import _kernels_point as point
    from rasteret_io._pixel_map import approx_rows

    kind = Resampling(resampling)
    if dst_nodata is None:
        dst_nodata = nodata
    fill = 0 if dst_nodata is None else dst_nodata
    out_dtype = np.dtype(out.dtype) if out is not None else np.dtype(src.dtype)
    if plan is None or plan.resampling != kind:
        plan = plan_warp(
            src_grid,
            dst_grid,
            kind,
            src_dtype=src.dtype,
            dst_dtype=out_dtype,
            src_nodata=nodata,
            dst_nodata=dst_nodata,
            src_has_mask=src_has_mask,
            options=options if plan is None else plan.options,
        )
    opts = plan.options
    rr0, rr1, rc0, rc1 = region if region is not None else (0, dst_grid.height, 0, dst_grid.width)
    shape = (rr1 - rr0, rc1 - rc0)
    if out is None:
        out = np.full(shape, fill, dtype=out_dtype)
    else:
        out[...] = fill
    valid_out = np.zeros(shape, dtype=bool)
    win = src_window or Window(0, 0, src_grid.width, src_grid.height)
    if src.shape != (win.height, win.width):
        raise ValueError(f"src shape {src.shape} does not match window {win}")
    valid = None if src_valid is None else np.asarray(src_valid, dtype=bool)
    if nodata is not None:
        valid = source_valid(src, valid, nodata)
    masked = nodata is not None or src_has_mask or (valid is not None and not valid.all())
    if not masked:
        valid = None
    work = _working_dtype(src.dtype, out_dtype)
    int_mode = work in (np.dtype("uint8"), np.dtype("uint16"), np.dtype("int16"))
    # GDAL has specialised kernels (their own edge rules) for these working types when the
    # source has no mask; everything else goes through its general kernels.
    special = work in (
        np.dtype("uint8"),
        np.dtype("int16"),
        np.dtype("uint16"),
        np.dtype("float32"),
    )
    generic = masked or not special or kind.is_area
    # GDAL keeps computed integer values off the destination nodata value (nudging them by
    # one); rasterio defaults the destination nodata to the source nodata.
    avoid = dst_nodata if kind is not Resampling.NEAREST else None

    for ch in plan.chunks:
        if ch.sw <= 0 or ch.sh <= 0:
            continue
        lo, hi = max(0, rr0 - ch.dy), min(ch.dh, rr1 - ch.dy)
        cc0, cc1 = max(rc0, ch.dx), min(rc1, ch.dx + ch.dw)
        if lo >= hi or cc0 >= cc1:
            continue
        cols = slice(cc0 - ch.dx, cc1 - ch.dx)  # whole scanlines are computed, as GDAL does
        view = point.SourceView(
            src, valid, win.col_off, win.row_off, ch.sx, ch.sy, ch.sw, ch.sh, generic
        )
        xscale, yscale = _scale(ch)
        rows_per = max(1, opts.block_pixels // max(ch.dw, 1))
        for r0 in range(lo, hi, rows_per):
            r1 = min(hi, r0 + rows_per)
            rows = np.arange(r0, r1) + ch.dy
            if kind.is_area:
                xs = np.arange(ch.dw, dtype=np.float64) + ch.dx
                x1, y1 = approx_rows(plan.pmap, xs, rows.astype(np.float64), opts.error_threshold)
                x2, y2 = approx_rows(
                    plan.pmap, xs + 1.0, rows.astype(np.float64) + 1.0, opts.error_threshold
                )
                boxes = area.area_boxes(
                    (x1 - ch.sx).ravel(),
                    (y1 - ch.sy).ravel(),
                    (x2 - ch.sx).ravel(),
                    (y2 - ch.sy).ravel(),
                    ch.sw,
                    ch.sh,
                    sx=ch.sx,
                    xscale=xscale,
                    yscale=yscale,
                )
                flat, fok = area.reduce_area(kind.value, view, boxes, int_mode=int_mode)
                val, ok = flat.reshape(x1.shape), fok.reshape(x1.shape)
            else:
                x, y, ok0, idx = _sample_points(plan, ch, r0, r1)
                cval, cok = point.nearest(view, idx)
                if kind is Resampling.NEAREST or ch.sw == 1 or ch.sh == 1:
                    val, ok = cval, cok & ok0
                else:
                    xv, yv = x[ok0], y[ok0]
                    if xscale >= 0.95 and yscale >= 0.95:
                        fn = point.bilinear if kind is Resampling.BILINEAR else point.cubic
                        v1, k1 = fn(view, xv, yv)
                    else:
                        v1, k1 = point.general(
                            view, xv, yv, radius=kind.radius, xscale=xscale, yscale=yscale
                        )
                    val = np.zeros(x.shape)
                    ok = np.zeros(x.shape, dtype=bool)
                    val[ok0], ok[ok0] = v1, k1
                    if masked:  # GDAL skips pixels whose nearest source pixel is invalid
                        ok &= cok
            dst_rows = slice(ch.dy + r0 - rr0, ch.dy + r1 - rr0)
            dst_cols = slice(cc0 - rc0, cc1 - rc0)
            val, ok = val[:, cols], ok[:, cols]
            if kind is Resampling.NEAREST and avoid is None:
                conv = val.astype(out_dtype, copy=False)
            else:
                conv = _to_dtype(val.astype(np.float64), work, avoid).astype(out_dtype, copy=False)
            block = out[dst_rows, dst_cols]
            block[ok] = conv[ok]
            valid_out[dst_rows, dst_cols] |= ok
    return out, valid_out
