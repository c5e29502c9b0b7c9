"""GeoPandas (and numpy / GeoArrow) inputs read exactly the pixels of the equivalent plain
tuple / shapely inputs, with their CRS honoured (issue #13 item 4), on COGs served on loopback.

Also: the errors of a read that finds no record say why (issue #13 item 6).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely
import shapely.affinity
from rasterio.warp import transform_bounds, transform_geom

import rasteret
from rasteret.errors import InvalidInputError, NoDataError, NoMatchingRecordsError
from rasteret_testkit.cogs import sample_array, write_cog

UTM = 32633
T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
AOI_UTM = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)
AOI2_UTM = shapely.affinity.translate(AOI_UTM, 480.0, -1_110.0)  # same size, same pixel phase


def _ll(geom_utm: Any) -> Any:
    return shapely.geometry.shape(
        transform_geom(f"EPSG:{UTM}", "EPSG:4326", shapely.geometry.mapping(geom_utm))
    )


@pytest.fixture(scope="module")
def coll(tmp_path_factory, object_server_session) -> Any:
    """Two dates of one uint16 band in UTM 33N, served over HTTP, indexed once."""
    d = tmp_path_factory.mktemp("gpd")
    for i in range(2):
        path = write_cog(
            d / f"g{i}.tif",
            sample_array("uint16", 1, 400, 500, seed=40 + i),
            transform=T0,
            nodata=0,
            blocksize=128,
        )
        dst = object_server_session.root / "gpd" / f"g{i}.tif"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(Path(path).read_bytes())
    with rasterio.open(d / "g0.tif") as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    table = pa.table(
        {
            "id": ["g0", "g1"],
            "datetime": pa.array(
                [dt.datetime(2024, 6, 1 + 9 * i) for i in range(2)], pa.timestamp("us")
            ),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * 2,
            "assets": [
                {"B04": {"href": object_server_session.url(f"gpd/g{i}.tif")}} for i in range(2)
            ],
            "eo:cloud_cover": [3.0, 12.0],
        }
    )
    return rasteret.build_from_table(
        table,
        name="gpd",
        data_source="local-gpd",
        workspace_dir=tmp_path_factory.mktemp("ws"),
        enrich_cog=True,
    )


@pytest.fixture(scope="module")
def reference(coll) -> np.ndarray:
    """The pixels of the two AOIs given as shapely polygons in UTM with an explicit CRS."""
    return coll.get_numpy([AOI_UTM, AOI2_UTM], ["B04"], geometry_crs=UTM)


def _gdf(crs: Any = UTM) -> gpd.GeoDataFrame:
    if crs == UTM:
        return gpd.GeoDataFrame({"plot": ["a", "b"]}, geometry=[AOI_UTM, AOI2_UTM], crs=crs)
    return gpd.GeoDataFrame({"plot": ["a"]}, geometry=[_ll(AOI_UTM)], crs=crs)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _gdf(UTM), id="GeoDataFrame-utm"),
        pytest.param(lambda: _gdf(UTM).geometry, id="GeoSeries-utm"),
        pytest.param(lambda: _gdf(UTM).geometry.values, id="GeometryArray-utm"),
        pytest.param(lambda: _gdf(UTM).to_arrow(), id="gdf.to_arrow()"),
        pytest.param(lambda: pa.table(_gdf(UTM).to_arrow()), id="pa.table(gdf.to_arrow())"),
        pytest.param(lambda: _gdf(UTM).geometry.to_arrow(), id="GeoArrow-wkb-array"),
        pytest.param(
            lambda: _gdf(UTM).geometry.to_arrow(geometry_encoding="geoarrow"),
            id="GeoArrow-native-array",
        ),
        pytest.param(
            lambda: pa.table(_gdf(UTM).to_arrow(geometry_encoding="geoarrow")),
            id="GeoArrow-native-table",
        ),
        pytest.param(lambda: _gdf(4326), id="GeoDataFrame-4326"),
        pytest.param(lambda: _gdf("OGC:CRS84").geometry, id="GeoSeries-CRS84"),
    ],
)
def test_geopandas_and_geoarrow_aois_equal_plain_inputs(coll, reference, make, request) -> None:
    """The CRS an input carries beats geometry_crs="auto"; pixels equal the plain input's."""
    got = coll.get_numpy(make(), ["B04"])
    if request.node.callspec.id.endswith(("4326", "CRS84")):  # the lon/lat forms: one AOI
        reference = coll.get_numpy(_ll(AOI_UTM), ["B04"])
    assert got.dtype == reference.dtype and np.array_equal(got, reference)


def test_lonlat_inputs_equal_their_tuple_and_shapely_forms(coll) -> None:
    ll = _ll(AOI_UTM)
    plain = coll.get_numpy(ll, ["B04"])
    assert coll.get_numpy(tuple(ll.bounds), ["B04"]).shape[0] == 2
    for value in (
        gpd.GeoDataFrame(geometry=[ll], crs=4326),
        gpd.GeoSeries([ll], crs=4326),
        np.array([ll], dtype=object),
        [ll],
    ):
        assert np.array_equal(coll.get_numpy(value, ["B04"]), plain)


def test_geodataframe_in_xarray_and_gdf_reads(coll) -> None:
    frame = _gdf(UTM)
    plain_x = coll.get_xarray([AOI_UTM, AOI2_UTM], ["B04"], geometry_crs=UTM)
    got_x = coll.get_xarray(frame, ["B04"])
    assert got_x.identical(plain_x)
    plain_g = coll.get_gdf([AOI_UTM, AOI2_UTM], ["B04"], geometry_crs=UTM)
    got_g = coll.get_gdf(frame, ["B04"])
    assert list(got_g["plot"]) == ["a", "b", "a", "b"] or sorted(got_g["plot"]) == [
        "a",
        "a",
        "b",
        "b",
    ]
    assert len(got_g) == len(plain_g)
    for a, b in zip(got_g["data"], plain_g["data"]):
        assert np.array_equal(a, b)
    assert got_g.crs == plain_g.crs
    # a geometry column other than the active one
    other = frame.rename_geometry("aoi").assign(
        center=gpd.GeoSeries([AOI_UTM.centroid, AOI2_UTM.centroid], crs=UTM)
    )
    again = coll.get_numpy(other, ["B04"], geometry_column="aoi")
    assert np.array_equal(again, coll.get_numpy(frame, ["B04"]))


def test_geopandas_points_equal_plain_points(coll) -> None:
    pts_utm = [shapely.Point(500_777.0, 4_998_123.0), shapely.Point(502_101.0, 4_996_543.0)]
    plain = coll.sample_points(pts_utm, ["B04"], geometry_crs=UTM)
    frame = gpd.GeoDataFrame({"site": ["n", "s"]}, geometry=pts_utm, crs=UTM)
    got = coll.sample_points(frame, ["B04"])
    assert got.column("value").to_pylist() == plain.column("value").to_pylist()
    assert got.column("record_id").to_pylist() == plain.column("record_id").to_pylist()
    assert got.column("site").to_pylist() == ["n", "s", "n", "s"] or set(
        got.column("site").to_pylist()
    ) == {"n", "s"}
    series = coll.sample_points(frame.geometry, ["B04"])
    assert series.column("value").to_pylist() == plain.column("value").to_pylist()
    ll = frame.to_crs(4326)
    assert (
        coll.sample_points(ll, ["B04"]).column("value").to_pylist()
        == plain.column("value").to_pylist()
    )


def test_subset_honours_a_geodataframe_crs(coll) -> None:
    far_utm = gpd.GeoDataFrame(
        geometry=[shapely.box(600_000, 4_000_000, 601_000, 4_001_000)], crs=UTM
    )
    assert len(coll.subset(geometries=far_utm)) == 0
    assert len(coll.subset(geometries=_gdf(UTM))) == 2
    assert len(coll.subset(geometries=_gdf(UTM).geometry)) == 2


def test_crs_conflicts_and_missing_crs_are_errors(coll) -> None:
    with pytest.raises(InvalidInputError, match="contradicts the GeoDataFrame's CRS"):
        coll.get_numpy(_gdf(UTM), ["B04"], geometry_crs=4326)
    same = coll.get_numpy(_gdf(UTM), ["B04"], geometry_crs=f"EPSG:{UTM}")  # agreeing: fine
    assert same.shape[0] == 4
    bare = gpd.GeoDataFrame(geometry=[AOI_UTM])
    with pytest.raises(InvalidInputError, match="has no CRS"):
        coll.get_numpy(bare, ["B04"])
    with pytest.raises(InvalidInputError, match="has no CRS"):
        coll.sample_points(gpd.GeoSeries([AOI_UTM.centroid]), ["B04"])
    explicit = coll.get_numpy(bare, ["B04"], geometry_crs=UTM)
    assert np.array_equal(explicit, coll.get_numpy([AOI_UTM], ["B04"], geometry_crs=UTM))


def test_as_collection_takes_geodataframes(coll) -> None:
    frame = gpd.GeoDataFrame.from_arrow(coll)
    assert frame.crs is not None and frame.crs.equals("OGC:CRS84")
    aoi = [_ll(AOI_UTM)]
    expected = coll.get_numpy(aoi, ["B04"])
    for value in (frame, frame.to_arrow(), frame.drop(columns="bbox"),
                  frame.drop(columns="bbox").to_arrow(), frame.to_crs(UTM)):  # fmt: skip
        wrapped = rasteret.as_collection(value, name="wrapped")
        assert len(wrapped) == 2 and wrapped.bands == ["B04"]
        assert np.allclose(wrapped.bounds, coll.bounds, rtol=0, atol=1e-9)
        assert np.array_equal(wrapped.get_numpy(aoi, ["B04"]), expected)


# -- item 6: a read that finds no record says why ------------------------------------------------


def test_projected_aoi_with_default_crs_names_the_assumed_crs_and_bounds(coll) -> None:
    for read in (coll.get_numpy, coll.get_xarray, coll.get_gdf):
        with pytest.raises(NoMatchingRecordsError) as ei:
            read(AOI_UTM, ["B04"])  # UTM metres given without geometry_crs
        msg = str(ei.value)
        assert isinstance(ei.value, NoDataError) and isinstance(ei.value, ValueError)
        assert msg.startswith("No valid data found: no record intersects the geometries")
        assert "EPSG:4326 (assumed" in msg and "geometry_crs='auto'" in msg
        assert "(500523, 4997111, 502377, 4998907)" in msg
        lo = coll.bounds
        assert f"cover lon/lat ({lo[0]:.10g}, {lo[1]:.10g}" in msg
        assert "not lon/lat degrees: pass geometry_crs=" in msg
        assert "geometry_crs=32633, the CRS of the collection's rasters" in msg


def test_a_given_crs_that_misses_the_collection_says_so(coll) -> None:
    far = shapely.box(600_000, 4_000_000, 601_000, 4_001_000)
    with pytest.raises(NoMatchingRecordsError) as ei:
        coll.get_numpy(far, ["B04"], geometry_crs=UTM)
    msg = str(ei.value)
    assert "EPSG:32633 (as given)" in msg and "i.e. lon/lat (" in msg
    assert "not lon/lat degrees" not in msg


def test_filters_that_remove_every_record_say_so(coll) -> None:
    with pytest.raises(NoMatchingRecordsError) as ei:
        coll.get_numpy(_ll(AOI_UTM), ["B04"], cloud_cover_lt=1)
    msg = str(ei.value)
    assert "the filters cloud_cover_lt=1 leave no record of collection 'gpd'" in msg
    assert "(2 record(s) before filtering)" in msg
    with pytest.raises(NoMatchingRecordsError, match=r"date_range=.*leave no record"):
        coll.get_xarray(_ll(AOI_UTM), ["B04"], date_range=("2020-01-01", "2020-02-01"))
    with pytest.raises(NoMatchingRecordsError, match="has no records"):
        coll.subset(cloud_cover_lt=1).get_gdf(_ll(AOI_UTM), ["B04"])
