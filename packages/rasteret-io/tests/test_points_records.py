"""Which records a point samples: ``match="latest"`` takes the newest record with data there,
bboxes crossing the antimeridian hold points on both sides, and one-shot row inputs (a
``RecordBatchReader``, a generator) are read once. Values are compared with rasterio's
``sample`` / ``read`` on the same COGs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from pyproj import Transformer

from rasteret_io.engine import default_fetcher
from rasteret_io.points import sample_points
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table

T_SMALL = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)  # 256 x 256 px
T_LARGE = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)  # 512 x 256 px, same origin


def _xy(col: float, row: float) -> tuple[float, float]:
    return 500_000.0 + col * 10.0, 4_200_000.0 - row * 10.0


def _rio(path: Path, x: float, y: float) -> float:
    with rasterio.open(path) as src:
        (v,) = next(src.sample([(x, y)]))
    return float(v)


def _key(out: Any) -> list[tuple[int, int, str, float]]:
    return [(s.point_index, s.record_index, s.band, s.value) for s in out.samples]


@pytest.fixture
def stack(tmp_path: Path, object_server: Any) -> dict[str, Any]:
    """Three records of one place served over HTTP, newest first: ``new`` (left half nodata),
    ``mid`` (columns < 64 masked out by an internal mask), ``old`` (twice as wide, all valid
    but for a 10 x 10 nodata corner). ``new`` and ``mid`` carry ``old``'s bbox, so points
    right of column 256 are in their bboxes but outside their rasters."""
    new = sample_array("uint16", 1, 256, 256, seed=1) | 1
    new[0, :, :128] = 0
    mid = sample_array("uint16", 1, 256, 256, seed=2) | 1
    mask = np.full((256, 256), 255, dtype="uint8")
    mask[:, :64] = 0
    old = sample_array("uint16", 1, 256, 512, seed=3) | 1
    old[0, :10, :10] = 0
    paths = {
        "new": write_cog(tmp_path / "new.tif", new, transform=T_SMALL, nodata=0, overviews=False),
        "mid": write_cog(tmp_path / "mid.tif", mid, transform=T_SMALL, mask=mask, overviews=False),
        "old": write_cog(tmp_path / "old.tif", old, transform=T_LARGE, nodata=0, overviews=False),
    }
    urls = {}
    for name, p in paths.items():
        key = f"latest/{name}.tif"
        (object_server.root / "latest").mkdir(parents=True, exist_ok=True)
        (object_server.root / key).write_bytes(p.read_bytes())
        urls[name] = object_server.url(key)
    bbox = row_for_cogs("old", {"b": (paths["old"], urls["old"])})["bbox"]
    box = tuple(bbox[k] for k in ("xmin", "ymin", "xmax", "ymax"))
    rows = [
        row_for_cogs(n, {"b": (paths[n], urls[n])}, bbox=box if n != "old" else None)
        for n in ("new", "mid", "old")
    ]
    return {"rows": rows, "paths": paths, "server": object_server}


def test_latest_takes_the_newest_record_with_data(stack):
    rows, paths = stack["rows"], stack["paths"]
    pts = {
        "new valid": (200.5, 40.5),
        "new nodata, mid valid": (100.5, 40.5),
        "new nodata, mid masked": (30.5, 40.5),
        "outside new and mid rasters": (300.5, 40.5),
        "no record has data": (5.5, 5.5),
    }
    xs, ys = zip(*(_xy(c, r) for c, r in pts.values()), strict=True)
    want = [
        (0, 0, "b", _rio(paths["new"], xs[0], ys[0])),
        (1, 1, "b", _rio(paths["mid"], xs[1], ys[1])),
        (2, 2, "b", _rio(paths["old"], xs[2], ys[2])),
        (3, 2, "b", _rio(paths["old"], xs[3], ys[3])),
        (4, 0, "b", _rio(paths["new"], xs[4], ys[4])),  # nobody has data: the newest's nodata
    ]
    want.sort(key=lambda t: (t[1], t[0]))
    assert want[0][3] != 0 and want[-1][3] != 0 and want[1][3] == 0.0
    for form in (rows, rows_table(rows, chunks=2)):
        out = asyncio.run(
            sample_points(form, ["b"], xs, ys, 32633, default_fetcher(), match="latest")
        )
        assert _key(out) == want and out.failures == []
    # "all" still returns every in-raster record, nodata and masked (NaN) values included
    allm = asyncio.run(sample_points(rows, ["b"], xs[2:3], ys[2:3], 32633, default_fetcher()))
    got = [(s.record_index, s.value) for s in allm.samples]
    assert got[0] == (0, 0.0) and got[1][0] == 1 and np.isnan(got[1][1]) and got[2][0] == 2


def test_latest_reads_older_records_only_for_points_the_newer_fail(stack):
    rows, server = stack["rows"], stack["server"]
    x, y = _xy(200.5, 40.5)
    server.reset()
    out = asyncio.run(
        sample_points(rows, ["b"], [x], [y], 32633, default_fetcher(), match="latest")
    )
    assert [(s.record_index, s.value) for s in out.samples] == [
        (0, _rio(stack["paths"]["new"], x, y))
    ]
    assert server.count("GET", "latest/new.tif") > 0
    assert server.count("GET", "latest/mid.tif") == 0 and server.count("GET", "latest/old.tif") == 0
    # a point the newest fails: each older record is read once, in order, until one has data
    x2, y2 = _xy(30.5, 40.5)
    server.reset()
    calls: list[tuple[int, int]] = []
    out = asyncio.run(
        sample_points(
            rows, ["b"], [x, x2], [y, y2], 32633, default_fetcher(), match="latest",
            progress=lambda d, t: calls.append((d, t)),
        )
    )  # fmt: skip
    assert [(s.point_index, s.record_index) for s in out.samples] == [(0, 0), (1, 2)]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (3, 3)


def test_latest_with_nodata_fallback_radius(stack):
    rows, paths = stack["rows"], stack["paths"]
    # 1.5 px left of new's valid half: ring 2 reaches column 128 -> new serves it
    xa, ya = _xy(126.5, 40.5)
    # 28 px into new's nodata half: no valid pixel within 2 rings -> mid's centre
    xb, yb = _xy(100.5, 40.5)
    out = asyncio.run(
        sample_points(
            rows, ["b"], [xa, xb], [ya, yb], 32633, default_fetcher(), match="latest",
            max_distance_pixels=2,
        )
    )  # fmt: skip
    with rasterio.open(paths["new"]) as src:
        near = float(src.read(1)[40, 128])
    assert _key(out) == [(0, 0, "b", near), (1, 1, "b", _rio(paths["mid"], xb, yb))]


@pytest.fixture
def antimeridian(tmp_path: Path) -> dict[str, Any]:
    """A UTM zone 1 raster straddling 180° near the equator, its STAC bbox written with
    ``xmin > xmax``."""
    data = sample_array("uint16", 1, 256, 256, seed=7) | 1
    path = write_cog(
        tmp_path / "am.tif", data, crs="EPSG:32601",
        transform=(100.0, 0.0, 153_221.0, 0.0, -100.0, 1_000_000.0), overviews=False,
    )  # fmt: skip
    tr = Transformer.from_crs(32601, 4326, always_xy=True)
    lons, lats = tr.transform([153_221.0, 178_821.0] * 2, [1_000_000.0] * 2 + [974_400.0] * 2)
    box = (min(v for v in lons if v > 0), min(lats), max(v for v in lons if v < 0), max(lats))
    assert box[0] > box[2]
    return {"path": path, "rows": [row_for_cogs("am", {"b": (path, str(path))}, bbox=box)]}


def test_antimeridian_bbox_holds_points_on_both_sides(antimeridian):
    path, rows = antimeridian["path"], antimeridian["rows"]
    xs = [160_000.0, 177_000.0, 154_000.0, 178_000.0, 400_000.0]
    ys = [990_000.0, 980_000.0, 999_000.0, 975_000.0, 990_000.0]
    lon, _ = Transformer.from_crs(32601, 4326, always_xy=True).transform(xs, ys)
    assert lon[0] > 179 and lon[1] < -179 and -179 < lon[4] < 0  # east, west, far away
    want = [(i, 0, "b", _rio(path, x, y)) for i, (x, y) in enumerate(zip(xs, ys)) if i < 4]
    for match in ("all", "latest"):
        for form in (rows, rows_table(rows)):
            out = asyncio.run(
                sample_points(form, ["b"], xs, ys, 32601, default_fetcher(), match=match)
            )
            assert _key(out) == want and out.failures == []


def test_one_shot_row_inputs_are_read_once(stack, tmp_path):
    rows = stack["rows"]
    xs, ys = zip(_xy(200.5, 40.5), _xy(300.5, 40.5), strict=True)
    ref = asyncio.run(sample_points(rows_table(rows), ["b"], xs, ys, 32633, default_fetcher()))
    assert len(ref.samples) == 4
    table = rows_table(rows, chunks=2)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    out = asyncio.run(sample_points(reader, ["b"], xs, ys, 32633, default_fetcher()))
    assert _key(out) == _key(ref)
    gen = (r for r in rows)
    out = asyncio.run(sample_points(gen, ["b"], xs, ys, 32633, default_fetcher()))
    assert _key(out) == _key(ref)


def test_latest_reports_an_unsampleable_record_only_when_a_point_falls_back_to_it(stack, tmp_path):
    rows, paths = stack["rows"], stack["paths"]
    data = sample_array("uint16", 1, 256, 256, seed=9) | 1
    p = write_cog(tmp_path / "nocrs.tif", data, crs=None, transform=T_SMALL, overviews=False)
    nocrs = row_for_cogs("nocrs", {"b": (p, str(p))}, bbox=tuple(rows[2]["bbox"].values()))
    xs, ys = zip(_xy(200.5, 40.5), _xy(300.5, 40.5), strict=True)
    # new serves point 0; point 1 is outside new's raster, falls back through nocrs to old
    out = asyncio.run(
        sample_points(
            [rows[0], nocrs, rows[2]], ["b"], xs, ys, 32633, default_fetcher(), match="latest"
        )
    )
    assert _key(out) == [
        (0, 0, "b", _rio(paths["new"], xs[0], ys[0])),
        (1, 2, "b", _rio(paths["old"], xs[1], ys[1])),
    ]
    assert [(f.record_id, f.band, str(f.error)) for f in out.failures] == [
        ("nocrs", "b", "record has no CRS")
    ]
    # nobody falls back to it: no failure (the newest serves every point)
    out = asyncio.run(
        sample_points(
            [rows[0], nocrs], ["b"], xs[:1], ys[:1], 32633, default_fetcher(), match="latest"
        )
    )
    assert len(out.samples) == 1 and out.failures == []
    allm = asyncio.run(
        sample_points([rows[0], nocrs], ["b"], xs[:1], ys[:1], 32633, default_fetcher())
    )
    assert [f.record_id for f in allm.failures] == ["nocrs"]


def _fallback_rounds(data_at: int, records: int) -> tuple[list[int], list[list[int]]]:
    """Run ``match="latest"``'s fallback over ``records`` records of one point, where only
    record ``data_at`` has data there; returns the records chosen and the records each round
    read."""
    from rasteret_cog import TileSpec
    from rasteret_io.points import PointSample, PointSamples, _Hit, _latest
    from rasteret_io.sources import BandSource, LevelRef

    spec = TileSpec(width=8, height=8, tile_width=8, tile_height=8, dtype="uint16")
    lv = LevelRef(8, 8, 8, 8, (10.0, 0, 0, 0, -10.0, 0), (0,), (1,))
    src = BandSource("r", "B1", "u", spec, 0, 32633, 0, (lv,))
    one = np.array([0])
    hits = [_Hit(one, k, 0, src, np.zeros(1), np.zeros(1)) for k in range(records)]
    rounds: list[list[int]] = []

    async def sample(batch: list[Any]) -> list[tuple[Any, PointSample]]:
        rounds.append([h.record_index for h in batch])
        return [
            (h, PointSample(0, h.record_index, "B1", 5.0 if h.record_index == data_at else 0.0))
            for h in batch
        ]

    got = asyncio.run(_latest(hits, sample, (1, 1), PointSamples()))
    return [s.record_index for s in got], rounds


def test_latest_fallback_rounds_grow_geometrically() -> None:
    """A point only the oldest of 100 records serves takes 7 rounds of concurrent reads
    (1, 2, 4, ... records), not 100; the newest record with data wins."""
    chosen, rounds = _fallback_rounds(data_at=99, records=100)
    assert chosen == [99]
    assert [len(r) for r in rounds] == [1, 2, 4, 8, 16, 32, 37]
    assert sorted(k for r in rounds for k in r) == list(range(100))  # each record read once


def test_latest_reads_only_the_newest_when_it_has_data() -> None:
    chosen, rounds = _fallback_rounds(data_at=0, records=100)
    assert chosen == [0] and rounds == [[0]]
    chosen, rounds = _fallback_rounds(data_at=2, records=100)  # read with record 1 in round 1
    assert chosen == [2] and rounds == [[0], [1, 2]]
    chosen, rounds = _fallback_rounds(data_at=-1, records=3)  # no data: the newest's nodata
    assert chosen == [0] and rounds == [[0], [1, 2]]
