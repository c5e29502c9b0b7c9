"""Destination pixel -> source pixel coordinates, computed the way GDAL's warper computes them.

GDAL's warper maps every destination pixel through a "general image projection" transformer
(destination geotransform -> CRS change -> inverse source geotransform) and, by default, wraps
it in a *linear approximation* transformer: along each destination scanline only a few points
are reprojected exactly and the others are interpolated, recursively halving the segment
until the interpolated midpoint is within ``error_threshold`` source pixels (0.125 px by
default; ``rasterio.warp.reproject`` always uses that default). Reproducing both steps with
the same floating-point operations is what makes nearest-neighbour results identical to
GDAL's, pixel for pixel. ``error_threshold=0`` gives the exact transformer (``gdalwarp -et 0``).

Special cases reproduced from GDAL: the Web Mercator -> WGS 84 closed-form inverse (GDAL does
not call PROJ for it) and longitude wrapping around the source raster's centre longitude when
the source CRS is geographic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rasteret_io.grid import Transform

__all__ = ["GdalTransform", "PixelMap", "approx_rows", "gdal_gt", "gdal_inverse"]

#: GDAL-order geotransform ``(c, a, b, f, d, e)``: ``x = c + col*a + row*b``.
GdalTransform = tuple[float, float, float, float, float, float]

_WEB_MERCATOR = frozenset({3857, 3785, 900913})
_R = 6378137.0


def gdal_gt(t: Transform) -> GdalTransform:
    """Reorder an affine-order transform ``(a, b, c, d, e, f)`` into GDAL order."""
    a, b, c, d, e, f = t
    return (c, a, b, f, d, e)


def gdal_inverse(gt: GdalTransform) -> GdalTransform:
    """``GDALInvGeoTransform`` (the no-rotation shortcut GDAL takes for north-up grids)."""
    if gt[2] == 0.0 and gt[4] == 0.0 and gt[1] != 0.0 and gt[5] != 0.0:
        return (-gt[0] / gt[1], 1.0 / gt[1], 0.0, -gt[3] / gt[5], 0.0, 1.0 / gt[5])
    det = gt[1] * gt[5] - gt[2] * gt[4]
    inv = 1.0 / det
    return (
        (gt[2] * gt[3] - gt[0] * gt[5]) * inv,
        gt[5] * inv,
        -gt[2] * inv,
        (-gt[1] * gt[3] + gt[0] * gt[4]) * inv,
        -gt[4] * inv,
        gt[1] * inv,
    )


def _apply(gt: GdalTransform, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Same operation order as GDALGenImgProjTransform: gt0 + x*gt1 + y*gt2.
    return (gt[0] + x * gt[1]) + y * gt[2], (gt[3] + x * gt[4]) + y * gt[5]


@lru_cache(maxsize=256)
def _crs(value: Any) -> Any:
    from pyproj import CRS

    return CRS.from_user_input(value)


@lru_cache(maxsize=256)
def _epsg(value: Any) -> int | None:
    try:
        code = _crs(value).to_epsg(min_confidence=100)
    except Exception:  # pragma: no cover - pyproj lookup failures mean "no code"
        return None
    return int(code) if code is not None else None


@lru_cache(maxsize=256)
def _same(a: Any, b: Any) -> bool:
    return bool(a == b or _crs(a) == _crs(b))


@lru_cache(maxsize=256)
def _pyproj(src: Any, dst: Any) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)


def _center_long(src_gt: GdalTransform, width: int, height: int) -> float | None:
    """GDAL's ``CENTER_LONG`` for a geographic source (formatted with ``%g`` as GDAL does)."""
    xs = [src_gt[0] + i * src_gt[1] + j * src_gt[2] for i in (0, width) for j in (0, height)]
    lo, hi = min(xs), max(xs)
    if hi - lo > 360.0 + max(abs(src_gt[1]), abs(src_gt[2])):
        return None
    return float(f"{(hi + lo) / 2.0:g}")


def _wrap(lon: np.ndarray, center: float) -> np.ndarray:
    lon = np.where(lon < center - 180.0, lon + 360.0, lon)
    return np.where(lon > center + 180.0, lon - 360.0, lon)


def _webmerc_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's closed-form EPSG:3857 -> EPSG:4326 (``OGRProjCT`` fast path)."""
    inv_r = 1.0 / _R
    lon = x * inv_r
    # Longitudes past +-pi are folded back by whole turns, as GDAL does.
    turns = np.where(
        lon > np.pi + 1e-14,
        -np.ceil((lon - np.pi) / (2 * np.pi)),
        np.where(lon < -np.pi - 1e-14, np.ceil((-np.pi - lon) / (2 * np.pi)), 0.0),
    )
    lon = np.where(turns != 0.0, lon + turns * (2 * np.pi), np.clip(lon, -np.pi, np.pi))
    rad_to_deg = 180.0 / np.pi
    lat = (np.pi / 2.0 - 2.0 * np.arctan(np.exp(-y * inv_r))) * rad_to_deg
    return lon * rad_to_deg, lat


@dataclass(frozen=True, slots=True)
class PixelMap:
    """Maps destination pixel/line coordinates to source pixel/line coordinates (and back).

    Attributes:
        dst_gt: Destination geotransform (GDAL order).
        src_gt: Source geotransform (GDAL order) of the *whole* source raster / level.
        src_inv: Its inverse, as ``GDALInvGeoTransform`` computes it.
        dst_to_src: Map-coordinate reprojection destination CRS -> source CRS, or None when
            both CRSs are the same and nothing is to be wrapped.
        src_to_dst: The forward reprojection (used to size source windows), or None.
    """

    dst_gt: GdalTransform
    src_gt: GdalTransform
    src_inv: GdalTransform
    dst_inv: GdalTransform
    dst_to_src: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None
    src_to_dst: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None

    @classmethod
    def build(
        cls,
        src_transform: Transform,
        src_crs: Any,
        src_size: tuple[int, int],
        dst_transform: Transform,
        dst_crs: Any,
    ) -> PixelMap:
        """The map GDAL builds for warping a ``src_size = (width, height)`` raster onto a grid.

        Args:
            src_transform: Affine-order transform of the whole source raster (or level).
            src_crs: Source CRS (anything pyproj accepts).
            src_size: ``(width, height)`` of the whole source raster; used for the centre
                longitude of geographic sources.
            dst_transform: Affine-order transform of the destination grid.
            dst_crs: Destination CRS.
        """
        src_gt, dst_gt = gdal_gt(src_transform), gdal_gt(dst_transform)
        geographic = bool(_crs(src_crs).is_geographic)
        center = _center_long(src_gt, *src_size) if geographic else None
        same = _same(src_crs, dst_crs)
        inv_fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        fwd_fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        if not same:
            webmerc = _epsg(dst_crs) in _WEB_MERCATOR and _epsg(src_crs) == 4326
            back = _pyproj(dst_crs, src_crs)
            fwd = _pyproj(src_crs, dst_crs)

            def inv_fn(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                if webmerc:
                    sx, sy = _webmerc_to_lonlat(x, y)
                else:
                    sx, sy = (np.asarray(v, dtype=np.float64) for v in back.transform(x, y))
                return (_wrap(sx, center) if center is not None else sx), sy

            def fwd_fn(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                if center is not None:
                    x = _wrap(x, center)
                dx, dy = fwd.transform(x, y)
                return np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64)

        elif center is not None:

            def inv_fn(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return _wrap(x, center), y

        return cls(dst_gt, src_gt, gdal_inverse(src_gt), gdal_inverse(dst_gt), inv_fn, fwd_fn)

    def exact(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact source pixel/line of destination pixel/line ``(px, py)``; NaN where it fails."""
        return _through(self.dst_gt, self.dst_to_src, self.src_inv, px, py)

    def forward(self, sx: np.ndarray, sy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact destination pixel/line of source pixel/line ``(sx, sy)``; NaN where it fails."""
        return _through(self.src_gt, self.src_to_dst, self.dst_inv, sx, sy)


def _through(
    gt: GdalTransform,
    reproject: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
    inv: GdalTransform,
    px: np.ndarray,
    py: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel/line ``(px, py)`` of one grid (``gt``) to georeferenced coordinates, through
    ``reproject`` (None: same CRS), to pixel/line of the other grid (``inv``, an inverse
    geotransform); NaN where a step fails."""
    x, y = _apply(gt, np.asarray(px, np.float64), np.asarray(py, np.float64))
    if reproject is not None:
        x, y = reproject(x, y)
    ox, oy = _apply(inv, x, y)
    bad = ~(np.isfinite(ox) & np.isfinite(oy))
    if bad.any():
        ox = np.where(bad, np.nan, ox)
        oy = np.where(bad, np.nan, oy)
    return ox, oy


def approx_rows(
    pmap: PixelMap,
    xs: np.ndarray,
    ys: np.ndarray,
    max_error: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates of the points ``(xs[j], ys[i])`` as GDAL's approximate transformer
    returns them when called once per destination scanline.

    Args:
        pmap: The exact transformer.
        xs: The scanline's destination x coordinates (increasing), shared by every row.
        ys: One destination y coordinate per row.
        max_error: GDAL's ``dfMaxError`` in source pixels; 0 means exact everywhere.

    Returns:
        ``(sx, sy)`` arrays of shape ``(len(ys), len(xs))``; NaN where the transform fails.
    """
    nrow, n = len(ys), len(xs)
    yy = np.repeat(np.asarray(ys, np.float64)[:, None], n, axis=1)
    if max_error <= 0.0 or n <= 5 or nrow == 0:
        return pmap.exact(np.broadcast_to(xs, (nrow, n)), yy)
    out_x = np.full((nrow, n), np.nan)
    out_y = np.full((nrow, n), np.nan)
    done = np.zeros((nrow, n), dtype=bool)

    def exact_into(rows: np.ndarray, cols: np.ndarray) -> None:
        if rows.size == 0 or cols.size == 0:
            return
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        sx, sy = pmap.exact(xs[cc], yy[rr, 0])
        out_x[rr, cc], out_y[rr, cc] = sx, sy
        done[rr, cc] = True

    def sme(rows: np.ndarray, cols: list[int]) -> tuple[np.ndarray, np.ndarray]:
        rr = np.repeat(rows[:, None], len(cols), axis=1)
        cc = np.broadcast_to(np.asarray(cols), rr.shape)
        return pmap.exact(xs[cc], yy[rr, 0])

    all_rows = np.arange(nrow)
    m0 = (n - 1) // 2
    sx, sy = sme(all_rows, [0, m0, n - 1])
    ok = np.isfinite(sx).all(axis=1) & np.isfinite(sy).all(axis=1)
    exact_into(all_rows[~ok], np.arange(n))
    # Work list of segments: (start, length, rows, S/M/E source x (rows, 3), S/M/E y)
    stack: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []
    if ok.any():
        stack.append((0, n, all_rows[ok], sx[ok], sy[ok]))
    while stack:
        lo, cnt, rows, smx, smy = stack.pop()
        m = (cnt - 1) // 2
        x0, xm, xn = xs[lo], xs[lo + m], xs[lo + cnt - 1]
        dx = (smx[:, 2] - smx[:, 0]) / (xn - x0)
        dy = (smy[:, 2] - smy[:, 0]) / (xn - x0)
        err = np.abs((smx[:, 0] + dx * (xm - x0)) - smx[:, 1]) + np.abs(
            (smy[:, 0] + dy * (xm - x0)) - smy[:, 1]
        )
        lin = ~(err > max_error)
        if lin.any():
            r = rows[lin]
            dist = xs[lo : lo + cnt] - x0
            out_x[r, lo : lo + cnt] = smx[lin, 0:1] + dx[lin, None] * dist
            out_y[r, lo : lo + cnt] = smy[lin, 0:1] + dy[lin, None] * dist
            done[r, lo : lo + cnt] = True
        if lin.all():
            continue
        rows, smx, smy = rows[~lin], smx[~lin], smy[~lin]
        mids = [lo + (m - 1) // 2, lo + m - 1, lo + m + (cnt - m - 1) // 2]
        base1 = m <= 5
        base2 = cnt - m <= 5
        need = [k for k, use in ((0, not base1), (1, not base1), (2, not base2)) if use]
        if need:
            mx, my = sme(rows, [mids[k] for k in need])
            good = np.isfinite(mx).all(axis=1) & np.isfinite(my).all(axis=1)
        else:
            mx = my = np.empty((len(rows), 0))
            good = np.ones(len(rows), dtype=bool)
        # Rows whose middle points fail are transformed exactly over the whole segment.
        exact_into(rows[~good], np.arange(lo, lo + cnt))
        if not good.any():
            continue
        rows, smx, smy, mx, my = rows[good], smx[good], smy[good], mx[good], my[good]
        col = {k: i for i, k in enumerate(need)}
        if not base1:
            hx = np.stack([smx[:, 0], mx[:, col[0]], mx[:, col[1]]], axis=1)
            hy = np.stack([smy[:, 0], my[:, col[0]], my[:, col[1]]], axis=1)
            stack.append((lo, m, rows, hx, hy))
        else:
            exact_into(rows, np.arange(lo, lo + m))
        if not base2:
            hx = np.stack([smx[:, 1], mx[:, col[2]], smx[:, 2]], axis=1)
            hy = np.stack([smy[:, 1], my[:, col[2]], smy[:, 2]], axis=1)
            stack.append((lo + m, cnt - m, rows, hx, hy))
        else:
            exact_into(rows, np.arange(lo + m, lo + cnt))
    if not done.all():  # pragma: no cover - every point is assigned above
        r, c = np.nonzero(~done)
        out_x[r, c], out_y[r, c] = pmap.exact(xs[c], yy[r, 0])
    return out_x, out_y
