"""Resampling a source window onto a target grid (nearest like GDAL's warper, or bilinear).

For every target pixel centre the source coordinate is computed exactly (pyproj for a CRS
change, affine arithmetic otherwise); nearest picks the source pixel containing it, as
GDAL's nearest-neighbour kernel does with an exact transformer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rasteret_io.grid import Grid, Transform, inverse_gdal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["reproject_array", "same_crs", "transformer"]


@lru_cache(maxsize=256)
def _crs(value: Any) -> Any:
    from pyproj import CRS

    return CRS.from_user_input(value)


@lru_cache(maxsize=256)
def transformer(src: Any, dst: Any) -> Any:
    """A cached ``always_xy`` pyproj transformer from ``src`` to ``dst``."""
    from pyproj import Transformer

    return Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)


def same_crs(a: Any, b: Any) -> bool:
    """Whether two CRS inputs denote the same CRS."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    return bool(_crs(a) == _crs(b))


def _target_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    a, b, c, d, e, f = grid.transform
    cols = np.arange(grid.width, dtype=np.float64) + 0.5
    rows = np.arange(grid.height, dtype=np.float64) + 0.5
    cc, rr = np.meshgrid(cols, rows)
    return a * cc + b * rr + c, d * cc + e * rr + f


def reproject_array(
    src: np.ndarray,
    src_valid: np.ndarray,
    src_transform: Transform,
    src_crs: Any,
    dst: Grid,
    *,
    fill: int | float,
    resampling: str = "nearest",
) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``src`` (a window with ``src_transform``) onto ``dst``.

    Args:
        src: ``(h, w)`` source array.
        src_valid: Boolean validity of ``src`` pixels.
        src_transform: Geotransform of ``src``.
        src_crs: CRS of ``src``.
        dst: Target grid.
        fill: Value of target pixels with no valid source.
        resampling: ``"nearest"`` (dtype preserved) or ``"bilinear"`` (float output; invalid
            source pixels are excluded from the weights).

    Returns:
        ``(data, valid)`` on the target grid.
    """
    import numpy as np

    x, y = _target_centres(dst)
    if not same_crs(src_crs, dst.crs):
        x, y = transformer(dst.crs, src_crs).transform(x, y)
        x = np.asarray(x)
        y = np.asarray(y)
    inv = inverse_gdal(src_transform)
    col = inv[0] * x + inv[1] * y + inv[2]
    row = inv[3] * x + inv[4] * y + inv[5]
    h, w = src.shape
    if resampling == "nearest":
        ci = np.floor(col + 1e-10).astype(np.int64)
        ri = np.floor(row + 1e-10).astype(np.int64)
        ok = np.isfinite(col) & np.isfinite(row) & (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h)
        ci_c = np.clip(ci, 0, max(w - 1, 0))
        ri_c = np.clip(ri, 0, max(h - 1, 0))
        ok &= src_valid[ri_c, ci_c] if src.size else False
        out = np.full(dst.shape, fill, dtype=src.dtype)
        if src.size:
            out[ok] = src[ri_c[ok], ci_c[ok]]
        return out, ok
    if resampling != "bilinear":
        raise ValueError(f"resampling must be 'nearest' or 'bilinear', got {resampling!r}")
    fc, fr = col - 0.5, row - 0.5
    c0, r0 = np.floor(fc).astype(np.int64), np.floor(fr).astype(np.int64)
    wx, wy = fc - c0, fr - r0
    acc = np.zeros(dst.shape, dtype=np.float64)
    wsum = np.zeros(dst.shape, dtype=np.float64)
    srcf = src.astype(np.float64)
    for dr, dc, wgt in (
        (0, 0, (1 - wx) * (1 - wy)),
        (0, 1, wx * (1 - wy)),
        (1, 0, (1 - wx) * wy),
        (1, 1, wx * wy),
    ):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w) & np.isfinite(wgt)
        rr_c, cc_c = np.clip(rr, 0, max(h - 1, 0)), np.clip(cc, 0, max(w - 1, 0))
        good = inside & src_valid[rr_c, cc_c]
        acc += np.where(good, srcf[rr_c, cc_c] * wgt, 0.0)
        wsum += np.where(good, wgt, 0.0)
    valid = wsum > 1e-12
    out = np.full(dst.shape, np.nan if fill is None else fill, dtype=np.float64)
    out[valid] = acc[valid] / wsum[valid]
    return out, valid
