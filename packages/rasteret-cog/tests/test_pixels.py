"""Decoded pixels equal GDAL's (rasterio) reads, across the codec x dtype x layout matrix."""

from __future__ import annotations

import numpy as np
import pytest

from rasteret_testkit.cogs import GTIFF_BE, GTIFF_BE_PLANAR, GTIFF_PLANAR

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

# Image 300 x 400 with 128/256 tiles: edge tiles are partial in both directions.
# Each case: id -> (cog_factory options). Pairwise-style coverage: every codec with each
# relevant dtype at least once, predictors on the dtypes GDAL allows, and the layout dimensions
# (tile size, bands, interleave, nodata, BigTIFF, endianness, masks, sparse, strips) spread over
# the codec cases.
CASES: dict[str, dict] = {
    # --- uncompressed, every dtype
    "none-u8-3b-pixel": dict(dtype="uint8", bands=3, compress="NONE", blocksize=128),
    "none-i8": dict(dtype="int8", compress="NONE", nodata=-5),
    "none-u16-bigtiff": dict(dtype="uint16", compress="NONE", bigtiff=True),
    "none-i16-be": dict(dtype="int16", compress="NONE", **GTIFF_BE),
    "none-u32-2b": dict(dtype="uint32", bands=2, compress="NONE", blocksize=128),
    "none-i32-be-planar": dict(dtype="int32", bands=2, compress="NONE", **GTIFF_BE_PLANAR),
    "none-f32-nan": dict(dtype="float32", compress="NONE", nodata=float("nan")),
    "none-f64-be": dict(dtype="float64", compress="NONE", blocksize=128, **GTIFF_BE),
    "none-i64": dict(dtype="int64", compress="NONE", driver="GTiff", blocksize=128),
    "none-u64-be": dict(dtype="uint64", compress="NONE", blocksize=128, **GTIFF_BE),
    # --- deflate
    "deflate-u8-pred2": dict(dtype="uint8", compress="DEFLATE", predictor=2, nodata=0),
    "deflate-u16": dict(dtype="uint16", compress="DEFLATE", blocksize=128),
    "deflate-i16-pred2-3b": dict(
        dtype="int16", bands=3, compress="DEFLATE", predictor=2, blocksize=128
    ),
    "deflate-u32-pred2-be": dict(dtype="uint32", compress="DEFLATE", predictor=2, **GTIFF_BE),
    "deflate-i32-pred2-bigtiff": dict(dtype="int32", compress="DEFLATE", predictor=2, bigtiff=True),
    "deflate-f32-pred3": dict(dtype="float32", compress="DEFLATE", predictor=3, nodata=-9999.0),
    "deflate-f32-pred3-be-2b": dict(
        dtype="float32", bands=2, compress="DEFLATE", predictor=3, blocksize=128, **GTIFF_BE
    ),
    "deflate-f64-pred3": dict(dtype="float64", compress="DEFLATE", predictor=3, blocksize=128),
    "deflate-f64-pred3-be-planar": dict(
        dtype="float64", bands=2, compress="DEFLATE", predictor=3, **GTIFF_BE_PLANAR
    ),
    "deflate-u16-pred2-planar-3b": dict(
        dtype="uint16", bands=3, compress="DEFLATE", predictor=2, blocksize=128, **GTIFF_PLANAR
    ),
    "deflate-u16-pred2-planar-be-bigtiff": dict(
        dtype="uint16", bands=3, compress="DEFLATE", predictor=2, bigtiff=True, **GTIFF_BE_PLANAR
    ),
    "deflate-i64-pred2": dict(
        dtype="int64", compress="DEFLATE", predictor=2, driver="GTiff", blocksize=128
    ),
    # --- LZW
    "lzw-u8": dict(dtype="uint8", compress="LZW", blocksize=128),
    "lzw-i8-pred2": dict(dtype="int8", compress="LZW", predictor=2),
    "lzw-u16-pred2-be": dict(dtype="uint16", compress="LZW", predictor=2, **GTIFF_BE),
    "lzw-i16": dict(dtype="int16", compress="LZW", nodata=-32768),
    "lzw-f32-pred3-3b": dict(dtype="float32", bands=3, compress="LZW", predictor=3, blocksize=128),
    # --- ZSTD
    "zstd-u16-pred2": dict(
        dtype="uint16", compress="ZSTD", predictor=2, bigtiff=True, blocksize=128
    ),
    "zstd-i16-pred2-be": dict(
        dtype="int16", compress="ZSTD", predictor=2, blocksize=128, **GTIFF_BE
    ),
    "zstd-u32": dict(dtype="uint32", compress="ZSTD"),
    "zstd-f64-pred3": dict(dtype="float64", compress="ZSTD", predictor=3),
    "zstd-f32-be": dict(dtype="float32", compress="ZSTD", nodata=0.5, **GTIFF_BE),
    # --- LZMA, PackBits
    "lzma-u16": dict(dtype="uint16", compress="LZMA", blocksize=128),
    "lzma-f32-be": dict(dtype="float32", compress="LZMA", **GTIFF_BE),
    "packbits-u8-3b": dict(dtype="uint8", bands=3, compress="PACKBITS"),
    "packbits-i16-be": dict(dtype="int16", compress="PACKBITS", blocksize=128, **GTIFF_BE),
    # --- LERC family
    "lerc-f32": dict(dtype="float32", compress="LERC", blocksize=128),
    "lerc-u16-2b": dict(dtype="uint16", bands=2, compress="LERC"),
    "lerc_deflate-u8": dict(dtype="uint8", compress="LERC_DEFLATE", nodata=0),
    "lerc_deflate-i32": dict(dtype="int32", compress="LERC_DEFLATE", blocksize=128),
    "lerc_zstd-f64": dict(dtype="float64", compress="LERC_ZSTD"),
    "lerc_zstd-i16-3b": dict(dtype="int16", bands=3, compress="LERC_ZSTD", blocksize=128),
    "lerc-f32-nodata-blank": dict(
        dtype="float32", compress="LERC", nodata=-9999.0, blank_tiles=True, blocksize=128
    ),
    # --- lossless WebP
    "webp-lossless-3b": dict(
        dtype="uint8", bands=3, compress="WEBP", webp_lossless=True, driver="GTiff"
    ),
    "webp-lossless-4b": dict(dtype="uint8", bands=4, compress="WEBP", quality=100, blocksize=128),
    # --- odd bit depths
    "nbits12-u16": dict(dtype="uint16", compress="NONE", nbits=12),
    "nbits12-u16-deflate-be": dict(dtype="uint16", compress="DEFLATE", nbits=12, **GTIFF_BE),
    "nbits15-u16-lzw-2b": dict(dtype="uint16", bands=2, compress="LZW", nbits=15, blocksize=128),
    "nbits4-u8": dict(dtype="uint8", compress="DEFLATE", nbits=4, blocksize=128),
    "nbits1-u8": dict(dtype="uint8", compress="NONE", nbits=1, driver="GTiff"),
    "nbits20-u32-planar": dict(dtype="uint32", bands=2, compress="ZSTD", nbits=20, **GTIFF_PLANAR),
    # --- float16 (GDAL 3.10 writes it from float32 with NBITS=16)
    "f16-deflate-pred2": dict(
        dtype="float32", compress="DEFLATE", nbits=16, predictor=2, driver="GTiff"
    ),
    "f16-zstd-pred3-be": dict(
        dtype="float32", compress="ZSTD", nbits=16, predictor=3, blocksize=128, **GTIFF_BE
    ),
    "f16-none": dict(dtype="float32", compress="NONE", nbits=16),
    # --- masks, sparse tiles
    "mask-deflate-u8": dict(dtype="uint8", compress="DEFLATE", mask=True, blocksize=128),
    "mask-gtiff-be-u16": dict(dtype="uint16", compress="LZW", mask=True, blocksize=128, **GTIFF_BE),
    "mask-3b-planar-gtiff": dict(
        dtype="uint8", bands=3, compress="ZSTD", mask=True, **GTIFF_PLANAR
    ),
    "sparse-zstd-nodata": dict(
        dtype="uint16", compress="ZSTD", sparse_ok=True, blank_tiles=True, nodata=7, blocksize=128
    ),
    "sparse-deflate-zero": dict(
        dtype="int16", compress="DEFLATE", sparse_ok=True, blank_tiles=True, blocksize=128
    ),
    "sparse-planar-gtiff": dict(
        dtype="uint8",
        bands=2,
        compress="DEFLATE",
        sparse_ok=True,
        blank_tiles=True,
        nodata=3,
        blocksize=128,
        **GTIFF_PLANAR,
    ),
    # --- no overviews, tile bigger than image, tiny images
    "no-overviews-512": dict(dtype="uint16", compress="DEFLATE", blocksize=512, overviews=False),
    "tiny-17x5": dict(
        dtype="int16", compress="ZSTD", height=5, width=17, blocksize=16, overviews=False
    ),
    # --- stripped GTiff (strips read as full-width tiles)
    "strips-none-i16-2b": dict(
        dtype="int16", bands=2, compress="NONE", driver="GTiff", tiled=False, overviews=False
    ),
    "strips-deflate-pred2-planar": dict(
        dtype="uint16",
        bands=2,
        compress="DEFLATE",
        predictor=2,
        tiled=False,
        overviews=False,
        **GTIFF_PLANAR,
    ),
    "strips-lzw-f32-be": dict(
        dtype="float32",
        compress="LZW",
        predictor=3,
        tiled=False,
        overviews=False,
        blockysize=7,
        **GTIFF_BE,
    ),
    "strips-jpeg-gray": dict(
        dtype="uint8", compress="JPEG", driver="GTiff", tiled=False, overviews=False, blockysize=16
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lossless_matches_gdal(cog_factory, check_levels, case):
    opts = dict(CASES[case])
    path = cog_factory(**opts)
    header = check_levels(path)
    full = header.levels[0]
    # The file really has the layout the case name promises (GDAL ignores some options).
    assert full.predictor == opts.get("predictor", 1)
    assert header.bigtiff == bool(opts.get("bigtiff"))
    if opts.get("nbits"):
        assert full.bits_per_sample == opts["nbits"]
    if opts.get("mask"):
        assert all(m is not None for m in header.masks)
    if opts.get("driver") == "GTiff" and opts.get("endianness") == "BIG":
        assert header.byte_order == ">"
    if opts.get("interleave") == "BAND" and opts.get("bands", 1) > 1:
        assert full.planar_configuration == 2
    if opts.get("tiled") is False:
        assert not full.is_tiled
    if opts.get("blank_tiles") and opts.get("sparse_ok"):
        assert 0 in full.tile_byte_counts


# Lossy codecs: GDAL's own decode is the reference (max abs diff <= 2).
LOSSY: dict[str, tuple[dict, float]] = {
    "jpeg-gray": (dict(dtype="uint8", compress="JPEG"), 2),
    "jpeg-gray-mask": (dict(dtype="uint8", compress="JPEG", mask=True, blocksize=128), 2),
    "jpeg-rgb-photometric": (
        dict(
            dtype="uint8",
            bands=3,
            compress="JPEG",
            photometric="RGB",
            driver="GTiff",
            blocksize=128,
        ),
        2,
    ),
    "webp-3b": (dict(dtype="uint8", bands=3, compress="WEBP"), 2),
    "webp-4b": (dict(dtype="uint8", bands=4, compress="WEBP", quality=80, blocksize=128), 2),
    "lerc-lossy-f32": (dict(dtype="float32", compress="LERC", max_z_error=0.5), 0),
}


@pytest.mark.parametrize("case", sorted(LOSSY))
def test_lossy_close_to_gdal(cog_factory, check_levels, case):
    opts, atol = LOSSY[case]
    check_levels(cog_factory(**opts), atol=atol)


# YCbCr (4:2:0) JPEG: decoders legitimately differ in chroma upsampling. rasterio's wheels link
# IJG libjpeg 9 (DCT-domain upsampling); imagecodecs (and most GDAL builds: conda-forge, Debian)
# use libjpeg-turbo (triangle "fancy" upsampling). Luma is identical (see jpeg-gray above), so
# the tile walking is checked exactly against tifffile's page decode, and against rasterio's
# libjpeg 9 only statistically. See docs/cog.md.
YCBCR: dict[str, dict] = {
    "jpeg-ycbcr": dict(dtype="uint8", bands=3, compress="JPEG"),
    "jpeg-ycbcr-mask": dict(dtype="uint8", bands=3, compress="JPEG", mask=True, blocksize=128),
    "jpeg-ycbcr-be-bigtiff": dict(
        dtype="uint8", bands=3, compress="JPEG", photometric="YCBCR", bigtiff=True, **GTIFF_BE
    ),
}


@pytest.mark.parametrize("case", sorted(YCBCR))
def test_jpeg_ycbcr(cog_factory, case):
    import warnings

    import rasterio
    import tifffile

    from rasteret_cog import open_header
    from rasteret_cog.local import read_window

    path = cog_factory(**YCBCR[case])
    header = open_header(path)
    assert header.levels[0].photometric == 6 and header.levels[0].jpeg_tables
    with tifffile.TiffFile(path) as tf:
        for i, lv in enumerate(header.levels):
            ours = read_window(path, header, level=i)
            ref = tf.pages[lv.ifd_index].asarray().transpose(2, 0, 1)
            np.testing.assert_array_equal(ours, ref)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(path, **({"overview_level": i - 1} if i else {})) as src:
                    gdal = src.read()
            diff = np.abs(ours.astype(np.int16) - gdal.astype(np.int16))
            assert diff.mean() < 1.5, f"level {i}: mean abs diff {diff.mean()}"
