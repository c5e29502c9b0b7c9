"""Point-sampling warp kernels (nearest, bilinear, cubic) with GDAL's warper semantics.

Each kernel receives, for a block of destination pixels, the source pixel/line coordinates
relative to the current chunk's source window (GDAL's ``padfX - nSrcXOff``) and returns
``(value, ok)``. Edge handling, validity (nodata / masks) handling and the order of the
floating-point operations follow ``gdalwarpkernel.cpp``: the 4-sample bilinear and cubic
formulas when not downsampling by more than 2, GDAL's scaled general filter otherwise, and
two code paths depending on whether the source has any validity mask (GDAL's "NoMasks"
kernels clamp differently at the window edges than its masked kernels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SourceView", "bilinear", "check_offsets", "cubic", "general", "index", "nearest"]

_EPS = 1e-10
_SRC_DENSITY_THRESHOLD = np.float32(0.000000001)


@dataclass(frozen=True, slots=True)
class SourceView:
    """GDAL's per-chunk source buffer, backed by the caller's source window.

    Attributes:
        data: The caller's source array (a window of the level).
        valid: Validity of ``data`` pixels, or None when every pixel is valid.
        off_x: Column of ``data[:, 0]`` in the level.
        off_y: Row of ``data[0]`` in the level.
        sx: Chunk source window column offset (level coordinates).
        sy: Chunk source window row offset.
        sw: Chunk source window width.
        sh: Chunk source window height.
        generic: Whether GDAL runs its general kernels (sources with masks or nodata, and
            pixel types without a specialised kernel) rather than its "NoMasks" kernels,
            which treat window edges differently.
    """

    data: np.ndarray
    valid: np.ndarray | None
    off_x: int
    off_y: int
    sx: int
    sy: int
    sw: int
    sh: int
    generic: bool = True

    @property
    def masked(self) -> bool:
        """Whether GDAL would run its general (masked) kernels."""
        return self.generic

    def take(self, ci: np.ndarray, ri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values and validity at chunk-relative ``(col, row)``; out-of-chunk pixels are invalid.

        Pixels inside the chunk window but outside the caller's array are reported invalid:
        fetch :func:`rasteret_io.resampling.plan_warp`'s ``source_window`` to avoid that.
        """
        gc = ci + (self.sx - self.off_x)
        gr = ri + (self.sy - self.off_y)
        h, w = self.data.shape
        inside = (ci >= 0) & (ci < self.sw) & (ri >= 0) & (ri < self.sh)
        inside &= (gc >= 0) & (gc < w) & (gr >= 0) & (gr < h)
        gcc = np.clip(gc, 0, max(w - 1, 0))
        grc = np.clip(gr, 0, max(h - 1, 0))
        if self.data.size == 0:
            return np.zeros(ci.shape, self.data.dtype), np.zeros(ci.shape, bool)
        vals = self.data[grc, gcc]
        ok = inside if self.valid is None else inside & self.valid[grc, gcc]
        return vals, ok


def check_offsets(x: np.ndarray, y: np.ndarray, sw: int, sh: int) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's ``GWKCheckAndComputeSrcOffsets`` on chunk-relative coordinates, first attempt.

    Returns:
        ``(ok, retry)``: accepted pixels, and pixels GDAL re-transforms exactly because they
        fall less than one pixel outside the window.
    """
    nan = ~(np.isfinite(x) & np.isfinite(y))
    a = x < 0
    b = y < 0
    c = x + _EPS > sw
    d = y + _EPS > sh
    retry = np.where(a, x > -1, np.where(b, y > -1, np.where(c, x < sw + 1, d & (y < sh + 1))))
    bad = a | b | c | d
    retry &= bad & ~nan
    ok = ~bad & ~nan
    return ok, retry


def index(x: np.ndarray, y: np.ndarray, sw: int, sh: int, ok: np.ndarray) -> np.ndarray:
    """GDAL's nearest ``(col, row)`` (stacked as ``(2, ...)``) of accepted points."""
    xi = np.where(ok, x, 0.0) + _EPS
    yi = np.where(ok, y, 0.0) + _EPS
    ci = xi.astype(np.int64)
    ri = yi.astype(np.int64)
    ci = np.where(ci == sw, sw - 1, ci)
    ri = np.where(ri == sh, sh - 1, ri)
    return np.stack([ci, ri])


def nearest(view: SourceView, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbour at the accepted ``(col, row)`` indices."""
    return view.take(idx[0], idx[1])


def _f64(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float64, copy=False)


def _bilinear_cell(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The top-left pixel ``(ix, iy)`` of the 2x2 cell around ``(x, y)`` and the weights of
    its left column and top row, ``(rx, ry)``."""
    ix = np.floor(x - 0.5).astype(np.int64)
    iy = np.floor(y - 0.5).astype(np.int64)
    return ix, iy, 1.5 - (x - ix), 1.5 - (y - iy)


def _bilinear_nomask(
    view: SourceView, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``GWKBilinearResampleNoMasks4SampleT``."""
    ix, iy, rx, ry = _bilinear_cell(x, y)
    v00, k00 = view.take(ix, iy)
    v01, k01 = view.take(ix + 1, iy)
    v10, k10 = view.take(ix, iy + 1)
    v11, k11 = view.take(ix + 1, iy + 1)
    v00, v01, v10, v11 = _f64(v00), _f64(v01), _f64(v10), _f64(v11)
    full = k00 & k01 & k10 & k11
    inner = (v00 * rx + v01 * (1.0 - rx)) * ry + (v10 * rx + v11 * (1.0 - rx)) * (1.0 - ry)
    div = np.zeros_like(x)
    acc = np.zeros_like(x)
    for k, v, w in (
        (k00, v00, rx * ry),
        (k01, v01, (1.0 - rx) * ry),
        (k11, v11, (1.0 - rx) * (1.0 - ry)),
        (k10, v10, rx * (1.0 - ry)),
    ):
        div = np.where(k, div + w, div)
        acc = np.where(k, acc + v * w, acc)
    part = np.where(div == 1.0, acc, acc / np.where(div == 0, 1.0, div))
    ok = full | (div >= 0.00001)
    return np.where(full, inner, part), ok


def _bilinear_masked(
    view: SourceView, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``GWKBilinearResample4Sample`` with validity masks (returns value and density > 0)."""
    ix, iy, rx, ry = _bilinear_cell(x, y)
    rx = np.where(ix == -1, 1.0, rx)
    ix = np.where(ix == -1, 0, ix)
    ry = np.where(iy == -1, 1.0, ry)
    iy = np.where(iy == -1, 0, iy)
    div = np.zeros_like(x)
    acc = np.zeros_like(x)
    dens = np.zeros_like(x)
    for dr, dc, w in (
        (0, 0, rx * ry),
        (0, 1, (1.0 - rx) * ry),
        (1, 0, rx * (1.0 - ry)),
        (1, 1, (1.0 - rx) * (1.0 - ry)),
    ):
        v, k = view.take(ix + dc, iy + dr)
        div = np.where(k, div + w, div)
        acc = np.where(k, acc + _f64(v) * w, acc)
        dens = np.where(k, dens + w, dens)
    one = div == 1.0
    small = div < 0.00001
    safe = np.where(small | one, 1.0, div)
    val = np.where(one, acc, acc / safe)
    density = np.where(one, dens, dens / safe)
    ok = ~small & (density >= 0.0000000001)
    return val, ok


def bilinear(view: SourceView, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's 4-sample bilinear interpolation at chunk-relative source coordinates."""
    if view.masked:
        return _bilinear_masked(view, x, y)
    return _bilinear_nomask(view, x, y)


def _cubic_weights(d: np.ndarray) -> list[np.ndarray]:
    half = 0.5 * d
    three = 3.0 * d
    half2 = half * d
    return [
        half * (-1 + d * (2 - d)),
        1 + half2 * (-5 + three),
        half * (1 + d * (4 - three)),
        half2 * (-1 + d),
    ]


def cubic(view: SourceView, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's 4x4 cubic convolution (Catmull-Rom); bilinear at window edges or next to
    invalid pixels, as GDAL does."""
    ix = (x - 0.5).astype(np.int64)  # truncation, as GDAL's static_cast<int>
    iy = (y - 0.5).astype(np.int64)
    dx = x - 0.5 - ix
    dy = y - 0.5 - iy
    edge = (ix - 1 < 0) | (ix + 2 >= view.sw) | (iy - 1 < 0) | (iy + 2 >= view.sh)
    wx = _cubic_weights(dx)
    rows: list[np.ndarray] = []
    allok = ~edge
    for j in range(-1, 3):
        acc = np.zeros_like(x)
        for i in range(-1, 3):
            v, k = view.take(ix + i, iy + j)
            allok &= k
            term = _f64(v) * wx[i + 1]
            acc = term if i == -1 else acc + term
        rows.append(acc)
    f0, f1, f2, f3 = rows
    if view.masked:
        wy = _cubic_weights(dy)
        val = f0 * wy[0] + f1 * wy[1] + f2 * wy[2] + f3 * wy[3]
    else:
        dy2 = dy * dy
        dy3 = dy2 * dy
        val = f1 + 0.5 * (
            dy * (f2 - f0)
            + dy2 * (2.0 * f0 - 5.0 * f1 + 4.0 * f2 - f3)
            + dy3 * (3.0 * (f1 - f2) + f3 - f0)
        )
    bval, bok = bilinear(view, x, y)
    return np.where(allok, val, bval), np.where(allok, True, bok)


def _filter_bilinear(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    return np.where(a <= 1.0, 1 - a, 0.0)


def _filter_cubic(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    t2 = t * t
    return np.where(
        a <= 1.0,
        t2 * (1.5 * a - 2.5) + 1,
        np.where(a <= 2.0, t2 * (-0.5 * a + 2.5) - 4 * a + 2, 0.0),
    )


def general(
    view: SourceView,
    x: np.ndarray,
    y: np.ndarray,
    *,
    radius: int,
    xscale: float,
    yscale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's general ``GWKResample`` (scaled filter), used when downsampling more than 2x."""
    filt = _filter_bilinear if radius == 1 else _filter_cubic
    xr = int(np.ceil(radius / xscale)) if xscale < 1.0 else radius
    yr = int(np.ceil(radius / yscale)) if yscale < 1.0 else radius
    x0 = ((radius + 1) % 2) - xr
    y0 = ((radius + 1) % 2) - yr
    ix = np.floor(x - 0.5).astype(np.int64)
    iy = np.floor(y - 0.5).astype(np.int64)
    dx = x - 0.5 - ix
    dy = y - 0.5 - iy
    acc = np.zeros_like(x)
    wsum = np.zeros_like(x)
    dens = np.zeros_like(x)
    for j in range(y0, yr + 1):
        wy = filt((j - dy) * yscale) if yscale < 1.0 else filt(j - dy)
        row_in = (iy + j >= 0) & (iy + j < view.sh)
        racc = np.zeros_like(x)
        rw = np.zeros_like(x)
        rd = np.zeros_like(x)
        for i in range(x0, xr + 1):
            col_in = (ix + i >= 0) & (ix + i < view.sw)
            v, k = view.take(ix + i, iy + j)
            wx = filt((i - dx) * xscale) if xscale < 1.0 else filt(i - dx)
            use = col_in & (k if view.masked else True)
            racc = np.where(use, racc + _f64(v) * wx, racc)
            rw = np.where(use, rw + wx, rw)
            rd = np.where(use, rd + wx, rd)
        acc = np.where(row_in, acc + racc * wy, acc)
        wsum = np.where(row_in, wsum + rw * wy, wsum)
        dens = np.where(row_in, dens + rd * wy, dens)
    bad = (wsum < 0.000001) | (dens < 0.000001)
    norm = (wsum < 0.99999) | (wsum > 1.00001)
    val = np.where(norm, acc / np.where(bad, 1.0, wsum), acc)
    return val, ~bad
