"""GDAL-written COG / GeoTIFF fixtures (via rasterio), shared by every package's tests.

``write_cog`` writes through GDAL's GTiff or COG driver so the oracle (rasterio / GDAL) and the
file always agree; ``sample_array`` makes imagery-like data (a smooth field plus noise) so that
codecs and predictors behave as on real rasters.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_TRANSFORM",
    "GTIFF_BE",
    "GTIFF_BE_PLANAR",
    "GTIFF_PLANAR",
    "sample_array",
    "write_cog",
]

#: (a, b, c, d, e, f): a 10 m UTM-like grid (zone 33N false easting region).
DEFAULT_TRANSFORM = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)

#: Options of layouts GDAL's COG driver does not write (so the GTiff driver writes them):
#: big-endian byte order, band-interleaved (planar) samples, and both.
GTIFF_BE: dict[str, Any] = {"driver": "GTiff", "endianness": "BIG"}
GTIFF_PLANAR: dict[str, Any] = {"driver": "GTiff", "interleave": "BAND"}
GTIFF_BE_PLANAR: dict[str, Any] = {**GTIFF_BE, **GTIFF_PLANAR}


def sample_array(dtype: Any, bands: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A realistic ``(bands, height, width)`` array: smooth field + noise, using the dtype's range.

    Integer types span a good part of their range (negative values for signed types); floats
    are scaled reflectance-like values with a few decimals of noise.
    """
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((bands, height, width), dtype=dt)
    for b in range(bands):
        fx, fy = rng.uniform(0.5, 3.0, 2) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi, 2)
        field = (
            0.5
            + 0.25 * np.sin(fx * xx / max(width, 1) + phase[0])
            + 0.25 * np.cos(fy * yy / max(height, 1) + phase[1])
        )
        if dt.kind in "ui":
            info = np.iinfo(dt)
            lo = max(info.min, -(2**40))
            hi = min(info.max, 2**40)
            span = (hi - lo) * (0.9 if dt.kind == "u" else 0.8)
            # Sensor-like noise: ~0.2 % of the range, at least ~2 levels.
            sigma = max(0.002, 2.0 / span)
        else:
            sigma = 0.002
        field = np.clip(field + rng.normal(0.0, sigma, size=(height, width)), 0.0, 1.0)
        if dt.kind in "ui":
            vals = lo + (hi - lo) * 0.05 + field * span
            out[b] = np.clip(np.round(vals), info.min, info.max).astype(dt)
        elif dt.kind == "f":
            scale = 1000.0 if dt.itemsize > 2 else 100.0
            out[b] = (field * scale - scale * 0.1).astype(dt)
        else:
            raise TypeError(f"unsupported dtype {dt}")
    return out


def _to_affine(transform: Any) -> Any:
    from rasterio.transform import Affine

    if transform is None:
        return Affine(*DEFAULT_TRANSFORM)
    if isinstance(transform, Affine):
        return transform
    return Affine(*tuple(transform)[:6])


def write_cog(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    crs: Any = "EPSG:32633",
    transform: Any = None,
    driver: str = "COG",
    compress: str | None = "DEFLATE",
    predictor: int | str | None = None,
    blocksize: int = 256,
    nodata: float | int | None = None,
    bigtiff: bool = False,
    interleave: str = "PIXEL",
    overviews: bool | int = True,
    endianness: str = "LITTLE",
    mask: np.ndarray | None = None,
    **creation_options: Any,
) -> Path:
    """Write ``data`` (``(bands, h, w)``) as a tiled GeoTIFF with GDAL and return the path.

    Args:
        path: Output file.
        data: Pixel values, ``(bands, height, width)``.
        crs: Anything rasterio accepts (``"EPSG:4326"``, WKT, a PROJ string) or None.
        transform: An Affine or a 6-tuple; default :data:`DEFAULT_TRANSFORM`.
        driver: ``"COG"`` (GDAL's COG driver) or ``"GTiff"`` (tiled GTiff with internal
            overviews built afterwards; needed for ``endianness="BIG"``).
        compress: GDAL COMPRESS value (``None``/``"NONE"`` for uncompressed).
        predictor: 1/2/3 (or GDAL's YES/STANDARD/FLOATING_POINT); None = driver default.
        blocksize: Tile size (square).
        nodata: Nodata value written to GDAL_NODATA.
        bigtiff: Force BigTIFF.
        interleave: ``"PIXEL"`` (chunky) or ``"BAND"`` (planar).
        overviews: True for GDAL's automatic overviews, False for none, or a count.
        endianness: ``"LITTLE"`` or ``"BIG"`` (GTiff driver only).
        mask: Optional ``(h, w)`` validity mask (non-zero = valid) written as a GDAL internal
            mask.
        **creation_options: Extra GDAL creation options (e.g. ``nbits=12``, ``sparse_ok=True``,
            ``quality=90``, ``photometric="RGB"``, ``tiled=False`` for a stripped GTiff).
    """
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling

    path = Path(path)
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    bands, height, width = data.shape
    aff = _to_affine(transform)
    base: dict[str, Any] = {
        "width": width,
        "height": height,
        "count": bands,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": aff,
        "nodata": nodata,
    }
    opts: dict[str, Any] = {k.upper(): v for k, v in creation_options.items()}
    comp = "NONE" if compress is None else str(compress).upper()
    pred = None if predictor is None else str(predictor)
    env = {"GDAL_TIFF_INTERNAL_MASK": "YES"}

    if driver.upper() == "GTIFF":
        tiled = str(opts.pop("TILED", True)).upper() not in ("FALSE", "NO", "0")
        co: dict[str, Any] = {"COMPRESS": comp, "INTERLEAVE": interleave, "ENDIANNESS": endianness}
        if tiled:
            co.update(TILED="YES", BLOCKXSIZE=blocksize, BLOCKYSIZE=blocksize)
        if pred is not None:
            co["PREDICTOR"] = pred
        if bigtiff:
            co["BIGTIFF"] = "YES"
        co.update(opts)
        with rasterio.Env(**env), rasterio.open(path, "w", driver="GTiff", **base, **co) as dst:
            dst.write(data)
            if mask is not None:
                dst.write_mask(np.where(np.asarray(mask) != 0, 255, 0).astype("uint8"))
            if overviews:
                n = 2 if overviews is True else int(overviews)
                dst.build_overviews([2**i for i in range(1, n + 1)], Resampling.nearest)
        return path

    if driver.upper() != "COG":
        raise ValueError(f"driver must be 'COG' or 'GTiff', got {driver!r}")
    if endianness.upper() != "LITTLE":
        raise ValueError("GDAL's COG driver writes little-endian only; use driver='GTiff'")
    co = {"COMPRESS": comp, "BLOCKSIZE": blocksize}
    if interleave.upper() != "PIXEL":
        co["INTERLEAVE"] = interleave  # GDAL >= 3.11
    if pred is not None:
        co["PREDICTOR"] = pred
    if bigtiff:
        co["BIGTIFF"] = "YES"
    if overviews is False:
        co["OVERVIEWS"] = "NONE"
    elif overviews is True:
        co["OVERVIEWS"] = "AUTO"
    else:
        co["OVERVIEW_COUNT"] = int(overviews)
    co.update(opts)
    with tempfile.TemporaryDirectory(prefix="rasteret-cog-") as tmp:
        src = Path(tmp) / "src.tif"
        src_co = {
            "TILED": "YES",
            "BLOCKXSIZE": blocksize,
            "BLOCKYSIZE": blocksize,
            "INTERLEAVE": interleave,
        }
        if "NBITS" in co:
            src_co["NBITS"] = co["NBITS"]
        if "PHOTOMETRIC" in co:
            src_co["PHOTOMETRIC"] = co["PHOTOMETRIC"]
        with rasterio.Env(**env):
            with rasterio.open(src, "w", driver="GTiff", **base, **src_co) as dst:
                dst.write(data)
                if mask is not None:
                    dst.write_mask(np.where(np.asarray(mask) != 0, 255, 0).astype("uint8"))
            rasterio.shutil.copy(src, path, driver="COG", **co)
    return path
