"""The header -> contract mapping: columnar batches equal the per-row dicts, byte for byte."""

from __future__ import annotations

import datetime as dt
import io
from array import array

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rasteret_catalog.arrow import band_metadata_type, validate_table
from rasteret_catalog.schema import BandField, LevelField
from rasteret_cog import open_header
from rasteret_io.header_meta import (
    band_metadata,
    band_metadata_record,
    band_metadata_struct_array,
    slice_plane,
)
from rasteret_testkit.cogs import GTIFF_BE_PLANAR

# Layouts that exercise every part of the struct: overviews, internal masks, planar slicing,
# big-endian, JPEG tables, LERC parameters, nodata, BigTIFF, scales/offsets.
CASES = {
    "u16-overviews": dict(dtype="uint16", blocksize=128),
    "u8-3b-jpeg-mask": dict(dtype="uint8", bands=3, compress="JPEG", mask=True, blocksize=128),
    "u16-planar-be": dict(dtype="uint16", bands=3, blocksize=64, **GTIFF_BE_PLANAR),
    "f32-lerc-nodata": dict(dtype="float32", compress="LERC_DEFLATE", nodata=-9999.0),
    "i16-bigtiff": dict(dtype="int16", bigtiff=True, compress="NONE", nodata=-1),
    "u8-scale-offset": dict(blocksize=128, scale_offset=True),
}


def _write(cog_factory, tmp_dir, opts):
    opts = dict(opts)
    if opts.pop("scale_offset", False):
        import rasterio

        from rasteret_testkit.cogs import sample_array, write_cog

        path = write_cog(
            tmp_dir / "scaled.tif", sample_array("uint8", 1, 300, 400), driver="GTiff", **opts
        )
        with rasterio.open(path, "r+") as ds:
            ds.scales, ds.offsets = (0.5,), (10.0,)
        return path
    return cog_factory(**opts)


@pytest.fixture(scope="module")
def headers(cog_factory, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("header_meta")
    return {name: open_header(_write(cog_factory, tmp, opts)) for name, opts in CASES.items()}


def _records(headers):
    recs = []
    for i, (_name, h) in enumerate(headers.items()):
        for b in range(h.full.samples_per_pixel):
            recs.append(
                dict(
                    header=h,
                    band_index=b,
                    etag=f'"etag-{i}-{b}"' if b % 2 == 0 else None,
                    file_size=1000 + i,
                    last_modified=dt.datetime(2024, 5, 1, 12, i, tzinfo=dt.UTC) if i % 2 else None,
                )
            )
    return recs


def _parquet_bytes(arr: pa.Array) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"B_metadata": arr}), buf)
    return buf.getvalue()


def test_columnar_batch_equals_per_row_dicts(headers):
    recs = _records(headers)
    rows = [band_metadata_record(**r) for r in recs]
    rows.insert(1, None)  # a record without this band
    rows.append(None)
    dicts = [None if r is None else band_metadata(**r) for r in recs]
    dicts.insert(1, None)
    dicts.append(None)

    ours = band_metadata_struct_array(rows)
    ref = pa.array(dicts, type=band_metadata_type())
    assert ours.type == ref.type
    assert ours.validate(full=True) is None
    assert ours.to_pylist() == ref.to_pylist()
    assert ours.equals(ref)
    # What is written is identical, byte for byte.
    assert _parquet_bytes(ours) == _parquet_bytes(ref)
    problems = validate_table(pa.table({"B04_metadata": ours}))
    assert [p for p in problems if p.column.startswith("B04_metadata")] == []


def test_tile_tables_stay_arrays_and_are_sliced_per_plane(headers):
    h = headers["u16-planar-be"]
    lv = h.full
    n = lv.tiles_per_plane
    for b in range(3):
        rec = band_metadata_record(h, band_index=b)
        offs = rec[BandField.TILE_OFFSETS]
        assert isinstance(offs, array) and offs.typecode == "q"
        assert list(offs) == list(lv.tile_offsets[b * n : (b + 1) * n])
        for ov in rec[BandField.OVERVIEWS]:
            assert isinstance(ov[LevelField.TILE_OFFSETS], array)
    # The list form keeps 0.4.1's rule for plain lists too.
    offs = list(range(12))
    assert slice_plane(offs, offs, 4, 2) == ([8, 9, 10, 11], [8, 9, 10, 11])


def test_empty_and_all_null_batches():
    assert len(band_metadata_struct_array([])) == 0
    arr = band_metadata_struct_array([None, None])
    assert arr.null_count == 2 and arr.type == band_metadata_type()
    assert arr.equals(pa.array([None, None], type=band_metadata_type()))


def test_flat_buffers_not_rows(headers):
    # The values of a tile-table column are the concatenated tables, in row order.
    h = headers["u16-overviews"]
    rows = [band_metadata_record(h) for _ in range(3)]
    col = band_metadata_struct_array(rows).field(BandField.TILE_OFFSETS.value)
    flat = np.asarray(col.values)
    np.testing.assert_array_equal(flat, np.tile(np.frombuffer(h.full.tile_offsets, np.int64), 3))


def test_large_uncompressed_strips_are_indexed_as_row_blocks(cog_factory):
    import rasterio

    from rasteret_cog import TileSpec, decode_tile
    from rasteret_io.header_meta import STRIP_BLOCK_BYTES

    # 1,400 rows of 600 bytes in strips of 600 rows (360 KB each, the last one 200 rows).
    strips = dict(tiled=False, blockysize=600, compress="NONE")
    path = cog_factory(height=1400, width=300, driver="GTiff", overviews=False, **strips)
    h = open_header(path)
    assert h.full.tile_height == 600 and STRIP_BLOCK_BYTES < 600 * 600
    rec = band_metadata_record(h)
    k = rec[BandField.TILE_HEIGHT]
    assert k == 300  # the largest divisor of 600 whose block fits in 256 KiB
    offs, cnts = rec[BandField.TILE_OFFSETS], rec[BandField.TILE_BYTE_COUNTS]
    assert len(offs) == -(-1400 // k) and sum(cnts) == sum(h.full.tile_byte_counts)
    spec = TileSpec(width=300, height=1400, tile_width=300, tile_height=k, dtype="uint16")
    data = path.read_bytes()
    with rasterio.open(path) as src:
        ref = src.read(1)
    for i, (o, c) in enumerate(zip(offs, cnts, strict=True)):
        tile = decode_tile(data[o : o + c], spec)
        rows = min(k, 1400 - i * k)
        np.testing.assert_array_equal(tile[:rows], ref[i * k : i * k + rows])
