"""Collection.read_window over loopback HTTP where records are resampled or leave pixels
uncovered, compared with GDAL exactly: a finite nodata never blends into interpolated pixels
(``rasterio.warp.reproject`` with the nodata), and NaN-nodata records leave NaN, not 0, where
none of them has data (``rasterio.merge.merge(nodata=nan)``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.merge
import rasterio.warp
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

import rasteret
from rasteret_testkit.cogs import sample_array

T = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)


@pytest.fixture(scope="module")
def window_coll(
    serve_cog: Callable[..., tuple[Path, str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, list[Path]]:
    """Records w0, w1: float32 with NaN nodata, side by side; w2: float32 with nodata -9999
    over its left half."""
    a = sample_array("float32", 1, 256, 256, seed=50)
    a[0, :8, :8] = np.nan
    p0, u0 = serve_cog("rw/w0.tif", a, transform=T, nodata=float("nan"), overviews=False)
    t1 = (10.0, 0.0, 502_560.0, 0.0, -10.0, 4_200_000.0)
    p1, u1 = serve_cog("rw/w1.tif", a, transform=t1, nodata=float("nan"), overviews=False)
    b = sample_array("float32", 1, 256, 256, seed=51)
    b[0, :, :128] = -9999.0
    p2, u2 = serve_cog("rw/w2.tif", b, transform=T, nodata=-9999.0, overviews=False)
    with rasterio.open(p0) as src:
        west = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    with rasterio.open(p1) as src:
        east = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    lonlat = (min(west[0], east[0]), min(west[1], east[1]),
              max(west[2], east[2]), max(west[3], east[3]))  # fmt: skip
    table = pa.table(
        {
            "id": ["w0", "w1", "w2"],
            "datetime": pa.array(
                [dt.datetime(2024, 5, 1, tzinfo=dt.UTC)] * 3, pa.timestamp("us", "UTC")
            ),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * 3,
            "assets": [{"B04": {"href": u}} for u in (u0, u1, u2)],
        }
    )
    coll = rasteret.build_from_table(
        table,
        name="rw",
        workspace_dir=tmp_path_factory.mktemp("rw-ws"),
        enrich_cog=True,
    )
    return coll, [p0, p1, p2]


def test_nan_nodata_records_leave_nan_where_none_has_data(window_coll) -> None:
    coll, (p0, p1, _) = window_coll
    bounds = (500_000.0, 4_196_000.0, 505_120.0, 4_200_000.0)  # 1,440 m south of both
    got = coll.read_window(record_ids=["w0", "w1"], bounds=bounds, res=(10.0, 10.0),
                           bands=["B04"])  # fmt: skip
    ref, _ = rasterio.merge.merge([str(p0), str(p1)], bounds=bounds, res=10.0,
                                  nodata=float("nan"))  # fmt: skip
    assert got.shape == (1, 400, 512) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], ref[0])
    assert np.isnan(got[0, -1]).all() and np.isnan(got[0, 0, 0])


def test_finite_nodata_never_blends_into_resampled_pixels(window_coll) -> None:
    coll, (_, _, p2) = window_coll
    bounds = (500_005.0, 4_198_005.0, 502_005.0, 4_199_995.0)  # half a pixel off the grid
    got = coll.read_window(record_ids=["w2"], bounds=bounds, res=(10.0, 10.0), bands=["B04"])
    ref = np.full((199, 200), -9999.0, dtype="float32")
    with rasterio.open(p2) as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1), ref, dst_transform=Affine(10.0, 0.0, 500_005.0, 0.0, -10.0,
            4_199_995.0), dst_crs=src.crs, resampling=Resampling.bilinear,
            src_nodata=-9999.0, dst_nodata=-9999.0,
        )  # fmt: skip
    assert got.shape == (1, 199, 200)
    np.testing.assert_array_equal(got[0], ref)
    assert (ref[:, :127] == -9999.0).all() and (ref[:, 128:] != -9999.0).all()
