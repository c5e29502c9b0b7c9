"""Fixed-grid reads (read_window semantics) and point sampling, compared with GDAL."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest
import rasterio
import rasterio.merge
from rasterio.windows import Window as RWindow

from rasteret_io.engine import default_fetcher
from rasteret_io.errors import ReadError
from rasteret_io.grid import Grid
from rasteret_io.grid_read import read_grid
from rasteret_io.points import ring_cells, sample_points
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table


def _grid(rows, bands, grid, *, form="both", **kw):
    """read_grid over Arrow rows (two batches) and, with ``form="both"``, row dicts too:
    both must agree exactly."""

    def run(r):
        return asyncio.run(read_grid(r, bands, grid, default_fetcher(), **kw))

    if form == "dicts":
        return run(rows)
    out = run(rows_table(rows, chunks=2))
    if form == "both":
        ref = run(rows)
        np.testing.assert_array_equal(out.data, ref.data)
        np.testing.assert_array_equal(out.valid, ref.valid)
        assert out.groups == ref.groups and out.fill == ref.fill
    return out


def _points(rows, *args, **kw):
    """sample_points over Arrow rows and row dicts; both must give the same samples."""
    out = asyncio.run(sample_points(rows_table(rows, chunks=2), *args, **kw))
    ref = asyncio.run(sample_points(rows, *args, **kw))
    key = [(s.point_index, s.record_index, s.band, s.value, s.neighbourhood) for s in ref.samples]
    assert [
        (s.point_index, s.record_index, s.band, s.value, s.neighbourhood) for s in out.samples
    ] == key
    return out


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid")
    data1 = sample_array("uint16", 1, 400, 400, seed=21)
    data2 = sample_array("uint16", 1, 400, 400, seed=22)
    data1[0, 100:150, 100:150] = 0  # nodata hole in the first scene
    p1 = write_cog(
        d / "a.tif", data1, transform=(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0), nodata=0
    )
    p2 = write_cog(
        d / "b.tif", data2, transform=(10.0, 0, 501_000.0, 0, -10.0, 4_999_000.0), nodata=0
    )
    rows = [
        row_for_cogs("a", {"b": (p1, str(p1))}, datetime=dt.datetime(2024, 1, 1)),
        row_for_cogs("b", {"b": (p2, str(p2))}, datetime=dt.datetime(2024, 1, 1)),
    ]
    return rows, (p1, p2)


def test_aligned_read_equals_gdal_window(scenes):
    rows, (p1, _) = scenes
    grid = Grid.from_bounds(
        32633, (500_200.0, 4_997_000.0, 502_760.0, 4_999_560.0), (10.0, 10.0), snap=False
    )
    out = _grid(rows[:1], ["b"], grid)
    assert out.data.shape == (1, 256, 256)
    with rasterio.open(p1) as src:
        ref = src.read(1, window=RWindow(20, 44, 256, 256))
    np.testing.assert_array_equal(out.data[0], ref)


def test_mosaic_first_valid_wins_like_merge(scenes):
    rows, (p1, p2) = scenes
    bounds = (500_500.0, 4_995_500.0, 503_500.0, 4_999_500.0)
    grid = Grid.from_bounds(32633, bounds, (10.0, 10.0), snap=False)
    out = _grid(rows, ["b"], grid)
    ref, _ = rasterio.merge.merge([str(p1), str(p2)], bounds=bounds, res=10.0, nodata=0)
    np.testing.assert_array_equal(out.data[0], ref[0])
    # the nodata hole of scene a is filled from scene b where b covers it
    assert out.valid[0].sum() == (ref[0] != 0).sum()


def test_group_by_and_coarse_grid(scenes):
    rows, _ = scenes
    grid = Grid.from_bounds(
        32633, (500_500.0, 4_996_000.0, 503_000.0, 4_999_000.0), (10.0, 10.0), snap=False
    )
    by_id = _grid(rows, ["b", "b"], grid, group_by="id")
    assert by_id.data.shape == (2, 2, 300, 250) and by_id.groups == ["a", "b"]
    by_dt = _grid(rows, ["b"], grid, group_by="datetime")
    assert by_dt.data.shape == (1, 1, 300, 250)
    coarse = Grid.from_bounds(
        32633, (500_000.0, 4_996_000.0, 504_000.0, 5_000_000.0), (20.0, 20.0), snap=False
    )
    assert _grid(rows, ["b"], coarse).data.shape == (1, 200, 200)
    with pytest.raises(ValueError):
        _grid(rows, ["b"], grid, group_by="month")
    with pytest.raises(ReadError):
        _grid([{"id": "x", "assets": {}}], ["b"], grid, form="dicts")


def test_sample_points_match_rasterio_sample(scenes):
    rows, (p1, p2) = scenes
    rng = np.random.default_rng(3)
    xs = rng.uniform(499_500, 505_500, 200)
    ys = rng.uniform(4_994_500, 5_000_500, 200)
    res = _points(rows, ["b"], xs, ys, 32633, default_fetcher())
    got = {(s.record_index, s.point_index): s.value for s in res.samples}
    for ri, p in enumerate((p1, p2)):
        with rasterio.open(p) as src:
            b = src.bounds
            for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
                inside = b.left <= x < b.right and b.bottom < y <= b.top
                if not inside:
                    assert (ri, i) not in got
                    continue
                (expect,) = next(src.sample([(x, y)]))
                assert got[(ri, i)] == float(expect)


def test_sample_points_nodata_fallback_and_neighbourhood(scenes):
    rows, _ = scenes
    # a point inside the 50x50 nodata hole of scene a, 1.2 px from its left edge
    x, y = 500_000 + 101.2 * 10, 5_000_000 - 125.5 * 10
    res = _points(
        rows[:1],
        ["b"],
        [x],
        [y],
        32633,
        default_fetcher(),
        max_distance_pixels=3,
        return_neighbourhood="if_center_nodata",
    )
    (s,) = res.samples
    with rasterio.open(rows[0]["assets"]["b"]["href"]) as src:
        expect = src.read(1)[125, 99]  # nearest valid pixel: two columns left
        block = src.read(1)[122:129, 98:105].astype(float)
    assert s.value == float(expect)
    np.testing.assert_array_equal(np.array(s.neighbourhood).reshape(7, 7), block)
    res2 = _points(rows[:1], ["b"], [x], [y], 32633, default_fetcher())
    assert res2.samples[0].value == 0.0 and res2.samples[0].neighbourhood is None
    with pytest.raises(ValueError, match="max_distance_pixels must be > 0"):
        asyncio.run(
            sample_points(
                rows, ["b"], [x], [y], 32633, default_fetcher(), return_neighbourhood="always"
            )
        )


def test_sample_points_latest_match_and_ring_order(scenes):
    rows, _ = scenes
    x, y = 502_000.0 + 5, 4_997_000.0 - 5  # inside both scenes
    allm = _points(rows, ["b"], [x], [y], 32633, default_fetcher())
    assert len(allm.samples) == 2
    latest = _points(rows[::-1], ["b"], [x], [y], 32633, default_fetcher(), match="latest")
    assert [s.record_index for s in latest.samples] == [0]
    assert ring_cells(1) == [(-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1), (0, -1), (0, 1)]
    assert len(ring_cells(3)) == 8 * 3
