"""Synthetic, deterministic Sentinel-2-like COG time series for ``rasteret demo``.

The scene is a 10.24 km x 10.24 km UTM 33N tile at 10 m (1024 x 1024 px, 2 x 2 tiles) of an agricultural
landscape: a rotated patchwork of field parcels growing crops whose red / near-infrared
reflectance follows seasonal curves (winter wheat, rapeseed, maize, sugar beet, grassland,
fallow), a meandering river with riparian trees, a forest and a small town. Each date gets
clouds (bright, with their shadows), and one date a no-data wedge at the swath edge.

Files are Cloud-Optimized GeoTIFFs written without GDAL (:mod:`rasteret.demo._tiff`): 512 px
tiles, DEFLATE + horizontal predictor, averaged internal overviews, every IFD at the start of
the file, GeoKeys (``ProjectedCSTypeGeoKey = 32633``), ``ModelPixelScale`` /
``ModelTiepoint`` and the ``GDAL_NODATA`` tag (42113). Generation is seeded: the same bytes
every run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BANDS",
    "DATES",
    "EPSG",
    "Landmarks",
    "SceneFile",
    "generate_series",
    "write_geotiff",
]

EPSG = 32633
SIZE = 1024
RES = 10.0
ORIGIN = (600_000.0, 5_810_240.0)  # upper-left corner (x, y): farmland in western Poland
TILE = 512
NODATA = 0
BANDS = ("B04", "B08")
SEED = 20240501

#: (date, target cloud fraction) across one growing season.
DATES: tuple[tuple[dt.date, float], ...] = (
    (dt.date(2024, 3, 18), 0.06),
    (dt.date(2024, 4, 12), 0.55),
    (dt.date(2024, 5, 2), 0.02),
    (dt.date(2024, 5, 22), 0.16),
    (dt.date(2024, 6, 11), 0.72),
    (dt.date(2024, 7, 1), 0.04),
    (dt.date(2024, 7, 21), 0.11),
    (dt.date(2024, 8, 10), 0.0),
    (dt.date(2024, 8, 30), 0.42),
    (dt.date(2024, 9, 19), 0.08),
    (dt.date(2024, 10, 9), 0.22),
)

# crop: (f_min, f_max, start of season doy, rise, end of season doy, fall, harvest doy or 0)
_CROPS: dict[str, tuple[float, float, float, float, float, float, float]] = {
    "winter wheat": (0.30, 0.92, 95, 12, 180, 8, 200),
    "rapeseed": (0.40, 0.90, 80, 10, 170, 8, 188),
    "maize": (0.03, 0.90, 170, 9, 262, 9, 275),
    "sugar beet": (0.03, 0.88, 150, 10, 285, 10, 0),
    "grassland": (0.55, 0.85, 85, 10, 300, 10, 0),
    "fallow": (0.08, 0.30, 110, 15, 250, 15, 0),
}
_CROP_NAMES = tuple(_CROPS)
_CROP_WEIGHTS = (0.28, 0.12, 0.22, 0.12, 0.18, 0.08)


@dataclass(frozen=True, slots=True)
class SceneFile:
    """One written GeoTIFF of the series."""

    item_id: str
    date: dt.date
    band: str
    path: Path
    cloud_cover: float


@dataclass(frozen=True, slots=True)
class Landmarks:
    """Places of the scene the demo reads (UTM 33N metres)."""

    farm: tuple[tuple[float, float], ...]
    fields: tuple[tuple[str, float, float], ...]
    transform: tuple[float, float, float, float, float, float]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid bilinearly interpolated every ``cell`` px."""
    h, w = shape
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.random((gh, gw))
    ys = np.arange(h) / cell
    xs = np.arange(w) / cell
    y0 = ys.astype(int)
    x0 = xs.astype(int)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    rows = grid[:, x0] * (1 - fx) + grid[:, x0 + 1] * fx  # (gh, w)
    return rows[y0] * (1 - fy) + rows[y0 + 1] * fy


def _fractal(
    rng: np.random.Generator, shape: tuple[int, int], cell: int, min_cell: int = 4
) -> np.ndarray:
    """Sum of value-noise octaves from ``cell`` down to ``min_cell`` px, in [0, 1]."""
    out = np.zeros(shape)
    amp, total = 1.0, 0.0
    while cell >= min_cell:
        out += amp * _smooth_noise(rng, shape, cell)
        total += amp
        amp *= 0.5
        cell //= 2
    return out / total


def _edge_distance(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Distance of each value to the nearest of the sorted ``edges``."""
    i = np.clip(np.searchsorted(edges, values), 1, len(edges) - 1)
    return np.minimum(np.abs(values - edges[i - 1]), np.abs(edges[i] - values))


def _sig(x: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


@dataclass(frozen=True, slots=True)
class _Landscape:
    cover: (
        np.ndarray
    )  # int8 class: 0 field, 1 water, 2 riparian, 3 forest, 4 town, 5 street, 6 track
    parcel: np.ndarray  # int32 parcel id (fields only meaningful where cover == 0)
    crop: np.ndarray  # crop index per parcel
    shift: np.ndarray  # per-parcel phenology shift (days)
    amp: np.ndarray  # per-parcel vigour
    soil: np.ndarray  # per-pixel soil brightness factor
    texture: np.ndarray  # per-pixel within-field variability in [-1, 1]
    landmarks: Landmarks


def _landscape(rng: np.random.Generator) -> _Landscape:
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    # parcels: strips and fields of a patchwork rotated by 14 degrees
    ang = np.deg2rad(14.0)
    u = xx * np.cos(ang) + yy * np.sin(ang) + 300
    v = -xx * np.sin(ang) + yy * np.cos(ang) + 300
    edges_u = np.cumsum(rng.integers(35, 95, 40))
    strip = np.searchsorted(edges_u, u)
    parcel = np.zeros((n, n), dtype=np.int32)
    track = np.zeros((n, n), dtype=bool)
    n_parcels = 0
    for s in range(len(edges_u) + 1):
        sel = strip == s
        if not sel.any():
            continue
        edges_v = np.cumsum(rng.integers(28, 120, 60))
        field = np.searchsorted(edges_v, v[sel])
        parcel[sel] = n_parcels + field
        n_parcels += len(edges_v) + 1
        track[sel] |= _edge_distance(v[sel], edges_v) < 1.0
    track |= _edge_distance(u, edges_u) < 1.2
    crop = rng.choice(len(_CROP_NAMES), size=n_parcels, p=_CROP_WEIGHTS)
    shift = rng.normal(0, 6, n_parcels)
    amp = rng.uniform(0.9, 1.05, n_parcels)

    cover = np.zeros((n, n), dtype=np.int8)
    cover[track] = 6
    # forest in the north-west
    forest = _fractal(rng, (n, n), 128) + 0.55 * _sig((0.3 * n - xx) / 40) * _sig(
        (0.3 * n - yy) / 40
    )
    cover[forest > 0.95] = 3
    # town in the south-west, with a street grid
    r = np.hypot(xx - 0.2 * n, yy - 0.8 * n) / (0.14 * n) + 0.35 * (_fractal(rng, (n, n), 64) - 0.5)
    town = r < 1.0
    cover[town] = 4
    streets = town & ((np.mod(xx + 0.3 * yy, 38) < 3) | (np.mod(yy - 0.2 * xx, 44) < 3))
    cover[streets] = 5
    # a meandering river, west to east, with a riparian strip (it crosses the farm's south)
    centre = 0.47 * n + 50 * np.sin(2 * np.pi * xx / 700) + 18 * np.sin(2 * np.pi * xx / 230 + 1)
    dist = np.abs(yy - centre)
    cover[dist < 13] = 2
    cover[dist < 6 + 1.5 * np.sin(xx / 37)] = 1

    soil = 0.85 + 0.3 * _fractal(rng, (n, n), 256)
    texture = 2 * _fractal(rng, (n, n), 32) - 1

    # the farm the demo reads: a ~4.5 km x 4.5 km hexagon inside the north-east tile
    x0, y0 = ORIGIN
    farm_px = ((560, 60), (780, 25), (1000, 70), (995, 480), (770, 500), (545, 455), (560, 60))
    farm = tuple((x0 + c * RES, y0 - r_ * RES) for c, r_ in farm_px)
    fields: list[tuple[str, float, float]] = []
    chosen: list[tuple[int, int]] = []
    candidates = [(cx, cy) for cy in range(110, 430, 8) for cx in range(600, 960, 8)]
    order = rng.permutation(len(candidates))
    for name in ("winter wheat", "maize", "grassland"):
        k = _CROP_NAMES.index(name)
        best = None
        for idx in order:
            cx, cy = candidates[idx]
            p = parcel[cy, cx]
            win = (slice(cy - 5, cy + 6), slice(cx - 5, cx + 6))
            if (
                crop[p] == k
                and (parcel[win] == p).all()
                and (cover[win] == 0).all()
                and all(abs(cx - ox) + abs(cy - oy) > 150 for ox, oy in chosen)
            ):
                best = (cx, cy)
                break
        if best is None:  # make one: the parcel under a fixed point of the farm
            best = (640 + 120 * len(fields), 160 + 110 * len(fields))
            crop[parcel[best[1], best[0]]] = k
        chosen.append(best)
        fields.append((name, x0 + (best[0] + 0.5) * RES, y0 - (best[1] + 0.5) * RES))
    transform = (RES, 0.0, x0, 0.0, -RES, y0)
    return _Landscape(
        cover, parcel, crop, shift, amp, soil, texture, Landmarks(farm, tuple(fields), transform)
    )


def _veg_fraction(land: _Landscape, doy: float) -> np.ndarray:
    """Green vegetation fraction per parcel on day-of-year ``doy``."""
    f = np.empty(len(land.crop))
    for k, name in enumerate(_CROP_NAMES):
        lo, hi, sos, rise, eos, fall, harvest = _CROPS[name]
        sel = land.crop == k
        t = doy + land.shift[sel]
        val = lo + (hi - lo) * (_sig((t - sos) / rise) - _sig((t - eos) / fall))
        if name == "grassland":  # mowing: sharp drops that regrow within ~3 weeks
            for cut in (145.0, 200.0, 250.0):
                val = val - 0.45 * np.exp(-np.clip(t - cut, 0, None) / 9.0) * (t >= cut)
        if harvest:
            val = np.where(t >= harvest, 0.12, val)
        f[sel] = np.clip(val * land.amp[sel], 0.0, 0.95)
    return f


def _render(land: _Landscape, date: dt.date, cloud: float, rng: np.random.Generator) -> Any:
    doy = date.timetuple().tm_yday
    n = SIZE
    fpar = _veg_fraction(land, doy)
    f = np.clip(fpar[land.parcel] + 0.06 * land.texture, 0, 0.97)
    soil_r = 1650 * land.soil * (1.0 + 0.05 * np.sin(doy / 40))
    soil_n = 2350 * land.soil
    red = soil_r * (1 - f) + 260 * f
    nir = soil_n * (1 - f) + 4600 * f
    if 105 <= doy <= 145:  # rapeseed flowering: yellow canopy, red goes up
        rape = land.crop[land.parcel] == _CROP_NAMES.index("rapeseed")
        red = np.where(rape, red + 900, red)
    season = _sig((doy - 110) / 10) - _sig((doy - 290) / 12)
    c = land.cover
    red = np.where(c == 1, 320 + 40 * land.texture, red)
    nir = np.where(c == 1, 180 + 30 * land.texture, nir)
    tree_f = 0.55 + 0.35 * season
    red = np.where(c == 2, 900 * (1 - tree_f) + 280 * tree_f, red)
    nir = np.where(c == 2, 2000 * (1 - tree_f) + 4300 * tree_f, nir)
    red = np.where(c == 3, 260 + 60 * land.texture, red)
    nir = np.where(c == 3, 2900 + 250 * land.texture + 300 * season, nir)
    urban = 1350 + 350 * land.texture
    red = np.where(c == 4, urban, red)
    nir = np.where(c == 4, urban * 1.25 + 500 * season * (land.texture > 0.2), nir)
    red = np.where(c == 5, 1100, red)
    nir = np.where(c == 5, 1250, nir)
    red = np.where(c == 6, 1500, red)
    nir = np.where(c == 6, 2100 + 900 * season, nir)
    red = red + rng.normal(0, 4, (n, n))
    nir = nir + rng.normal(0, 6, (n, n))
    # clouds (bright, soft-edged) and their shadows, covering about `cloud` of the scene
    mask = np.zeros((n, n), dtype=bool)
    if cloud > 0:
        field = _fractal(rng, (n, n), 256, min_cell=16)
        thr = np.quantile(field, 1 - cloud)
        opacity = np.clip((field - thr) / 0.04, 0, 1)
        shadow = np.roll(np.roll(opacity, 22, axis=0), 30, axis=1) * (opacity < 0.05)
        red = red * (1 - 0.55 * shadow) * (1 - opacity) + opacity * (6400 + 900 * field)
        nir = nir * (1 - 0.55 * shadow) * (1 - opacity) + opacity * (6900 + 800 * field)
        mask = opacity > 0.5
    bands = {
        "B04": np.clip(np.rint(red), 1, 10000).astype(np.uint16),
        "B08": np.clip(np.rint(nir), 1, 10000).astype(np.uint16),
    }
    if date.month == 7 and date.day < 10:  # another orbit: a no-data wedge in the west
        yy, xx = np.mgrid[0:n, 0:n]
        wedge = xx < 170 - 0.15 * yy
        for arr in bands.values():
            arr[wedge] = NODATA
    return bands, float(mask.mean())


def write_geotiff(
    path: Path,
    data: np.ndarray,
    transform: Sequence[float],
    epsg: int,
    *,
    nodata: int | None = NODATA,
    tile: int = TILE,
    factors: Sequence[int] = (2, 4, 8),
) -> Path:
    """Write ``data`` as a COG with averaged internal overviews.

    Args:
        path: Output file.
        data: 2-D array.
        transform: North-up affine ``(a, b, c, d, e, f)``.
        epsg: Projected CRS code.
        nodata: ``GDAL_NODATA`` value (ignored by the overview averaging), or None.
        tile: Tile edge in pixels.
        factors: Overview decimation factors; overviews are made while they hold more than
            one tile (as GDAL's COG driver does).

    Returns:
        ``path``.
    """
    from rasteret.demo._tiff import write_cog

    overviews = []
    for factor in factors:
        if max(data.shape) // (factor // 2) <= tile:
            break
        overviews.append(_decimate(data, factor, nodata))
    return write_cog(
        path, data, transform, epsg, nodata=nodata, tile=tile, overviews=overviews, level=4
    )


def _decimate(data: np.ndarray, factor: int, nodata: int | None) -> np.ndarray:
    """Block-average ``data`` by ``factor`` ignoring nodata (GDAL's AVERAGE resampling)."""
    h, w = (s // factor * factor for s in data.shape)
    blocks = data[:h, :w].reshape(h // factor, factor, w // factor, factor).astype(np.float64)
    valid = np.ones_like(blocks, dtype=bool) if nodata is None else blocks != nodata
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0).sum(axis=(1, 3))
    out = np.where(count > 0, np.rint(total / np.maximum(count, 1)), nodata or 0)
    return out.astype(data.dtype)


def generate_series(
    directory: Path, *, dates: Sequence[tuple[dt.date, float]] = DATES
) -> tuple[list[SceneFile], Landmarks]:
    """Write the whole series (one GeoTIFF per date and band) under ``directory``.

    Args:
        directory: Output directory (created); files go to ``{item_id}/{band}.tif``.
        dates: ``(date, target cloud fraction)`` pairs.

    Returns:
        The written files (with each date's measured cloud cover in percent) and the landmarks
        the demo reads.
    """
    rng = np.random.default_rng(SEED)
    land = _landscape(rng)
    out: list[SceneFile] = []
    for date, cloud in dates:
        bands, cover = _render(land, date, cloud, np.random.default_rng([SEED, date.toordinal()]))
        item_id = f"S2X_33UVU_{date:%Y%m%d}"
        (directory / item_id).mkdir(parents=True, exist_ok=True)
        for band in BANDS:
            path = directory / item_id / f"{band}.tif"
            write_geotiff(path, bands[band], land.landmarks.transform, EPSG)
            out.append(SceneFile(item_id, date, band, path, round(100 * cover, 2)))
    return out, land.landmarks
