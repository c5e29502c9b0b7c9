"""The synthetic AEF collection: COGs read back with rasterio (GDAL) and tifffile, index and wide
data checked against the catalog descriptor and the schema contract, and served on moto S3 and
the Hub emulator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import rasterio
import tifffile
from rasterio.enums import Interleaving

from rasteret_catalog import builtin_descriptors
from rasteret_catalog.arrow import bbox_type, validate_table
from rasteret_testkit.aef import (
    AEF_BAND_INDEX_MAP,
    AEF_BANDS,
    AEF_FIELD_ROLES,
    AEF_INDEX_COLUMNS,
    AEF_NODATA,
    AEF_URL_REWRITE,
    AefCollection,
    AefSpec,
    rewrite_href,
)
from rasteret_testkit.aef_scale import write_scale_record_index
from rasteret_testkit.aef_serve import AefHubRepo, AefS3
from rasteret_testkit.hub import HubEmulator


def _descriptor():
    (d,) = [d for d in builtin_descriptors() if d.id == "aef/v1-annual"]
    return d


def test_constants_follow_the_catalog_descriptor() -> None:
    d = _descriptor()
    assert d.band_index_map == AEF_BAND_INDEX_MAP
    assert d.cloud_config is not None and d.cloud_config["url_patterns"] == AEF_URL_REWRITE
    assert d.field_roles is not None
    assert {k: d.field_roles[k] for k in AEF_FIELD_ROLES} == AEF_FIELD_ROLES
    assert d.index_uri is not None and d.index_uri.endswith(
        "/terrafloww/aef-v1-annual-rasteret/index.parquet"
    )


def test_cogs_are_64_band_int8_planar_south_up(aef_local: AefCollection) -> None:
    spec = aef_local.spec
    assert len(aef_local.records) == spec.records == 6
    for rec in aef_local.records:
        with rasterio.open(rec.local_cog) as src:
            assert src.count == 64
            assert set(src.dtypes) == {"int8"}
            assert src.nodata == AEF_NODATA
            assert src.interleaving == Interleaving.band
            assert src.tags(ns="IMAGE_STRUCTURE")["INTERLEAVE"] == "BAND"
            assert src.block_shapes[0] == (spec.blocksize, spec.blocksize)
            t = src.transform
            assert t.e == spec.resolution > 0 and t.a == spec.resolution  # south-up
            assert src.crs.to_epsg() == rec.epsg
            a17 = src.read(18)
        nb = spec.nodata_block
        assert (a17[:nb, :nb] == AEF_NODATA).all()  # row 0 is the southern edge
        assert (a17[nb:, nb:] != AEF_NODATA).all()
        with tifffile.TiffFile(rec.local_cog) as tif:
            page = tif.pages.first
            assert page.planarconfig == 2
            assert 34264 in page.tags  # ModelTransformationTag
            assert 33550 not in page.tags  # no ModelPixelScale: only the matrix says south-up


def test_band_metadata_matches_the_file(aef_local: AefCollection) -> None:
    """``{band}_metadata`` tile tables equal tifffile's plane slices; assets map A00..A63."""
    wide = ds.dataset(aef_local.data_dir).to_table()
    assert validate_table(wide) == []
    n_tiles = (aef_local.spec.size // aef_local.spec.blocksize) ** 2
    for row in wide.to_pylist():
        rec = next(r for r in aef_local.records if r.id == row["id"])
        with tifffile.TiffFile(rec.local_cog) as tif:
            page = tif.pages.first
            offsets, counts = list(page.dataoffsets), list(page.databytecounts)
        for band in ("A00", "A17", "A63"):
            i = AEF_BAND_INDEX_MAP[band]
            meta = row[f"{band}_metadata"]
            assert meta["tile_offsets"] == offsets[i * n_tiles : (i + 1) * n_tiles]
            assert meta["tile_byte_counts"] == counts[i * n_tiles : (i + 1) * n_tiles]
            assert meta["dtype"] == "int8" and meta["nodata"] == AEF_NODATA
            assert meta["planar_configuration"] == 2 and meta["samples_per_pixel"] == 64
            tile = next(t for t in aef_local.spec.tiles if t.name == rec.tile)
            assert meta["transform"] == [10.0, tile.x0, 10.0, tile.y0]  # [sx, tx, sy>0, ty]
        assert list(row["assets"]) == list(AEF_BANDS)
        assert {b: a["band_index"] for b, a in row["assets"].items()} == AEF_BAND_INDEX_MAP
        assert {a["href"] for a in row["assets"].values()} == {rec.href}
        assert rec.href == rec.local_cog.as_uri()  # file:// rewrite of the source URL
        assert row["path"] == rec.source_href and row["proj:epsg"] == rec.epsg


def test_index_is_narrow_and_points_at_shards(aef_collection: AefCollection) -> None:
    index = pq.read_table(aef_collection.index_path)
    assert tuple(index.column_names) == AEF_INDEX_COLUMNS
    assert index.schema.field("bbox").type == bbox_type()
    assert str(index.schema.field("fid").type) == "int64"
    assert str(index.schema.field("year").type) == "int32"
    assert index.column("crs").to_pylist()[0].startswith("EPSG:326")
    assert b"geo" in (index.schema.metadata or {})
    assert pq.ParquetFile(aef_collection.index_path).metadata.serialized_size < 20_000
    for row in index.to_pylist():
        rec = next(r for r in aef_collection.records if r.fid == row["fid"])
        assert row["path"] == rec.source_href
        assert rewrite_href(row["path"], AEF_URL_REWRITE) == rec.href
        assert rec.href.startswith("s3://us-west-2.opendata.source.coop/tge-labs/aef/v1/annual/")
        shard = pq.read_table(aef_collection.data_dir / row["source_part"], columns=["id"])
        assert str(row["fid"]) in shard.column("id").to_pylist()
    ids = [pq.read_table(p, columns=["id"]).num_rows for p in aef_collection.shard_paths]
    assert sum(ids) == index.num_rows and len(ids) == aef_collection.spec.shards
    # one row group per record, with statistics, so streaming readers can prune
    meta = pq.ParquetFile(aef_collection.shard_paths[0]).metadata
    assert meta.num_row_groups == pq.read_table(aef_collection.shard_paths[0]).num_rows
    assert meta.row_group(0).column(0).statistics is not None
    stored = pq.read_table(aef_collection.shard_paths[0], columns=["A00_metadata"])
    etag = stored.column(0)[0].as_py()["etag"]
    assert etag.startswith('"') and len(etag) == 34


def test_aef_on_moto_s3(aef_s3: AefS3) -> None:
    from obstore.store import S3Store

    d = _descriptor()
    overrides = aef_s3.descriptor_overrides()
    assert overrides["index_uri"] == d.index_uri
    assert overrides["collection_uri"] == d.collection_uri
    assert overrides["cloud_config"]["url_patterns"] == d.cloud_config["url_patterns"]  # type: ignore[index]
    dataclasses.replace(d, **overrides)  # valid descriptor fields

    fs = aef_s3.pyarrow_filesystem()
    index = pq.read_table(aef_s3.index_uri.removeprefix("s3://"), filesystem=fs)
    assert index.num_rows == len(aef_s3.collection.records)
    wide = ds.dataset(aef_s3.collection_uri.removeprefix("s3://"), filesystem=fs).to_table(
        columns=["id", "assets"]
    )
    assert sorted(wide.column("id").to_pylist()) == sorted(r.id for r in aef_s3.collection.records)

    store = S3Store(**aef_s3.store_config(), retry_config={"max_retries": 0})
    rec = aef_s3.collection.records[0]
    key = rec.href.removeprefix(f"s3://{aef_s3.bucket}/")
    head = store.head(key)
    assert head["size"] == rec.local_cog.stat().st_size
    meta = pq.read_table(aef_s3.collection.data_dir / rec.source_part).to_pylist()
    (row,) = [r for r in meta if r["id"] == rec.id]
    assert row["A05_metadata"]["etag"] == head["e_tag"]
    off = row["A05_metadata"]["tile_offsets"][1]
    n = row["A05_metadata"]["tile_byte_counts"][1]
    got = bytes(store.get_range(key, start=off, length=n))
    assert got == rec.local_cog.read_bytes()[off : off + n]


def test_aef_as_hub_repo(aef_hf_repo: AefHubRepo, hf_hub: HubEmulator) -> None:
    import huggingface_hub as hf

    fs = hf.HfFileSystem(block_size=64 * 1024)
    repo = aef_hf_repo.uri.removeprefix("hf://")
    assert sorted(fs.ls(repo, detail=False)) == [
        f"{repo}/.gitattributes",
        f"{repo}/README.md",
        f"{repo}/data",
        f"{repo}/index.parquet",
    ]
    files = hf.HfApi().list_repo_files(aef_hf_repo.repo_id, repo_type="dataset")
    assert [f for f in files if f.startswith("data/")] == list(aef_hf_repo.data_paths)
    at_commit = aef_hf_repo.uri_at(aef_hf_repo.commit, "index.parquet").removeprefix("hf://")
    assert pq.read_table(at_commit, filesystem=fs).num_rows == 6

    # a row-group-pruned read of one shard fetches the footer and the matching row group only
    hf_hub.reset()
    by_part: dict[str, set[int]] = {}
    for r in aef_hf_repo.collection.records:
        by_part.setdefault(r.source_part, set()).add(r.year)
    mixed = next(p for p, ys in sorted(by_part.items()) if len(ys) > 1)  # default spec: 1 shard
    last, year = f"data/{mixed}", max(by_part[mixed])
    with fs.open(f"{repo}/{last}", "rb", cache_type="none") as f:
        pf = pq.ParquetFile(f)
        meta = pf.metadata
        leaves = [meta.row_group(0).column(c).path_in_schema for c in range(meta.num_columns)]
        year_col = leaves.index("year")
        keep = [
            i
            for i in range(meta.num_row_groups)
            if meta.row_group(i).column(year_col).statistics.max == year
        ]
        got = pf.read_row_groups(keep, columns=["id", "year", "A00_metadata"])
    assert 0 < len(keep) < meta.num_row_groups
    assert set(got.column("year").to_pylist()) == {year}
    served = hf_hub.spans_served(aef_hf_repo.repo_id, last)
    for i in set(range(meta.num_row_groups)) - set(keep):
        rg = meta.row_group(i)
        for c in range(rg.num_columns):
            col = rg.column(c)
            lo = col.dictionary_page_offset or col.data_page_offset
            hi = lo + col.total_compressed_size - 1
            assert not any(s <= hi and e >= lo for s, e in served), (i, col.path_in_schema)
    assert set(hf_hub.bytes_by_path(aef_hf_repo.repo_id)) == {last}


def test_spec_validates_sizes() -> None:
    with pytest.raises(ValueError, match="multiple of blocksize"):
        AefSpec(size=200, blocksize=128)
    with pytest.raises(ValueError, match="shards"):
        AefSpec(shards=7)


def test_scale_generator_small(tmp_path: Path) -> None:
    s = write_scale_record_index(
        tmp_path / "scale", rows=3_000, shards=12, years=(2022, 2023, 2024)
    )
    index = pq.read_table(s.index_path)
    assert tuple(index.column_names) == AEF_INDEX_COLUMNS
    assert index.num_rows == 3_000 and len(s.shard_paths) == 12
    years = index.column("year").to_numpy()
    assert (np.diff(years) >= 0).all()  # sorted by year
    parts = index.column("source_part").to_pylist()
    for path in s.shard_paths:
        shard = pq.read_table(path)
        assert validate_table(shard) == []
        assert shard.column_names[-len(s.bands) :] == [f"{b}_metadata" for b in s.bands]
        mine = [str(f) for f, p in zip(index.column("fid").to_pylist(), parts) if p == path.name]
        assert shard.column("id").to_pylist() == mine
        assert len(set(shard.column("year").to_pylist())) == 1  # each shard is one year
    xmin, ymin, xmax, ymax = s.small_bbox()
    b = index.column("bbox").combine_chunks()
    hit = pc.and_(
        pc.and_(pc.less_equal(b.field("xmin"), xmax), pc.greater_equal(b.field("xmax"), xmin)),
        pc.and_(pc.less_equal(b.field("ymin"), ymax), pc.greater_equal(b.field("ymax"), ymin)),
    )
    hits = index.filter(hit)
    assert sorted(hits.column("year").to_pylist()) == [2022, 2023, 2024]  # one cell per year
    assert s.index_path.stat().st_size < s.wide_bytes() / 5
