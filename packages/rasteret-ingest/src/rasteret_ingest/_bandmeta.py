"""Turn a parsed COG header into one ``{band}_metadata`` struct value (a dict).

Field names come from :class:`~rasteret_catalog.schema.BandField` / ``LevelField``. Planar
(``PlanarConfiguration=2``) tile tables hold every plane one after the other; each band keeps
only its own plane (§6.3 of the 0.4.1 reference):

- ``k * n`` entries (``n`` tiles per plane, ``k > 1``): the slice ``[i*n, (i+1)*n)`` for
  ``band_index`` ``i``; ``i >= k`` is an error;
- anything else (exactly ``n`` entries, chunky files, odd lengths): unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rasteret_catalog.schema import BandField, LevelField
from rasteret_cog import CogHeader, Level
from rasteret_ingest._source import ObjectInfo
from rasteret_ingest.errors import UnusableHeaderError

__all__ = ["header_to_band_metadata", "slice_plane", "transform_values"]


def slice_plane(
    offsets: Sequence[int], counts: Sequence[int], tiles_per_plane: int, band_index: int
) -> tuple[list[int], list[int]]:
    """Keep ``band_index``'s plane of a planar tile table (rule in the module docstring)."""
    n = int(tiles_per_plane)
    total = len(offsets)
    if n <= 0 or total == n or total % n != 0:
        return list(offsets), list(counts)
    k = total // n
    if band_index >= k:
        raise UnusableHeaderError(
            f"band_index {band_index} is out of range: the file has {k} planes"
        )
    lo, hi = band_index * n, (band_index + 1) * n
    return list(offsets[lo:hi]), list(counts[lo:hi])


def transform_values(level: Level) -> list[float] | None:
    """``[sx, tx, sy, ty]`` for axis-aligned grids, the 6-value GDAL affine otherwise."""
    t = level.transform
    if t is None:
        return None
    a, b, c, d, e, f = (float(v) for v in t)
    if b == 0.0 and d == 0.0:
        return [a, c, e, f]
    return [a, b, c, d, e, f]


def _level_dict(level: Level, band_index: int) -> dict[str, Any]:
    offsets, counts = slice_plane(
        level.tile_offsets, level.tile_byte_counts, level.tiles_per_plane, band_index
    )
    return {
        LevelField.IMAGE_WIDTH: level.width,
        LevelField.IMAGE_HEIGHT: level.height,
        LevelField.TILE_WIDTH: level.tile_width,
        LevelField.TILE_HEIGHT: level.tile_height,
        LevelField.TRANSFORM: transform_values(level),
        LevelField.TILE_OFFSETS: offsets,
        LevelField.TILE_BYTE_COUNTS: counts,
    }


def _nodata(value: int | float | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):
        return None


def _pick(values: Sequence[float] | None, index: int) -> float | None:
    if not values or index >= len(values):
        return None
    v = float(values[index])
    return None if math.isnan(v) else v


def header_to_band_metadata(
    header: CogHeader, band_index: int = 0, info: ObjectInfo | None = None
) -> dict[str, Any]:
    """Build the ``{band}_metadata`` value for sample ``band_index`` of ``header``.

    Raises:
        UnusableHeaderError: stripped image, no geotransform, unsupported sample type or a band
            index beyond the file's samples.
    """
    lv = header.full
    if not lv.is_tiled:
        raise UnusableHeaderError("not a tiled TIFF (stripped images cannot be indexed)")
    if lv.dtype is None:
        raise UnusableHeaderError(
            f"unsupported sample format {lv.sample_format} with {lv.bits_per_sample} bits"
        )
    transform = transform_values(lv)
    if transform is None:
        raise UnusableHeaderError(
            "no geotransform (ModelTiepoint/PixelScale or ModelTransformation)"
        )
    if band_index < 0 or band_index >= lv.samples_per_pixel:
        raise UnusableHeaderError(
            f"band_index {band_index} is out of range: the file has {lv.samples_per_pixel} sample(s)"
        )
    offsets, counts = slice_plane(
        lv.tile_offsets, lv.tile_byte_counts, lv.tiles_per_plane, band_index
    )
    a, b, c, d, e, f = lv.transform  # type: ignore[misc]
    axis_aligned = b == 0.0 and d == 0.0
    overviews = [_level_dict(o, band_index) for o in header.overviews if o.is_tiled]
    mask = header.masks[0] if header.masks else None
    return {
        BandField.IMAGE_WIDTH: lv.width,
        BandField.IMAGE_HEIGHT: lv.height,
        BandField.TILE_WIDTH: lv.tile_width,
        BandField.TILE_HEIGHT: lv.tile_height,
        BandField.DTYPE: lv.dtype,
        BandField.TRANSFORM: transform,
        BandField.PREDICTOR: lv.predictor,
        BandField.COMPRESSION: lv.compression,
        BandField.TILE_OFFSETS: offsets,
        BandField.TILE_BYTE_COUNTS: counts,
        # Derived from the geotransform (GeoTIFF ModelPixelScale / ModelTiepoint layout).
        BandField.PIXEL_SCALE: [float(a), float(-e), 0.0] if axis_aligned else None,
        BandField.TIEPOINT: [0.0, 0.0, 0.0, float(c), float(f), 0.0] if axis_aligned else None,
        BandField.NODATA: _nodata(lv.nodata),
        BandField.SAMPLES_PER_PIXEL: lv.samples_per_pixel,
        BandField.PLANAR_CONFIGURATION: lv.planar_configuration,
        BandField.PHOTOMETRIC: lv.photometric,
        BandField.EXTRA_SAMPLES: list(lv.extra_samples),
        BandField.BITS_PER_SAMPLE: lv.bits_per_sample,
        BandField.SAMPLE_FORMAT: lv.sample_format,
        BandField.BYTE_ORDER: "big" if lv.byte_order == ">" else "little",
        BandField.JPEG_TABLES: lv.jpeg_tables,
        BandField.LERC_PARAMETERS: list(lv.lerc_parameters) if lv.lerc_parameters else None,
        BandField.SCALE: _pick(lv.scales, band_index),
        BandField.OFFSET: _pick(lv.offsets, band_index),
        BandField.OVERVIEWS: overviews,
        BandField.MASK: _level_dict(mask, 0) if mask is not None and mask.is_tiled else None,
        BandField.ETAG: info.etag if info else None,
        BandField.FILE_SIZE: (info.size if info and info.size is not None else header.file_size),
        BandField.LAST_MODIFIED: info.last_modified if info else None,
    }
