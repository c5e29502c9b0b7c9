"""Every public read method end to end: build from GDAL COGs served on loopback, read, compare
with rasterio (mask / sample / merge) pixel for pixel."""

from __future__ import annotations

import datetime as dt
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import rasterio.merge
import shapely
from rasterio.warp import transform_bounds, transform_geom

import rasteret
from rasteret_testkit.cogs import sample_array, write_cog

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)


@pytest.fixture(scope="module")
def served(tmp_path_factory, object_server_session) -> dict[str, Any]:
    """Three dates x two bands of uint16 COGs (B08 at 20 m), served over HTTP."""
    d = tmp_path_factory.mktemp("e2e")
    files: dict[str, Path] = {}
    for i in range(3):
        b4 = sample_array("uint16", 1, 400, 500, seed=10 + i)
        b8 = sample_array("uint16", 1, 200, 250, seed=20 + i)
        files[f"s{i}/B04.tif"] = write_cog(
            d / f"s{i}_B04.tif", b4, transform=T0, nodata=0, blocksize=128
        )
        t20 = (20.0, 0.0, T0[2], 0.0, -20.0, T0[5])
        files[f"s{i}/B08.tif"] = write_cog(
            d / f"s{i}_B08.tif", b8, transform=t20, nodata=0, blocksize=128
        )
    for key, path in files.items():
        dst = object_server_session.root / "e2e" / key
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(path.read_bytes())
    with rasterio.open(files["s0/B04.tif"]) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    table = pa.table(
        {
            "id": [f"s{i}" for i in range(3)],
            "datetime": pa.array(
                [dt.datetime(2024, 5, 1 + 5 * i, tzinfo=dt.UTC) for i in range(3)],
                pa.timestamp("us", "UTC"),
            ),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * 3,
            "assets": [
                {
                    b: {"href": object_server_session.url(f"e2e/s{i}/{b}.tif")}
                    for b in ("B04", "B08")
                }
                for i in range(3)
            ],
            "eo:cloud_cover": [1.0, 30.0, 5.0],
        }
    )
    return {"table": table, "files": files, "lonlat": lonlat, "server": object_server_session}


@pytest.fixture(scope="module")
def coll(served, tmp_path_factory):
    return rasteret.build_from_table(
        served["table"],
        name="e2e",
        data_source="local-test",
        workspace_dir=tmp_path_factory.mktemp("ws"),
        enrich_cog=True,
    )


AOI_UTM = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)


def _aoi_4326() -> Any:
    return shapely.geometry.shape(
        transform_geom("EPSG:32633", "EPSG:4326", shapely.geometry.mapping(AOI_UTM))
    )


def _mask(path: Path, geom_utm: Any, **kw: Any) -> np.ndarray:
    with rasterio.open(path) as src:
        out, _ = rasterio.mask.mask(src, [geom_utm], crop=True, filled=True, **kw)
    return out[0]


def test_get_numpy_matches_rasterio_mask(coll, served):
    g = _aoi_4326()
    arr = coll.get_numpy(g, ["B04"])
    assert arr.dtype == np.uint16 and arr.shape[0] == 3
    utm = shapely.geometry.shape(
        transform_geom("EPSG:4326", "EPSG:32633", shapely.geometry.mapping(g))
    )
    for i in range(3):
        np.testing.assert_array_equal(arr[i], _mask(served["files"][f"s{i}/B04.tif"], utm))
    # 10 m and 20 m bands stack on one grid: [N, C, H, W]
    both = coll.get_numpy(g, ["B04", "B08"], cloud_cover_lt=10)
    assert both.shape[:2] == (2, 2) and both.shape[2:] == arr.shape[1:]


def test_get_numpy_geometry_crs_and_all_touched(coll, served):
    arr = coll.get_numpy(
        AOI_UTM,
        ["B04"],
        geometry_crs=32633,
        all_touched=True,
        date_range=("2024-05-06", "2024-05-06"),
    )
    assert arr.shape[0] == 1
    np.testing.assert_array_equal(
        arr[0], _mask(served["files"]["s1/B04.tif"], AOI_UTM, all_touched=True)
    )


def test_get_xarray_dims_crs_and_values(coll, served):
    ds = coll.get_xarray(AOI_UTM, ["B04"], geometry_crs=32633)
    assert dict(ds.B04.sizes) == {"time": 3, "geometry": 1, "y": ds.sizes["y"], "x": ds.sizes["x"]}
    assert ds.B04.dtype == np.uint16 and ds.B04.attrs["_FillValue"] == 0
    assert "spatial_ref" in ds.coords and "32633" in ds.spatial_ref.attrs["crs_wkt"]
    assert ds.y.values[0] > ds.y.values[-1]
    ref = _mask(served["files"]["s2/B04.tif"], AOI_UTM)
    np.testing.assert_array_equal(ds.B04.isel(time=2, geometry=0).values, ref)
    rio = pytest.importorskip("rioxarray")
    assert rio and ds.B04.rio.crs.to_epsg() == 32633


def test_get_gdf_rows_and_metadata_join(coll, served):
    pytest.importorskip("geopandas")
    aois = pa.table(
        {
            "plot": ["a", "b"],
            "geometry": [
                shapely.to_wkb(AOI_UTM),
                shapely.to_wkb(shapely.box(501_000, 4_998_000, 501_500, 4_998_500)),
            ],
        }
    )
    aois = aois.cast(
        pa.schema([aois.schema.field(0), aois.schema.field(1).with_metadata(
            {"ARROW:extension:name": "geoarrow.wkb", "ARROW:extension:metadata": '{"crs": "EPSG:32633"}'})])
    )  # fmt: skip
    gdf = coll.get_gdf(aois, ["B04"])
    assert len(gdf) == 6 and set(gdf["plot"]) == {"a", "b"}
    assert gdf.crs.to_epsg() == 32633
    row = gdf[(gdf.record_id == "s0") & (gdf["plot"] == "a")].iloc[0]
    np.testing.assert_array_equal(row.data, _mask(served["files"]["s0/B04.tif"], AOI_UTM))
    assert row["transform"].a == 10.0


def test_sample_points_matches_rasterio_sample(coll, served):
    rng = np.random.default_rng(0)
    xs = rng.uniform(500_050, 504_950, 25)
    ys = rng.uniform(4_996_050, 4_999_950, 25)
    pts = pa.table({"x": xs, "y": ys, "name": [f"p{i}" for i in range(25)]})
    out = coll.sample_points(pts, ["B04"], geometry_crs=32633)
    assert out.num_rows == 75 and out.column_names[-3:] == ["x", "y", "name"]
    first = out.filter(pa.compute.equal(out["record_id"], "s1")).to_pylist()
    with rasterio.open(served["files"]["s1/B04.tif"]) as src:
        expect = [float(v[0]) for v in src.sample(list(zip(xs, ys, strict=True)))]
    assert [r["value"] for r in sorted(first, key=lambda r: r["point_index"])] == expect


def test_read_window_matches_merge(coll, served):
    bounds = (500_500.0, 4_997_000.0, 503_060.0, 4_999_560.0)
    arr = coll.read_window(record_ids=["s2", "s0"], bounds=bounds, res=(10.0, 10.0), bands=["B04"])
    ref, _ = rasterio.merge.merge(
        [str(served["files"]["s2/B04.tif"]), str(served["files"]["s0/B04.tif"])],
        bounds=bounds,
        res=10.0,
    )
    np.testing.assert_array_equal(arr[0], ref[0])
    ts = coll.read_window(
        record_ids=["s0", "s1"],
        bounds=bounds,
        res=(20.0, 20.0),
        bands=["B04", "B08"],
        group_by="id",
    )
    assert ts.shape == (2, 2, 128, 128)


def test_collection_pickles_and_reads_after_export_load(coll, tmp_path):
    clone = pickle.loads(pickle.dumps(coll))
    a = clone.get_numpy(AOI_UTM, ["B04"], geometry_crs=32633)
    coll.export(tmp_path / "again_records")
    back = rasteret.load(tmp_path / "again_records")
    b = back.get_numpy(AOI_UTM, ["B04"], geometry_crs=32633)
    np.testing.assert_array_equal(a, b)


def test_read_errors_are_clear(coll):
    with pytest.raises(ValueError, match="Band\\(s\\) not found"):
        coll.get_numpy(AOI_UTM, ["B99"], geometry_crs=32633)
    with pytest.raises(TypeError, match="Point"):
        coll.get_numpy(shapely.Point(15.0, 45.0), ["B04"])
    with pytest.raises(ValueError, match="No valid data"):
        coll.get_numpy(shapely.box(100.0, 10.0, 100.1, 10.1), ["B04"])


def test_missing_object_warns_and_keeps_others(served, tmp_path):
    t = served["table"]
    assets = t.column("assets").to_pylist()
    assets[1] = {"B04": {"href": served["server"].url("e2e/nope/B04.tif")}, "B08": assets[1]["B08"]}
    c = rasteret.build_from_table(t.set_column(3, "assets", pa.array(assets)), name="holes",
                                  workspace_dir=tmp_path, enrich_cog=True)  # fmt: skip
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        arr = c.get_numpy(AOI_UTM, ["B04"], geometry_crs=32633)
    assert arr.shape[0] == 2


def test_progress_bar_on_reads(coll, capsys):
    with rasteret.options(progress=True):
        coll.get_numpy(AOI_UTM, ["B04"], geometry_crs=32633)
    assert "rasteret read" in capsys.readouterr().err
