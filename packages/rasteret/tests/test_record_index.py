"""Dual-surface (record-index) collections on the synthetic AEF collection, read from disk
through a filesystem that records every file it opens: the index plans, the wide data is
opened only where the index points, a filter the index cannot serve falls back visibly, and
pixels equal GDAL's (rasterio) on the same south-up 64-band COGs."""

from __future__ import annotations

import asyncio
import inspect
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import rasterio
import rasterio.mask
import shapely

import rasteret
from rasteret.errors import InvalidCollectionError, InvalidFilterError, InvalidInputError
from rasteret_catalog import DatasetDescriptor, DatasetRegistry
from rasteret_testkit.aef import (
    AEF_BAND_INDEX_MAP,
    AEF_BANDS,
    AEF_FIELD_ROLES,
    AefCollection,
    AefRecord,
)

AEF = "aef/v1-annual"


def _hints() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    d = DatasetRegistry.get(AEF)
    assert d is not None and d.surface_fields and d.filter_capabilities
    return d.surface_fields, d.filter_capabilities


def open_aef(
    aef: AefCollection, fs: Any = None, index: Path | None = None, **kw: Any
) -> rasteret.Collection:
    """``from_parquet`` with 0.4.1's record-index keywords (roles only: no column map)."""
    surfaces, capabilities = _hints()
    kw.setdefault("surface_fields", surfaces)
    kw.setdefault("filter_capabilities", capabilities)
    return rasteret.Collection.from_parquet(
        str(aef.data_dir),
        record_index_path=str(index or aef.index_path),
        record_index_field_roles=dict(AEF_FIELD_ROLES),
        record_index_band_index_map=dict(AEF_BAND_INDEX_MAP),
        record_index_url_rewrite_patterns=dict(aef.url_rewrite_patterns),
        record_index_filesystem=fs,
        data_source=AEF,
        **kw,
    )


def inner_box(rec: AefRecord, frac: float = 0.3) -> tuple[float, float, float, float]:
    """A lon/lat box well inside ``rec``'s footprint (touching no neighbour)."""
    xmin, ymin, xmax, ymax = rec.bbox
    dx, dy = (xmax - xmin) * frac, (ymax - ymin) * frac
    return xmin + dx, ymin + dy, xmax - dx, ymax - dy


def record(aef: AefCollection, tile: str, year: int) -> AefRecord:
    return next(r for r in aef.records if r.tile == tile and r.year == year)


def shard(aef: AefCollection, name: str) -> str:
    return str(aef.data_dir / name)


def test_len_head_bands_crs_bounds_open_no_wide_file(aef_local, counting_fs) -> None:
    fs, log = counting_fs()
    coll = open_aef(aef_local, fs)
    recs = aef_local.records
    assert len(coll) == len(recs) == 6
    assert coll.bands == list(AEF_BANDS)
    assert coll.epsg == [32610, 32611]
    assert coll.crs == ["EPSG:32610", "EPSG:32611"]
    assert coll.bounds == (
        min(r.bbox[0] for r in recs),
        min(r.bbox[1] for r in recs),
        max(r.bbox[2] for r in recs),
        max(r.bbox[3] for r in recs),
    )
    head = coll.head(2)
    assert head.column("id").to_pylist() == ["0", "1"]  # int64 fid -> string id
    assert head.schema.field("datetime").type == pa.timestamp("us")  # integer year -> Jan 1
    assert [d.year for d in head.column("datetime").to_pylist()] == [2022, 2022]
    assert head.column("proj:epsg").to_pylist() == [32610, 32610]
    asset = head.column("assets")[0].as_py()["A17"]
    assert asset == {"href": recs[0].href, "band_index": 17}  # URL rewritten as the wide data
    assert head.column("source_part").to_pylist() == [recs[0].source_part, recs[1].source_part]
    assert coll.head(0).num_rows == 0
    assert coll.head(3, ["id", "bbox"]).column_names == ["id", "bbox"]
    text = repr(coll)
    assert "records=6" in text and "bands=64" in text
    assert coll.describe()["records"] == 6
    assert coll._infer_data_source(None) == AEF
    assert log.files(str(aef_local.data_dir)) == set()  # zero wide files opened
    assert log.files() == {str(aef_local.index_path)}


def test_subset_and_read_open_only_matching_shards(aef_local, counting_fs) -> None:
    fs, log = counting_fs()
    coll = open_aef(aef_local, fs)
    rec = record(aef_local, "sf-a", 2023)
    view = coll.subset(bbox=inner_box(rec), date_range=("2023-01-01", "2023-12-31"))
    assert len(view) == 1
    assert view.head(1).column("id").to_pylist() == [rec.id]
    assert log.files(str(aef_local.data_dir)) == set()

    tile = next(t for t in aef_local.spec.tiles if t.name == rec.tile)
    aoi = shapely.box(tile.x0 + 105, tile.y0 + 95, tile.x0 + 733, tile.y0 + 911)
    arr = view.get_numpy(aoi, ["A00", "A17", "A63"], geometry_crs=rec.epsg)
    assert log.files(str(aef_local.data_dir)) == {shard(aef_local, rec.source_part)}
    assert arr.shape[:2] == (1, 3) and arr.dtype == np.int8
    with rasterio.open(rec.local_cog) as src:
        ref, _ = rasterio.mask.mask(src, [aoi], crop=True, filled=True, indexes=[1, 18, 64])
    np.testing.assert_array_equal(arr[0], ref)

    table = view.to_table(["id", "assets", "A05_metadata"])
    assert table.column("id").to_pylist() == [rec.id]
    assert log.files(str(aef_local.data_dir)) == {shard(aef_local, rec.source_part)}
    # head with a wide column reads only the shards of those first rows
    log.opened.clear()
    both = coll.head(2, ["id", "A00_metadata"])
    assert both.column("id").to_pylist() == ["0", "1"]
    assert log.files(str(aef_local.data_dir)) == {shard(aef_local, "part-00000.parquet")}


def test_a_view_scans_the_index_once_for_its_reads(aef_local, counting_fs) -> None:
    """``schema``, ``to_table`` and a read of one view share one index scan and one shard open."""
    fs, log = counting_fs()
    coll = open_aef(aef_local, fs)
    rec = record(aef_local, "sf-a", 2023)
    view = coll.subset(bbox=inner_box(rec), date_range=("2023-01-01", "2023-12-31"))
    log.opened.clear()
    assert "A00_metadata" in view.schema.names
    tile = next(t for t in aef_local.spec.tiles if t.name == rec.tile)
    aoi = shapely.box(tile.x0 + 105, tile.y0 + 95, tile.x0 + 733, tile.y0 + 911)
    first = view.get_numpy(aoi, ["A00"], geometry_crs=rec.epsg)
    again = view.get_numpy(aoi, ["A00"], geometry_crs=rec.epsg)
    np.testing.assert_array_equal(first, again)
    assert view.to_table(["id"]).column("id").to_pylist() == [rec.id]
    assert log.opened.count(str(aef_local.index_path)) == 1
    # a new view resolves its own selection; pickling keeps the view, not its resolution
    clone = pickle.loads(pickle.dumps(view))
    assert clone.to_table(["id"]).column("id").to_pylist() == [rec.id]


def test_read_window_is_north_up_and_equals_gdal(aef_local) -> None:
    """South-up COGs (positive y scale): read_window's grid is north-up, pixel for pixel."""
    coll = open_aef(aef_local)
    rec = record(aef_local, "sf-b", 2022)
    tile = next(t for t in aef_local.spec.tiles if t.name == rec.tile)
    bounds = (tile.x0 + 100, tile.y0 + 90, tile.x0 + 740, tile.y0 + 920)
    arr = coll.read_window(
        record_ids=[rec.id], bounds=bounds, res=(10.0, 10.0), bands=["A00", "A40"]
    )
    with rasterio.open(rec.local_cog) as src:
        assert src.transform.e > 0  # row 0 is the southern edge
        full = src.read([1, 41])
    north_up = full[:, ::-1]
    top = tile.y0 + aef_local.spec.size * aef_local.spec.resolution
    r0, r1 = int((top - bounds[3]) / 10), int((top - bounds[1]) / 10)
    c0, c1 = int((bounds[0] - tile.x0) / 10), int((bounds[2] - tile.x0) / 10)
    np.testing.assert_array_equal(arr, north_up[:, r0:r1, c0:c1])
    assert (arr[:, -1, 0] == -128).all()  # the nodata block sits in the south-west corner


def test_integer_year_datetime_matches_whole_years(aef_local) -> None:
    coll = open_aef(aef_local)
    spring = coll.subset(date_range=("2022-03-01", "2022-06-30"))
    assert len(spring) == 3  # every 2022 record (annual data covers the whole year)
    assert sorted(spring.to_table(["id"]).column("id").to_pylist()) == ["0", "1", "2"]
    span = coll.subset(date_range=("2022-12-31", "2023-01-01T00:00:00"))
    assert len(span) == 6
    assert len(coll.subset(date_range=("2021-01-01", "2021-12-31"))) == 0
    assert coll.subset(date_range=("2021-01-01", "2021-12-31")).to_table().num_rows == 0


def test_geometries_and_chained_subsets(aef_local) -> None:
    coll = open_aef(aef_local)
    sf, la = record(aef_local, "sf-a", 2022), record(aef_local, "la-a", 2022)
    both = coll.subset(geometries=[shapely.box(*inner_box(sf)), shapely.box(*inner_box(la))])
    assert len(both) == 4
    assert len(both.subset(date_range=("2023", "2023"))) == 2
    ids = both.subset(date_range=("2023", "2023")).to_table(["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(
        [record(aef_local, "sf-a", 2023).id, record(aef_local, "la-a", 2023).id]
    )


def test_unservable_filters_fall_back_to_the_wide_data_visibly(
    aef_local, counting_fs, caplog
) -> None:
    fs, log = counting_fs()
    coll = open_aef(aef_local, fs)
    sf = record(aef_local, "sf-a", 2022)
    with caplog.at_level(logging.WARNING, logger="rasteret"):
        view = coll.subset(date_range=("2022-05-01", "2022-05-02")).where(
            ds.field("utm_zone") == "10N"
        )
    assert "cannot be evaluated on the record index" in caplog.text
    assert "where(" in caplog.text and str(aef_local.data_dir) in caplog.text
    ids = sorted(view.to_table(["id"]).column("id").to_pylist())
    # the index's whole-year meaning of the date range is kept on the wide data
    assert ids == sorted([sf.id, record(aef_local, "sf-b", 2022).id])
    assert len(view) == 2
    shards = {str(p) for p in aef_local.shard_paths}
    assert log.files(str(aef_local.data_dir)) == shards  # a fallback scans every shard

    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="rasteret"),
        pytest.raises(InvalidFilterError, match="eo:cloud_cover"),
    ):
        coll.subset(cloud_cover_lt=10)  # neither the index nor the wide data has it
    assert "cloud_cover_lt=10" in caplog.text and "not declared to filter" in caplog.text


def test_filters_on_index_only_columns_and_undeclared_surfaces(aef_local, tmp_path) -> None:
    """A split column only the index has: pushed down (surfaces undeclared), not staged."""
    index = pq.read_table(aef_local.index_path)
    splits = ["train", "val", "train", "test", "train", "val"]
    path = tmp_path / "index.parquet"
    pq.write_table(index.append_column("split", pa.array(splits)), path)
    coll = open_aef(aef_local, index=path, surface_fields=None, filter_capabilities=None)
    train = coll.select_split("train")
    assert len(train) == 3
    assert sorted(train.to_table(["id"]).column("id").to_pylist()) == ["0", "2", "4"]
    assert len(coll.subset(split=["val", "test"])) == 3


def test_index_without_source_part_scans_the_data_for_ids(aef_local, counting_fs, tmp_path) -> None:
    path = tmp_path / "index.parquet"
    pq.write_table(pq.read_table(aef_local.index_path).drop_columns(["source_part"]), path)
    fs, log = counting_fs()
    coll = open_aef(aef_local, fs, index=path)
    assert len(coll) == 6 and log.files(str(aef_local.data_dir)) == set()
    view = coll.subset(date_range=("2023", "2023"))
    assert sorted(view.to_table(["id"]).column("id").to_pylist()) == ["3", "4", "5"]
    assert log.files(str(aef_local.data_dir)) == {str(p) for p in aef_local.shard_paths}


def test_init_keywords_filters_and_pickling(aef_local) -> None:
    coll = rasteret.Collection(
        collection_path=str(aef_local.data_dir),
        record_index_path=str(aef_local.index_path),
        record_index_field_roles=dict(AEF_FIELD_ROLES),
        record_index_filter_expr=ds.field("year") == 2023,
        wide_filter_expr=ds.field("utm_zone") == "10N",
        name="direct",
    )
    assert coll.name == "direct" and len(coll) == 3
    assert sorted(coll.to_table(["id"]).column("id").to_pylist()) == ["3", "4"]
    assert coll.bands == list(AEF_BANDS)  # no band map: the wide data's metadata columns
    opened = rasteret.Collection(
        ds.dataset(str(aef_local.data_dir)),  # an opened dataset as the collection data
        record_index_path=str(aef_local.index_path),
        record_index_field_roles=dict(AEF_FIELD_ROLES),
    )
    la = opened.subset(bbox=inner_box(record(aef_local, "la-a", 2023)), date_range=("2023", "2023"))
    assert la.to_table(["id"]).column("id").to_pylist() == ["5"]
    assert la.dataset.files == [
        str(aef_local.data_dir / record(aef_local, "la-a", 2023).source_part)
    ]
    view = open_aef(aef_local).subset(bbox=inner_box(record(aef_local, "la-a", 2022)))
    clone = pickle.loads(pickle.dumps(view))
    assert len(clone) == 2
    assert clone.to_table(["id"]).equals(view.to_table(["id"]))
    assert isinstance(view.dataset, ds.Dataset)
    assert view.dataset.to_table(columns=["id"]).num_rows == 2
    exported = pa.table(view)  # Arrow PyCapsule export of the wide rows, GeoArrow-tagged
    assert exported.num_rows == 2 and "A63_metadata" in exported.column_names
    assert exported.schema.field("geometry").metadata[b"ARROW:extension:name"] == b"geoarrow.wkb"


def test_record_index_keyword_validation(aef_local) -> None:
    with pytest.raises(ValueError, match="field_roles must map non-empty"):
        rasteret.Collection.from_parquet(
            str(aef_local.data_dir),
            record_index_path=str(aef_local.index_path),
            record_index_field_roles={"id": ""},
        )
    with pytest.raises(ValueError, match="surface_fields contains unsupported"):
        open_aef(aef_local, surface_fields={"wide": ["id"]})
    with pytest.raises(ValueError, match="band_index_map"):
        rasteret.Collection.from_parquet(
            str(aef_local.data_dir),
            record_index_path=str(aef_local.index_path),
            record_index_band_index_map={"A00": -1},
        )
    with pytest.raises(InvalidCollectionError, match="'id' role"):
        rasteret.Collection.from_parquet(
            str(aef_local.data_dir), record_index_path=str(aef_local.index_path)
        )  # no roles: the index has no 'id' column
    with pytest.raises(FileNotFoundError):
        open_aef(aef_local, index=aef_local.root / "missing.parquet")
    with pytest.raises(InvalidInputError, match="collection_path"):
        rasteret.Collection(record_index_path=str(aef_local.index_path))
    with pytest.raises(ValueError, match="not both"):
        rasteret.Collection(ds.dataset(pa.table({"a": [1]})), hf_streaming=object())  # type: ignore[arg-type]


def test_catalog_dataset_with_index_uri_loads_and_builds_dual_surface(aef_local, tmp_path) -> None:
    surfaces, capabilities = _hints()
    d = DatasetDescriptor(
        id="test/aef-local",
        name="AEF (local copy)",
        index_uri=str(aef_local.index_path),
        collection_uri=str(aef_local.data_dir),
        field_roles=dict(AEF_FIELD_ROLES),
        band_index_map=dict(AEF_BAND_INDEX_MAP),
        surface_fields=surfaces,
        filter_capabilities=capabilities,
        cloud_config={"provider": "aws", "url_patterns": dict(aef_local.url_rewrite_patterns)},
    )
    assert d.column_map == {"fid": "id", "geom": "geometry", "year": "datetime", "crs": "proj:epsg"}
    assert d.href_column == "path"
    rasteret.register(d)
    coll = rasteret.load("test/aef-local")
    assert coll.name == "AEF (local copy)" and coll.data_source == "test/aef-local"
    assert len(coll) == 6 and coll.bands == list(AEF_BANDS)
    assert coll.head(1).column("assets")[0].as_py()["A00"]["href"] == aef_local.records[0].href
    la = record(aef_local, "la-a", 2023)
    built = rasteret.build(
        "test/aef-local", name="aef", bbox=inner_box(la), date_range=("2023-01-01", "2023-12-31")
    )
    assert len(built) == 1 and built.to_table(["id"]).column("id").to_pylist() == [la.id]
    out = tmp_path / "exported"
    built.export(out)
    back = rasteret.load(out)
    assert back.to_table(["id"]).column("id").to_pylist() == [la.id]
    assert back.bands == list(AEF_BANDS)


def test_epsg_from_integer_crs_column(aef_local, tmp_path) -> None:
    """Indexes may store the CRS as an EPSG integer (the scale benchmark's layout)."""
    index = pq.read_table(aef_local.index_path)
    codes = pc.cast(pc.utf8_slice_codeunits(index.column("crs"), 5), pa.int32())
    path = tmp_path / "index.parquet"
    pq.write_table(index.set_column(index.schema.get_field_index("crs"), "crs", codes), path)
    coll = open_aef(aef_local, index=path)
    assert coll.epsg == [32610, 32611] and coll.crs == ["EPSG:32610", "EPSG:32611"]
    assert coll.head(1).column("proj:epsg").to_pylist() == [32610]


def test_hive_shards_restore_partition_values(aef_local, counting_fs, tmp_path) -> None:
    """``source_part`` under ``key=value`` directories: partition columns come from the path."""
    data = tmp_path / "data"
    parts = []
    for rec in aef_local.records:
        part = f"month=1/part-{rec.fid}.parquet"
        (data / "month=1").mkdir(parents=True, exist_ok=True)
        row = pq.read_table(aef_local.data_dir / rec.source_part).filter(
            pc.equal(pc.field("id"), rec.id)
        )
        pq.write_table(row.drop_columns(["month"]), data / part)
        parts.append(part)
    index = pq.read_table(aef_local.index_path)
    path = tmp_path / "index.parquet"
    at = index.schema.get_field_index("source_part")
    pq.write_table(index.set_column(at, "source_part", pa.array(parts)), path)
    fs, log = counting_fs()
    coll = rasteret.Collection.from_parquet(
        str(data),
        record_index_path=str(path),
        record_index_field_roles=dict(AEF_FIELD_ROLES),
        record_index_filesystem=fs,
    )
    view = coll.subset(date_range=("2023", "2023"))
    table = view.to_table(["id", "month"])
    assert sorted(table.column("id").to_pylist()) == ["3", "4", "5"]
    assert table.column("month").to_pylist() == [1, 1, 1]
    assert log.files(str(data)) == {str(data / p) for p in parts[3:]}


def test_init_signature_is_0_4_1s() -> None:
    names = list(inspect.signature(rasteret.Collection.__init__).parameters)[1:]
    assert names == [
        "dataset",
        "hf_streaming",
        "collection_path",
        "record_index_path",
        "record_index_field_roles",
        "record_index_column_map",
        "record_index_href_column",
        "record_index_band_index_map",
        "record_index_url_rewrite_patterns",
        "record_index_filesystem",
        "surface_fields",
        "filter_capabilities",
        "record_index_filter_expr",
        "wide_filter_expr",
        "name",
        "description",
        "data_source",
        "start_date",
        "end_date",
    ]


def test_column_map_and_href_column_without_roles(aef_local) -> None:
    coll = rasteret.Collection.from_parquet(
        str(aef_local.data_dir),
        record_index_path=str(aef_local.index_path),
        record_index_column_map={
            "fid": "id",
            "geom": "geometry",
            "year": "datetime",
            "crs": "proj:epsg",
        },
        record_index_href_column="path",
        record_index_band_index_map={"A00": 0, "A63": 63},
        record_index_url_rewrite_patterns=dict(aef_local.url_rewrite_patterns),
    )
    assert coll.bands == ["A00", "A63"] and len(coll) == 6
    view = coll.subset(date_range=("2023-06-01", "2023-06-30"), bbox=aef_local.records[5].bbox)
    assert view.head(5).column("id").to_pylist() == ["5"]
    assert view.head(1).column("assets")[0].as_py() == {
        "A00": {"href": aef_local.records[5].href, "band_index": 0},
        "A63": {"href": aef_local.records[5].href, "band_index": 63},
    }
    raster = asyncio.run(view.get_first_raster())
    assert raster.id == "5"
