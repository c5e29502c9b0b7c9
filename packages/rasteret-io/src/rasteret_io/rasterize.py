"""Polygon rasterization with GDAL's pixel rules (used for AOI masks).

``geometry_mask`` here answers "which pixels of this grid does the polygon cover" the way
``rasterio.features.geometry_mask`` / ``gdal_rasterize`` do:

* default: a pixel is inside when its centre is, evaluated scanline by scanline with GDAL's
  half-open rules (a centre exactly on a left edge is in, on a right edge is out);
* ``all_touched=True``: additionally every pixel crossed by a polygon edge, walked the way
  GDAL's all-touched line burner walks it.

Coordinates are converted to pixel space with GDAL's inverse geotransform.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rasteret_io.grid import Transform, inverse_gdal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["geometry_mask", "polygon_rings"]

_EPS_BORDER = 1e-10


def polygon_rings(geom: Any) -> list[list[tuple[float, float]]]:
    """Exterior and interior rings of a (Multi)Polygon as coordinate lists.

    Raises:
        TypeError: for geometries that are not (Multi)Polygons.
    """
    gtype = geom.geom_type
    if gtype == "Polygon":
        polys = [geom]
    elif gtype == "MultiPolygon":
        polys = list(geom.geoms)
    else:
        raise TypeError(f"only Polygon and MultiPolygon AOIs can be rasterized, got {gtype}")
    rings: list[list[tuple[float, float]]] = []
    for p in polys:
        if p.is_empty:
            continue
        rings.append(list(p.exterior.coords))
        rings.extend(list(r.coords) for r in p.interiors)
    return rings


def _to_pixel(
    rings: Iterable[list[tuple[float, float]]], t: Transform
) -> list[list[tuple[float, float]]]:
    inv = inverse_gdal(t)
    return [
        [(inv[0] * x + inv[1] * y + inv[2], inv[3] * x + inv[4] * y + inv[5]) for x, y in ring]
        for ring in rings
    ]


def _fill(out: np.ndarray, rings: list[list[tuple[float, float]]]) -> None:
    """GDAL's scanline polygon fill (pixel-centre rule), all rings together (even-odd).

    Vectorised over scanlines (in chunks, to bound memory): per row the edge crossings of the
    row centre are sorted and consecutive pairs ``[floor(a + 0.5), floor(b + 0.5))`` filled.
    """
    import numpy as np

    height, width = out.shape
    segs = [
        (ring[i][0], ring[i][1], ring[i + 1][0], ring[i + 1][1])
        for ring in rings
        for i in range(len(ring) - 1)
    ]
    if not segs:
        return
    s = np.asarray(segs, dtype=np.float64)
    x1, y1, x2, y2 = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    row0 = max(0, math.floor(float(min(y1.min(), y2.min()))))
    row1 = min(height - 1, math.floor(float(max(y1.max(), y2.max()))))
    if row1 < row0:
        return
    horiz = y1 == y2
    swap = y1 > y2  # orient non-horizontal edges so that ya < yb
    nh = ~horiz
    xa = np.where(swap, x2, x1)[nh]
    ya = np.where(swap, y2, y1)[nh]
    xb = np.where(swap, x1, x2)[nh]
    yb = np.where(swap, y1, y2)[nh]
    slope = (xb - xa) / (yb - ya)
    chunk = max(1, (1 << 22) // max(len(xa), 1))
    for r0 in range(row0, row1 + 1, chunk):
        rows = np.arange(r0, min(r0 + chunk, row1 + 1))
        dy = rows[:, None] + 0.5
        sel = (dy >= ya) & (dy < yb)
        ints = np.where(sel, (dy - ya) * slope + xa, np.inf)
        ints.sort(axis=1)
        npair = ints.shape[1] // 2
        if npair == 0:
            continue
        a = ints[:, 0 : 2 * npair : 2]
        b = ints[:, 1 : 2 * npair : 2]
        ok = np.isfinite(b)
        c0 = np.floor(np.where(ok, a, 0.0) + 0.5)
        c1 = np.floor(np.where(ok, b, 0.0) + 0.5)
        ok &= (c0 < c1) & (c0 <= width - 1) & (c1 > 0)
        if not ok.any():
            continue
        ri, pi = np.nonzero(ok)
        lo = np.clip(c0[ri, pi], 0, width).astype(np.int64)
        hi = np.clip(c1[ri, pi], 0, width).astype(np.int64)
        diff = np.zeros((len(rows), width + 1), dtype=np.int32)
        np.add.at(diff, (ri, lo), 1)
        np.add.at(diff, (ri, hi), -1)
        out[rows[0] : rows[-1] + 1] |= np.cumsum(diff[:, :width], axis=1) > 0
    # Horizontal edges lying exactly on a scanline centre are filled when they are a bottom edge
    # of their own ring (the ring encloses the side of smaller rows), as GDAL does: the bottom
    # of an exterior ring or of a notch is burnt, the top of a hole is not; top edges of
    # exterior rings are already covered by the crossing rule above.
    for ring in rings:
        for (xa_, hy), (xb_, hy2) in itertools.pairwise(ring):
            row = hy - 0.5
            if hy != hy2 or xa_ == xb_ or row != math.floor(row) or not row0 <= row <= row1:
                continue
            lo_x, hi_x = min(xa_, xb_), max(xa_, xb_)
            if not _inside([ring], (lo_x + hi_x) / 2, hy - 1e-7):
                continue
            e0, e1 = math.floor(lo_x + 0.5), math.floor(hi_x + 0.5)
            if e0 <= width - 1 and e1 > 0 and e0 < e1:
                out[int(row), max(e0, 0) : min(e1, width)] = True


def _inside(rings: list[list[tuple[float, float]]], x: float, y: float) -> bool:
    """Even-odd point-in-polygon test over all rings."""
    inside = False
    for ring in rings:
        for (ax, ay), (bx, by) in itertools.pairwise(ring):
            if (ay > y) != (by > y) and x < (bx - ax) * (y - ay) / (by - ay) + ax:
                inside = not inside
    return inside


def _on_border(v: float) -> bool:
    return abs(v - round(v)) < _EPS_BORDER


def _burn_run(grid: np.ndarray, row: float, start: float, end: float) -> None:
    """Burn the pixels of row ``floor(row)`` of ``grid`` that an edge running along the row
    from ``start`` to ``end`` passes through."""
    if end < start:
        start, end = end, start
    r = math.floor(row)
    lo = max(math.floor(start), 0)
    hi = min(math.floor(end - _EPS_BORDER), grid.shape[1] - 1) + 1
    if 0 <= r < grid.shape[0] and lo < hi:
        grid[r, lo:hi] = True


def _burn_line_all_touched(out: np.ndarray, ring: list[tuple[float, float]]) -> None:
    """Burn every pixel a ring's edges pass through (GDAL's all-touched line walk)."""
    height, width = out.shape
    for (x, y), (xe, ye) in itertools.pairwise(ring):
        if math.floor(x) == math.floor(xe) or abs(x - xe) < 0.01:  # vertical-ish
            # along a pixel border it touches, does not intersect
            if not (_on_border(x) and _on_border(xe)):
                _burn_run(out.T, xe, y, ye)  # the transposed view: a run along a row
            continue
        if math.floor(y) == math.floor(ye) or abs(y - ye) < 0.01:  # horizontal-ish
            if not (_on_border(y) and _on_border(ye)):
                _burn_run(out, y, x, xe)
            continue
        if xe < x:
            x, xe, y, ye = xe, x, ye, y
        slope = (ye - y) / (xe - x)
        steps = 0
        limit = 4 * (abs(xe - x) + abs(ye - y)) + 16  # bounded walk
        while x < xe and steps < limit:
            steps += 1
            ix, iy = math.floor(x), math.floor(y)
            if 0 <= ix < width and 0 <= iy < height:
                out[iy, ix] = True
            step_x = math.floor(x + 1.0) - x
            step_y = step_x * slope
            if math.floor(y + step_y) == iy:
                x += step_x
                y += step_y
            elif slope < 0:
                step_y = iy - y
                if step_y > -1e-9:
                    step_y = -1e-9
                x += step_y / slope
                y += step_y
            else:
                step_y = (iy + 1) - y
                if step_y < 1e-9:
                    step_y = 1e-9
                x += step_y / slope
                y += step_y


def geometry_mask(
    geom: Any, transform: Transform, shape: tuple[int, int], *, all_touched: bool = False
) -> np.ndarray:
    """Boolean array, True where ``geom`` covers the pixel (the *inverse* of rasterio's mask).

    Args:
        geom: A shapely Polygon / MultiPolygon in the grid's CRS.
        transform: Axis-aligned geotransform of the grid.
        shape: ``(height, width)``.
        all_touched: Also include every pixel touched by the polygon's boundary.
    """
    import numpy as np

    out = np.zeros(shape, dtype=bool)
    if shape[0] <= 0 or shape[1] <= 0 or geom.is_empty:
        return out
    rings = _to_pixel(polygon_rings(geom), transform)
    _fill(out, rings)
    if all_touched:
        for ring in rings:
            _burn_line_all_touched(out, ring)
    return out
