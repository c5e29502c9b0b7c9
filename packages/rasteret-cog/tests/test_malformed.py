"""Malformed input gives a typed error (a ValueError), never a crash, hang or huge allocation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from rasteret_cog import (
    CogError,
    IncompleteHeaderError,
    TiffFormatError,
    TileDecodeError,
    TruncatedError,
    UnsupportedCompressionError,
    decode_tile,
    parse_header,
)


def _tag(path, tag_code, page=0):
    with tifffile.TiffFile(path) as tf:
        t = tf.pages[page].tags[tag_code]
        return t.offset, t.valueoffset, t.count, tf.is_bigtiff


@pytest.fixture(scope="module")
def small_cog(tmp_path_factory):
    from rasteret_testkit.cogs import sample_array, write_cog

    root = tmp_path_factory.mktemp("malformed")
    return write_cog(
        root / "small.tif", sample_array("uint16", 1, 70, 90), blocksize=32, compress="DEFLATE"
    )


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def test_not_a_tiff():
    with pytest.raises(TiffFormatError, match="not a TIFF"):
        parse_header(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    with pytest.raises(TiffFormatError, match="version"):
        parse_header(b"II\x2b\x01" + b"\x00" * 32)
    with pytest.raises(ValueError):
        parse_header(b"II*\x00\x00\x00\x00\x00", file_size=8)


def test_truncated_everywhere(small_cog):
    data = small_cog.read_bytes()
    header_end = 2048
    for n in list(range(0, 64)) + list(range(64, header_end, 37)):
        with pytest.raises(TruncatedError if n else CogError):
            parse_header(data[:n], file_size=n)
        try:
            parse_header(data[:n])
        except IncompleteHeaderError as exc:
            assert exc.start >= 0 and exc.length > 0
            assert exc.start + exc.length > n or exc.start >= 0
        else:
            assert n > 200  # only once every IFD and tag value is present


def test_truncated_file_tile_past_eof(small_cog):
    data = small_cog.read_bytes()
    with pytest.raises(TruncatedError, match="past the end"):
        parse_header(data[: len(data) - 10], file_size=len(data) - 10)


def test_tile_offset_past_eof(small_cog):
    data = small_cog.read_bytes()
    _, voff, _, _ = _tag(small_cog, 324)
    bad = _patch(data, voff, "<I", len(data) + 100)
    with pytest.raises(TruncatedError, match="tile 0"):
        parse_header(bad, file_size=len(bad))


def test_ifd_loop(small_cog):
    data = small_cog.read_bytes()
    first = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, first)[0]
    bad = _patch(data, first + 2 + 12 * n, "<I", first)
    with pytest.raises(TiffFormatError, match="loops"):
        parse_header(bad, file_size=len(bad))


def test_absurd_counts(small_cog):
    data = small_cog.read_bytes()
    first = struct.unpack_from("<I", data, 4)[0]
    with pytest.raises(TiffFormatError, match="entries"):
        parse_header(_patch(data, first, "<H", 65535), file_size=len(data))
    entry, _, _, _ = _tag(small_cog, 324)
    bad = _patch(data, entry + 4, "<I", 2**31)
    with pytest.raises(TiffFormatError, match="expected"):
        parse_header(bad, file_size=len(bad))
    entry, _, _, _ = _tag(small_cog, 258)
    with pytest.raises(TiffFormatError):
        parse_header(_patch(data, entry + 4, "<I", 2**30), file_size=len(data))


def test_zero_and_huge_sizes(small_cog):
    data = small_cog.read_bytes()
    for code in (322, 323, 256, 257):
        entry, _, _, _ = _tag(small_cog, code)
        with pytest.raises(TiffFormatError):
            parse_header(_patch(data, entry + 8, "<H", 0), file_size=len(data))
    entry, _, _, _ = _tag(small_cog, 256)
    typ = struct.unpack_from("<H", data, entry + 2)[0]
    fmt = "<H" if typ == 3 else "<I"
    with pytest.raises(TiffFormatError):
        parse_header(
            _patch(data, entry + 8, fmt, 65535 if typ == 3 else 2**31 - 1), file_size=len(data)
        )


def test_unknown_field_type_in_needed_tag(small_cog):
    data = small_cog.read_bytes()
    entry, _, _, _ = _tag(small_cog, 324)
    with pytest.raises(TiffFormatError, match="field type"):
        parse_header(_patch(data, entry + 2, "<H", 99), file_size=len(data))


def test_unknown_codec_parses_but_refuses_to_decode(small_cog):
    data = small_cog.read_bytes()
    entry, _, _, _ = _tag(small_cog, 259)
    header = parse_header(_patch(data, entry + 8, "<H", 12345), file_size=len(data))
    lv = header.levels[0]
    assert lv.compression == 12345
    with pytest.raises(UnsupportedCompressionError, match="12345"):
        decode_tile(b"\x00" * 16, lv.tile_spec)
    with pytest.raises(NotImplementedError):
        decode_tile(b"\x00" * 16, lv.tile_spec)


def test_garbage_tile_bytes(small_cog):
    header = parse_header(small_cog.read_bytes())
    spec = header.levels[0].tile_spec
    for raw in (b"\x00", b"garbage" * 50, bytes(range(256)) * 40):
        with pytest.raises(TileDecodeError):
            decode_tile(raw, spec)
    with pytest.raises(TileDecodeError):
        decode_tile(
            b"\x01" * 10,
            spec.__class__(
                **{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "compression": 1}
            ),
        )


def test_huge_value_request_is_capped():
    # A header whose TileOffsets claim ~4 GiB of values must not ask for (or allocate) them.
    from rasteret_cog import HeaderParser, ParseLimits

    path_bytes = bytearray(b"II*\x00\x08\x00\x00\x00")
    entries = [
        (256, 4, 1, 2**20),
        (257, 4, 1, 2**20),
        (322, 3, 1, 16),
        (323, 3, 1, 16),
        (324, 4, 2**32 - 1, 1000),
        (325, 4, 2**32 - 1, 2000),
    ]
    path_bytes += struct.pack("<H", len(entries))
    for tag, typ, cnt, val in entries:
        path_bytes += struct.pack("<HHII", tag, typ, cnt, val)
    path_bytes += b"\x00\x00\x00\x00"
    parser = HeaderParser(limits=ParseLimits())
    parser.feed(0, path_bytes)
    with pytest.raises(TiffFormatError):
        parser.parse()


# ---- property-based mutation of real headers (parse only) ----------------------------------


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory):
    from rasteret_testkit.cogs import sample_array, write_cog

    root = tmp_path_factory.mktemp("fuzzseeds")
    out = []
    specs = [
        dict(name="le.tif", dtype="uint8", bands=1, opts=dict(compress="DEFLATE")),
        dict(name="big.tif", dtype="int16", bands=2, opts=dict(compress="NONE", bigtiff=True)),
        dict(
            name="be.tif",
            dtype="float32",
            bands=1,
            opts=dict(driver="GTiff", endianness="BIG", interleave="BAND"),
        ),
        dict(
            name="mask.tif",
            dtype="uint8",
            bands=3,
            opts=dict(compress="JPEG", mask=np.ones((40, 48), bool)),
        ),
        dict(
            name="utm-nodata.tif",
            dtype="uint16",
            bands=1,
            opts=dict(compress="ZSTD", nodata=0, crs="+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80"),
        ),
    ]
    for s in specs:
        p = write_cog(
            root / s["name"],
            sample_array(s["dtype"], s["bands"], 40, 48),
            blocksize=16,
            **s["opts"],
        )
        out.append(p.read_bytes())
    return out


_mutation = st.tuples(
    st.integers(0, 4095), st.sampled_from([0, 1, 2, 4, 8]), st.integers(0, 2**64 - 1)
)


@settings(settings.get_profile("fuzz"), max_examples=3000)
@given(
    which=st.integers(0, 4),
    mutations=st.lists(_mutation, min_size=1, max_size=6),
    truncate=st.one_of(st.none(), st.integers(0, 4096)),
    known_size=st.booleans(),
)
def test_mutated_headers_never_crash(seed_files, mutate, which, mutations, truncate, known_size):
    seed = seed_files[which]
    data = mutate(seed, mutations, min(len(seed), 4096), truncate)
    try:
        header = parse_header(bytes(data), file_size=len(data) if known_size else None)
    except CogError as exc:
        assert isinstance(exc, ValueError)
        return
    # A successful parse must be self-consistent.
    for lv in header.ifds:
        assert (
            len(lv.tile_offsets)
            == len(lv.tile_byte_counts)
            == lv.tiles_per_plane * (lv.samples_per_pixel if lv.planar_configuration == 2 else 1)
        )
