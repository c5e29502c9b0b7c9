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
    """GDAL's scanline polygon fill (pixel-centre rule), all rings together (even-odd)."""
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
    ymin = float(min(y1.min(), y2.min()))
    ymax = float(max(y1.max(), y2.max()))
    row0 = max(0, math.floor(ymin))
    row1 = min(height - 1, math.floor(ymax))
    horiz = y1 == y2
    # Orient non-horizontal edges so that ya < yb.
    swap = y1 > y2
    xa = np.where(swap, x2, x1)
    ya = np.where(swap, y2, y1)
    xb = np.where(swap, x1, x2)
    yb = np.where(swap, y1, y2)
    nh = ~horiz
    xa, ya, xb, yb = xa[nh], ya[nh], xb[nh], yb[nh]
    hx1, hx2, hy = x1[horiz], x2[horiz], y1[horiz]
    for row in range(row0, row1 + 1):
        dy = row + 0.5
        sel = (dy >= ya) & (dy < yb)
        if sel.any():
            ints = np.sort((dy - ya[sel]) * (xb[sel] - xa[sel]) / (yb[sel] - ya[sel]) + xa[sel])
            for i in range(0, len(ints) - 1, 2):
                c0 = math.floor(ints[i] + 0.5)
                c1 = math.floor(ints[i + 1] + 0.5)
                if c0 < c1 and c0 <= width - 1 and c1 > 0:
                    out[row, max(c0, 0) : min(c1, width)] = True
        # Horizontal edges lying exactly on the scanline centre: GDAL fills the ones that
        # run right-to-left (bottom edges of a clockwise-in-pixel-space ring) separately.
        hsel = (hy == dy) & (hx1 > hx2)
        for xs, xe in zip(hx2[hsel], hx1[hsel]):
            c0, c1 = math.floor(xs + 0.5), math.floor(xe + 0.5)
            if c0 <= width - 1 and c1 > 0 and c0 < c1:
                out[row, max(c0, 0) : min(c1, width)] = True


def _on_border(v: float) -> bool:
    return abs(v - round(v)) < _EPS_BORDER


def _burn_line_all_touched(out: np.ndarray, ring: list[tuple[float, float]]) -> None:
    """Burn every pixel a ring's edges pass through (GDAL's all-touched line walk)."""
    height, width = out.shape
    for (x, y), (xe, ye) in itertools.pairwise(ring):
        if math.floor(x) == math.floor(xe) or abs(x - xe) < 0.01:  # vertical-ish
            if _on_border(x) and _on_border(xe):
                continue  # runs along a pixel border: touches, does not intersect
            if ye < y:
                y, ye = ye, y
            ix = math.floor(xe)
            if 0 <= ix < width:
                for iy in range(
                    max(math.floor(y), 0), min(math.floor(ye - _EPS_BORDER), height - 1) + 1
                ):
                    out[iy, ix] = True
            continue
        if math.floor(y) == math.floor(ye) or abs(y - ye) < 0.01:  # horizontal-ish
            if _on_border(y) and _on_border(ye):
                continue
            if xe < x:
                x, xe = xe, x
            iy = math.floor(y)
            if 0 <= iy < height:
                for ix in range(
                    max(math.floor(x), 0), min(math.floor(xe - _EPS_BORDER), width - 1) + 1
                ):
                    out[iy, ix] = True
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
