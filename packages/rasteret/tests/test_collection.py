"""Collection views over collections written in rasteret 0.4.1's layout."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import rasteret
from rasteret_catalog.schema import Col


@pytest.fixture
def coll(legacy_dir: Path) -> rasteret.Collection:
    return rasteret.load(legacy_dir)


def _ids(c: rasteret.Collection) -> list[str]:
    return c.to_table([Col.ID]).column(0).to_pylist()


def test_legacy_layout_loads_with_its_metadata(coll: rasteret.Collection) -> None:
    assert coll.name == "legacy"
    assert coll.data_source == "sentinel-2-l2a"
    assert coll.description == "written in the 0.4.1 layout"
    assert coll.start_date == dt.datetime(2024, 1, 1)
    assert coll.end_date == dt.datetime(2024, 2, 29)
    assert len(coll) == 6
    assert coll.bands == ["B04", "B08"]
    assert coll.epsg == [32632]
    assert coll.crs == ["EPSG:32632"]
    assert coll.bounds == (0.0, 0.0, 6.0, 1.0)
    assert repr(coll) == (
        "Collection('legacy', source='sentinel-2-l2a', bands=2, records=6, crs=32632, "
        "2024-01-01..2024-02-29)"
    )


def test_name_falls_back_to_dir_stem(tmp_path: Path, make_records, write_legacy) -> None:
    path = write_legacy(make_records(2), tmp_path / "mine_stac", name="")
    assert rasteret.load(path).name == "mine"
    assert rasteret.load(path, name="given").name == "given"


def test_subset_date_only_end_includes_the_whole_day(coll: rasteret.Collection) -> None:
    # records at 01-30T06, 01-31T02, 01-31T22, 02-01T18, ...
    view = coll.subset(date_range=("2024-01-30", "2024-01-31"))
    assert _ids(view) == ["rec-0", "rec-1", "rec-2"]
    exact = coll.subset(date_range=("2024-01-30T06:00:00", "2024-01-31T02:00:00"))
    assert _ids(exact) == ["rec-0", "rec-1"]  # exact instants are inclusive
    month = coll.subset(date_range=("2024-01", "2024-01"))
    assert _ids(month) == ["rec-0", "rec-1", "rec-2"]
    with_tz = coll.subset(date_range=("2024-01-30T07:00:00+01:00", dt.date(2024, 1, 30)))
    assert _ids(with_tz) == ["rec-0"]


def test_subset_keeps_records_whose_bbox_crosses_the_antimeridian(make_records) -> None:
    table = make_records(3)
    bbox = table.column("bbox").to_pylist()
    bbox[2] = {"xmin": 179.5, "ymin": 0.0, "xmax": -179.5, "ymax": 1.0}  # STAC form, xmin > xmax
    table = table.set_column(
        table.schema.get_field_index("bbox"), table.schema.field("bbox"),
        pa.array(bbox, table.schema.field("bbox").type),
    )  # fmt: skip
    coll = rasteret.as_collection(table, name="am")
    assert _ids(coll.subset(bbox=(179.6, 0.2, 179.8, 0.4))) == ["rec-2"]  # east of 179.5
    assert _ids(coll.subset(bbox=(-179.8, 0.2, -179.6, 0.4))) == ["rec-2"]  # west of -179.5
    assert _ids(coll.subset(bbox=(-180.0, 0.2, 180.0, 0.4))) == ["rec-0", "rec-1", "rec-2"]
    assert _ids(coll.subset(bbox=(-179.4, 0.2, 0.5, 0.4))) == ["rec-0"]  # the gap between
    assert _ids(coll.subset(bbox=(179.6, 1.5, 179.8, 2.0))) == []  # right lon, wrong lat
    assert _ids(coll.subset(geometries=[(10.0, 0.0, 11.0, 1.0), (179.9, 0, 180, 1)])) == ["rec-2"]


def test_bbox_filters_still_prune_row_groups_by_longitude(tmp_path: Path) -> None:
    """The antimeridian-aware overlap stays decidable from Parquet statistics: of ten row
    groups sorted by longitude, a box inside one reads that one (a comparison of xmin with
    xmax would have made all ten candidates)."""
    import numpy as np
    import pyarrow.parquet as pq

    from rasteret.query.filters import overlap

    x = np.linspace(-170.0, 170.0, 10_000)
    bbox = pa.StructArray.from_arrays(
        [pa.array(x), pa.array(np.zeros_like(x)), pa.array(x + 0.1), pa.array(x * 0 + 1.0)],
        names=["xmin", "ymin", "xmax", "ymax"],
    )
    pq.write_table(pa.table({"id": np.arange(len(x)), "bbox": bbox}), tmp_path / "f.parquet",
                   row_group_size=1_000)  # fmt: skip
    fragment = next(iter(ds.dataset(tmp_path / "f.parquet").get_fragments()))
    for box in [(100.0, 0.2, 101.0, 0.4), (-101.0, 0.2, -100.0, 0.4)]:
        assert len(fragment.subset(overlap(box)).row_groups) == 1, box


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "No filters provided"),
        ({"date_range": ("2024-02-01", "2024-01-01")}, "after its end"),
        ({"date_range": ("", "2024-01-01")}, "empty"),
        ({"date_range": ("2024-13-45", "2024-12-01")}, "not a valid ISO date"),
        ({"cloud_cover_lt": 101}, r"\[0, 100\]"),
        ({"cloud_cover_lt": "10"}, "number"),
        ({"bbox": (1, 2, 3)}, "4 numbers"),
        ({"bbox": (3, 0, 1, 1)}, "west"),
        ({"split": 3}, "Invalid split filter"),
    ],
)
def test_subset_rejects_bad_filters(coll: rasteret.Collection, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        coll.subset(**kwargs)


def test_subset_criteria_and_views_are_immutable(coll: rasteret.Collection) -> None:
    a = coll.subset(cloud_cover_lt=25)
    assert _ids(a) == ["rec-0", "rec-1", "rec-2"]
    b = a.subset(bbox=(1.5, 0.2, 4.0, 0.8))
    assert _ids(b) == ["rec-1", "rec-2"]
    assert len(coll) == 6 and len(a) == 3  # parents unchanged
    touching = coll.subset(bbox=(2.0, 0.0, 2.0, 1.0))
    assert _ids(touching) == ["rec-1", "rec-2"]
    geoms = coll.subset(
        geometries=[(0.2, 0.2, 0.4, 0.4), {"type": "Point", "coordinates": [5.5, 0.5]}]
    )
    assert _ids(geoms) == ["rec-0", "rec-5"]
    import shapely

    assert _ids(coll.subset(geometries=shapely.box(3.2, 0, 3.8, 1))) == ["rec-3"]
    assert _ids(coll.subset(geometries=shapely.to_wkb(shapely.box(3.2, 0, 3.8, 1)))) == ["rec-3"]
    for view in (a, b):
        assert view.name == coll.name and view.data_source == coll.data_source
        assert view.start_date == coll.start_date


def test_split_where_and_missing_columns(tmp_path: Path, make_records) -> None:
    t = make_records(4, extra={"split": ["train", "val", "train", "test"]})
    c = rasteret.as_collection(t)
    assert _ids(c.subset(split="train")) == ["rec-0", "rec-2"]
    assert _ids(c.select_split(["val", "test"])) == ["rec-1", "rec-3"]
    with pytest.raises(ValueError, match="no split column 'fold'"):
        c.subset(split="train", split_column="fold")
    assert _ids(c.where(ds.field("eo:cloud_cover") >= 20)) == ["rec-2", "rec-3"]
    with pytest.raises(TypeError, match="Expression"):
        c.where("eo:cloud_cover > 3")  # type: ignore[arg-type]
    bare = rasteret.as_collection(t.drop_columns(["eo:cloud_cover"]))
    with pytest.raises(ValueError, match="'eo:cloud_cover' column"):
        bare.subset(cloud_cover_lt=10)


def test_head_len_iter_batches(coll: rasteret.Collection) -> None:
    view = coll.subset(cloud_cover_lt=35)
    assert view.head(2).num_rows == 2
    assert view.head(0, columns=["id"]).column_names == ["id"]
    assert view.head(100).num_rows == 4
    with pytest.raises(ValueError):
        view.head(-1)
    assert sum(b.num_rows for b in view) == 4
    assert sum(b.num_rows for b in view.to_batches(["id"])) == 4
    assert view.to_reader(["id"]).read_all().num_rows == 4
    assert view.dataset.count_rows() == 4


def test_pickle_keeps_source_and_filters(coll: rasteret.Collection, make_records) -> None:
    view = coll.subset(date_range=("2024-01-30", "2024-01-31"))
    # no live I/O state rides on collections (backends are cached per process, keyed on the
    # cloud config's value), so nothing unpicklable can be pickled with a view
    assert not any(callable(v) for v in vars(view).values())
    clone = pickle.loads(pickle.dumps(view))
    assert _ids(clone) == _ids(view)
    assert clone.name == "legacy" and vars(clone).keys() == vars(view).keys()
    mem = rasteret.as_collection(make_records(3)).subset(cloud_cover_lt=15)
    assert len(pickle.loads(pickle.dumps(mem))) == 2


def test_arrow_capsules_tag_geometry_as_geoarrow_crs84(coll: rasteret.Collection) -> None:
    import json

    view = coll.subset(cloud_cover_lt=25)
    table = pa.table(view)
    assert table.num_rows == 3
    field = table.schema.field("geometry")
    assert field.metadata[b"ARROW:extension:name"] == b"geoarrow.wkb"
    crs = json.loads(field.metadata[b"ARROW:extension:metadata"])["crs"]
    assert crs["id"] == {"authority": "OGC", "code": "CRS84"}  # never the raster CRS
    batch = pa.record_batch(view)
    assert batch.num_rows == 3 and batch.schema.field("geometry").metadata == field.metadata
    empty = pa.record_batch(coll.subset(cloud_cover_lt=0))
    assert empty.num_rows == 0 and empty.schema.names == table.schema.names
    assert pa.schema(coll).field("geometry").metadata == field.metadata


def test_requested_schema(coll: rasteret.Collection) -> None:
    base = pa.table(coll).schema
    same = pa.RecordBatchReader.from_stream(coll, schema=base).read_all()
    assert same.num_rows == 6
    bad = pa.schema([pa.field("id", pa.int64())])
    with pytest.raises(NotImplementedError):
        coll.__arrow_c_stream__(bad.__arrow_c_schema__())
    with pytest.raises(NotImplementedError):
        coll.__arrow_c_array__(bad.__arrow_c_schema__())


def test_geopandas_reads_collection_directly(coll: rasteret.Collection) -> None:
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame.from_arrow(coll)
    assert len(gdf) == 6
    assert gdf.crs is not None and gdf.crs.equals("OGC:CRS84")
    assert gdf.geometry.iloc[0].bounds == (0.0, 0.0, 1.0, 1.0)


def test_duckdb_reads_collection_directly(coll: rasteret.Collection) -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("c", coll.subset(cloud_cover_lt=25))
    assert con.execute("select count(*) from c").fetchall() == [(3,)]
    rel = con.sql("select id, crs from c order by id")
    assert rel.fetchall()[0] == ("rec-0", "EPSG:32632")
    # and a DuckDB relation goes straight back into as_collection
    back = rasteret.as_collection(con.sql("select * from c"), name="from-duckdb")
    assert len(back) == 3 and back.bands == ["B04", "B08"]


def test_polars_reads_collection_directly(coll: rasteret.Collection) -> None:
    pl = pytest.importorskip("polars")
    df = pl.from_arrow(pa.table(coll))
    assert df.height == 6 and "geometry" in df.columns
    back = rasteret.as_collection(df.filter(pl.col("eo:cloud_cover") < 25))
    assert len(back) == 3


def test_geometries_from_tables(coll: rasteret.Collection) -> None:
    import shapely

    gpd = pytest.importorskip("geopandas")
    aoi = gpd.GeoDataFrame(
        {"k": [1, 2]}, geometry=[shapely.box(0.1, 0.1, 0.2, 0.2), shapely.Point(4.5, 0.5)], crs=4326
    )
    assert _ids(coll.subset(geometries=aoi)) == ["rec-0", "rec-4"]
    table = aoi.to_arrow(geometry_encoding="WKB")
    assert _ids(coll.subset(geometries=pa.table(table))) == ["rec-0", "rec-4"]
    wkb = pa.array([shapely.to_wkb(shapely.box(2.2, 0.1, 2.3, 0.2))])
    assert _ids(coll.subset(geometries=wkb)) == ["rec-2"]
    with pytest.raises(TypeError, match="ST_AsWKB"):
        coll.subset(geometries=pa.array([b"nope"]))
    with pytest.raises(TypeError, match="tuple"):
        coll.subset(geometries=[[0, 0, 1, 1]])


def test_footprints_use_the_raster_grid(coll: rasteret.Collection) -> None:
    fp = coll.footprints()
    assert list(fp.columns) == ["id", "datetime", "geometry"]
    assert fp.crs.to_epsg() == 32632
    # band B04 grid: origin (500000 + 1000 i, 4000000), 10 m, 100 x 100 px
    assert fp.geometry.iloc[1].bounds == (501000.0, 3999000.0, 502000.0, 4000000.0)
    assert fp.geometry.iloc[0].bounds != coll.footprints(band="B08").geometry.iloc[0].bounds
    ll = coll.footprints(crs="EPSG:4326")
    assert ll.crs.to_epsg() == 4326 and len(ll) == 6
    assert list(ll["id"]) == list(fp["id"])
    with pytest.raises(ValueError, match="Band"):
        coll.footprints(band="B99")


def test_footprints_skip_null_metadata_and_mixed_crs(make_records) -> None:
    t = make_records(3, epsg=[32632, 32633, 32633])
    meta = t.column("B04_metadata").to_pylist()
    meta[2] = None
    t = t.set_column(t.schema.get_field_index("B04_metadata"), t.schema.field("B04_metadata"),
                     pa.array(meta, t.schema.field("B04_metadata").type))  # fmt: skip
    fp = rasteret.as_collection(t).footprints()
    assert list(fp["id"]) == ["rec-0", "rec-1"]
    assert fp.crs is None  # records disagree
    assert rasteret.as_collection(t).footprints(crs=4326).crs.to_epsg() == 4326


def test_native_res(make_records) -> None:
    t = make_records(2)
    c = rasteret.as_collection(t)
    assert c.native_res() == (10.0, 10.0)
    assert c.native_res("B08") == (10.0, 10.0)
    with pytest.raises(ValueError, match="Band"):
        c.native_res("nope")
    no_bands = rasteret.as_collection(
        t.drop_columns(["B04_metadata", "B08_metadata"]), require_band_metadata=False
    )
    with pytest.raises(ValueError, match="metadata"):
        no_bands.native_res()


def test_describe_and_html(coll: rasteret.Collection, make_records) -> None:
    d = coll.describe()
    assert d["records"] == 6 and d["crs"] == [32632] and d["source"] == "sentinel-2-l2a"
    assert d.data["dates"] == ("2024-01-01", "2024-02-29")
    assert "records" in repr(d) and "<table>" in d._repr_html_()
    assert "<table>" in coll._repr_html_()
    many = rasteret.as_collection(make_records(1, bands=[f"B{i:02d}" for i in range(1, 9)]))
    assert "(+3 more)" in repr(many.describe())


def test_compare_to_catalog(coll: rasteret.Collection, make_records) -> None:
    res = coll.compare_to_catalog()  # data_source 'sentinel-2-l2a' matches a stac_collection
    assert res["catalog"]["all_bands"][0] == "B01"
    assert "missing:" in repr(res)
    orphan = rasteret.as_collection(make_records(1), data_source="nowhere")
    with pytest.raises(ValueError, match="no catalog dataset"):
        orphan.compare_to_catalog()


def test_dir_hides_private_names(coll: rasteret.Collection) -> None:
    names = dir(coll)
    assert "subset" in names and "name" in names
    assert not any(n.startswith("_") for n in names)


def test_naming_classmethods() -> None:
    name = rasteret.Collection.create_name(
        "S2 Bangalore", ("2024-01-01", "2024-01-31"), "earthsearch/sentinel-2-l2a"
    )
    assert name == "s2-bangalore_202401-01_earthsearch-sentinel-2-l2a"
    assert rasteret.Collection.parse_name(name + "_stac")["custom_name"] == "s2-bangalore"
    assert rasteret.Collection.parse_name("odd")["data_source"] is None


def test_constructor_type_check(make_records) -> None:
    with pytest.raises(TypeError, match=r"pyarrow\.dataset\.Dataset"):
        rasteret.Collection(make_records(1))  # type: ignore[arg-type]
    empty = rasteret.Collection()
    assert empty.bands == [] and "records=0" in repr(empty)
    with pytest.raises(ValueError, match="no dataset"):
        len(empty)


def test_footprints_without_geopandas_names_the_extra(
    coll: rasteret.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "geopandas", None)
    with pytest.raises(ImportError, match=r"rasteret\[geopandas\]"):
        coll.footprints()
    assert coll.native_res() == (10.0, 10.0)  # needs no optional dependency


def test_exported_layout_stays_readable_by_0_4_1(legacy_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "again_records"
    rasteret.load(legacy_dir).export(out)
    schema = pq.read_schema(sorted(out.rglob("*.parquet"))[0])
    legacy = rasteret.load(legacy_dir).schema.field("B04_metadata").type
    assert schema.field("B04_metadata").type.equals(legacy)  # the 17 fields, same order
    md = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert md["rasteret_collection_version"] == "1"
    assert md["date_range"] == "2024-01-01T00:00:00,2024-02-29T00:00:00"
    for col in ("id", "datetime", "geometry", "assets", "bbox", "proj:epsg", "crs"):
        assert col in schema.names
