"""The engine's Arrow input: band sources from record batches equal those from row dicts, and
the tile planner agrees with rasteret_cog's per-window planner on every placement."""

from __future__ import annotations

import asyncio
import pickle
import random

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
from shapely.geometry import box

from rasteret_cog import TileSpec, plan_window
from rasteret_io.aoi import normalize_aois
from rasteret_io.arrow_sources import read_columns, records_from_arrow
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_io.errors import BandResolutionError, ReadError
from rasteret_io.grid import Window
from rasteret_io.sources import BandSource, LevelRef, record_sources
from rasteret_io.tileplan import plan_tiles
from rasteret_testkit.rows import row_for_cogs, rows_table


def _same_source(a: BandSource, b: BandSource) -> None:
    assert (a.record_id, a.band, a.url, repr(a.spec), a.sample, a.crs) == (
        b.record_id,
        b.band,
        b.url,
        repr(b.spec),  # repr: a NaN nodata compares unequal to itself
        b.sample,
        b.crs,
    )
    assert a.nodata == b.nodata or (a.nodata != a.nodata and b.nodata != b.nodata)
    levels_a = (*a.levels, *((a.mask,) if a.mask else ()))
    levels_b = (*b.levels, *((b.mask,) if b.mask else ()))
    assert len(levels_a) == len(levels_b) and (a.mask is None) == (b.mask is None)
    for la, lb in zip(levels_a, levels_b, strict=True):
        assert (la.width, la.height, la.tile_width, la.tile_height, la.transform) == (
            lb.width,
            lb.height,
            lb.tile_width,
            lb.tile_height,
            lb.transform,
        )
        assert list(la.tile_offsets) == list(lb.tile_offsets)
        assert list(la.tile_byte_counts) == list(lb.tile_byte_counts)
        table, start = la.tiles()  # where the planner gathers from
        n = len(lb.tile_offsets)
        assert table.offsets[start : start + n].tolist() == list(lb.tile_offsets)
        assert table.byte_counts[start : start + n].tolist() == list(lb.tile_byte_counts)


def _same_records(arrow_recs, dict_recs) -> None:
    assert len(arrow_recs) == len(dict_recs)
    for ra, rb in zip(arrow_recs, dict_recs, strict=True):
        assert (ra.index, ra.record_id, ra.datetime, ra.crs) == (
            rb.index,
            rb.record_id,
            rb.datetime,
            rb.crs,
        )
        assert ra.bands.keys() == rb.bands.keys()
        for band, sa in ra.bands.items():
            sb = rb.bands[band]
            if isinstance(sb, Exception):
                assert type(sa) is type(sb) and str(sa) == str(sb)
            else:
                assert isinstance(sa, BandSource)
                _same_source(sa, sb)


@pytest.fixture(scope="module")
def varied_rows(tmp_path_factory):
    """Rows over COGs with overviews, masks, planar and chunky multi-band files, big-endian."""
    from rasteret_testkit.cogs import sample_array, write_cog

    d = tmp_path_factory.mktemp("arrowsrc")
    a = write_cog(d / "a.tif", sample_array("uint16", 1, 700, 900, seed=1), blocksize=128,
                  overviews=2, nodata=0, mask=np.eye(700, 900, dtype=bool) == 0)  # fmt: skip
    b = write_cog(d / "b.tif", sample_array("int16", 3, 300, 300, seed=2), interleave="BAND",
                  nodata=-5, blocksize=128, driver="GTiff")  # fmt: skip
    c = write_cog(d / "c.tif", sample_array("uint8", 3, 260, 200, seed=3), interleave="PIXEL",
                  blocksize=64, driver="GTiff")  # fmt: skip
    e = write_cog(d / "e.tif", sample_array("float32", 1, 200, 200, seed=4), driver="GTiff",
                  endianness="BIG", nodata=float("nan"), predictor=3, compress="LZW")  # fmt: skip
    rows = [
        row_for_cogs("r0", {"x": (a, str(a)), "y": (b, str(b), 1)}),
        row_for_cogs("r1", {"x": (c, str(c), 2), "y": (e, str(e))}),
        row_for_cogs("r2", {"x": (b, str(b), 2)}),  # no asset for y
        row_for_cogs("r3", {"x": (e, str(e)), "y": (a, str(a))}),
    ]
    rows[3]["y_metadata"] = None  # y indexed as null
    return rows, (a, b, c, e)


@pytest.mark.parametrize("chunks", [1, 3])
def test_arrow_sources_equal_dict_sources(varied_rows, chunks):
    rows, _ = varied_rows
    table = rows_table(rows, chunks=chunks)
    got = records_from_arrow(table, ["x", "y"])
    _same_records(got, [record_sources(r, i, ["x", "y"]) for i, r in enumerate(rows)])
    assert isinstance(got[2].bands["y"], BandResolutionError)
    assert "no indexed header" in str(got[3].bands["y"])
    # record batches and batch lists give the same records
    batch = table.combine_chunks().to_batches()[0]
    _same_records(records_from_arrow(batch, ["x", "y"]), got)
    _same_records(records_from_arrow(iter(table.to_batches()), ["x", "y"]), got)


def test_arrow_sources_band_map_and_map_typed_assets(varied_rows):
    rows, _ = varied_rows
    band_map = {"B1": "x"}  # band code B1 -> asset key x
    table = rows_table(rows)
    _same_records(
        records_from_arrow(table, ["B1"], band_map),
        [record_sources(r, i, ["B1"], band_map) for i, r in enumerate(rows)],
    )
    # assets as an Arrow map instead of a struct
    entry = table.schema.field("assets").type.field("x").type
    maps = pa.array(
        [[(k, v) for k, v in (r["assets"] or {}).items()] for r in rows],
        pa.map_(pa.string(), entry),
    )
    mapped = table.set_column(table.schema.get_field_index("assets"), "assets", maps)
    _same_records(
        records_from_arrow(mapped, ["x", "y"]),
        [record_sources(r, i, ["x", "y"]) for i, r in enumerate(rows)],
    )


def test_arrow_sources_bad_tables_become_errors(varied_rows):
    rows, _ = varied_rows
    bad = dict(rows[0])
    meta = dict(bad["x_metadata"])
    meta["tile_byte_counts"] = meta["tile_byte_counts"][:-1]
    bad["x_metadata"] = meta
    (rec,) = records_from_arrow(rows_table([bad]), ["x"])
    assert isinstance(rec.bands["x"], ReadError)
    assert "different lengths" in str(rec.bands["x"])


def test_read_columns_names_only_what_a_read_needs(varied_rows):
    rows, _ = varied_rows
    schema = rows_table(rows).schema
    cols = read_columns(schema, ["B1"], {"B1": "x"})
    assert cols == ["id", "datetime", "assets", "bbox", "proj:epsg", "crs", "x_metadata"]
    assert "y_metadata" not in read_columns(schema.names, ["x"])


def test_arrow_sources_pickle_only_their_own_tiles(varied_rows):
    rows, _ = varied_rows
    table = rows_table(rows)
    src = records_from_arrow(table, ["x"])[1].bands["x"]
    table_obj, _start = src.levels[0].tiles()
    assert len(table_obj.offsets) > len(src.levels[0].tile_offsets)  # a shared batch table
    back = pickle.loads(pickle.dumps(src))
    _same_source(back, src)
    own, s0 = back.levels[0].tiles()
    assert s0 == 0 and len(own.offsets) == len(src.levels[0].tile_offsets)
    assert isinstance(back.levels[0], LevelRef)


def test_engine_reads_arrow_rows_like_gdal(varied_rows):
    """Native AOI reads through Arrow rows equal rasterio.mask on every file kind."""
    rows, paths = varied_rows
    band_file = {("r0", "x"): (paths[0], 0), ("r0", "y"): (paths[1], 1),
                 ("r1", "x"): (paths[2], 2), ("r1", "y"): (paths[3], 0),
                 ("r2", "x"): (paths[1], 2), ("r3", "x"): (paths[3], 0)}  # fmt: skip
    geoms = [box(500_000 + 130, 5_000_000 - 1900, 500_000 + 1770, 5_000_000 - 15),
             box(500_000 - 300, 5_000_000 - 6000, 500_000 + 650, 5_000_000 - 900)]  # fmt: skip
    aois = normalize_aois(geoms, geometry_crs=32633)
    out = asyncio.run(
        read_aois(
            rows_table(rows, chunks=2), ["x", "y"], aois, default_fetcher(error_policy="skip")
        )
    )
    assert {(f.record_id, f.band) for f in out.failures} == {("r2", "y"), ("r3", "y")}
    seen = 0
    for chip in out.chips:
        path, bi = band_file[(chip.record_id, chip.band)]
        with rasterio.open(path) as src:
            try:
                ref, ref_t = rasterio.mask.mask(src, [geoms[chip.aoi_index]], crop=True)
            except ValueError:
                continue
        np.testing.assert_array_equal(chip.data, ref[bi])
        assert chip.transform == tuple(ref_t)[:6]
        seen += 1
    assert seen >= 8


def _cog_placements(spec, offsets, counts, w, sample):
    plan = plan_window(spec, w.col_off, w.row_off, w.width, w.height, samples=(sample,),
                       tile_offsets=offsets, tile_byte_counts=counts)  # fmt: skip
    return sorted(
        (t.offset, t.length, *t.src_rows, *t.src_cols, *t.dst_rows, *t.dst_cols) for t in plan.tiles
    )


@pytest.mark.parametrize(
    ("tiles_across", "tile", "spp", "planar"),
    [(43, 256, 1, 1), (4, 512, 1, 1), (5, 100, 3, 2), (6, 64, 3, 1)],
)
def test_plan_tiles_matches_cog_plan_window(tiles_across, tile, spp, planar):
    rng = random.Random(tiles_across * 7 + spp)
    size = tiles_across * tile - rng.randrange(tile // 2)  # a partial last tile
    spec = TileSpec(width=size, height=size - 3, tile_width=tile, tile_height=tile,
                    dtype="uint16", samples_per_pixel=spp, planar_configuration=planar)  # fmt: skip
    n = spec.tile_count
    offsets = np.arange(n, dtype=np.int64) * 1000 + 17
    counts = np.array([0 if i % 11 == 5 else 900 + i % 7 for i in range(n)], dtype=np.int64)
    table_levels = []
    for sample in range(spp):
        lv = LevelRef(size, size - 3, tile, tile, (10.0, 0, 0, 0, -10.0, 0), offsets, counts)
        src = BandSource("r", f"b{sample}", f"u{sample % 2}", spec, sample, 32633, None, (lv,))
        table_levels.append(src)
    wins = []
    for _ in range(60):
        src = rng.choice(table_levels)
        w = Window(rng.randrange(-tile, size), rng.randrange(-tile, size),
                   rng.randrange(1, 3 * tile), rng.randrange(1, 3 * tile))  # fmt: skip
        wins.append((src, 0, w))
    plan = plan_tiles(wins)
    assert not plan.errors
    got: dict[int, list[tuple[int, ...]]] = {i: [] for i in range(len(wins))}
    for p in range(len(plan.window)):
        t = plan.tile[p]
        off = int(plan.tile_offset[t]) if t >= 0 else None
        ln = int(plan.tile_length[t]) if t >= 0 else 0
        got[int(plan.window[p])].append((off, ln, *plan.src[p].tolist(), *plan.dst[p].tolist()))
    for i, (src, _lvl, w) in enumerate(wins):
        ref = _cog_placements(spec, offsets, counts, w, src.sample)
        mine = [(off if ln else ref_off, ln, *rest) for (off, ln, *rest), (ref_off, *_r) in
                zip(sorted(got[i], key=lambda x: x[2:]), sorted(ref, key=lambda x: x[2:]),
                    strict=True)]  # fmt: skip
        assert sorted(mine) == ref
        inside = w.col_off >= 0 and w.row_off >= 0 and w.col_off + w.width <= spec.width
        inside = inside and w.row_off + w.height <= spec.height
        assert plan.covered[i] == (inside and all(r[1] > 0 for r in ref))
    # distinct tiles: unique (url, spec, offset, length), each needed by some placement
    keys = set(
        zip(
            plan.tile_url.tolist(),
            plan.tile_offset.tolist(),
            plan.tile_length.tolist(),
            strict=True,
        )
    )
    assert len(keys) == len(plan.tile_offset) and (plan.tile_length > 0).all()
    assert set(plan.tile[plan.tile >= 0].tolist()) == set(range(len(plan.tile_offset)))


def test_plan_tiles_reports_unusable_windows():
    spec = TileSpec(width=100, height=100, tile_width=64, tile_height=64, dtype="uint8")
    good = LevelRef(100, 100, 64, 64, (1.0, 0, 0, 0, -1.0, 0), [1, 2, 3, 4], [5, 5, 5, 5])
    short = LevelRef(100, 100, 64, 64, (1.0, 0, 0, 0, -1.0, 0), [1, 2, 3], [5, 5, 5])
    a = BandSource("r", "a", "u", spec, 0, 4326, None, (good,))
    b = BandSource("r", "b", "u", spec, 0, 4326, None, (short,))
    plan = plan_tiles([(a, 0, Window(0, 0, 10, 10)), (b, 0, Window(0, 0, 10, 10)),
                       (a, 0, Window(0, 0, 0, 10)), (a, 0, Window(500, 500, 5, 5))])  # fmt: skip
    assert set(plan.errors) == {1, 2}
    assert "record 'r' band 'b' (u)" in str(plan.errors[1])
    assert plan.window.tolist() == [0]  # the window outside the image needs no tile
    assert not plan.covered[3]


def test_rows_sharing_a_header_build_overviews_on_use(varied_rows):
    _rows, (a, *_rest) = varied_rows
    twins = [row_for_cogs(f"t{i}", {"x": (a, str(a))}) for i in range(3)]
    recs = records_from_arrow(rows_table(twins), ["x"])
    _same_records(recs, [record_sources(r, i, ["x"]) for i, r in enumerate(twins)])
    assert all(len(rec.bands["x"].levels) == 3 for rec in recs)
    lazy = recs[2].bands["x"].levels
    assert type(lazy).__name__ == "LazyLevels"
    assert type(pickle.loads(pickle.dumps(lazy))) is tuple
    # a coarse read through those rows uses the overview, like GDAL's overview choice
    g = [box(500_000, 5_000_000 - 5_120, 500_000 + 5_120, 5_000_000)]
    out = asyncio.run(
        read_aois(
            rows_table(twins),
            ["x"],
            normalize_aois(g, geometry_crs=32633),
            default_fetcher(),
            layout="stack",
            resolution=(20.0, 20.0),
        )
    )
    with rasterio.open(a, overview_level=0) as ov:
        expect = ov.read(1, window=((0, 256), (0, 256)))
    for chip in out.chips:
        np.testing.assert_array_equal(chip.data, expect)
