"""The shared output grid of a stacked read: CRS, resolution, pixel anchor, AOI ∩ data.

A stacked read (``read_aois(layout="stack")``, ``get_numpy``, ``get_xarray``) puts every
record of an AOI on one grid. The grid is cut from a :class:`Lattice` — an unbounded regular
grid (CRS, resolution, the position of its pixel edges) — by the AOI's window clipped to the
data:

- **CRS**: ``target_crs``, else the most common CRS of the records' bands.
- **Resolution**: ``resolution``, else the finest native resolution among the bands (a 10 m
  and a 20 m band land on one 10 m grid; the 20 m band is resampled).
- **Anchor** (where pixel edges lie), odc-stac's ``anchor`` semantics: ``"edge"`` puts pixel
  edges on multiples of the resolution (``x = k * res``); ``"center"`` puts pixel centres
  there; ``(fx, fy)`` (fractions of a pixel in ``[0, 1)``) puts edges on
  ``x = (k + fx) * xres`` and ``y = (k + fy) * yres``; ``"floating"`` does not snap (the grid
  starts at the corner of AOI ∩ data). The default (None) keeps the native grid: when some
  band grid in the output CRS has the output resolution, the output is the most common such
  grid (its bands are copied, not resampled); otherwise pixel edges go through the origin of
  the most common native grid in the output CRS (at a multiple of its resolution, output
  pixels cover whole native pixels); when no band is in the output CRS, ``"edge"``.
- **Extent**: the AOI's window on the lattice — floor/ceil of its bounds in pixel space, as
  ``rasterio.features.geometry_window`` sizes it — clipped to the union of the extents of the
  records the AOI meets. For one record on the lattice this is exactly
  ``rasterio.mask.mask(crop=True)``'s window; several records share one shape.

AOIs that cannot be projected into a CRS (a world box into a UTM zone gives infinite
coordinates) are first clipped, in their own CRS, to the area the records cover
(:func:`valid_area`), then projected.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rasteret_io.errors import ReadError
from rasteret_io.grid import Grid, Transform, Window, geometry_window, window_transform
from rasteret_io.warp import same_crs, transformer

if TYPE_CHECKING:
    from rasteret_io.sources import BandSource

__all__ = [
    "Anchor",
    "GridSpec",
    "Lattice",
    "choose_lattice",
    "data_bounds",
    "extent_window",
    "finite_bounds",
    "lattice_offset",
    "level_for",
    "native_res_in",
    "normalize_anchor",
    "normalize_resolution",
    "valid_area",
]

Anchor = tuple[float, float] | Literal["floating"] | None
_TOL = 1e-6  # fraction of a pixel treated as "on the grid line" for data extents
_SAMPLES = 21  # points per edge when a raster extent is moved to another CRS


def normalize_anchor(anchor: Any) -> Anchor:
    """``None`` / ``"edge"`` / ``"center"`` / ``"floating"`` / a fraction / ``(fx, fy)``.

    Returns:
        None (native grid), ``"floating"`` or ``(fx, fy)`` with each in ``[0, 1)``.

    Raises:
        ReadError: Any other value.
    """
    if anchor is None:
        return None
    if isinstance(anchor, str):
        named = {"edge": (0.0, 0.0), "default": (0.0, 0.0), "center": (0.5, 0.5)}
        named["centre"] = named["center"]
        if anchor in named:
            return named[anchor]
        if anchor == "floating":
            return "floating"
        raise ReadError(f"anchor {anchor!r}: use 'edge', 'center', 'floating' or (fx, fy)")
    if isinstance(anchor, int | float) and not isinstance(anchor, bool):
        anchor = (anchor, anchor)
    try:
        fx, fy = (float(v) for v in anchor)
    except (TypeError, ValueError):
        raise ReadError(
            f"anchor {anchor!r}: use 'edge', 'center', 'floating' or (fx, fy)"
        ) from None
    if not (0.0 <= fx < 1.0 and 0.0 <= fy < 1.0):
        raise ReadError(f"anchor fractions must be in [0, 1), got {(fx, fy)}")
    return (fx, fy)


def normalize_resolution(resolution: Any) -> tuple[float, float] | None:
    """``None``, a number (square pixels) or ``(xres, yres)``, as positive floats.

    Raises:
        ReadError: Not positive and finite.
    """
    if resolution is None:
        return None
    if isinstance(resolution, int | float) and not isinstance(resolution, bool):
        resolution = (resolution, resolution)
    try:
        xres, yres = (abs(float(v)) for v in resolution)
    except (TypeError, ValueError):
        raise ReadError(
            f"resolution must be a number or (xres, yres), got {resolution!r}"
        ) from None
    if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
        raise ReadError(f"resolution must be positive and finite, got {resolution!r}")
    return (xres, yres)


@dataclass(frozen=True, slots=True)
class GridSpec:
    """How the output grid of a stacked read is chosen (see module docs).

    Attributes:
        target_crs: Output CRS (None: the most common record CRS).
        resolution: Output ``(xres, yres)`` (None: the finest native one).
        anchor: From :func:`normalize_anchor` (None: the native grid).
        shared: One lattice (CRS, resolution, anchor) for every AOI, so that their grids can
            be placed in one covering grid; otherwise each AOI chooses its own.
    """

    target_crs: Any = None
    resolution: tuple[float, float] | None = None
    anchor: Anchor = None
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Lattice:
    """An unbounded north-up pixel grid: windows are relative to the pixel at ``transform``.

    Attributes:
        crs: Its CRS.
        transform: Geotransform of pixel ``(0, 0)``.
    """

    crs: Any
    transform: Transform

    @property
    def res(self) -> tuple[float, float]:
        """``(xres, yres)``, positive."""
        return (abs(self.transform[0]), abs(self.transform[4]))

    def window(self, bounds: tuple[float, float, float, float]) -> Window | None:
        """The AOI window of ``bounds`` (rasterio's floor/ceil), None when not finite."""
        if not all(math.isfinite(v) for v in bounds):
            return None
        return geometry_window(bounds, self.transform)

    def grid(self, window: Window) -> Grid:
        """The grid covered by ``window``."""
        return Grid(self.crs, window_transform(self.transform, window), window.width, window.height)

    def offset(self, src: BandSource, level: int = 0) -> tuple[int, int] | None:
        """``(col, row)`` of the source level's pixel ``(0, 0)`` on the lattice when it lies on
        it (same CRS and pixel size, edges on lattice edges), else None."""
        return lattice_offset(src.levels[level].transform, src.crs, self.transform, self.crs)


def lattice_offset(
    transform: Transform, crs: Any, lattice: Transform, lattice_crs: Any
) -> tuple[int, int] | None:
    """``(col, row)`` on the pixel lattice ``lattice`` of the pixel ``(0, 0)`` of a grid with
    ``transform``, when the two share their CRS and pixel size and the grid's edges lie on the
    lattice's, else None."""
    if not same_crs(crs, lattice_crs):
        return None
    a, _b, c, _d, e, f = transform
    la, _lb, lc, _ld, le, lf = lattice
    if abs(a - la) > 1e-9 * abs(la) or abs(e - le) > 1e-9 * abs(le):
        return None
    col, row = (c - lc) / la, (f - lf) / le
    if abs(col - round(col)) > _TOL or abs(row - round(row)) > _TOL:
        return None
    return (round(col), round(row))


def _most_common(values: Sequence[Any]) -> Any:
    return Counter(values).most_common(1)[0][0]


def _phase(t: Transform) -> tuple[float, float, float, float]:
    a, _b, c, _d, e, f = t
    return (abs(a), abs(e), round((c / a) % 1.0, 6) % 1.0, round((f / e) % 1.0, 6) % 1.0)


def level_for(src: BandSource, grid: Grid) -> int:
    """GDAL's overview choice of ``src`` for ``grid``: the grid's pixel size expressed in the
    source's units (another CRS's metres or degrees are converted first), then
    :meth:`~rasteret_io.sources.BandSource.best_level`."""
    if len(src.levels) == 1:
        return 0
    sx, sy = native_res_in(src, grid.crs)
    a, e = abs(src.transform[0]), abs(src.transform[4])
    return src.best_level(min(grid.res[0] * a / sx, grid.res[1] * e / sy))


def native_res_in(src: BandSource, crs: Any) -> tuple[float, float]:
    """Native pixel size of ``src`` expressed in ``crs`` units (extent / pixel count)."""
    a, e = abs(src.transform[0]), abs(src.transform[4])
    if same_crs(src.crs, crs):
        return (a, e)
    minx, miny, maxx, maxy = src.grid().bounds
    xs, ys = transformer(src.crs, crs).transform([minx, maxx, minx, maxx], [miny, miny, maxy, maxy])
    w, h = src.levels[0].width, src.levels[0].height
    return ((max(xs) - min(xs)) / w, (max(ys) - min(ys)) / h)


def choose_lattice(
    srcs: Sequence[BandSource],
    spec: GridSpec,
    *,
    default_crs: Any = None,
    region: tuple[float, float, float, float] | None = None,
) -> Lattice:
    """The lattice of a stacked read of ``srcs`` (see module docs).

    Args:
        srcs: The band sources that meet the AOI(s).
        spec: Output grid options.
        default_crs: CRS when ``srcs`` is empty and no ``target_crs`` is given.
        region: Bounds (output CRS) the grid starts from with ``anchor="floating"``.
    """
    crs = spec.target_crs
    if crs is None:
        crs = _most_common([s.crs for s in srcs]) if srcs else default_crs
    res = spec.resolution
    if res is None:
        ress = [native_res_in(s, crs) for s in srcs] or [(1.0, 1.0)]
        res = (min(r[0] for r in ress), min(r[1] for r in ress))
    xres, yres = res
    if spec.anchor == "floating":
        x0, _y0, _x1, y1 = region if region is not None else (0.0, 0.0, 0.0, 0.0)
        return Lattice(crs, (xres, 0.0, x0, 0.0, -yres, y1))
    if spec.anchor is not None:
        fx, fy = spec.anchor
        return Lattice(crs, (xres, 0.0, fx * xres, 0.0, -yres, fy * yres))
    native = [s.transform for s in srcs if same_crs(s.crs, crs)]
    if not native:
        return Lattice(crs, (xres, 0.0, 0.0, 0.0, -yres, 0.0))

    def at_res(t: Transform) -> bool:
        return abs(abs(t[0]) - xres) <= 1e-9 * xres and abs(abs(t[4]) - yres) <= 1e-9 * yres

    same_res = [t for t in native if at_res(t)]  # prefer a native grid at the output res
    pool = same_res or native
    key = _most_common([_phase(t) for t in pool])
    ref = next(t for t in pool if _phase(t) == key)
    if same_res:
        return Lattice(crs, ref)  # the native grid itself
    return Lattice(crs, (xres, 0.0, ref[2], 0.0, -yres, ref[5]))  # edges through its origin


def _sample_bounds(src: BandSource, crs: Any) -> tuple[float, float, float, float] | None:
    """Bounds in ``crs`` of a grid of points over the source extent (finite points only)."""
    import numpy as np

    minx, miny, maxx, maxy = src.grid().bounds
    gx, gy = np.meshgrid(np.linspace(minx, maxx, _SAMPLES), np.linspace(miny, maxy, _SAMPLES))
    xs, ys = transformer(src.crs, crs).transform(gx.ravel(), gy.ravel())
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return None
    return (float(xs[ok].min()), float(ys[ok].min()), float(xs[ok].max()), float(ys[ok].max()))


def data_bounds(src: BandSource, crs: Any) -> tuple[float, float, float, float] | None:
    """Bounds of the source's full-resolution extent in ``crs`` (exact in its own CRS)."""
    if same_crs(src.crs, crs):
        return src.grid().bounds
    return _sample_bounds(src, crs)


def extent_window(src: BandSource, lattice: Lattice) -> Window | None:
    """The lattice window covering the source's extent (None when it cannot be placed).

    Exact for sources on the lattice; in the lattice's CRS the bounds are snapped to the
    pixel edges within 1e-6 pixel; from another CRS a 21 x 21 sample of the extent is moved
    and one pixel of margin is added on each side.
    """
    off = lattice.offset(src)
    if off is not None:
        lv = src.levels[0]
        return Window(off[0], off[1], lv.width, lv.height)
    b = data_bounds(src, lattice.crs)
    if b is None:
        return None
    a, _b, c, _d, e, f = lattice.transform
    cols = sorted(((b[0] - c) / a, (b[2] - c) / a))
    rows = sorted(((b[3] - f) / e, (b[1] - f) / e))
    margin = 0 if same_crs(src.crs, lattice.crs) else 1
    c0 = math.floor(cols[0] + _TOL) - margin
    c1 = math.ceil(cols[1] - _TOL) + margin
    r0 = math.floor(rows[0] + _TOL) - margin
    r1 = math.ceil(rows[1] - _TOL) + margin
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def finite_bounds(geom: Any) -> tuple[float, float, float, float] | None:
    """``geom.bounds`` when every coordinate is finite and it is not empty, else None."""
    import numpy as np
    import shapely

    if geom is None or geom.is_empty:
        return None
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        return None
    return tuple(float(v) for v in geom.bounds)  # type: ignore[return-value]


def valid_area(srcs: Sequence[BandSource], crs: Any) -> Any:
    """The area the sources cover, in ``crs``: the union of their extents grown by 1 % (and at
    least 2 pixels) on each side, edges densified before the CRS change (finite points only).
    """
    import numpy as np
    import shapely

    seen: set[tuple[Any, ...]] = set()
    parts = []
    for s in srcs:
        lv = s.levels[0]
        key = (str(s.crs), lv.transform, lv.width, lv.height)
        if key in seen:
            continue
        seen.add(key)
        minx, miny, maxx, maxy = s.grid().bounds
        gx = max((maxx - minx) * 0.01, 2 * abs(lv.transform[0]))
        gy = max((maxy - miny) * 0.01, 2 * abs(lv.transform[4]))
        minx, maxx, miny, maxy = minx - gx, maxx + gx, miny - gy, maxy + gy
        t = np.linspace(0.0, 1.0, _SAMPLES)
        xs = np.concatenate([minx + (maxx - minx) * t, np.full(_SAMPLES, maxx),
                             maxx - (maxx - minx) * t, np.full(_SAMPLES, minx)])  # fmt: skip
        ys = np.concatenate([np.full(_SAMPLES, miny), miny + (maxy - miny) * t,
                             np.full(_SAMPLES, maxy), maxy - (maxy - miny) * t])  # fmt: skip
        if not same_crs(s.crs, crs):
            xs, ys = transformer(s.crs, crs).transform(xs, ys)
        ok = np.isfinite(xs) & np.isfinite(ys)
        if ok.sum() < 3:
            continue
        ring = shapely.Polygon(np.column_stack([xs[ok], ys[ok]]))
        parts.append(ring if ring.is_valid else ring.convex_hull)
    if not parts:
        return shapely.GeometryCollection()
    return shapely.union_all(parts)
