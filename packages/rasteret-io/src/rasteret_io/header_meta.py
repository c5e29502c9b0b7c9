"""Parsed COG header -> the ``{band}_metadata`` struct of the schema contract.

This is the one mapping between ``rasteret_cog``'s header model and the collection contract:
the indexer (``rasteret_ingest``) writes what it returns and the read engine
(:mod:`rasteret_io.sources`) reads it back, so both sides can never disagree.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from rasteret_catalog.schema import BandField, LevelField
from rasteret_cog import CogHeader, Level
from rasteret_io.errors import ReadError

__all__ = ["band_metadata", "crs_sidecars", "legacy_transform", "slice_plane"]


def legacy_transform(t: tuple[float, ...]) -> list[float]:
    """Contract transform: 4 values ``[sx, tx, sy, ty]`` when axis-aligned, else the 6-tuple."""
    a, b, c, d, e, f = t
    if b == 0.0 and d == 0.0:
        return [a, c, e, f]
    return [a, b, c, d, e, f]


def slice_plane(
    offsets: Sequence[int], counts: Sequence[int], tiles_per_plane: int, band_index: int
) -> tuple[list[int], list[int]]:
    """Keep ``band_index``'s plane of a planar tile table (rasteret 0.4.1's rule).

    Planar tables hold every plane one after the other. With ``k * n`` entries (``n`` tiles per
    plane, ``k > 1``) the slice ``[i*n, (i+1)*n)`` is kept for ``band_index`` ``i`` (``i >= k``
    is an error); anything else (exactly ``n`` entries, odd lengths) is returned unchanged.
    """
    n = int(tiles_per_plane)
    total = len(offsets)
    if n <= 0 or total == n or total % n != 0:
        return list(offsets), list(counts)
    k = total // n
    if band_index >= k:
        raise ReadError(f"band_index {band_index} is out of range: the file has {k} planes")
    lo, hi = band_index * n, (band_index + 1) * n
    return list(offsets[lo:hi]), list(counts[lo:hi])


def _plane_slice(lv: Level, band_index: int | None) -> tuple[list[int], list[int]]:
    return slice_plane(lv.tile_offsets, lv.tile_byte_counts, lv.tiles_per_plane, band_index or 0)


def _level_struct(lv: Level, band_index: int | None, base: Level) -> dict[str, Any]:
    offsets, counts = _plane_slice(lv, band_index)
    t = lv.transform
    if t is None and base.transform is not None:  # masks carry no geotags: scale the base grid
        a, b, c, d, e, f = base.transform
        sx, sy = base.width / lv.width, base.height / lv.height
        t = (a * sx, b * sy, c, d * sx, e * sy, f)
    return {
        LevelField.IMAGE_WIDTH.value: lv.width,
        LevelField.IMAGE_HEIGHT.value: lv.height,
        LevelField.TILE_WIDTH.value: lv.tile_width,
        LevelField.TILE_HEIGHT.value: lv.tile_height,
        LevelField.TRANSFORM.value: legacy_transform(t) if t else None,
        LevelField.TILE_OFFSETS.value: offsets,
        LevelField.TILE_BYTE_COUNTS.value: counts,
        LevelField.COMPRESSION.value: lv.compression,
    }


def band_metadata(
    header: CogHeader,
    *,
    band_index: int | None = None,
    etag: str | None = None,
    file_size: int | None = None,
    last_modified: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``{band}_metadata`` struct (as a dict) for one band of a parsed COG.

    Args:
        header: The parsed header.
        band_index: Sample of a multi-sample COG this band reads; planar-separate tile tables
            are sliced to that plane (rasteret 0.4.1's rule), chunky ones are kept whole.
        etag: The object's ETag, when known.
        file_size: The object's size in bytes.
        last_modified: The object's last modification time (stored as naive UTC).

    Raises:
        ReadError: the image is not georeferenced or has no numpy dtype.
    """
    lv = header.full
    if not lv.is_tiled:
        raise ReadError("not a tiled TIFF (stripped images cannot be indexed)")
    if lv.transform is None:
        raise ReadError("no geotransform (ModelTiepoint/PixelScale or ModelTransformation)")
    if lv.dtype is None:
        raise ReadError(
            f"unsupported sample format {lv.sample_format} with {lv.bits_per_sample} bits per sample"
        )
    if band_index is not None and not 0 <= band_index < lv.samples_per_pixel:
        raise ReadError(
            f"band_index {band_index} is out of range: the file has {lv.samples_per_pixel} sample(s)"
        )
    offsets, counts = _plane_slice(lv, band_index)
    nodata = lv.nodata
    si = band_index or 0
    scale = lv.scales[si] if lv.scales and si < len(lv.scales) else None
    offset = lv.offsets[si] if lv.offsets and si < len(lv.offsets) else None
    mask = header.masks[0] if header.masks else None
    if last_modified is not None and last_modified.tzinfo is not None:
        last_modified = last_modified.astimezone(_dt.UTC).replace(tzinfo=None)
    pixel_scale = [abs(lv.transform[0]), abs(lv.transform[4]), 0.0]
    tiepoint = [0.0, 0.0, 0.0, lv.transform[2], lv.transform[5], 0.0]
    return {
        BandField.IMAGE_WIDTH.value: lv.width,
        BandField.IMAGE_HEIGHT.value: lv.height,
        BandField.TILE_WIDTH.value: lv.tile_width,
        BandField.TILE_HEIGHT.value: lv.tile_height,
        BandField.DTYPE.value: lv.dtype,
        BandField.TRANSFORM.value: legacy_transform(lv.transform),
        BandField.PREDICTOR.value: lv.predictor,
        BandField.COMPRESSION.value: lv.compression,
        BandField.TILE_OFFSETS.value: offsets,
        BandField.TILE_BYTE_COUNTS.value: counts,
        BandField.PIXEL_SCALE.value: pixel_scale,
        BandField.TIEPOINT.value: tiepoint,
        BandField.NODATA.value: None if nodata is None else float(nodata),
        BandField.SAMPLES_PER_PIXEL.value: lv.samples_per_pixel,
        BandField.PLANAR_CONFIGURATION.value: lv.planar_configuration,
        BandField.PHOTOMETRIC.value: lv.photometric,
        BandField.EXTRA_SAMPLES.value: list(lv.extra_samples),
        BandField.BITS_PER_SAMPLE.value: lv.bits_per_sample,
        BandField.SAMPLE_FORMAT.value: lv.sample_format,
        BandField.BYTE_ORDER.value: "big" if lv.byte_order == ">" else "little",
        BandField.JPEG_TABLES.value: lv.jpeg_tables,
        BandField.LERC_PARAMETERS.value: list(lv.lerc_parameters) if lv.lerc_parameters else None,
        BandField.SCALE.value: scale if scale is None or math.isfinite(scale) else None,
        BandField.OFFSET.value: offset if offset is None or math.isfinite(offset) else None,
        BandField.OVERVIEWS.value: [
            _level_struct(o, band_index, lv) for o in header.overviews if o.is_tiled
        ],
        BandField.MASK.value: _level_struct(mask, None, lv)
        if mask is not None and mask.is_tiled
        else None,
        BandField.ETAG.value: etag,
        BandField.FILE_SIZE.value: file_size if file_size is not None else header.file_size,
        BandField.LAST_MODIFIED.value: last_modified,
    }


def crs_sidecars(header: CogHeader) -> tuple[int | None, str | None]:
    """``(proj:epsg, crs)`` for a header: the EPSG code and ``EPSG:n``, or None and the WKT."""
    crs = header.crs
    if crs is None:
        return None, None
    if crs.epsg is not None:
        return int(crs.epsg), f"EPSG:{crs.epsg}"
    return None, crs.to_wkt()
