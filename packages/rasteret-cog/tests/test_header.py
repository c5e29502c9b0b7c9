"""Header fields equal what tifffile (TIFF structure) and rasterio (GDAL semantics) report."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.crs import CRS

from rasteret_cog import open_header, parse_header
from rasteret_testkit.cogs import GTIFF_BE_PLANAR

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

HEADER_CASES = {
    "cog-u16-deflate-mask": dict(
        dtype="uint16", compress="DEFLATE", mask=True, blocksize=128, nodata=0
    ),
    "cog-f32-bigtiff-nan": dict(
        dtype="float32", compress="ZSTD", predictor=3, bigtiff=True, nodata=float("nan")
    ),
    "gtiff-be-planar": dict(
        dtype="int16", bands=3, compress="LZW", blocksize=128, nodata=-1, **GTIFF_BE_PLANAR
    ),
    "cog-jpeg": dict(dtype="uint8", bands=3, compress="JPEG", blocksize=128),
    "cog-lerc-zstd": dict(dtype="float64", compress="LERC_ZSTD", nodata=-9999.5),
    "gtiff-strips": dict(
        dtype="uint8", compress="DEFLATE", driver="GTiff", tiled=False, overviews=False
    ),
    "cog-4326": dict(
        dtype="uint8", crs="EPSG:4326", transform=(0.001, 0, 10.0, 0, -0.001, 50.0), compress="NONE"
    ),
    "cog-3857": dict(
        dtype="uint8", crs="EPSG:3857", transform=(30.0, 0, 1e6, 0, -30.0, 6e6), compress="NONE"
    ),
    "cog-i64-nodata": dict(
        dtype="int64", compress="DEFLATE", driver="GTiff", nodata=-123456789012, overviews=False
    ),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_header_matches_tifffile_and_rasterio(cog_factory, case):
    path = cog_factory(**HEADER_CASES[case])
    header = open_header(path)
    with tifffile.TiffFile(path) as tf:
        assert header.bigtiff == tf.is_bigtiff
        assert header.byte_order == tf.byteorder
        assert len(header.ifds) == len(tf.pages)
        for lv in header.ifds:
            page = tf.pages[lv.ifd_index]
            assert (lv.height, lv.width) == (page.imagelength, page.imagewidth)
            assert tuple(page.dataoffsets) == tuple(lv.tile_offsets)
            assert tuple(page.databytecounts) == tuple(lv.tile_byte_counts)
            assert lv.compression == page.compression
            assert lv.predictor == page.predictor
            assert lv.photometric == page.photometric
            assert lv.samples_per_pixel == page.samplesperpixel
            assert lv.planar_configuration == page.planarconfig
            assert lv.bits_per_sample == page.bitspersample
            assert lv.is_tiled == page.is_tiled
            if page.is_tiled:
                assert (lv.tile_height, lv.tile_width) == (page.tilelength, page.tilewidth)
            assert lv.jpeg_tables == (page.jpegtables or None)
            assert bool(lv.is_mask) == bool(page.is_mask or page.photometric == 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            assert header.transform == tuple(src.transform)[:6]
            assert header.levels[0].dtype == src.dtypes[0]
            if src.nodata is None:
                assert header.nodata is None
            elif math.isnan(src.nodata):
                assert math.isnan(header.nodata)
            else:
                assert header.nodata == src.nodata
            assert header.epsg == src.crs.to_epsg()
            assert [lv.width for lv in header.levels[1:]] == [
                src.width // f if src.width % f == 0 else None or header.levels[i + 1].width
                for i, f in enumerate(src.overviews(1))
            ]
            for i, lv in enumerate(header.levels):
                if i:
                    with rasterio.open(path, overview_level=i - 1) as ov:
                        assert (lv.width, lv.height) == (ov.width, ov.height)
                        np.testing.assert_allclose(
                            lv.transform, tuple(ov.transform)[:6], rtol=1e-12
                        )


def test_int64_nodata_is_exact(cog_factory):
    header = open_header(cog_factory(**HEADER_CASES["cog-i64-nodata"]))
    assert header.nodata == -123456789012 and isinstance(header.nodata, int)


def test_scale_offset_from_gdal_metadata(tmp_path):
    from rasteret_testkit.cogs import sample_array, write_cog

    path = write_cog(
        tmp_path / "so.tif", sample_array("int16", 2, 64, 64), blocksize=32, driver="GTiff"
    )
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.01, 0.5)
        dst.offsets = (-10.0, 3.0)
    header = open_header(path)
    assert header.levels[0].scales == (0.01, 0.5)
    assert header.levels[0].offsets == (-10.0, 3.0)
    assert header.levels[0].scale == 0.01 and header.levels[0].offset == -10.0
    assert all(lv.scales == (0.01, 0.5) for lv in header.levels)


def test_structural_metadata_and_cog_layout(cog_factory):
    header = open_header(cog_factory(dtype="uint8"))
    assert header.is_cog_layout
    assert dict(header.structural_metadata)["BLOCK_ORDER"] == "ROW_MAJOR"


USER_CRS = [
    "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m +no_defs",
    "+proj=aea +lat_0=23 +lon_0=-96 +lat_1=29.5 +lat_2=45.5 +x_0=0 +y_0=0 +datum=NAD83 +units=m",
    "+proj=tmerc +lat_0=0 +lon_0=15 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m",
    "+proj=tmerc +lat_0=10 +lon_0=15 +k=0.9 +x_0=500 +y_0=0 +ellps=WGS84 +units=us-ft",
    "+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +ellps=GRS80 +units=m",
    "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m",
    "+proj=longlat +a=6371000 +b=6371000 +no_defs",
]


@pytest.mark.parametrize("crs", USER_CRS)
def test_user_defined_crs_is_not_32767_and_has_wkt(cog_factory, crs):
    path = cog_factory(crs=crs, overviews=False, height=32, width=32, blocksize=16)
    header = open_header(path)
    assert header.epsg is None and header.crs.is_user_defined
    assert 32767 not in (header.epsg, header.crs.vertical_epsg)
    wkt = header.crs.to_wkt()
    assert wkt is not None
    with rasterio.open(path) as src:
        assert CRS.from_wkt(wkt).to_proj4() == src.crs.to_proj4()
    d = header.crs.to_dict()
    assert d["epsg"] is None and d["wkt"] == wkt


@pytest.mark.parametrize("epsg", [32633, 4326, 3857, 32719])
def test_epsg_codes(cog_factory, epsg):
    t = (0.001, 0, 10.0, 0, -0.001, 50.0) if epsg == 4326 else None
    header = open_header(
        cog_factory(
            crs=f"EPSG:{epsg}", transform=t, height=32, width=32, blocksize=16, overviews=False
        )
    )
    assert header.epsg == epsg and header.crs.to_wkt() is None


# GeoKeys: projected model, PixelIsPoint raster space, EPSG:32633
_POINT_GEOKEYS = (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 2, 3072, 0, 1, 32633)


def _write_pixel_is_point(path, size: int, *georeferencing: tuple) -> None:
    """A ``size`` x ``size`` tiled uint8 TIFF in PixelIsPoint space, georeferenced by the
    given extra tags (tiepoint + pixel scale, or a model transformation)."""
    tifffile.imwrite(
        path,
        np.zeros((size, size), np.uint8),
        tile=(16, 16),
        extratags=[*georeferencing, (34735, 3, len(_POINT_GEOKEYS), _POINT_GEOKEYS, False)],
    )


def test_pixel_is_point_shifted_like_gdal(tmp_path):
    from rasteret_testkit.cogs import sample_array, write_cog

    path = write_cog(
        tmp_path / "pt.tif",
        sample_array("uint8", 1, 40, 50),
        driver="GTiff",
        blocksize=16,
        overviews=False,
        transform=(2.0, 0, 1000.0, 0, -3.0, 2000.0),
    )
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(AREA_OR_POINT="Point")
    header = open_header(path)
    assert header.crs.raster_type == 2
    with rasterio.open(path) as src:
        assert src.tags()["AREA_OR_POINT"] == "Point"
        assert header.transform == tuple(src.transform)[:6]


def test_pixel_is_point_written_by_tifffile(tmp_path):
    # Tiepoint at pixel (0, 0) means the pixel *centre*: GDAL moves the corner half a pixel.
    path = tmp_path / "pt2.tif"
    _write_pixel_is_point(
        path,
        32,
        (33550, 12, 3, (10.0, 10.0, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, 500000.0, 4e6, 0.0), False),
    )
    header = open_header(path)
    assert header.transform == (10.0, 0.0, 499995.0, 0.0, -10.0, 4e6 + 5.0)
    with rasterio.open(path) as src:
        assert header.transform == tuple(src.transform)[:6]
        assert header.epsg == src.crs.to_epsg() == 32633


def test_rotated_transform_kept_but_refused(cog_factory):
    from rasteret_cog import RotatedTransformError, check_axis_aligned, is_axis_aligned

    rot = (10.0, 2.0, 500000.0, 1.5, -10.0, 5e6)
    path = cog_factory(
        transform=rot, driver="GTiff", height=32, width=32, blocksize=16, overviews=False
    )
    header = open_header(path)
    with rasterio.open(path) as src:
        np.testing.assert_allclose(header.transform, tuple(src.transform)[:6])
    assert not is_axis_aligned(header.transform)
    with pytest.raises(RotatedTransformError, match="rotated"):
        check_axis_aligned(header.transform)
    with pytest.raises(NotImplementedError):
        check_axis_aligned(header.transform)


def test_south_up_model_transformation(tmp_path):
    path = tmp_path / "south.tif"
    m = (10.0, 0.0, 0.0, 100.0, 0.0, 10.0, 0.0, -50.0, 0, 0, 0, 0, 0, 0, 0, 1.0)
    tifffile.imwrite(
        path, np.zeros((16, 16), np.uint8), tile=(16, 16), extratags=[(34264, 12, 16, m, False)]
    )
    header = open_header(path)
    assert header.transform == (10.0, 0.0, 100.0, 0.0, 10.0, -50.0)
    with rasterio.open(path) as src:
        assert header.transform == tuple(src.transform)[:6]
    assert header.crs is None


def test_not_georeferenced(tmp_path):
    from rasteret_cog import NotGeoreferencedError, check_axis_aligned

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), tile=(16, 16))
    header = open_header(path)
    assert header.transform is None and header.crs is None
    with pytest.raises(NotGeoreferencedError):
        check_axis_aligned(header.transform)


def test_parse_from_prefix_bytes(cog_factory):
    path = cog_factory(dtype="uint16", blocksize=128)
    data = path.read_bytes()
    h1 = parse_header(data[:65536])
    h2 = parse_header(data, file_size=len(data))
    assert (
        h1.levels == h2.levels[: len(h1.levels)]
        or h1.levels[0].tile_offsets == h2.levels[0].tile_offsets
    )
    assert h1.levels[0].tile_offsets == h2.levels[0].tile_offsets


def test_pixel_is_point_with_model_transformation(tmp_path):
    path = tmp_path / "pt3.tif"
    m = (10.0, 0.0, 0.0, 100.0, 0.0, -20.0, 0.0, 900.0, 0, 0, 0, 0, 0, 0, 0, 1.0)
    _write_pixel_is_point(path, 16, (34264, 12, 16, m, False))
    header = open_header(path)
    with rasterio.open(path) as src:
        assert header.transform == tuple(src.transform)[:6]
    assert header.transform == (10.0, 0.0, 95.0, 0.0, -20.0, 910.0)


def test_esri_pe_string_crs(cog_factory):
    path = cog_factory(
        crs="+proj=laea +lat_0=45 +lon_0=-100 +ellps=WGS84",
        height=32,
        width=32,
        blocksize=16,
        overviews=False,
        driver="GTiff",
        geotiff_keys_flavor="ESRI_PE",
    )
    header = open_header(path)
    assert header.epsg is None
    wkt = header.crs.to_wkt()
    with rasterio.open(path) as src:
        assert CRS.from_wkt(wkt).to_proj4() == src.crs.to_proj4()


def test_ycbcr_without_jpeg_is_refused():
    from rasteret_cog import TileSpec, UnsupportedTiffError, decode_tile

    # one 16 x 16 px tile
    spec = TileSpec(16, 16, 16, 16, "uint8", samples_per_pixel=3, photometric=6, compression=1)
    with pytest.raises(UnsupportedTiffError, match="YCbCr"):
        decode_tile(b"\x00" * 768, spec)


def test_parsed_header_holds_no_object_per_tile(tmp_path):
    """Tile tables are int64 arrays: a 1,849-tile header holds as many objects as a 16-tile one."""
    import gc
    import sys

    from rasteret_cog import parse_header
    from rasteret_testkit.cogs import sample_array, write_cog

    def blocks_held(tiles_across: int) -> int:
        n = 16 * tiles_across
        path = write_cog(
            tmp_path / f"t{tiles_across}.tif",
            sample_array("uint16", 1, n, n),
            driver="GTiff",
            blocksize=16,
            compress="NONE",  # byte counts of 512: not among Python's cached small ints
            overviews=False,
        )
        data = path.read_bytes()
        head = data[: min(open_header(path).full.tile_offsets)]
        gc.collect()
        before = sys.getallocatedblocks()
        header = parse_header(head, file_size=len(data))
        gc.collect()
        held = sys.getallocatedblocks() - before
        assert len(header.full.tile_offsets) == tiles_across**2
        return held

    small, large = blocks_held(4), blocks_held(43)  # 16 and 1,849 tiles
    assert large - small < 200, (small, large)  # tuples of ints held ~3,700 more blocks
