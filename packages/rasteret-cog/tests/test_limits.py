"""Decoder amplification is bounded: sample and size limits, and a fuzz of parse + decode.

The fuzz mutates real GDAL files (header and tile bytes), parses them and decodes tiles of every
level. Each input must end in a result or a typed ``CogError``, within a CPU-time budget, and
allocate at most a small multiple of the configured tile limit (measured with tracemalloc,
which sees numpy's and imagecodecs' output buffers).
"""

from __future__ import annotations

import struct
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasteret_cog import (
    CogError,
    LimitExceededError,
    ParseLimits,
    TiffFormatError,
    TileDecodeError,
    TileSpec,
    decode_tile,
    parse_header,
)

# ---- the limits themselves ------------------------------------------------------------------


def _tiff(entries: list[tuple[int, int, int, int]], extra: bytes = b"") -> bytes:
    """A classic little-endian TIFF with one IFD; ``extra`` follows the IFD."""
    out = bytearray(b"II*\x00\x08\x00\x00\x00")
    out += struct.pack("<H", len(entries))
    for tag, typ, cnt, val in sorted(entries):
        out += struct.pack("<HHII", tag, typ, cnt, val)
    out += b"\x00\x00\x00\x00"
    return bytes(out) + extra


def _amplifier(spp: int, planar: int = 1, tile: int = 512) -> bytes:
    """The issue's attack: a tiny header declaring one 512x512 tile of ``spp`` u16 samples."""
    n_tiles = spp if planar == 2 else 1
    head = 8 + 2 + 12 * 11 + 4
    offs_at, cnts_at = head, head + 4 * n_tiles
    tables = struct.pack(f"<{n_tiles}I", *([4096] * n_tiles))
    tables += struct.pack(f"<{n_tiles}I", *([16] * n_tiles))
    entries = [
        (256, 4, 1, tile), (257, 4, 1, tile), (258, 3, 1, 16), (259, 3, 1, 8),
        (262, 3, 1, 1), (277, 3, 1, spp), (284, 3, 1, planar), (322, 3, 1, tile),
        (323, 3, 1, tile),
        (324, 4, n_tiles, offs_at if n_tiles > 1 else 4096),
        (325, 4, n_tiles, cnts_at if n_tiles > 1 else 16),
    ]  # fmt: skip
    return _tiff(entries, tables if n_tiles > 1 else b"")


def test_interleaved_samples_are_capped():
    with pytest.raises(LimitExceededError, match="SamplesPerPixel") as info:
        parse_header(_amplifier(65535))
    assert isinstance(info.value, TiffFormatError) and isinstance(info.value, ValueError)
    assert info.value.value == 65535 and info.value.limit == ParseLimits().max_samples_per_pixel
    # A caller who knows better raises the limit; the tile size limit still applies.
    with pytest.raises(LimitExceededError, match="decoded tile size"):
        parse_header(_amplifier(65535), limits=ParseLimits(max_samples_per_pixel=65535))


def test_planar_files_may_hold_many_samples():
    header = parse_header(_amplifier(5000, planar=2))
    lv = header.full
    assert lv.samples_per_pixel == 5000 and lv.planar_configuration == 2
    assert lv.tile_spec.tile_shape == (512, 512)


def test_tile_and_image_size_limits(cog_factory):
    path = cog_factory(
        dtype="uint16", bands=3, height=96, width=80, blocksize=32, driver="GTiff", overviews=False
    )
    data = path.read_bytes()
    per_tile = 32 * 32 * 3 * 2
    assert parse_header(data, limits=ParseLimits(max_tile_bytes=per_tile)).full.tile_width == 32
    with pytest.raises(LimitExceededError, match="tile") as info:
        parse_header(data, limits=ParseLimits(max_tile_bytes=per_tile - 1))
    assert info.value.value == per_tile
    with pytest.raises(LimitExceededError, match="image"):
        parse_header(data, limits=ParseLimits(max_image_bytes=96 * 80 * 3 * 2 - 1))


def test_decode_limit_is_configurable_and_typed(cog_factory):
    path = cog_factory(
        dtype="uint16", height=64, width=64, blocksize=32, driver="GTiff", overviews=False
    )
    data = path.read_bytes()
    lv = parse_header(data).full
    raw = data[lv.tile_offsets[0] : lv.tile_offsets[0] + lv.tile_byte_counts[0]]
    assert decode_tile(raw, lv.tile_spec, max_bytes=32 * 32 * 2).shape == (32, 32)
    with pytest.raises(LimitExceededError):
        decode_tile(raw, lv.tile_spec, max_bytes=32 * 32 * 2 - 1)
    with pytest.raises(LimitExceededError):  # sparse tiles are filled: same bound
        decode_tile(b"", lv.tile_spec, max_bytes=100)
    huge = TileSpec(width=1 << 20, height=1 << 20, tile_width=1 << 16, tile_height=1 << 16,
                    dtype="float64", samples_per_pixel=8)  # fmt: skip
    with pytest.raises(LimitExceededError, match="decoded tile size"):
        decode_tile(b"\x00" * 16, huge)


def test_strips_are_bounded_when_decoded(cog_factory):
    path = cog_factory(
        dtype="uint8", height=40, width=50, driver="GTiff", tiled=False, compress="DEFLATE",
        overviews=False, blockysize=40,
    )  # fmt: skip
    data = path.read_bytes()
    lv = parse_header(data, limits=ParseLimits(max_tile_bytes=16)).full  # strips: not at parse
    assert not lv.is_tiled and lv.tile_height == 40
    raw = data[lv.tile_offsets[0] : lv.tile_offsets[0] + lv.tile_byte_counts[0]]
    with pytest.raises(LimitExceededError):
        decode_tile(raw, lv.tile_spec, max_bytes=40 * 50 - 1)
    assert decode_tile(raw, lv.tile_spec, max_bytes=40 * 50).shape == (40, 50)


def test_lerc_stream_declaring_more_values_is_refused():
    import imagecodecs

    spec = TileSpec(width=16, height=16, tile_width=16, tile_height=16, dtype="float32",
                    compression=34887, lerc_parameters=(4, 0))  # fmt: skip
    one = imagecodecs.lerc_encode(np.ones((16, 16), np.float32))
    np.testing.assert_array_equal(decode_tile(one, spec), np.ones((16, 16), np.float32))
    deep = imagecodecs.lerc_encode(np.ones((16, 16, 64), np.float32))
    with pytest.raises(TileDecodeError, match="values per pixel"):
        decode_tile(deep, spec)
    with pytest.raises(TileDecodeError, match="values per pixel"):
        decode_tile(one + one, spec)  # two bands where the tile holds one


# ---- fuzz: parse + decode, bounded in time and memory ---------------------------------------

_FUZZ_TILE_LIMIT = 1 << 20
_FUZZ_LIMITS = ParseLimits(max_tile_bytes=_FUZZ_TILE_LIMIT, max_image_bytes=64 << 20)
_CPU_BUDGET_S = 2.0
_MEMORY_FACTOR = 6  # decode buffers, a byte-swap/predictor copy, padding: a few tiles at most

SEEDS = [
    ("deflate-u8-pred2", "uint8", 1, dict(compress="DEFLATE", predictor=2)),
    ("none-i16-bigtiff", "int16", 2, dict(compress="NONE", bigtiff=True)),
    (
        "be-planar-f32-pred3",
        "float32",
        2,
        dict(driver="GTiff", endianness="BIG", interleave="BAND", predictor=3, compress="ZSTD"),
    ),
    ("jpeg-3b-mask", "uint8", 3, dict(compress="JPEG", mask=np.ones((40, 48), bool))),
    ("lerc-zstd-f32", "float32", 1, dict(compress="LERC_ZSTD")),
    (
        "lzw-strips-u16",
        "uint16",
        1,
        dict(driver="GTiff", tiled=False, compress="LZW", overviews=False, blockysize=7),
    ),
    ("nbits12-u16", "uint16", 1, dict(compress="DEFLATE", nbits=12)),
    ("webp-3b", "uint8", 3, dict(compress="WEBP", driver="GTiff", webp_lossless=True)),
    ("packbits-i8", "int8", 1, dict(compress="PACKBITS")),
]


@pytest.fixture(scope="module")
def decode_seeds(tmp_path_factory):
    from rasteret_testkit.cogs import sample_array, write_cog

    root = tmp_path_factory.mktemp("decodefuzz")
    out = []
    for name, dtype, bands, opts in SEEDS:
        p = write_cog(
            root / f"{name}.tif", sample_array(dtype, bands, 40, 48), blocksize=16, **opts
        )
        out.append(p.read_bytes())
    return out


def _decode_levels(data: bytes, header) -> None:
    for lv in header.ifds:
        if lv.dtype is None:
            continue
        spec = lv.tile_spec
        n = len(lv.tile_offsets)
        for i in sorted({0, n // 2, n - 1}):
            o, c = lv.tile_offsets[i], lv.tile_byte_counts[i]
            try:
                decode_tile(data[o : o + c], spec, max_bytes=_FUZZ_TILE_LIMIT)
            except CogError as exc:
                assert isinstance(exc, ValueError)


_mutation = st.tuples(
    st.integers(0, 1 << 16), st.sampled_from([0, 1, 2, 4, 8]), st.integers(0, 2**64 - 1)
)


@settings(settings.get_profile("fuzz"), max_examples=1500)
@given(
    which=st.integers(0, len(SEEDS) - 1),
    mutations=st.lists(_mutation, min_size=1, max_size=6),
    header_only=st.booleans(),
    truncate=st.one_of(st.none(), st.integers(0, 1 << 16)),
    known_size=st.booleans(),
)
def test_mutated_files_parse_and_decode_within_bounds(
    decode_seeds, mutate, which, mutations, header_only, truncate, known_size
):
    seed = decode_seeds[which]
    span = min(len(seed), 4096) if header_only else len(seed)
    raw = bytes(mutate(seed, mutations, span, truncate))
    tracemalloc.start()
    try:
        t0 = time.process_time()
        try:
            header = parse_header(
                raw, file_size=len(raw) if known_size else None, limits=_FUZZ_LIMITS
            )
        except CogError as exc:
            assert isinstance(exc, ValueError)
        else:
            _decode_levels(raw, header)
        cpu = time.process_time() - t0
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cpu < _CPU_BUDGET_S, f"input took {cpu:.2f} s of CPU"
    assert peak < _MEMORY_FACTOR * _FUZZ_TILE_LIMIT + (1 << 20), f"peak {peak} bytes"


@pytest.mark.parametrize(
    ("compress", "predictor"), [("deflate", 2), ("lzw", 1), ("zstd", 2), (None, 1)]
)
def test_a_scratch_buffer_decodes_what_a_fresh_one_does(cog_factory, compress, predictor):
    opts = {"compress": compress, "predictor": predictor} if compress else {}
    path = cog_factory(
        dtype="uint16", height=64, width=64, blocksize=32, driver="GTiff", overviews=False,
        **opts,
    )  # fmt: skip
    data = path.read_bytes()
    lv = parse_header(data).full
    scratch = bytearray(32 * 32 * 2)
    for i in range(len(lv.tile_offsets)):
        raw = data[lv.tile_offsets[i] : lv.tile_offsets[i] + lv.tile_byte_counts[i]]
        want = decode_tile(raw, lv.tile_spec)
        got = decode_tile(raw, lv.tile_spec, scratch=scratch)
        np.testing.assert_array_equal(got, want)
        if compress:  # inflated into the scratch buffer, not a new one
            assert np.shares_memory(got, np.frombuffer(scratch, np.uint8))
    small = decode_tile(raw, lv.tile_spec, scratch=bytearray(16))  # too small: not used
    np.testing.assert_array_equal(small, want)
