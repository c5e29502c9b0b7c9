"""Prefetch policy / request counts, the sans-I/O protocol, window planning and assembly."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from rasteret_cog import (
    ByteRange,
    HeaderParser,
    TiffFormatError,
    TileSpec,
    assemble,
    decode_tile,
    open_header,
    plan_window,
    read_header,
    read_header_async,
)
from rasteret_cog.local import read_window


def _counting_async(data: bytes, log: list):
    async def get_range(start: int, length: int) -> bytes:
        log.append((start, length))
        await asyncio.sleep(0)
        return data[start : start + length]

    return get_range


def test_typical_cog_header_in_one_request(cog_factory):
    path = cog_factory(
        dtype="uint16", bands=3, blocksize=256, height=2000, width=2000, compress="ZSTD", mask=True
    )
    data = path.read_bytes()
    log: list = []
    header, n = asyncio.run(read_header_async(_counting_async(data, log)))
    assert n == 1 and log == [(0, 65536)]
    assert header.levels[0].tile_offsets == open_header(path).levels[0].tile_offsets
    assert len(header.levels) >= 3 and all(m is not None for m in header.masks)


def test_large_header_grows_geometrically(cog_factory):
    # 16x16 tiles on 1500x1500 -> 8836 tiles per level: a ~140 KiB header.
    path = cog_factory(
        dtype="uint8", blocksize=16, height=1500, width=1500, compress="NONE", overviews=False
    )
    data = path.read_bytes()
    log: list = []
    header, n = read_header(
        lambda s, ln: (log.append((s, ln)), data[s : s + ln])[1], first_read=16384
    )
    assert n == len(log) <= 4
    assert [ln for _, ln in log][:2] == [16384, max(32768, log[1][1])]
    assert header.levels[0].tile_offsets == open_header(path).levels[0].tile_offsets


def test_short_file_learns_size(cog_factory):
    path = cog_factory(dtype="uint8", height=20, width=20, blocksize=16, overviews=False)
    data = path.read_bytes()
    assert len(data) < 65536
    header, n = read_header(lambda s, ln: data[s : s + ln])
    assert n == 1 and header.file_size == len(data)


def test_sans_io_protocol(cog_factory):
    path = cog_factory(dtype="uint16", blocksize=128)
    data = path.read_bytes()
    parser = HeaderParser(file_size=len(data))
    parser.feed(0, data[:8])
    steps = 0
    while isinstance(res := parser.parse(), ByteRange):
        assert res.length > 0 and res.end <= len(data)
        parser.feed(res.start, data[res.start : res.end])
        steps += 1
    assert steps > 1 and res.levels[0].tile_offsets == open_header(path).levels[0].tile_offsets


def test_sync_driver_refuses_async_callable():
    async def get_range(start, length):
        return b""

    with pytest.raises(TypeError):
        read_header(get_range)


@pytest.mark.parametrize(
    "opts",
    [
        dict(dtype="uint16", bands=3, blocksize=128, compress="DEFLATE", predictor=2),
        dict(
            dtype="int16",
            bands=3,
            blocksize=128,
            driver="GTiff",
            interleave="BAND",
            compress="LZW",
            endianness="BIG",
        ),
        dict(
            dtype="float32",
            bands=1,
            blocksize=64,
            compress="ZSTD",
            predictor=3,
            sparse_ok=True,
            blank_tiles=True,
            nodata=-1.0,
        ),
    ],
    ids=["chunky", "planar-be", "sparse"],
)
def test_random_windows_match_rasterio(cog_factory, opts):
    path = cog_factory(**opts)
    header = open_header(path)
    rng = np.random.default_rng(1)
    with rasterio.open(path) as src:
        for _ in range(25):
            w = int(rng.integers(1, 200))
            h = int(rng.integers(1, 200))
            c = int(rng.integers(0, src.width - 1))
            r = int(rng.integers(0, src.height - 1))
            w, h = min(w, src.width - c), min(h, src.height - r)
            bands = sorted(
                rng.choice(
                    src.count, size=int(rng.integers(1, src.count + 1)), replace=False
                ).tolist()
            )
            ref = src.read([b + 1 for b in bands], window=Window(c, r, w, h))
            ours = read_window(path, header, window=(c, r, w, h), samples=tuple(bands))
            np.testing.assert_array_equal(ours, ref)


def test_planar_tile_index_formula():
    # 100 x 70 px in 32 x 32 tiles, 3 planes
    spec = TileSpec(100, 70, 32, 32, "uint8", samples_per_pixel=3, planar_configuration=2)
    assert (spec.tiles_across, spec.tiles_down, spec.tile_count) == (4, 3, 36)
    n = spec.tile_count
    plan = plan_window(
        spec,
        40,
        33,
        30,
        10,
        samples=(2, 0),
        tile_offsets=range(1000, 1000 + n),
        tile_byte_counts=[5] * n,
    )
    # plane 2 first (output band 0), then plane 0; row 1, cols 1..2
    assert [t.index for t in plan.tiles] == [
        2 * 12 + 1 * 4 + 1,
        2 * 12 + 1 * 4 + 2,
        1 * 4 + 1,
        1 * 4 + 2,
    ]
    assert [t.out_bands for t in plan.tiles] == [(0,), (0,), (1,), (1,)]
    assert plan.tiles[0].src_rows == (1, 11) and plan.tiles[0].src_cols == (8, 32)
    assert plan.tiles[0].dst_cols == (0, 24) and plan.tiles[1].dst_cols == (24, 30)
    assert plan.shape == (2, 10, 30)
    assert plan.ranges == tuple(sorted((1000 + t.index, 5) for t in plan.tiles))


def test_boundless_window_and_sparse_fill(cog_factory):
    path = cog_factory(
        dtype="uint16", compress="ZSTD", sparse_ok=True, blank_tiles=True, nodata=7, blocksize=128
    )
    header = open_header(path)
    lv = header.levels[0]
    plan = plan_window(lv, -10, -5, 40, 20)
    assert not plan.covers_window
    assert all(t.length == 0 for t in plan.tiles)  # the blank top-left tile is sparse
    assert plan.ranges == ()
    out = assemble(plan, {})
    assert out.shape == (1, 20, 40) and (out == 7).all()
    decoded = decode_tile(b"", lv.tile_spec)
    assert decoded.shape == (128, 128) and (decoded == 7).all()
    # Entirely outside: no tiles.
    assert plan_window(lv, 10_000, 0, 5, 5).tiles == ()


def test_plan_validation():
    spec = TileSpec(width=10, height=10, tile_width=16, tile_height=16, dtype="uint8")
    with pytest.raises(TiffFormatError):
        plan_window(spec, 0, 0, 5, 5, tile_offsets=[1, 2], tile_byte_counts=[1, 2])
    with pytest.raises(TiffFormatError):
        plan_window(spec, 0, 0, 0, 5, tile_offsets=[1], tile_byte_counts=[1])
    with pytest.raises(TiffFormatError):
        plan_window(spec, 0, 0, 5, 5, samples=(1,), tile_offsets=[1], tile_byte_counts=[1])
    with pytest.raises(TypeError):
        plan_window(spec, 0, 0, 5, 5)


def test_tile_spec_from_plain_values_roundtrip(cog_factory):
    """io rebuilds specs from Parquet columns: plain values must give the same decode."""
    path = cog_factory(dtype="float32", compress="LERC_ZSTD", nodata=-9999.0, blocksize=128)
    lv = open_header(path).levels[0]
    spec = lv.tile_spec
    plain = {f.name: getattr(spec, f.name) for f in dataclasses.fields(TileSpec)}
    plain.update(
        width=int(spec.width),
        dtype=str(spec.dtype),
        jpeg_tables=None,
        lerc_parameters=list(spec.lerc_parameters),
    )
    rebuilt = TileSpec(**plain)
    assert rebuilt == spec
    raw = path.read_bytes()[lv.tile_offsets[0] : lv.tile_offsets[0] + lv.tile_byte_counts[0]]
    np.testing.assert_array_equal(decode_tile(raw, rebuilt), decode_tile(raw, spec))


def test_decode_is_thread_safe(cog_factory):
    from concurrent.futures import ThreadPoolExecutor

    path = cog_factory(dtype="uint16", bands=2, compress="DEFLATE", predictor=2, blocksize=64)
    lv = open_header(path).levels[0]
    data = path.read_bytes()
    raws = [data[o : o + c] for o, c in zip(lv.tile_offsets, lv.tile_byte_counts)]
    serial = [decode_tile(r, lv.tile_spec) for r in raws]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(3):
            par = list(ex.map(lambda r: decode_tile(r, lv.tile_spec), raws))
            for a, b in zip(serial, par):
                np.testing.assert_array_equal(a, b)


def test_short_read_before_known_eof(cog_factory):
    from rasteret_cog import IncompleteRangeError

    data = cog_factory(dtype="uint16", blocksize=128).read_bytes()
    with pytest.raises(IncompleteRangeError):
        read_header(lambda s, ln: data[s : s + ln // 2], file_size=len(data))
    with pytest.raises(OSError):
        read_header(lambda s, ln: data[s : s + ln // 2], file_size=len(data))
