"""Which records a Collection read picks, end to end over loopback HTTP and against rasterio:
``sample_points(match="latest")`` takes the newest record with data at the point, and records
whose STAC bbox crosses the antimeridian (``xmin > xmax``) are found by point, AOI and subset
reads on both sides of 180°."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from pyproj import Transformer
from rasterio.warp import transform_geom

import rasteret
from rasteret_testkit.cogs import sample_array
from rasteret_testkit.rows import row_for_cogs, rows_table

T_UTM33 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)
T_UTM01 = (100.0, 0.0, 153_221.0, 0.0, -100.0, 1_000_000.0)  # straddles 180° near the equator


def test_sample_points_latest_takes_the_newest_record_with_data(serve_cog) -> None:
    old = sample_array("uint16", 1, 256, 256, seed=31) | 1
    new = sample_array("uint16", 1, 256, 256, seed=32) | 1
    new[0, :, :128] = 0  # left half nodata
    p_old, u_old = serve_cog("choice/old.tif", old, transform=T_UTM33, overviews=False)
    p_new, u_new = serve_cog("choice/new.tif", new, transform=T_UTM33, overviews=False)
    rows = [
        row_for_cogs("old", {"B1": (p_old, u_old)}, datetime=dt.datetime(2024, 1, 1)),
        row_for_cogs("new", {"B1": (p_new, u_new)}, datetime=dt.datetime(2024, 6, 1)),
    ]
    coll = rasteret.as_collection(rows_table(rows), name="choice")
    xs, ys = [500_505.0, 502_005.0], [4_199_495.0, 4_199_495.0]  # columns 50 and 200
    with rasterio.open(p_old) as a, rasterio.open(p_new) as b:
        want_old = [float(v[0]) for v in a.sample(list(zip(xs, ys, strict=True)))]
        want_new = [float(v[0]) for v in b.sample(list(zip(xs, ys, strict=True)))]
    assert want_new[0] == 0.0 and want_old[0] != 0.0
    pts = [shapely.Point(x, y) for x, y in zip(xs, ys, strict=True)]
    out = coll.sample_points(pts, ["B1"], geometry_crs=32633, match="latest")
    got = sorted((r["point_index"], r["record_id"], r["value"]) for r in out.to_pylist())
    assert got == [(0, "old", want_old[0]), (1, "new", want_new[1])]


@pytest.fixture(scope="module")
def antimeridian(serve_cog) -> dict[str, Any]:
    data = sample_array("uint16", 1, 256, 256, seed=33) | 1
    path, url = serve_cog(
        "choice/am.tif", data, crs="EPSG:32601", transform=T_UTM01, overviews=False
    )
    tr = Transformer.from_crs(32601, 4326, always_xy=True)
    lons, lats = tr.transform([153_221.0, 178_821.0] * 2, [1_000_000.0] * 2 + [974_400.0] * 2)
    box = (min(v for v in lons if v > 0), min(lats), max(v for v in lons if v < 0), max(lats))
    assert box[0] > box[2]  # the STAC form of a bbox crossing the antimeridian
    rows = [row_for_cogs("am", {"B1": (path, url)}, bbox=box)]
    return {"path": path, "coll": rasteret.as_collection(rows_table(rows), name="am")}


def _lonlat(geom_utm: Any) -> Any:
    return shapely.geometry.shape(
        transform_geom("EPSG:32601", "EPSG:4326", shapely.geometry.mapping(geom_utm))
    )


def test_antimeridian_record_is_sampled_on_both_sides(antimeridian) -> None:
    path, coll = antimeridian["path"], antimeridian["coll"]
    xs, ys = [159_971.0, 176_971.0], [989_950.0, 979_950.0]  # pixel centres
    lon, lat = Transformer.from_crs(32601, 4326, always_xy=True).transform(xs, ys)
    assert lon[0] > 179 and lon[1] < -179
    pts = [shapely.Point(a, b) for a, b in zip(lon, lat, strict=True)]
    out = coll.sample_points(pts, ["B1"], geometry_crs=4326)
    with rasterio.open(path) as src:
        want = [float(v[0]) for v in src.sample(list(zip(xs, ys, strict=True)))]
    assert [r["value"] for r in sorted(out.to_pylist(), key=lambda r: r["point_index"])] == want


@pytest.mark.parametrize(
    "utm_box", [(155_000, 981_000, 159_000, 985_500), (170_000, 976_000, 176_500, 979_000)]
)
def test_antimeridian_record_is_read_for_aois_on_both_sides(antimeridian, utm_box) -> None:
    path, coll = antimeridian["path"], antimeridian["coll"]
    g = _lonlat(shapely.box(*utm_box))
    w, s, e, n = g.bounds
    assert (w > 179) if utm_box[0] < 166_000 else (e < -179)
    assert len(coll.subset(bbox=(w, s, e, n))) == 1
    arr = coll.get_numpy(g, ["B1"])
    utm = shapely.geometry.shape(
        transform_geom("EPSG:4326", "EPSG:32601", shapely.geometry.mapping(g))
    )
    with rasterio.open(path) as src:
        ref, _ = rasterio.mask.mask(src, [utm], crop=True, filled=True)
    assert arr.shape[0] == 1
    np.testing.assert_array_equal(arr[0], ref[0])


def test_far_aoi_does_not_select_the_antimeridian_record(antimeridian) -> None:
    coll: rasteret.Collection = antimeridian["coll"]
    assert len(coll.subset(bbox=(0.0, 8.0, 1.0, 9.0))) == 0
    assert len(coll.subset(bbox=(-179.5, 8.0, 179.5, 9.0))) == 0  # all but the two halves
