"""read_grid values where records are resampled or leave pixels uncovered, compared with GDAL
(``rasterio.warp.reproject`` / ``rasterio.merge.merge``) exactly: nodata never takes part in
interpolation, and uncovered pixels hold the records' shared nodata, NaN included."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
import rasterio
import rasterio.merge
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling as R

from rasteret_io.engine import default_fetcher
from rasteret_io.grid import Grid
from rasteret_io.grid_read import GridRead, read_grid
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)


def _read(rows: list, grid: Grid, **kw) -> GridRead:
    """read_grid of band ``b`` over Arrow rows (one batch per row) and row dicts (both agree
    exactly); ``data`` / ``valid`` of the result are its one channel."""
    out = asyncio.run(read_grid(rows_table(rows, chunks=1), ["b"], grid, default_fetcher(), **kw))
    ref = asyncio.run(read_grid(rows, ["b"], grid, default_fetcher(), **kw))
    np.testing.assert_array_equal(out.data, ref.data)
    np.testing.assert_array_equal(out.valid, ref.valid)
    assert out.fill == ref.fill or (math.isnan(out.fill) and math.isnan(ref.fill))
    out.data, out.valid = out.data[0], out.valid[0]
    return out


def _gdal(path, grid: Grid, kind: str, nodata: float, dtype: str) -> np.ndarray:
    """GDAL's warp of band 1 of ``path`` onto ``grid`` (target pre-filled with nodata)."""
    dst = np.full(grid.shape, nodata, dtype=dtype)
    with rasterio.open(path) as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1), dst, dst_transform=Affine(*grid.transform),
            dst_crs=CRS.from_user_input(grid.crs), resampling=R[kind],
            src_nodata=nodata, dst_nodata=nodata,
        )  # fmt: skip
    return dst


def _is_nodata(a: np.ndarray, nodata: float) -> np.ndarray:
    return np.isnan(a) if math.isnan(nodata) else a == nodata


@pytest.fixture(scope="module")
def float_scene(tmp_path_factory):
    """float32, nodata -9999: the left half and a block inside the right half are nodata."""
    a = sample_array("float32", 1, 256, 256, seed=5)
    a[0, :, :128] = -9999.0
    a[0, 40:60, 180:200] = -9999.0
    path = write_cog(tmp_path_factory.mktemp("gv") / "f.tif", a, transform=T0,
                     nodata=-9999.0, overviews=False)  # fmt: skip
    return [row_for_cogs("f", {"b": (path, str(path))})], path


@pytest.fixture(scope="module")
def int_scene(tmp_path_factory):
    """uint16, nodata 0, with a nodata hole."""
    a = sample_array("uint16", 1, 256, 256, seed=6)
    a[0, 100:140, 60:90] = 0
    path = write_cog(tmp_path_factory.mktemp("gv") / "u.tif", a, transform=T0,
                     nodata=0, overviews=False)  # fmt: skip
    return [row_for_cogs("u", {"b": (path, str(path))})], path


HALF = Grid(32633, (10.0, 0.0, 500_005.0, 0.0, -10.0, 4_199_995.0), 200, 100)  # half-pixel shift
COARSER = Grid(32633, (15.0, 0.0, 500_003.0, 0.0, -15.0, 4_199_990.0), 150, 140)  # downsampling
FINER = Grid(32633, (4.0, 0.0, 501_102.0, 0.0, -4.0, 4_199_698.0), 180, 120)  # upsampling
OTHER_CRS = Grid(32632, (10.0, 0.0, 1_027_000.0, 0.0, -10.0, 4_218_000.0), 330, 300)


@pytest.mark.parametrize(
    ("grid", "kind"),
    [(HALF, None), (HALF, "nearest"), (COARSER, None), (FINER, None), (FINER, "nearest")],
    ids=["half-bilinear", "half-nearest", "coarser-bilinear", "finer-bilinear", "finer-nearest"],
)
def test_float_band_with_nodata_resamples_like_gdal(float_scene, grid, kind) -> None:
    rows, path = float_scene
    out = _read(rows, grid, resampling=kind)
    ref = _gdal(path, grid, kind or "bilinear", -9999.0, "float32")  # bilinear: float default
    assert out.data.dtype == np.float32
    np.testing.assert_array_equal(out.data, ref)
    np.testing.assert_array_equal(out.valid, ref != -9999.0)
    assert out.valid.any() and not out.valid.all()


@pytest.mark.parametrize(
    ("grid", "kind"),
    [(HALF, "bilinear"), (COARSER, "bilinear"), (OTHER_CRS, "bilinear"), (OTHER_CRS, None)],
    ids=["half-bilinear", "coarser-bilinear", "utm32-bilinear", "utm32-nearest"],
)
def test_integer_band_with_nodata_resamples_like_gdal(int_scene, grid, kind) -> None:
    """Integer bilinear rounds, clamps and keeps off the nodata value as GDAL does."""
    rows, path = int_scene
    out = _read(rows, grid, resampling=kind)
    ref = _gdal(path, grid, kind or "nearest", 0, "uint16")  # nearest: integer default
    assert out.data.dtype == np.uint16
    np.testing.assert_array_equal(out.data, ref)
    np.testing.assert_array_equal(out.valid, ref != 0)
    assert out.valid.any() and not out.valid.all()


def test_resampled_mosaic_is_first_valid_of_gdal_warps(tmp_path) -> None:
    """Two float records with nodata on a shifted grid: each warped like GDAL, then the first
    valid pixel wins; the nodata of the first never shadows the second."""
    a = sample_array("float32", 1, 200, 200, seed=8)
    a[0, :, :100] = -9999.0
    b = sample_array("float32", 1, 200, 200, seed=9)
    pa_ = write_cog(tmp_path / "a.tif", a, transform=T0, nodata=-9999.0, overviews=False)
    pb = write_cog(tmp_path / "b.tif", b, transform=(10.0, 0.0, 500_500.0, 0.0, -10.0,
                   4_199_500.0), nodata=-9999.0, overviews=False)  # fmt: skip
    rows = [row_for_cogs("a", {"b": (pa_, str(pa_))}), row_for_cogs("b", {"b": (pb, str(pb))})]
    grid = Grid(32633, (10.0, 0.0, 500_005.0, 0.0, -10.0, 4_199_995.0), 240, 240)
    out = _read(rows, grid)
    first, second = (_gdal(p, grid, "bilinear", -9999.0, "float32") for p in (pa_, pb))
    ref = np.where(first != -9999.0, first, second)
    np.testing.assert_array_equal(out.data, ref)
    np.testing.assert_array_equal(out.valid, ref != -9999.0)
    assert out.valid.any() and not out.valid.all()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_nan_nodata_records_leave_uncovered_pixels_nan(tmp_path, n) -> None:
    """Records that all have NaN as nodata: uncovered pixels are NaN (``rasterio.merge``
    with ``nodata=nan``), however many records there are (NaN != NaN must not split them)."""
    rows, paths = [], []
    for i in range(n):
        a = sample_array("float32", 1, 256, 256, seed=30 + i)
        a[0, :10, :10] = np.nan
        t = (10.0, 0.0, 500_000.0 + 2_560.0 * i, 0.0, -10.0, 4_200_000.0)
        p = write_cog(tmp_path / f"n{i}.tif", a, transform=t, nodata=float("nan"))
        rows.append(row_for_cogs(f"n{i}", {"b": (p, str(p))}))
        paths.append(str(p))
    bounds = (500_000.0, 4_196_800.0, 500_000.0 + 2_560.0 * n + 640.0, 4_200_000.0)
    grid = Grid.from_bounds(32633, bounds, (10.0, 10.0), snap=False)
    out = _read(rows, grid)
    ref, _ = rasterio.merge.merge(paths, bounds=bounds, res=10.0, nodata=float("nan"))
    assert math.isnan(out.fill)
    np.testing.assert_array_equal(out.data, ref[0])  # NaN where no record supplied a pixel
    np.testing.assert_array_equal(out.valid, ~np.isnan(ref[0]))
    assert np.isnan(out.data[-1, 0]) and np.isnan(out.data[0, -1])


def test_nan_nodata_resampled_like_gdal(tmp_path) -> None:
    """A NaN-nodata band on a shifted grid: NaN never interpolated into its neighbours."""
    a = sample_array("float32", 1, 256, 256, seed=11)
    a[0, 30:90, 20:70] = np.nan
    p = write_cog(tmp_path / "nan.tif", a, transform=T0, nodata=float("nan"), overviews=False)
    rows = [row_for_cogs("n", {"b": (p, str(p))}), row_for_cogs("m", {"b": (p, str(p))})]
    out = _read(rows, HALF)
    ref = _gdal(p, HALF, "bilinear", float("nan"), "float32")
    assert math.isnan(out.fill)
    np.testing.assert_array_equal(out.data, ref)
    np.testing.assert_array_equal(out.valid, ~_is_nodata(ref, float("nan")))


def test_nan_nodata_records_on_one_grid_share_one_warp_plan(tmp_path) -> None:
    """Records on the same grid whose layouts differ (here the codec) carry distinct NaN
    nodata objects; the stacked read still plans GDAL's warp once for all of them."""
    from shapely.geometry import box

    from rasteret_io.aoi import normalize_aois
    from rasteret_io.aoi_plan import ReadOutcome, plan_tasks
    from rasteret_io.arrow_sources import as_records

    a = sample_array("float32", 1, 256, 256, seed=12)
    rows = []
    for i, compress in enumerate(("DEFLATE", None, "LZW")):
        p = write_cog(tmp_path / f"c{i}.tif", a, transform=T0, nodata=float("nan"),
                      compress=compress, overviews=False)  # fmt: skip
        rows.append(row_for_cogs(f"c{i}", {"b": (p, str(p))}))
    aois = normalize_aois([box(500_100, 4_198_000, 501_500, 4_199_900)], geometry_crs=32633)
    for data in (rows_table(rows, chunks=1), rows):
        records = as_records(data, ["b"])
        nodatas = [r.bands["b"].nodata for r in records]
        assert all(math.isnan(v) for v in nodatas)
        tasks = plan_tasks(records, ["b"], aois, layout="stack", target_crs=32632,
                           resampling="bilinear", outcome=ReadOutcome())  # fmt: skip
        assert len(tasks) == 3 and all(t.plan is tasks[0].plan for t in tasks)
        assert all(t.output is tasks[0].output for t in tasks)


def test_overview_choice_converts_the_grid_resolution_to_source_units(tmp_path) -> None:
    """A 10 m UTM grid over a lon/lat COG with overviews reads full resolution (its 10 m are
    ~1e-4 degrees), not the coarsest overview (10 read as degrees), and equals GDAL's warp of
    the full-resolution band."""
    a = sample_array("uint16", 1, 512, 512, seed=9)
    path = write_cog(tmp_path / "ll.tif", a, crs="EPSG:4326", nodata=0,
                     transform=(0.0001, 0.0, 15.0, 0.0, -0.0001, 45.05))  # fmt: skip
    with rasterio.open(path) as src:
        assert src.overviews(1)  # there is a coarse level to pick by mistake
        left, _, _, top = rasterio.warp.transform_bounds(src.crs, 32633, *src.bounds)
    x0, y0 = math.ceil(left) + 200.0, math.floor(top) - 200.0
    grid = Grid(32633, (10.0, 0.0, x0, 0.0, -10.0, y0), 150, 120)
    out = _read([row_for_cogs("ll", {"b": (path, str(path))})], grid, resampling="nearest")
    np.testing.assert_array_equal(out.data, _gdal(path, grid, "nearest", 0, "uint16"))
