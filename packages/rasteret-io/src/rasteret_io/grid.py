"""Pixel grids: affine geotransforms, windows and target grids (pure arithmetic).

Transforms are GDAL-order 6-tuples ``(a, b, c, d, e, f)``: ``x = a*col + b*row + c``,
``y = d*col + e*row + f``, describing pixel corners. Readers only accept axis-aligned grids
(``b == d == 0``); rotated grids are refused with :class:`~rasteret_io.errors.ReadError`.

Two inverse transforms exist on purpose: :func:`inverse_affine` reproduces the ``affine``
package (what rasterio's ``geometry_window`` uses to size AOI windows) and
:func:`inverse_gdal` reproduces ``GDALInvGeoTransform`` (what GDAL's rasterizer uses). They
differ in the last bits, which matters for pixel-exact parity at floor/ceil boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rasteret_io.errors import ReadError

__all__ = [
    "Grid",
    "Transform",
    "Window",
    "geometry_window",
    "inverse_affine",
    "inverse_gdal",
    "transform_from_metadata",
    "union_windows",
    "window_transform",
]

Transform = tuple[float, float, float, float, float, float]


def transform_from_metadata(values: Sequence[float], *, what: str = "raster") -> Transform:
    """Turn a contract ``transform`` (4 or 6 values) into a 6-tuple, refusing rotation.

    Args:
        values: ``[scale_x, translate_x, scale_y, translate_y]`` or a GDAL affine.
        what: Named in errors (e.g. the URL and band).

    Raises:
        ReadError: wrong length, rotation/shear, or a zero scale.
    """
    v = [float(x) for x in values]
    if len(v) == 4:
        t = (v[0], 0.0, v[1], 0.0, v[2], v[3])
    elif len(v) == 6:
        t = (v[0], v[1], v[2], v[3], v[4], v[5])
    else:
        raise ReadError(f"{what}: transform must have 4 or 6 values, got {len(v)}")
    if t[1] != 0.0 or t[3] != 0.0:
        raise ReadError(f"{what}: rotated/sheared geotransforms are not supported ({t})")
    if t[0] == 0.0 or t[4] == 0.0:
        raise ReadError(f"{what}: geotransform has a zero pixel size ({t})")
    return t


def inverse_affine(t: Transform) -> Transform:
    """Inverse transform computed exactly as the ``affine`` package computes ``~Affine``."""
    a, b, c, d, e, f = t
    det = a * e - b * d
    if det == 0:
        raise ReadError(f"degenerate geotransform {t}")
    idet = 1.0 / det
    ra, rb, rd, re = e * idet, -b * idet, -d * idet, a * idet
    return (ra, rb, -c * ra - f * rb, rd, re, -c * rd - f * re)


def inverse_gdal(t: Transform) -> Transform:
    """Inverse transform computed as ``GDALInvGeoTransform`` does for axis-aligned grids.

    Returned in the same ``(a, b, c, d, e, f)`` order: ``col = a*x + b*y + c``.
    """
    a, b, c, d, e, f = t
    if b == 0.0 and d == 0.0 and a != 0.0 and e != 0.0:
        return (1.0 / a, 0.0, -c / a, 0.0, 1.0 / e, -f / e)
    return inverse_affine(t)


@dataclass(frozen=True, slots=True)
class Window:
    """An integer pixel window (may extend past the image when boundless)."""

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def col_end(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def row_end(self) -> int:
        """One past the last row."""
        return self.row_off + self.height

    @property
    def empty(self) -> bool:
        """True when the window holds no pixel."""
        return self.width <= 0 or self.height <= 0

    def intersection(self, other: Window) -> Window | None:
        """The overlap of two windows, or None when they are disjoint (rasterio semantics)."""
        c0, r0 = max(self.col_off, other.col_off), max(self.row_off, other.row_off)
        c1, r1 = min(self.col_end, other.col_end), min(self.row_end, other.row_end)
        if c1 <= c0 or r1 <= r0:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)


def union_windows(windows: Sequence[Window]) -> Window | None:
    """The bounding window of ``windows`` (None when there is none)."""
    if not windows:
        return None
    c0 = min(w.col_off for w in windows)
    r0 = min(w.row_off for w in windows)
    c1 = max(w.col_end for w in windows)
    r1 = max(w.row_end for w in windows)
    return Window(c0, r0, c1 - c0, r1 - r0)


def geometry_window(bounds_xy: tuple[float, float, float, float], transform: Transform) -> Window:
    """Window covering a map-space bbox, exactly as rasterio's ``geometry_window`` sizes it.

    Args:
        bounds_xy: ``(minx, miny, maxx, maxy)`` of the geometry *after* transforming its
            vertices to pixel space is what rasterio uses; for axis-aligned grids that equals
            the pixel-space image of the map bounds, which is computed here.
        transform: The raster's geotransform.

    Returns:
        The boundless window (floor of the offsets, ceil of the far edges).
    """
    inv = inverse_affine(transform)
    xs = (bounds_xy[0], bounds_xy[2])
    ys = (bounds_xy[1], bounds_xy[3])
    cols = [inv[0] * x + inv[1] * y + inv[2] for x in xs for y in ys]
    rows = [inv[3] * x + inv[4] * y + inv[5] for x in xs for y in ys]
    c0, c1 = math.floor(min(cols)), math.ceil(max(cols))
    r0, r1 = math.floor(min(rows)), math.ceil(max(rows))
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def window_transform(t: Transform, window: Window) -> Transform:
    """Geotransform of ``window`` inside a grid with transform ``t``."""
    a, b, c, d, e, f = t
    return (
        a,
        b,
        c + a * window.col_off + b * window.row_off,
        d,
        e,
        f + d * window.col_off + e * window.row_off,
    )


@dataclass(frozen=True, slots=True)
class Grid:
    """A georeferenced pixel grid: CRS, geotransform and size.

    Attributes:
        crs: Anything pyproj accepts (an EPSG int, ``"EPSG:32633"``, WKT...).
        transform: Axis-aligned GDAL geotransform.
        width: Columns.
        height: Rows.
    """

    crs: object
    transform: Transform
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        """``(|a|, |e|)`` pixel size."""
        return (abs(self.transform[0]), abs(self.transform[4]))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the grid."""
        a, _b, c, _d, e, f = self.transform
        xs = (c, c + a * self.width)
        ys = (f, f + e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def window(self, window: Window) -> Grid:
        """The sub-grid (or boundless extension) covered by ``window``."""
        return Grid(self.crs, window_transform(self.transform, window), window.width, window.height)

    @classmethod
    def from_bounds(
        cls,
        crs: object,
        bounds: tuple[float, float, float, float],
        res: tuple[float, float],
        *,
        snap: bool = True,
    ) -> Grid:
        """A north-up grid covering ``bounds`` at ``res``.

        Args:
            crs: Grid CRS.
            bounds: ``(minx, miny, maxx, maxy)``.
            res: ``(xres, yres)``, positive.
            snap: Align the grid origin to whole multiples of the resolution (so grids of
                different AOIs line up); otherwise the origin is ``(minx, maxy)`` and the size
                is rounded as rasterio's ``merge`` rounds it.
        """
        xres, yres = float(res[0]), float(res[1])
        if xres <= 0 or yres <= 0:
            raise ReadError(f"resolution must be positive, got {res}")
        minx, miny, maxx, maxy = bounds
        if snap:
            x0 = math.floor(minx / xres + 1e-9) * xres
            y1 = math.ceil(maxy / yres - 1e-9) * yres
            width = max(1, math.ceil((maxx - x0) / xres - 1e-9))
            height = max(1, math.ceil((y1 - miny) / yres - 1e-9))
        else:
            x0, y1 = minx, maxy
            width = max(1, round((maxx - minx) / xres))
            height = max(1, round((maxy - miny) / yres))
        return cls(crs, (xres, 0.0, x0, 0.0, -yres, y1), int(width), int(height))
