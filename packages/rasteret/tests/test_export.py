"""build -> subset -> export -> load round trips, and workspace listings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import rasteret


def _file_metadata(path: Path) -> dict[str, str]:
    first = sorted(path.rglob("*.parquet"))[0]
    md = pq.read_schema(first).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items()}


def test_export_reflects_current_name_and_source(legacy_dir: Path, tmp_path: Path) -> None:
    c = rasteret.load(legacy_dir)
    c.name = "renamed"
    c.data_source = "earthsearch/sentinel-2-l2a"
    c.description = "new text"
    out = tmp_path / "out_records"
    c.subset(date_range=("2024-01-30", "2024-01-31")).export(out)
    md = _file_metadata(out)
    assert md["name"] == "renamed"  # 0.4.1 kept the stale 'legacy'
    assert md["data_source"] == "earthsearch/sentinel-2-l2a"
    assert md["description"] == "new text"
    assert md["rasteret_collection_version"] == "1"
    geo = json.loads(md["geo"])
    assert geo["columns"]["geometry"]["encoding"] == "WKB"
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    back = rasteret.load(out)
    assert (back.name, back.data_source, len(back)) == ("renamed", "earthsearch/sentinel-2-l2a", 3)
    assert back.bands == ["B04", "B08"]
    assert sorted(p.name for p in out.iterdir()) == ["year=2024"]
    assert {p.name for p in (out / "year=2024").iterdir()} == {"month=1"}


def test_export_over_own_source_and_custom_partitions(legacy_dir: Path, tmp_path: Path) -> None:
    c = rasteret.load(legacy_dir)
    c.subset(cloud_cover_lt=25).export(legacy_dir)  # replaces the directory it reads from
    assert len(rasteret.load(legacy_dir)) == 3
    flat = tmp_path / "flat"
    rasteret.load(legacy_dir).export(flat, partition_by=())
    assert [p.name for p in flat.iterdir()] == ["part-0.parquet"]
    with pytest.raises(ValueError, match="nope"):
        rasteret.load(legacy_dir).export(tmp_path / "x", partition_by=("nope",))


def _dates(path: Path) -> tuple[dt.datetime | None, dt.datetime | None]:
    back = rasteret.load(path)
    return back.start_date, back.end_date


def test_export_of_a_filtered_view_writes_its_records_date_range(
    legacy_dir: Path, tmp_path: Path
) -> None:
    c = rasteret.load(legacy_dir)  # date_range metadata 2024-01-01..2024-02-29
    assert (c.start_date, c.end_date) == (dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 29))
    c.export(tmp_path / "all")  # unfiltered: the collection's own range
    assert _dates(tmp_path / "all") == (dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 29))
    by_date = c.subset(date_range=("2024-01-31", "2024-02-01"))  # records 1-3
    by_date.export(tmp_path / "by_date")
    assert _dates(tmp_path / "by_date") == (
        dt.datetime(2024, 1, 31, 2),
        dt.datetime(2024, 2, 1, 18),
    )  # 0.4.1 (and this package before) wrote the parent's 2024-01-01..2024-02-29
    clear = c.subset(cloud_cover_lt=25)  # records 0-2
    clear.export(tmp_path / "clear")
    assert _dates(tmp_path / "clear") == (dt.datetime(2024, 1, 30, 6), dt.datetime(2024, 1, 31, 22))
    c.where(ds.field("id") == "rec-5").export(tmp_path / "one")
    assert _dates(tmp_path / "one") == (dt.datetime(2024, 2, 3, 10), dt.datetime(2024, 2, 3, 10))


def test_export_keeps_dates_assigned_on_the_view(legacy_dir: Path, tmp_path: Path) -> None:
    view = rasteret.load(legacy_dir).subset(cloud_cover_lt=25)
    view.start_date, view.end_date = dt.datetime(2024, 1, 15), dt.datetime(2024, 2, 15)
    view.export(tmp_path / "assigned")
    assert _dates(tmp_path / "assigned") == (dt.datetime(2024, 1, 15), dt.datetime(2024, 2, 15))
    view.subset(cloud_cover_lt=5).export(tmp_path / "narrower")  # filtered again: its records
    assert _dates(tmp_path / "narrower") == (
        dt.datetime(2024, 1, 30, 6),
        dt.datetime(2024, 1, 30, 6),
    )


def test_export_in_memory_collection_adds_partitions(make_records, tmp_path: Path) -> None:
    t = make_records(3).drop_columns(["year", "month"])
    c = rasteret.as_collection(
        t, name="mem", start_date=dt.datetime(2024, 1, 1), end_date=dt.datetime(2024, 3, 1)
    )
    c.export(tmp_path / "mem_records")
    back = rasteret.load(tmp_path / "mem_records")
    assert len(back) == 3 and back.name == "mem"
    assert back.start_date == dt.datetime(2024, 1, 1)
    assert {"year", "month"} <= set(back.schema.names)


def test_build_from_table_round_trip(make_records, tmp_path: Path) -> None:
    src = tmp_path / "records.parquet"
    pq.write_table(make_records(5), src)
    ws = tmp_path / "ws"
    c = rasteret.build_from_table(src, name="tiles", workspace_dir=ws, data_source="sentinel-2-l2a")
    assert c.name == "tiles" and len(c) == 5 and c.bands == ["B04", "B08"]
    assert (ws / "tiles_records").is_dir()
    # a second build reuses the cache (the source is gone)
    src.unlink()
    again = rasteret.build_from_table(src, name="tiles", workspace_dir=ws)
    assert len(again) == 5
    view = again.subset(date_range=("2024-01-30", "2024-01-31"), cloud_cover_lt=15)
    view.export(ws / "small_records")
    listing = {d["name"]: d for d in rasteret.Collection.list_collections(ws)}
    assert set(listing) == {"tiles", "small"}
    assert listing["small"]["size"] == 2 and listing["small"]["kind"] == "records"
    assert listing["small"]["date_range"] == ("2024-01-30", "2024-01-31")
    assert listing["tiles"]["data_source"] == "sentinel-2-l2a"


def test_build_from_arrow_without_workspace_is_in_memory(make_records) -> None:
    t = make_records(2)
    c = rasteret.build_from_table(t)
    assert len(c) == 2 and isinstance(c.dataset, ds.Dataset)


def test_build_from_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        rasteret.build_from_table(tmp_path / "missing.parquet", name="x", workspace_dir=tmp_path)


def test_list_collections_skips_unreadable(legacy_dir: Path) -> None:
    ws = legacy_dir.parent
    (ws / "broken_stac").mkdir()
    (ws / "broken_stac" / "part-0.parquet").write_bytes(b"junk")
    (ws / "unrelated").mkdir()
    names = [d["name"] for d in rasteret.Collection.list_collections(ws)]
    assert names == ["legacy"]
    assert rasteret.Collection.list_collections(ws / "missing") == []
