"""``hf://`` streaming collections through ``huggingface_hub`` against the loopback Hub emulator
(the synthetic AEF collection as a dataset repo, pixels on moto S3): 0.4.1's streaming
semantics, row-group pruning checked on the byte spans the Hub served, reads equal to GDAL's,
and ``build_from_table("hf://...")`` materialising."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pickle
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import rasterio
import rasterio.mask
import shapely

import rasteret
from rasteret.errors import MissingDependencyError
from rasteret.query.dnf import ColumnStats, may_match, subset_dnf
from rasteret.query.filters import Subset
from rasteret_testkit.aef import AEF_BANDS, AefRecord
from rasteret_testkit.aef_serve import AefHubRepo
from rasteret_testkit.hub import HubEmulator

pytest.importorskip("huggingface_hub")


def _record(repo: AefHubRepo, tile: str, year: int) -> AefRecord:
    return next(r for r in repo.collection.records if r.tile == tile and r.year == year)


def _inner(rec: AefRecord) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = rec.bbox
    dx, dy = (xmax - xmin) / 3, (ymax - ymin) / 3
    return xmin + dx, ymin + dy, xmax - dx, ymax - dy


def test_subset_compiles_to_dnf_and_prunes_on_statistics() -> None:
    s = Subset.build(
        bbox=(1.0, 2.0, 3.0, 4.0), date_range=("2022-01-01", "2022-12-31"), split=["a", "b"]
    )
    clause, crossing = subset_dnf(s)  # a plain overlap, or an antimeridian-crossing bbox
    assert (("bbox", "xmin"), "<=", 3.0) in clause and (("bbox", "ymax"), ">=", 2.0) in clause
    assert (("bbox", "xmin"), ">", 0) in crossing and (("bbox", "xmax"), "<", 0) in crossing
    assert ("datetime", ">=", dt.datetime(2022, 1, 1)) in clause
    assert ("datetime", "<", dt.datetime(2023, 1, 1)) in clause  # the end day is included
    assert ("split", "in", ("a", "b")) in clause
    two = subset_dnf(Subset.build(geometries=[shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)]))
    assert len(two) == 4  # geometries are ORed: a plain and a crossing clause each

    def stats(xmin: float, year: int) -> object:
        table = {
            ("bbox", "xmin"): ColumnStats(xmin, xmin),
            "datetime": ColumnStats(dt.datetime(year, 1, 1), dt.datetime(year, 1, 1)),
            "split": ColumnStats("a", "c"),
        }
        return lambda path: table.get(path)

    dnf = subset_dnf(s)
    assert may_match(dnf, stats(2.0, 2022))  # type: ignore[arg-type]
    assert not may_match(dnf, stats(3.5, 2022))  # type: ignore[arg-type]
    assert not may_match(dnf, stats(2.0, 2023))  # type: ignore[arg-type]

    # a row group of antimeridian-crossing bboxes (xmin 179.5, xmax -179.5) is kept for a box
    # east of 179.5 or west of -179.5, and pruned for one in between
    def crossing_stats(path: object) -> ColumnStats | None:
        return {("bbox", "xmin"): ColumnStats(179.5, 179.5),
                ("bbox", "xmax"): ColumnStats(-179.5, -179.5)}.get(path)  # type: ignore[call-overload]  # fmt: skip

    for box, kept in [((179.6, 0.0, 179.8, 1.0), True), ((-179.8, 0.0, -179.6, 1.0), True),
                      ((10.0, 0.0, 11.0, 1.0), False), ((-11.0, 0.0, -10.0, 1.0), False)]:  # fmt: skip
        assert may_match(subset_dnf(Subset.build(bbox=box)), crossing_stats) is kept, box
    assert may_match(dnf, lambda path: None)  # no statistics: keep
    assert not may_match(dnf, lambda path: ColumnStats(None, None, all_null=True))


def test_streaming_collection_semantics(aef_hf_repo: AefHubRepo, hf_hub: HubEmulator) -> None:
    repo = aef_hf_repo
    coll = rasteret.load(repo.uri)
    assert coll.name == "aef-v1-annual-synthetic" and coll.data_source == "aef/v1-annual"
    assert coll.dataset is None
    with pytest.raises(TypeError, match=r"len\(\)"):
        len(coll)
    with pytest.raises(NotImplementedError, match="HF streaming"):
        coll.where(ds.field("year") == 2022)
    recs = repo.collection.records
    assert coll.bands == list(AEF_BANDS)
    assert coll.epsg == [32610, 32611] and coll.crs == ["EPSG:32610", "EPSG:32611"]
    assert coll.bounds == (
        min(r.bbox[0] for r in recs),
        min(r.bbox[1] for r in recs),
        max(r.bbox[2] for r in recs),
        max(r.bbox[3] for r in recs),
    )
    summary = coll.describe()
    assert summary["records"] is None and summary["crs"] == [32610, 32611]
    assert "records=?" in repr(coll)
    assert sum(b.num_rows for b in coll) == 6
    assert asyncio.run(coll.get_first_raster()).id == "0"  # iterate_rasters streams
    assert coll.head(2).column("id").to_pylist() == ["0", "1"]
    exported = pa.table(coll)
    assert exported.num_rows == 6
    meta = exported.schema.field("geometry").metadata
    assert meta[b"ARROW:extension:name"] == b"geoarrow.wkb"
    assert json.loads(meta[b"ARROW:extension:metadata"])["crs"]["id"]["code"] == "CRS84"
    clone = pickle.loads(pickle.dumps(coll.subset(date_range=("2023", "2023"))))
    assert sorted(clone.to_table(["id"]).column("id").to_pylist()) == ["3", "4", "5"]
    # only the repo's data/ files are the collection (index.parquet is not read)
    assert set(hf_hub.bytes_by_path(repo.repo_id)) <= set(repo.data_paths)
    with pytest.raises(ValueError, match="eo:cloud_cover"):
        coll.subset(cloud_cover_lt=10)


def test_subset_downloads_only_matching_row_groups(
    aef_hf_repo: AefHubRepo, hf_hub: HubEmulator
) -> None:
    repo = aef_hf_repo
    rec = _record(repo, "sf-a", 2023)
    coll = rasteret.load(repo.uri)
    hf_hub.reset()
    view = coll.subset(bbox=_inner(rec), date_range=("2023-01-01", "2023-12-31"))
    table = view.to_table(["id", "year", "A00_metadata"])
    assert table.column("id").to_pylist() == [rec.id]
    body_bytes = 0
    for path, local in zip(repo.data_paths, repo.collection.shard_paths, strict=True):
        meta = pq.ParquetFile(local).metadata
        served = hf_hub.spans_served(repo.repo_id, path)
        ids = pq.read_table(local, columns=["id"]).column("id").to_pylist()
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            spans = []
            for c in range(group.num_columns):
                col = group.column(c)
                lo = col.dictionary_page_offset or col.data_page_offset
                spans.append((lo, lo + col.total_compressed_size - 1))
            fetched = any(s <= hi and e >= lo for lo, hi in spans for s, e in served)
            matching = ids[i] == rec.id  # one row per row group
            assert fetched == matching, (path, i, ids[i])
        # the footer (and pyarrow's 64 KiB tail read) at most once per file; the rest is data
        size = local.stat().st_size
        footer = size - 8 - int.from_bytes(local.read_bytes()[-8:-4], "little")
        tail = min(footer, size - 64 * 1024)
        assert sum(1 for s, _ in served if s >= tail) <= 2
        body_bytes += sum(max(0, min(e, tail - 1) - s + 1) for s, e in served if s < tail)
    hit = pq.ParquetFile(repo.collection.data_dir / rec.source_part).metadata
    (group,) = [
        hit.row_group(i)
        for i, v in enumerate(pq.read_table(repo.collection.data_dir / rec.source_part)["id"])
        if v.as_py() == rec.id
    ]
    stored = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
    assert 0 < body_bytes <= stored  # only (some columns of) that row group


def test_streaming_reads_equal_gdal(aef_hf_repo: AefHubRepo, aef_s3) -> None:
    repo = aef_hf_repo
    rec = _record(repo, "la-a", 2022)
    coll = rasteret.load(repo.uri).subset(date_range=("2022", "2022"))
    tile = next(t for t in repo.collection.spec.tiles if t.name == rec.tile)
    aoi = shapely.box(tile.x0 + 13, tile.y0 + 17, tile.x0 + 1001, tile.y0 + 601)
    backend = rasteret.create_backend(
        region=aef_s3.region, default_s3_config={"endpoint": aef_s3.endpoint}
    )
    arr = coll.get_numpy(aoi, ["A02", "A63"], geometry_crs=rec.epsg, backend=backend)
    with rasterio.open(rec.local_cog) as src:
        ref, _ = rasterio.mask.mask(src, [aoi], crop=True, filled=True, indexes=[3, 64])
        pts = [(tile.x0 + 55.0, tile.y0 + 65.0), (tile.x0 + 1500.0, tile.y0 + 2222.0)]
        expect = [int(v[0]) for v in src.sample(pts, indexes=3)]
    assert arr.shape[:2] == (1, 2)
    np.testing.assert_array_equal(arr[0], ref)
    table = pa.table({"x": [p[0] for p in pts], "y": [p[1] for p in pts]})
    out = coll.sample_points(table, ["A02"], geometry_crs=rec.epsg, backend=backend)
    got = out.filter(pa.compute.equal(out["record_id"], rec.id)).column("value").to_pylist()
    assert [int(v) for v in got] == expect
    window = coll.read_window(
        record_ids=[rec.id],
        bounds=(tile.x0, tile.y0, tile.x0 + 640.0, tile.y0 + 640.0),
        res=(10.0, 10.0),
        bands=["A02"],
        backend=backend,
    )
    assert window.shape == (1, 64, 64)
    assert (window[0, -32:, :32] == -128).all()  # south-west nodata block, north-up grid


def test_uri_forms_and_errors(aef_hf_repo: AefHubRepo, hf_hub: HubEmulator) -> None:
    repo = aef_hf_repo
    one = rasteret.load(repo.uri_at(repo.commit, "data/part-00001.parquet"))
    assert sorted(one.to_table(["id"]).column("id").to_pylist()) == ["2", "3"]
    assert one.name == "aef-v1-annual-synthetic"
    folder = rasteret.Collection.from_parquet(repo.uri_at("main", "data"), name="named")
    assert folder.name == "named" and sum(b.num_rows for b in folder.to_batches(["id"])) == 6
    with pytest.raises(FileNotFoundError):
        rasteret.load("hf://datasets/rasteret/no-such-repo")
    with pytest.raises(FileNotFoundError):
        rasteret.load(repo.uri_at("no-such-branch"))
    with pytest.raises(FileNotFoundError, match="no file"):
        rasteret.load(repo.uri_at("main", "data/missing.parquet"))
    with pytest.raises(ValueError, match="names no dataset repo"):
        rasteret.load("hf://datasets/rasteret")
    with pytest.raises(ValueError, match="record_index_path"):
        rasteret.Collection.from_parquet(repo.uri, record_index_path="index.parquet")


def test_build_from_table_materialises_and_reuses_the_cache(
    aef_hf_repo: AefHubRepo, hf_hub: HubEmulator, tmp_path
) -> None:
    repo = aef_hf_repo
    built = rasteret.build_from_table(repo.uri, filter_expr=ds.field("year") == 2022)
    assert built.name == repo.repo_id.split("/")[1]
    assert len(built) == 3 and built.bands == list(AEF_BANDS)  # in memory: len works
    kept = rasteret.build_from_table(
        repo.uri,
        name="aef-hf",
        workspace_dir=tmp_path,
        columns=["id", "datetime", "geometry", "assets", "bbox", "year", "A00_metadata"],
    )
    assert len(kept) == 6 and kept.bands == ["A00"]
    hf_hub.reset()
    again = rasteret.build_from_table(repo.uri, name="aef-hf", workspace_dir=tmp_path)
    assert len(again) == 6
    assert hf_hub.count(repo.repo_id) == 0  # a cached build does not touch the Hub


def test_missing_huggingface_hub_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependencyError, match=r"rasteret\[hf\]"):
        rasteret.load("hf://datasets/org/name")
