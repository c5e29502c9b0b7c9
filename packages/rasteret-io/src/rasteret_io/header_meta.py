"""Parsed COG header -> the ``{band}_metadata`` struct of the schema contract.

This is the one mapping between ``rasteret_cog``'s header model and the collection contract:
the indexer (``rasteret_ingest``) writes what it returns and the read engine
(:mod:`rasteret_io.sources`) reads it back, so both sides can never disagree.

- :func:`band_metadata_record` maps one (header, band) to the struct's values, keeping tile
  tables as the parser's int64 arrays;
- :func:`band_metadata_struct_array` turns a batch of those records into the Arrow column in
  one pass: tile tables are concatenated into one flat buffer per list column (offsets +
  values), with no Python object per tile;
- :func:`band_metadata` is the same record as plain Python values (lists, dicts), for callers
  that build rows one at a time.

Stripped images are indexed like tiled ones: a strip is a full-width tile
(``tile_width = image_width``, ``tile_height = RowsPerStrip``), and
:class:`rasteret_cog.TileSpec` decodes full-width tiles allowing the shorter last strip, so a
reader needs no extra field to read them; a window fetches only the strips it crosses.
Uncompressed strips over :data:`STRIP_BLOCK_BYTES` are stored as blocks of whole rows.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import math
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any, TypedDict, Unpack

import pyarrow as pa

from rasteret_catalog.arrow import band_metadata_type
from rasteret_catalog.schema import BandField, LevelField
from rasteret_cog import CogHeader, Level
from rasteret_io.errors import ReadError

__all__ = [
    "band_metadata",
    "band_metadata_record",
    "band_metadata_struct_array",
    "crs_sidecars",
    "legacy_transform",
    "slice_plane",
]


# Field names as plain strings (an enum's .value costs a descriptor call per use, per record).
_B_BITS_PER_SAMPLE = BandField.BITS_PER_SAMPLE.value
_B_BYTE_ORDER = BandField.BYTE_ORDER.value
_B_COMPRESSION = BandField.COMPRESSION.value
_B_DTYPE = BandField.DTYPE.value
_B_ETAG = BandField.ETAG.value
_B_EXTRA_SAMPLES = BandField.EXTRA_SAMPLES.value
_B_FILE_SIZE = BandField.FILE_SIZE.value
_B_IMAGE_HEIGHT = BandField.IMAGE_HEIGHT.value
_B_IMAGE_WIDTH = BandField.IMAGE_WIDTH.value
_B_JPEG_TABLES = BandField.JPEG_TABLES.value
_B_LAST_MODIFIED = BandField.LAST_MODIFIED.value
_B_LERC_PARAMETERS = BandField.LERC_PARAMETERS.value
_B_MASK = BandField.MASK.value
_B_NODATA = BandField.NODATA.value
_B_OFFSET = BandField.OFFSET.value
_B_OVERVIEWS = BandField.OVERVIEWS.value
_B_PHOTOMETRIC = BandField.PHOTOMETRIC.value
_B_PIXEL_SCALE = BandField.PIXEL_SCALE.value
_B_PLANAR_CONFIGURATION = BandField.PLANAR_CONFIGURATION.value
_B_PREDICTOR = BandField.PREDICTOR.value
_B_SAMPLES_PER_PIXEL = BandField.SAMPLES_PER_PIXEL.value
_B_SAMPLE_FORMAT = BandField.SAMPLE_FORMAT.value
_B_SCALE = BandField.SCALE.value
_B_TIEPOINT = BandField.TIEPOINT.value
_B_TILE_BYTE_COUNTS = BandField.TILE_BYTE_COUNTS.value
_B_TILE_HEIGHT = BandField.TILE_HEIGHT.value
_B_TILE_OFFSETS = BandField.TILE_OFFSETS.value
_B_TILE_WIDTH = BandField.TILE_WIDTH.value
_B_TRANSFORM = BandField.TRANSFORM.value
_L_COMPRESSION = LevelField.COMPRESSION.value
_L_IMAGE_HEIGHT = LevelField.IMAGE_HEIGHT.value
_L_IMAGE_WIDTH = LevelField.IMAGE_WIDTH.value
_L_TILE_BYTE_COUNTS = LevelField.TILE_BYTE_COUNTS.value
_L_TILE_HEIGHT = LevelField.TILE_HEIGHT.value
_L_TILE_OFFSETS = LevelField.TILE_OFFSETS.value
_L_TILE_WIDTH = LevelField.TILE_WIDTH.value
_L_TRANSFORM = LevelField.TRANSFORM.value
_TABLES = (_B_TILE_OFFSETS, _B_TILE_BYTE_COUNTS)


def legacy_transform(t: tuple[float, ...]) -> list[float]:
    """Contract transform: 4 values ``[sx, tx, sy, ty]`` when axis-aligned, else the 6-tuple."""
    a, b, c, d, e, f = t
    if b == 0.0 and d == 0.0:
        return [a, c, e, f]
    return [a, b, c, d, e, f]


def slice_plane(
    offsets: Sequence[int], counts: Sequence[int], tiles_per_plane: int, band_index: int
) -> tuple[Sequence[int], Sequence[int]]:
    """Keep ``band_index``'s plane of a planar tile table (rasteret 0.4.1's rule).

    Planar tables hold every plane one after the other. With ``k * n`` entries (``n`` tiles per
    plane, ``k > 1``) the slice ``[i*n, (i+1)*n)`` is kept for ``band_index`` ``i`` (``i >= k``
    is an error); anything else (exactly ``n`` entries, odd lengths) is returned whole, as the
    very same objects (tables are read-only; no copy). The result has the input's type (a list
    for lists, an int64 ``array`` for the parser's tables).
    """
    n = int(tiles_per_plane)
    total = len(offsets)
    if n <= 0 or total == n or total % n != 0:
        return offsets, counts
    k = total // n
    if band_index >= k:
        raise ReadError(f"band_index {band_index} is out of range: the file has {k} planes")
    lo, hi = band_index * n, (band_index + 1) * n
    return offsets[lo:hi], counts[lo:hi]


def _plane_slice(lv: Level, band_index: int | None) -> tuple[Sequence[int], Sequence[int]]:
    return slice_plane(lv.tile_offsets, lv.tile_byte_counts, lv.tiles_per_plane, band_index or 0)


#: Uncompressed strips larger than this are indexed as row blocks of at most this size.
STRIP_BLOCK_BYTES = 256 * 1024


def _block_rows(rows_per_strip: int, strips: int, row_bytes: int) -> int:
    """Rows per block: as many as fit in :data:`STRIP_BLOCK_BYTES`, dividing the strip height
    when there are several strips (so no block straddles two strips)."""
    most = max(1, STRIP_BLOCK_BYTES // row_bytes)
    if strips == 1:
        return min(most, rows_per_strip)
    best, d = 1, 1
    while d * d <= rows_per_strip:
        if rows_per_strip % d == 0:
            for k in (d, rows_per_strip // d):
                if best < k <= most:
                    best = k
        d += 1
    return best


def _tables(lv: Level, band_index: int | None) -> tuple[int, Sequence[int], Sequence[int]]:
    """``(tile_height, offsets, counts)`` of the band's plane as the collection stores them.

    Uncompressed strips are stored bytes, row after row: a large one (a single-strip image
    from many non-GDAL writers) is indexed as blocks of whole rows, each a full-width tile at
    its byte offset, so a window fetches and decodes only the rows around it, as GDAL reads
    such files. Everything else is stored as in the file.
    """
    offsets, counts = _plane_slice(lv, band_index)
    th = lv.tile_height
    spt = lv.samples_per_pixel if lv.planar_configuration == 1 else 1
    row_bytes = -(-lv.width * spt * lv.bits_per_sample // 8)
    strips = len(offsets)
    if (
        lv.is_tiled
        or lv.compression != 1
        or th * row_bytes <= STRIP_BLOCK_BYTES
        or strips != -(-lv.height // th)
    ):
        return th, offsets, counts
    import numpy as np  # only for this rare layout

    k = _block_rows(th, strips, row_bytes)
    per_strip = -(-th // k)
    rows = np.minimum(th, lv.height - np.arange(strips, dtype=np.int64) * th)  # rows per strip
    j = np.arange(per_strip, dtype=np.int64)
    start_row = j[None, :] * k  # first row of each block inside its strip
    keep = (start_row < rows[:, None]).ravel()
    offs = np.asarray(offsets, dtype=np.int64)
    cnts = np.asarray(counts, dtype=np.int64)
    block_off = offs[:, None] + start_row * row_bytes
    want = np.minimum(k, rows[:, None] - start_row) * row_bytes
    have = np.clip(cnts[:, None] - start_row * row_bytes, 0, None)  # short strips stay short
    block_cnt = np.minimum(want, have)
    block_off = np.where(block_cnt > 0, block_off, 0)  # sparse strips stay sparse
    out_off = array("q", block_off.ravel()[keep].tobytes())
    out_cnt = array("q", block_cnt.ravel()[keep].tobytes())
    return k, out_off, out_cnt


def _level_struct(lv: Level, band_index: int | None, base: Level) -> dict[str, Any]:
    th, offsets, counts = _tables(lv, band_index)
    t = lv.transform
    if t is None and base.transform is not None:  # masks carry no geotags: scale the base grid
        a, b, c, d, e, f = base.transform
        sx, sy = base.width / lv.width, base.height / lv.height
        t = (a * sx, b * sy, c, d * sx, e * sy, f)
    return {
        _L_IMAGE_WIDTH: lv.width,
        _L_IMAGE_HEIGHT: lv.height,
        _L_TILE_WIDTH: lv.tile_width,
        _L_TILE_HEIGHT: th,
        _L_TRANSFORM: legacy_transform(t) if t else None,
        _L_TILE_OFFSETS: offsets,
        _L_TILE_BYTE_COUNTS: counts,
        _L_COMPRESSION: lv.compression,
    }


def band_metadata_record(
    header: CogHeader,
    *,
    band_index: int | None = None,
    etag: str | None = None,
    file_size: int | None = None,
    last_modified: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``{band}_metadata`` values of one band, tile tables kept as int64 arrays.

    Keys are the contract's field names; ``overviews`` is a list and ``mask`` a dict (or None)
    of level values, whose tile tables are arrays too. Feed a batch of these to
    :func:`band_metadata_struct_array`.

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
    th, offsets, counts = _tables(lv, band_index)
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
        _B_IMAGE_WIDTH: lv.width,
        _B_IMAGE_HEIGHT: lv.height,
        _B_TILE_WIDTH: lv.tile_width,
        _B_TILE_HEIGHT: th,
        _B_DTYPE: lv.dtype,
        _B_TRANSFORM: legacy_transform(lv.transform),
        _B_PREDICTOR: lv.predictor,
        _B_COMPRESSION: lv.compression,
        _B_TILE_OFFSETS: offsets,
        _B_TILE_BYTE_COUNTS: counts,
        _B_PIXEL_SCALE: pixel_scale,
        _B_TIEPOINT: tiepoint,
        _B_NODATA: None if nodata is None else float(nodata),
        _B_SAMPLES_PER_PIXEL: lv.samples_per_pixel,
        _B_PLANAR_CONFIGURATION: lv.planar_configuration,
        _B_PHOTOMETRIC: lv.photometric,
        _B_EXTRA_SAMPLES: list(lv.extra_samples),
        _B_BITS_PER_SAMPLE: lv.bits_per_sample,
        _B_SAMPLE_FORMAT: lv.sample_format,
        _B_BYTE_ORDER: "big" if lv.byte_order == ">" else "little",
        _B_JPEG_TABLES: lv.jpeg_tables,
        _B_LERC_PARAMETERS: list(lv.lerc_parameters) if lv.lerc_parameters else None,
        _B_SCALE: scale if scale is None or math.isfinite(scale) else None,
        _B_OFFSET: offset if offset is None or math.isfinite(offset) else None,
        _B_OVERVIEWS: [_level_struct(o, band_index, lv) for o in header.overviews],
        _B_MASK: None if mask is None else _level_struct(mask, None, lv),
        _B_ETAG: etag,
        _B_FILE_SIZE: file_size if file_size is not None else header.file_size,
        _B_LAST_MODIFIED: last_modified,
    }


def _as_lists(level: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(level)
    for name in _TABLES:
        t = out[name]
        out[name] = t.tolist() if isinstance(t, array) else list(t)
    return out


class _BandKeywords(TypedDict, total=False):
    """The keywords of :func:`band_metadata_record` after the header."""

    band_index: int | None
    etag: str | None
    file_size: int | None
    last_modified: _dt.datetime | None


def band_metadata(header: CogHeader, **band: Unpack[_BandKeywords]) -> dict[str, Any]:
    """The ``{band}_metadata`` struct (as a dict of plain Python values) for one band.

    The same values as :func:`band_metadata_record` with tile tables as lists; keywords and
    errors as there.
    """
    rec = _as_lists(band_metadata_record(header, **band))
    rec[_B_OVERVIEWS] = [_as_lists(o) for o in rec[_B_OVERVIEWS]]
    mask = rec[_B_MASK]
    rec[_B_MASK] = None if mask is None else _as_lists(mask)
    return rec


# help() and inspect show the keywords themselves (type checkers read them from _BandKeywords)
band_metadata.__signature__ = inspect.signature(band_metadata_record)  # type: ignore[attr-defined]


def _int64_lists(
    tables: Sequence[Sequence[int] | None], list_type: pa.DataType, mask: pa.Array | None
) -> pa.Array:
    """A ``list<int64>`` array from per-row tables: one flat buffer, offsets from the lengths."""
    offsets = array("i", [0])
    offsets.extend(accumulate(len(t) if t is not None else 0 for t in tables))
    if offsets[-1] >= 1 << 31:
        raise ReadError(f"{offsets[-1]} tile table entries in one batch (at most 2**31 - 1)")
    chunks = [t if isinstance(t, array) else array("q", t) for t in tables if t]
    values = pa.Array.from_buffers(pa.int64(), offsets[-1], [None, pa.py_buffer(b"".join(chunks))])
    return pa.ListArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)]),
        values,
        type=list_type,
        mask=mask,
    )


def _null_mask(rows: Sequence[Mapping[str, Any] | None]) -> pa.Array | None:
    if all(r is not None for r in rows):
        return None
    return pa.array([r is None for r in rows], pa.bool_())


def _struct_array(rows: Sequence[Mapping[str, Any] | None], struct_type: pa.StructType) -> pa.Array:
    mask = _null_mask(rows)
    children = []
    for f in struct_type:
        name = f.name
        if name in _TABLES:
            children.append(_int64_lists([r[name] if r else None for r in rows], f.type, mask))
        elif name == _B_OVERVIEWS:
            levels = [o for r in rows if r for o in r[name]]
            lengths = array("i", [0])
            lengths.extend(accumulate(len(r[name]) if r else 0 for r in rows))
            children.append(
                pa.ListArray.from_arrays(
                    pa.array(lengths, pa.int32()),
                    _struct_array(levels, f.type.value_type),
                    type=f.type,
                    mask=mask,
                )
            )
        elif name == _B_MASK:
            children.append(_struct_array([r[name] if r else None for r in rows], f.type))
        else:
            children.append(pa.array([r[name] if r else None for r in rows], type=f.type))
    return pa.StructArray.from_arrays(children, fields=list(struct_type), mask=mask)


def band_metadata_struct_array(records: Sequence[Mapping[str, Any] | None]) -> pa.StructArray:
    """The ``{band}_metadata`` Arrow column of a batch of :func:`band_metadata_record` values.

    ``None`` entries become null structs. Tile tables of every row and level are joined into
    one int64 buffer per list column and wrapped with offsets computed from their lengths, so
    the cost does not depend on the number of tiles beyond a memory copy.

    Returns:
        An array of the contract's ``{band}_metadata`` type, equal to
        ``pa.array([band_metadata(...) ...], type=band_metadata_type())``.
    """
    arr = _struct_array(records, band_metadata_type())
    assert isinstance(arr, pa.StructArray)
    return arr


def crs_sidecars(header: CogHeader) -> tuple[int | None, str | None]:
    """``(proj:epsg, crs)`` for a header: the EPSG code and ``EPSG:n``, or None and the WKT."""
    crs = header.crs
    if crs is None:
        return None, None
    if crs.epsg is not None:
        return int(crs.epsg), f"EPSG:{crs.epsg}"
    return None, crs.to_wkt()
