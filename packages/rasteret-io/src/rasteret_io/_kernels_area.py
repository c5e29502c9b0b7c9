"""Area warp kernels (average, mode, min, max, med, q1, q3) with GDAL's warper semantics.

For every destination pixel GDAL maps its top-left and bottom-right corners to the source
and takes the axis-aligned source box between them (``GWKAverageOrModeThread``). ``average``
weights each source pixel by the fraction of it inside the box (edge pixels partly) and
accumulates a weighted incremental mean in scan order; ``mode``, ``min``, ``max`` and the
quantiles count every valid pixel the box touches, unweighted. ``mode`` keeps the value whose
count first exceeds the running maximum (ties go to the value that got there first);
quantiles take the sorted values at ``ceil(q * n - 1)``.

Everything is vectorised over the destination pixels of a block; Python loops run over the
few kernel offsets only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rasteret_io._kernels_point import SourceView

__all__ = ["AreaBoxes", "area_boxes", "reduce_area"]

_EPS = 1e-10
_BAND_DENSITY_THRESHOLD = 0.0000000001
_QUANTILES = {"med": 0.5, "q1": 0.25, "q3": 0.75}


@dataclass(frozen=True, slots=True)
class AreaBoxes:
    """Source boxes of a block of destination pixels (chunk-relative, GDAL's integers).

    Attributes:
        ok: Pixels with a usable box.
        xmin: Box left edge (float) per pixel.
        xmax: Box right edge.
        ymin: Box top edge.
        ymax: Box bottom edge.
        ix0: First source column.
        ix1: One past the last source column (may exceed the window when wrapping).
        iy0: First source row.
        iy1: One past the last source row.
        wrap: Pixels whose box wraps over the antimeridian (GDAL's ``bWrapOverX``).
    """

    ok: np.ndarray
    xmin: np.ndarray
    xmax: np.ndarray
    ymin: np.ndarray
    ymax: np.ndarray
    ix0: np.ndarray
    ix1: np.ndarray
    iy0: np.ndarray
    iy1: np.ndarray
    wrap: np.ndarray


def area_boxes(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    sw: int,
    sh: int,
    *,
    sx: int,
    xscale: float,
    yscale: float,
) -> AreaBoxes:
    """GDAL's source box of each destination pixel from its mapped corners.

    Args:
        x1: Chunk-relative source x of the pixel's top-left corner.
        y1: Same, y.
        x2: Chunk-relative source x of the bottom-right corner.
        y2: Same, y.
        sw: Chunk source window width.
        sh: Chunk source window height.
        sx: Chunk source window column offset (wrapping is only considered when 0).
        xscale: GDAL's per-chunk x scale (destination / source pixels).
        yscale: Same for y.
    """
    xm = 2 * max(1, math.ceil(1.0 / xscale))
    ym = 2 * max(1, math.ceil(1.0 / yscale))
    finite = np.isfinite(x1) & np.isfinite(y1) & np.isfinite(x2) & np.isfinite(y2)
    ok = finite & (x1 >= -xm) & (x2 >= -xm) & (y1 >= -ym) & (y2 >= -ym)
    ok &= (x1 - sw <= xm) & (x2 - sw <= xm) & (y1 - sh <= ym) & (y2 - sh <= ym)
    xa, xb = np.minimum(x1, x2), np.maximum(x1, x2)
    ya, yb = np.minimum(y1, y2), np.maximum(y1, y2)
    thr = min(2, sw // 10)
    wrap = ok & (sx == 0) & (xa * xscale < thr) & ((sw - xb) * xscale < thr)
    xa, xb = np.where(wrap, xb, xa), np.where(wrap, xa + sw, xb)
    ok &= (xb > -_EPS) & (xa < sw + _EPS)
    ok &= (yb > -_EPS) & (ya < sh + _EPS)
    safe = np.where(ok, 1.0, 0.0)
    xa, xb, ya, yb = xa * safe, xb * safe, ya * safe, yb * safe
    ix0 = np.maximum(np.floor(xa + _EPS), 0.0).astype(np.int64)
    ix1 = np.ceil(xb - _EPS).astype(np.int64)
    ix1 = np.where(wrap, ix1, np.minimum(ix1, sw))
    ix1 = np.where((ix0 == ix1) & (ix1 < sw), ix1 + 1, ix1)
    iy0 = np.maximum(np.floor(ya + _EPS), 0.0).astype(np.int64)
    iy1 = np.minimum(np.ceil(yb - _EPS).astype(np.int64), sh)
    iy1 = np.where((iy0 == iy1) & (iy1 < sh), iy1 + 1, iy1)
    ok &= (ix1 > ix0) & (iy1 > iy0)
    return AreaBoxes(ok, xa, xb, ya, yb, ix0, ix1, iy0, iy1, wrap)


def _gather(
    view: SourceView, b: AreaBoxes, sel: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Values ``(n, K)``, validity, in-box flags and per-position (dy, dx) in scan order."""
    ix0, ix1, iy0, iy1 = b.ix0[sel], b.ix1[sel], b.iy0[sel], b.iy1[sel]
    kx = int((ix1 - ix0).max())
    ky = int((iy1 - iy0).max())
    gy, gx = np.meshgrid(np.arange(ky), np.arange(kx), indexing="ij")
    dyy, dxx = gy.ravel(), gx.ravel()
    cols = ix0[:, None] + dxx[None, :]
    rows = iy0[:, None] + dyy[None, :]
    inbox = (cols < ix1[:, None]) & (rows < iy1[:, None])
    wrap = b.wrap[sel]
    cols_w = np.where(wrap[:, None], cols % max(view.sw, 1), cols)
    vals, valid = view.take(cols_w, rows)
    return vals, valid & inbox, cols, rows, kx, ky


def _weights(b: AreaBoxes, sel: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """GDAL's ``COMPUTE_WEIGHT`` for each gathered position."""
    ix0, ix1 = b.ix0[sel][:, None], b.ix1[sel][:, None]
    iy0, iy1 = b.iy0[sel][:, None], b.iy1[sel][:, None]
    xa, xb = b.xmin[sel][:, None], b.xmax[sel][:, None]
    ya, yb = b.ymin[sel][:, None], b.ymax[sel][:, None]
    wy = np.where(
        rows == iy0,
        np.where(iy0 + 1 == iy1, 1.0, 1 - (ya - iy0)),
        np.where(rows + 1 == iy1, 1 - (iy1 - yb), 1.0),
    )
    return np.where(
        cols == ix0,
        np.where(ix0 + 1 == ix1, wy, wy * (1 - (xa - ix0))),
        np.where(cols + 1 == ix1, wy * (1 - (ix1 - xb)), wy),
    )


def _average(vals: np.ndarray, valid: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = vals.shape[0]
    mean = np.zeros(n)
    total = np.zeros(n)
    v = vals.astype(np.float64, copy=False)
    use = valid & (w > 0)
    for k in range(vals.shape[1]):  # scan order: GDAL's weighted incremental mean
        u = use[:, k]
        t = np.where(u, total + w[:, k], total)
        mean = np.where(u, mean + (w[:, k] / np.where(u, t, 1.0)) * (v[:, k] - mean), mean)
        total = t
    return mean, total > 0


def _mode(vals: np.ndarray, valid: np.ndarray, as_float32: bool) -> tuple[np.ndarray, np.ndarray]:
    n, k = vals.shape
    if as_float32:
        keys = vals.astype(np.float32).astype(np.float64)
    else:
        keys = np.trunc(vals.astype(np.float64))
    big = np.inf
    skey = np.where(valid, keys, big)
    order = np.argsort(skey, axis=1, kind="stable")
    sk = np.take_along_axis(skey, order, axis=1)
    sv = np.take_along_axis(valid, order, axis=1)
    pos = order  # scan position of each sorted entry
    start = np.ones((n, k), dtype=bool)
    start[:, 1:] = sk[:, 1:] != sk[:, :-1]
    run_id = np.cumsum(start, axis=1) - 1
    # occurrence number of each entry within its run (1-based)
    run_start_idx = np.where(start, np.arange(k)[None, :], 0)
    run_start_idx = np.maximum.accumulate(run_start_idx, axis=1)
    occ = np.arange(k)[None, :] - run_start_idx + 1
    occ = np.where(sv, occ, 0)
    best = occ.max(axis=1)
    # The winner is the value whose best-th occurrence comes first in scan order.
    hit = (occ == best[:, None]) & (best[:, None] > 0)
    when = np.where(hit, pos, k + 1)
    j = np.argmin(when, axis=1)
    del run_id
    out = sk[np.arange(n), j]
    return np.where(best > 0, out, 0.0), best > 0


def _quantile(vals: np.ndarray, valid: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    v = np.where(valid, vals.astype(np.float64), np.inf)
    v.sort(axis=1)
    cnt = valid.sum(axis=1)
    idx = np.ceil(np.float32(q) * cnt.astype(np.float32) - np.float32(1)).astype(np.int64)
    idx = np.clip(idx, 0, max(vals.shape[1] - 1, 0))
    out = v[np.arange(len(v)), idx]
    return np.where(cnt > 0, out, 0.0), cnt > 0


def reduce_area(
    kind: str,
    view: SourceView,
    boxes: AreaBoxes,
    *,
    int_mode: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply an area kernel to every usable box.

    Args:
        kind: ``average``, ``mode``, ``min``, ``max``, ``med``, ``q1`` or ``q3``.
        view: The chunk's source buffer.
        boxes: From :func:`area_boxes` (1-D over the block's pixels).
        int_mode: GDAL's integer histogram mode (working type Byte, UInt16 or Int16);
            otherwise mode compares values as float32, as GDAL does.

    Returns:
        ``(value, ok)`` as float64 values and validity, shaped like ``boxes.ok``.
    """
    out = np.zeros(boxes.ok.shape)
    ok = np.zeros(boxes.ok.shape, dtype=bool)
    sel = np.nonzero(boxes.ok)[0]
    # Bound the (pixels x kernel) working set.
    span = (boxes.ix1[sel] - boxes.ix0[sel]) * (boxes.iy1[sel] - boxes.iy0[sel])
    kmax = int(span.max()) if sel.size else 0
    step = max(1, 4_000_000 // max(kmax, 1))
    for lo in range(0, sel.size, step):
        s = sel[lo : lo + step]
        vals, valid, cols, rows, _kx, _ky = _gather(view, boxes, s)
        if kind == "average":
            w = _weights(boxes, s, cols, rows)
            val, good = _average(vals, valid, w)
        elif kind == "mode":
            val, good = _mode(vals, valid, as_float32=not int_mode)
            if int_mode:  # GDAL's histogram mode uses -1 as "nothing found": a mode of -1 is lost
                good &= val != -1
        elif kind in ("min", "max"):
            v = vals.astype(np.float64)
            use = valid & ~np.isnan(v)
            if kind == "max":
                best = np.where(use, v, -np.inf).max(axis=1)
                val = np.where(use.any(axis=1), best, np.finfo(np.float64).min)
            else:
                best = np.where(use, v, np.inf).min(axis=1)
                val = np.where(use.any(axis=1), best, np.finfo(np.float64).max)
            good = np.asarray(valid.any(axis=1))
        elif kind in _QUANTILES:
            val, good = _quantile(vals, valid, _QUANTILES[kind])
        else:  # pragma: no cover - validated by the caller
            raise ValueError(f"unknown area kernel {kind!r}")
        out[s] = val
        ok[s] = good
    return out, ok
