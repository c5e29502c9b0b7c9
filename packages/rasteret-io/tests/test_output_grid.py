"""Stacked output grids (AOI ∩ data, anchors, resolution) and output values (dtype, fill,
kernels), compared with GDAL (rasterio.mask / rasterio.warp.reproject / read(out_dtype)) and
with odc-geo's grid snapping."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import rasterio
import rasterio.mask
import rasterio.warp
from affine import Affine
from rasterio.io import MemoryFile
from shapely.geometry import box

from rasteret_io.aoi import normalize_aois
from rasteret_io.band_output import band_output, convert_values
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_io.errors import ReadError
from rasteret_io.grid import Grid
from rasteret_io.output_grid import normalize_anchor, normalize_resolution
from rasteret_io.rasterize import geometry_mask
from rasteret_io.resampling import plan_warp, region_source_window, warp_into
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)


def _read(rows, bands, geoms, crs, **kw):
    aois = normalize_aois(geoms, geometry_crs=crs)
    return asyncio.run(read_aois(rows_table(rows), bands, aois, default_fetcher(), **kw))


def _mask(path, geoms, **kw):
    with rasterio.open(path) as src:
        out, t = rasterio.mask.mask(src, geoms, crop=True, filled=True, **kw)
    return out[0], tuple(t)[:6]


def _reproject(path, grid, kind, dtype, dst_nodata=None, overview_level=None):
    dst = np.zeros(grid.shape, dtype)
    with rasterio.open(path, overview_level=overview_level) as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1), dst, dst_transform=Affine(*grid.transform),
            dst_crs=rasterio.crs.CRS.from_user_input(grid.crs),
            resampling=getattr(rasterio.warp.Resampling, kind), dst_nodata=dst_nodata,
        )  # fmt: skip
    return dst


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Two 10 m scenes side by side (same grid phase) and a 20 m band of the first."""
    d = tmp_path_factory.mktemp("grids")
    a = write_cog(d / "a.tif", sample_array("uint16", 1, 300, 400, seed=1), transform=T0, nodata=0)
    t_b = (10.0, 0.0, 504_000.0, 0.0, -10.0, 5_000_000.0)
    b = write_cog(d / "b.tif", sample_array("uint16", 1, 300, 400, seed=2), transform=t_b, nodata=0)
    t20 = (20.0, 0.0, 500_000.0, 0.0, -20.0, 5_000_000.0)
    a20 = write_cog(d / "a20.tif", sample_array("uint16", 1, 150, 200, seed=3), transform=t20,
                    nodata=0, overviews=False)  # fmt: skip
    fdata = sample_array("float32", 1, 300, 400, seed=5)
    fdata[0, 40:60, 100:180] = -9999.0
    f = write_cog(d / "f.tif", fdata, transform=T0, nodata=-9999.0, predictor=3)
    return {"a": a, "b": b, "a20": a20, "f": f}


def test_one_record_grid_is_rasterio_mask_crop(scenes):
    """An AOI crossing the scene edge: the stacked chip is exactly mask(crop=True)."""
    row = row_for_cogs("a", {"b": (scenes["a"], str(scenes["a"]))})
    g = [box(503_123.0, 4_998_011.0, 506_500.0, 5_001_000.0)]  # past the east and north edges
    chip = _read([row], ["b"], g, 32633, layout="stack").chips[0]
    ref, t = _mask(scenes["a"], g)
    assert chip.data.shape == ref.shape and chip.transform == t
    np.testing.assert_array_equal(chip.data, ref)


def test_several_records_share_the_union_of_their_extents(scenes):
    rows = [row_for_cogs(k, {"b": (scenes[k], str(scenes[k]))}) for k in ("a", "b")]
    g = [box(503_000.0, 4_998_000.0, 509_000.0, 5_003_000.0)]  # east past b, north past both
    a, b = _read(rows, ["b"], g, 32633, layout="stack").chips
    assert a.data.shape == b.data.shape == (200, 500) and a.transform == b.transform
    assert a.transform == (10.0, 0.0, 503_000.0, 0.0, -10.0, 5_000_000.0)
    ref_a, _ = _mask(scenes["a"], g)
    ref_b, _ = _mask(scenes["b"], g)
    np.testing.assert_array_equal(a.data[:, :100], ref_a)
    np.testing.assert_array_equal(b.data[:, 100:], ref_b)
    assert (a.data[:, 100:] == 0).all() and not a.valid[:, 100:].any()


def test_world_box_reads_the_data(scenes):
    """(-180, -85, 180, 85) cannot be projected to UTM: it is clipped to the data first."""
    row = row_for_cogs("a", {"b": (scenes["a"], str(scenes["a"]))})
    out = _read([row], ["b"], [box(-180, -85, 180, 85)], 4326, layout="stack")
    with rasterio.open(scenes["a"]) as src:
        np.testing.assert_array_equal(out.chips[0].data, src.read(1))
        assert out.chips[0].transform == tuple(src.transform)[:6]
    native = _read([row], ["b"], [box(-180, -85, 180, 85)], 4326)  # get_gdf's layout too
    assert native.chips[0].data.shape == (300, 400)


@pytest.mark.parametrize(
    "anchor", ["edge", "center", (0.25, 0.75), "floating", 0.5]
)  # fmt: skip
def test_anchor_matches_odc_geo_snapping(scenes, anchor):
    geobox = pytest.importorskip("odc.geo.geobox")
    row = row_for_cogs("a", {"b": (scenes["a"], str(scenes["a"]))})
    bounds = (501_234.5, 4_998_100.25, 502_901.0, 4_999_333.0)  # inside the data
    chip = _read([row], ["b"], [box(*bounds)], 32633, layout="stack", resolution=30.0,
                 anchor=anchor).chips[0]  # fmt: skip
    odc_anchor = anchor if not isinstance(anchor, tuple) else geobox.xy_(*anchor)
    ref = geobox.GeoBox.from_bbox(bounds, "EPSG:32633", resolution=30, anchor=odc_anchor, tol=0)
    assert chip.data.shape == ref.shape
    np.testing.assert_allclose(chip.transform, tuple(ref.transform)[:6], rtol=0, atol=1e-6)


def test_default_grid_is_the_native_one_even_off_multiples(tmp_path):
    """A Landsat-like grid (edges at 15 m mod 30) read at its own resolution: no resampling."""
    t = (30.0, 0.0, 452_475.0, 0.0, -30.0, 3_408_645.0)
    p = write_cog(tmp_path / "l.tif", sample_array("uint16", 1, 200, 210, seed=4), crs="EPSG:32616",
                  transform=t, nodata=0)  # fmt: skip
    row = row_for_cogs("l", {"b": (p, str(p))})
    g = [box(453_000.0, 3_404_000.0, 456_000.0, 3_407_000.0)]
    chip = _read([row], ["b"], g, 32616, layout="stack", resolution=(30.0, 30.0)).chips[0]
    ref, tr = _mask(p, g)
    assert chip.transform == tr
    np.testing.assert_array_equal(chip.data, ref)


def test_mixed_resolutions_land_on_the_finest_grid(scenes):
    """10 m and 20 m bands: one 10 m grid; the 20 m band is resampled (GDAL nearest)."""
    row = row_for_cogs("a", {"b10": (scenes["a"], str(scenes["a"])),
                             "b20": (scenes["a20"], str(scenes["a20"]))})  # fmt: skip
    g = [box(500_500.0, 4_998_000.0, 502_000.0, 4_999_500.0)]
    c10, c20 = _read([row], ["b10", "b20"], g, 32633, layout="stack").chips
    assert c10.transform == c20.transform and c10.data.shape == c20.data.shape
    grid = Grid(32633, c20.transform, c20.data.shape[1], c20.data.shape[0])
    np.testing.assert_array_equal(c20.data, _reproject(scenes["a20"], grid, "nearest", "uint16"))
    # at 20 m the 20 m band is its own grid (copied) and the 10 m band is averaged, from its
    # 20 m overview (GDAL's overview choice, as gdalwarp and odc-stac read it)
    c10, c20 = _read([row], ["b10", "b20"], g, 32633, layout="stack", resolution=20,
                     resampling={"b10": "average"}, dtype="native").chips  # fmt: skip
    grid = Grid(32633, c10.transform, c10.data.shape[1], c10.data.shape[0])
    assert c10.transform[2] % 20 == 0
    ref, _ = _mask(scenes["a20"], g)
    np.testing.assert_array_equal(c20.data, ref)
    ref10 = _reproject(scenes["a"], grid, "average", "uint16", 0, overview_level=0)
    np.testing.assert_array_equal(c10.data, ref10)


@pytest.mark.parametrize(
    "kind", ["bilinear", "cubic", "average", "mode", "min", "max", "med", "q1", "q3"]
)
@pytest.mark.parametrize("dtype", ["native", "float32", "uint8"])
@pytest.mark.parametrize("scene", ["a", "f"])
def test_kernels_and_dtypes_equal_gdal_reproject(scenes, kind, dtype, scene):
    """Through the engine: the AOI grid equals GDAL warping the band into that dtype (from the
    20 m overview: GDAL's choice for a 25 m target), for a uint16 and a float32 band."""
    native, nodata = ("uint16", 0) if scene == "a" else ("float32", -9999.0)
    row = row_for_cogs(scene, {"b": (scenes[scene], str(scenes[scene]))})
    g = [box(500_500.0, 4_997_500.0, 503_000.0, 4_999_500.0)]
    fill = 0 if dtype == "uint8" and scene == "f" else None
    (chip,) = _read([row], ["b"], g, 32633, layout="stack", resolution=(25.0, 25.0),
                    resampling=kind, dtype=dtype, fill_value=fill).chips  # fmt: skip
    out = band_output("b", native, nodata, resampling=kind, dtype=dtype, fill_value=fill)
    grid = Grid(32633, chip.transform, chip.data.shape[1], chip.data.shape[0])
    work = np.promote_types(native, out.dtype)
    ref = _reproject(scenes[scene], grid, kind, work, out.nodata, overview_level=0)
    if work != np.dtype(out.dtype):  # GDAL's working type, then RasterIO's conversion
        ok = ref != out.nodata
        ref = convert_values(ref, out.dtype)
        ref[~ok] = out.fill
    assert chip.data.dtype == np.dtype(out.dtype)
    inexact = scene == "f" and kind in ("bilinear", "cubic", "average")  # docs/read-engine.md
    if np.dtype(out.dtype).kind == "f":
        ok = chip.valid
        assert (chip.data[~ok] == out.fill).all() or np.isnan(chip.data[~ok]).all()
        np.testing.assert_allclose(chip.data[ok], ref[ok], rtol=2e-7 if inexact else 0, atol=0)
    elif inexact:  # one float32 ulp before rounding can move a value by one
        assert np.abs(chip.data.astype(np.int64) - ref).max() <= 1
        assert (chip.data != ref).mean() < 1e-3
    else:
        np.testing.assert_array_equal(chip.data, ref)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_fill_value_and_dtype_on_copies(scenes):
    """Copies converted as GDAL's RasterIO converts; nodata and outside pixels -> fill."""
    row = row_for_cogs("a", {"b": (scenes["a"], str(scenes["a"]))})
    g = [box(503_500.0, 4_998_000.0, 505_000.0, 4_999_000.0)]  # crosses the east edge
    (chip,) = _read([row], ["b"], g, 32633, layout="stack", dtype="int16", fill_value=-1).chips
    ref, _ = _mask(scenes["a"], g)
    with MemoryFile() as mf, mf.open(driver="GTiff", width=ref.shape[1], height=ref.shape[0],
                                     count=1, dtype="uint16") as ds:  # fmt: skip
        ds.write(ref, 1)
        conv = ds.read(1, out_dtype="int16")
    expect = np.where(ref == 0, -1, conv)
    np.testing.assert_array_equal(chip.data, expect)
    assert chip.nodata == -1 and chip.fill == -1 and chip.data.dtype == np.int16


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_convert_values_is_gdal_rasterio_conversion():
    vals = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, 254.5, 255.5, 300.0, -3.0, np.nan, 1e10, 3.4999]])
    with MemoryFile() as mf, mf.open(driver="GTiff", width=vals.shape[1], height=1, count=1,
                                     dtype="float64") as ds:  # fmt: skip
        ds.write(vals, 1)
        for dt in ("uint8", "int16", "uint16", "int32", "float32"):
            np.testing.assert_array_equal(convert_values(vals, dt), ds.read(1, out_dtype=dt))


def test_warp_avoids_the_destination_nodata_like_gdal():
    src = np.array([[7, 7, 7, 7], [7, 7, 7, 7], [0, 1, 1, 1], [1, 1, 1, 1]], "uint16")
    src = src.repeat(4, 0).repeat(4, 1)
    st = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    dt = (15.0, 0.0, 500_000.0, 0.0, -15.0, 5_000_000.0)
    for dst_nodata in (None, 7, 0, 3):
        ref = np.zeros((10, 10), "uint16")
        rasterio.warp.reproject(src, ref, src_transform=Affine(*st), src_crs="EPSG:32633",
                                dst_transform=Affine(*dt), dst_crs="EPSG:32633",
                                resampling=rasterio.warp.Resampling.average, src_nodata=0,
                                dst_nodata=dst_nodata)  # fmt: skip
        got, _ = warp_into(src, Grid(32633, st, 16, 16), Grid(32633, dt, 10, 10), "average",
                           nodata=0, dst_nodata=dst_nodata, out=np.zeros((10, 10), "uint16"))  # fmt: skip
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "cubic", "average", "mode", "q3"])
def test_region_warp_equals_the_whole_grid(kind):
    """A region computed from region_source_window's pixels equals the whole-grid warp."""
    data = sample_array("uint16", 1, 400, 400, seed=9)[0]
    sgrid = Grid(32633, T0, 400, 400)
    dgrid = Grid(32632, (13.0, 0.0, 1_092_000.0, 0.0, -13.0, 5_021_000.0), 260, 240)
    plan = plan_warp(sgrid, dgrid, kind, src_dtype="uint16", src_nodata=0)
    full, fvalid = warp_into(data, sgrid, dgrid, kind, nodata=0, plan=plan)
    for region in ((0, 240, 0, 260), (17, 90, 33, 201), (100, 101, 5, 6), (230, 240, 250, 260)):
        r0, r1, c0, c1 = region
        win = region_source_window(plan, (r0, r1), (c0, c1))
        if win is None:
            assert not fvalid[r0:r1, c0:c1].any()
            continue
        win = win.intersection(type(win)(0, 0, 400, 400))
        part = data[win.row_off : win.row_end, win.col_off : win.col_end]
        got, valid = warp_into(part, sgrid, dgrid, kind, src_window=win, nodata=0, plan=plan,
                               region=region)  # fmt: skip
        np.testing.assert_array_equal(got, full[r0:r1, c0:c1])
        np.testing.assert_array_equal(valid, fvalid[r0:r1, c0:c1])


def test_option_validation():
    assert normalize_anchor(None) is None and normalize_anchor("centre") == (0.5, 0.5)
    assert normalize_anchor(0) == (0.0, 0.0) and normalize_anchor("floating") == "floating"
    assert normalize_resolution(10) == (10.0, 10.0) and normalize_resolution((10, -20)) == (10, 20)
    for bad in ("middle", (1.0, 0.0), (0.5,), -0.1):
        with pytest.raises(ReadError):
            normalize_anchor(bad)
    assert normalize_resolution(-10) == (10.0, 10.0)  # signs are ignored (y is north-up)
    for bad in (0, (1, float("nan")), "x", (1, 2, 3)):
        with pytest.raises(ReadError):
            normalize_resolution(bad)
    with pytest.raises(ReadError, match="fit"):
        band_output("b", "uint16", 0, fill_value=-1)
    with pytest.raises(ReadError, match="resampling"):
        band_output("b", "uint16", 0, resampling="lanczos")
    out = band_output("b", "uint16", 0, dtype="float32")
    assert np.isnan(out.nodata) and out.converted
    assert (
        band_output("b", "uint16", None).fill == 0 and not band_output("b", "uint16", 0).converted
    )


def test_aoi_outside_every_record_gives_nothing(scenes):
    row = row_for_cogs("a", {"b": (scenes["a"], str(scenes["a"]))})
    out = _read([row], ["b"], [box(600_000, 4_000_000, 600_100, 4_000_100)], 32633, layout="stack")
    assert out.chips == [] and out.failures == []
    inside = geometry_mask(box(0, 0, 1, 1), (1.0, 0.0, 0.0, 0.0, -1.0, 1.0), (1, 1))
    assert inside.shape == (1, 1)
