"""Cube options and output conventions of ``get_numpy`` / ``get_xarray`` end to end (issue #15,
and #16's output grid): COGs served on loopback, values compared with GDAL (rasterio mask /
reproject), structure with rioxarray, lazy cubes with the eager ones."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import rasterio.warp
import shapely
import xarray as xr
from rasterio.warp import transform_bounds

import rasteret
from rasteret.read.entry import plan_output
from rasteret.read.requests import AoiRequest, CubeOptions, ReadOptions, XarrayOptions
from rasteret_testkit.cogs import sample_array, write_cog

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
PREFIX = "cubeit"
# id, datetime, x offset of the scene (m), cloud cover, platform
RECORDS = [
    ("a", dt.datetime(2024, 5, 1, 10, 0, 0), 0.0, 1.0, "s2a"),
    ("b1", dt.datetime(2024, 5, 6, 10, 0, 0), 0.0, 30.0, "s2b"),  # b1 / b2 share a datetime
    ("b2", dt.datetime(2024, 5, 6, 10, 0, 0), 2_000.0, 20.0, "s2b"),
    ("c1", dt.datetime(2024, 5, 11, 10, 0, 0), 0.0, 5.0, "s2a"),  # c1 / c2: same solar day
    ("c2", dt.datetime(2024, 5, 11, 10, 0, 4), 2_000.0, 5.0, "s2a"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, object_server_session) -> dict[str, Any]:
    """Five records x B04 (10 m) / B08 (20 m); b1 has a nodata hole that b2 fills."""
    d = tmp_path_factory.mktemp("cube")
    server = object_server_session
    files: dict[str, Path] = {}
    for k, (rid, _when, dx, _cc, _p) in enumerate(RECORDS):
        b4 = sample_array("uint16", 1, 300, 400, seed=70 + k)
        if rid == "b1":
            b4[:, 100:150, 250:350] = 0
        b8 = sample_array("uint16", 1, 150, 200, seed=90 + k)
        for band, data, res in (("B04", b4, 10.0), ("B08", b8, 20.0)):
            t = (res, 0.0, T0[2] + dx, 0.0, -res, T0[5])
            path = write_cog(d / f"{rid}_{band}.tif", data, transform=t, nodata=0, blocksize=64)
            files[f"{rid}/{band}"] = path
            dst = server.root / PREFIX / rid / f"{band}.tif"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(path.read_bytes())
    lonlat = transform_bounds("EPSG:32633", "EPSG:4326", 500_000, 4_997_000, 506_000, 5_000_000)
    table = pa.table(
        {
            "id": [r[0] for r in RECORDS],
            "datetime": pa.array([r[1] for r in RECORDS], pa.timestamp("us", "UTC")),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * len(RECORDS),
            "assets": [
                {b: {"href": server.url(f"{PREFIX}/{r[0]}/{b}.tif")} for b in ("B04", "B08")}
                for r in RECORDS
            ],
            "eo:cloud_cover": [r[3] for r in RECORDS],
            "platform": [r[4] for r in RECORDS],
        }
    )
    return {"table": table, "files": files}


@pytest.fixture(scope="module")
def coll(served, tmp_path_factory):
    return rasteret.build_from_table(
        served["table"], name="cubeit", workspace_dir=tmp_path_factory.mktemp("ws"),
        enrich_cog=True,
    )  # fmt: skip


AOI = shapely.box(500_523.0, 4_997_311.0, 503_377.0, 4_999_407.0)  # inside a, b1, c1
AOI_FAR = shapely.box(504_100.0, 4_998_000.0, 505_000.0, 4_999_000.0)  # inside b2 / c2 only


def _mask(path: Path, geom: Any) -> tuple[np.ndarray, tuple[float, ...]]:
    with rasterio.open(path) as src:
        out, t = rasterio.mask.mask(src, [geom], crop=True, filled=True)
    return out[0], tuple(t)[:6]


def test_default_fusion_warns_and_groupby_time_does_not(coll):
    with pytest.warns(UserWarning, match=r"groupby='time'") as rec:
        ds = coll.get_xarray(AOI, ["B04"], geometry_crs=32633)
    assert rec[0].filename == __file__  # the warning points at the caller
    assert ds.sizes["time"] == 4 and list(ds.id.values) == ["a", "b1,b2", "c1", "c2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = coll.get_xarray(AOI, ["B04"], geometry_crs=32633, groupby="time")
    xr.testing.assert_identical(ds.drop_attrs(deep=False), quiet.drop_attrs(deep=False))
    assert quiet.attrs["groupby"] == "time"


def test_groupby_id_and_solar_day(coll, served):
    by_id = coll.get_xarray(AOI, ["B04"], geometry_crs=32633, groupby="id")
    assert list(by_id.id.values) == ["a", "b1", "b2", "c1", "c2"]
    assert by_id.sizes["time"] == 5 and not by_id.indexes["time"].is_unique
    day = coll.get_xarray(AOI, ["B04"], geometry_crs=32633, groupby="solar_day")
    assert list(day.id.values) == ["a", "b1,b2", "c1,c2"]
    assert day.time.values[2] == np.datetime64("2024-05-11T10:00:00", "ns")  # first record's
    # fusion: first valid pixel in (datetime, id) order; b1's nodata hole is filled by b2
    ref_b1, _ = _mask(served["files"]["b1/B04"], AOI)
    got = day.B04.isel(time=1, geometry=0).values
    ok = ref_b1 != 0
    np.testing.assert_array_equal(got[ok], ref_b1[ok])
    with rasterio.open(served["files"]["b2/B04"]) as src:
        assert src.bounds.left == 502_000.0
    hole = ~ok
    assert (got[hole] != 0).sum() > 0  # b2 covers part of b1's hole


def test_conventions_rioxarray_and_properties(coll):
    rio = pytest.importorskip("rioxarray")
    ds = coll.get_xarray(AOI, ["B04", "B08"], geometry_crs=32633, groupby="time")
    b4 = ds.B04
    assert b4.dtype == np.uint16
    assert type(b4.attrs["nodata"]) is np.uint16 and b4.attrs["_FillValue"] == 0
    assert isinstance(b4.attrs["_FillValue"], np.uint16)
    assert rio and b4.rio.nodata == 0 and b4.rio.crs.to_epsg() == 32633
    assert ds.x.attrs["standard_name"] == "projection_x_coordinate" and ds.x.attrs["axis"] == "X"
    assert ds.y.attrs["units"] == "metre" and ds.y.attrs["resolution"] == -10.0
    assert ds.time.attrs["axis"] == "T" and ds.spatial_ref.attrs["grid_mapping_name"]
    assert ds.B08.attrs["resampling"] == "nearest" and "resampling" not in b4.attrs
    assert ds["eo:cloud_cover"].dims == ("time",)
    assert list(ds["eo:cloud_cover"].values[[0, 2]]) == [1.0, 5.0]
    assert np.isnan(ds["eo:cloud_cover"].values[1])  # b1 (30) and b2 (20) fused: disagree
    assert list(ds.platform.values) == ["s2a", "s2b", "s2a", "s2a"]
    t = b4.isel(time=0, geometry=0).rio.transform()
    assert (t.a, t.e) == (10.0, -10.0)
    xs = np.diff(ds.x.values)
    assert np.allclose(xs, 10.0)  # regular


def test_several_aois_share_one_regular_grid(coll, served):
    ds = coll.get_xarray([AOI, AOI_FAR], ["B04"], geometry_crs=32633, groupby="id")
    assert ds.sizes["geometry"] == 2 and list(ds.geometry.values) == [1, 2]
    assert np.allclose(np.diff(ds.x.values), 10.0) and np.allclose(np.diff(ds.y.values), -10.0)
    # each AOI's layer holds its own pixels: record a, AOI 1 = rasterio.mask, on its place
    ref, t = _mask(served["files"]["a/B04"], AOI)
    layer = ds.B04.sel(time=ds.time[0]).isel(geometry=0)
    col = round((t[2] - float(ds.x[0]) + 5.0) / 10.0)
    row = round((float(ds.y[0]) + 5.0 - t[5]) / 10.0)
    np.testing.assert_array_equal(
        layer.values[row : row + ref.shape[0], col : col + ref.shape[1]], ref
    )
    far = ds.B04.isel(geometry=1).values
    assert (far[:, :row, :] == 0).all()  # outside AOI 2: fill


def test_get_numpy_grid_is_aoi_inter_data(coll, served):
    """An AOI past the north edge of every scene: cropped to the data, exactly mask(crop)."""
    g = shapely.box(500_523.0, 4_999_100.0, 501_377.0, 5_000_900.0)
    arr = coll.get_numpy(g, ["B04"], geometry_crs=32633, date_range=("2024-05-01", "2024-05-01"))
    ref, _ = _mask(served["files"]["a/B04"], g)
    assert arr.shape == (1, *ref.shape)
    np.testing.assert_array_equal(arr[0], ref)


def test_world_box_returns_the_data(coll):
    arr = coll.get_numpy((-180, -85, 180, 85), ["B04"], date_range=("2024-05-01", "2024-05-01"))
    assert arr.shape == (1, 300, 400) and (arr != 0).mean() > 0.99


def test_resolution_resampling_dtype_fill_match_gdal(coll, served):
    ds = coll.get_xarray(
        AOI, ["B04", "B08"], geometry_crs=32633, groupby="id", resolution=30,
        resampling={"B04": "average", "*": "bilinear"}, dtype="float32", fill_value=-1.0,
        date_range=("2024-05-01", "2024-05-01"),
    )  # fmt: skip
    assert ds.B04.dtype == np.float32 and ds.B04.attrs["nodata"] == -1.0
    t = ds.B04.isel(time=0, geometry=0).rio.transform()
    shape = ds.B04.shape[2:]
    inside = ~rasterio.features.geometry_mask([AOI], shape, t)
    for band, kind, ovr in (("B04", "average", 0), ("B08", "bilinear", None)):
        ref = np.zeros(shape, np.float32)
        with rasterio.open(served["files"][f"a/{band}"], overview_level=ovr) as src:
            rasterio.warp.reproject(rasterio.band(src, 1), ref, dst_transform=t,
                                    dst_crs="EPSG:32633", dst_nodata=-1.0,
                                    resampling=getattr(rasterio.warp.Resampling, kind))  # fmt: skip
        ref[~inside] = -1.0
        got = ds[band].isel(time=0, geometry=0).values
        np.testing.assert_allclose(got, ref, rtol=2e-7, atol=0, err_msg=band)


def test_get_numpy_options(coll, served):
    arr = coll.get_numpy(AOI, ["B04", "B08"], geometry_crs=32633, resolution=20, dtype="int32",
                         anchor="center", date_range=("2024-05-01", "2024-05-01"))  # fmt: skip
    assert arr.dtype == np.int32 and arr.shape[:2] == (1, 2)
    with pytest.raises(ValueError, match="anchor"):
        coll.get_numpy(AOI, ["B04"], geometry_crs=32633, anchor="middle")
    with pytest.raises(ValueError, match="resampling"):
        coll.get_numpy(AOI, ["B04"], geometry_crs=32633, resampling="lanczos")
    with pytest.raises(ValueError, match="not read"):
        coll.get_xarray(AOI, ["B04"], geometry_crs=32633, dtype={"B11": "float32"})
    with pytest.raises(ValueError, match="groupby"):
        coll.get_xarray(AOI, ["B04"], geometry_crs=32633, groupby="month")


@pytest.mark.parametrize(
    "kw",
    [
        {"groupby": "id", "resolution": 25, "resampling": "average"},
        {"groupby": "solar_day", "resolution": 15, "resampling": "cubic", "dtype": "float32"},
        {"groupby": "time", "anchor": "center", "resampling": "bilinear", "fill_value": 7},
        {"groupby": "id", "target_crs": 3857, "resampling": "mode"},
    ],
)
def test_lazy_equals_eager_with_options(coll, kw):
    pytest.importorskip("dask")
    aois = [AOI, AOI_FAR]
    eager = coll.get_xarray(aois, ["B04", "B08"], geometry_crs=32633, **kw)
    lazy = coll.get_xarray(aois, ["B04", "B08"], geometry_crs=32633, chunks={"y": 37, "x": 53},
                           **kw)  # fmt: skip
    xr.testing.assert_identical(lazy.compute(), eager)


def test_plan_output_predicts_shapes_before_reading(coll):
    source = coll._record_source()
    options = ReadOptions.build(data_source="")
    req = AoiRequest.build(AOI, ("B04", "B08"), what="t", geometry_crs=32633,
                           cube=CubeOptions.build(("B04", "B08"), resolution=20))  # fmt: skip
    shape, dtype = plan_output(source, req, options)
    arr = coll.get_numpy(AOI, ["B04", "B08"], geometry_crs=32633, resolution=20)
    assert shape == arr.shape and dtype == arr.dtype
    plan = plan_output(source, req, options, XarrayOptions.build(groupby="id"))
    ds = coll.get_xarray(AOI, ["B04", "B08"], geometry_crs=32633, resolution=20, groupby="id")
    assert plan.shape == ds.B04.shape and plan.nbytes == ds.B04.nbytes + ds.B08.nbytes
    assert plan.work_nbytes > 0
