"""Incremental updates append new files only, swap atomically and keep the collection readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shapely

from rasteret_ingest import append, writer
from rasteret_ingest.metadata import collection_metadata
from rasteret_ingest.normalize import normalize_table
from rasteret_ingest.update import update_collection
from rasteret_testkit.rows import record_table


def _rows(
    ids: list[str], month: int = 1, year: int = 2024, x: float = 0.0, **extra: Any
) -> pa.Table:
    return record_table(ids, month=month, year=year, x=x, **extra)


def _write(path: Path, table: pa.Table, date_range: tuple[str, str] | None = None) -> None:
    md = collection_metadata(name="c", data_source="src", date_range=date_range)
    writer.write_collection(table, path, metadata=md)


def _inodes(path: Path) -> dict[str, int]:
    return {
        p.relative_to(path).as_posix(): p.stat().st_ino
        for p in path.rglob("*.parquet")
        if p.name != append.HEADER_FILE
    }


def _ids(path: Path) -> list[str]:
    return sorted(writer.read_collection(path).column("id").to_pylist())


def test_update_writes_only_new_files(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows([f"a{i}" for i in range(6)], month=1), ("2024-01-01", "2024-01-31"))
    before = _inodes(path)

    res = update_collection(path, _rows(["b0", "b1"], month=3, x=100.0), date_range=None)
    assert res.added == 2 and not res.reused
    after = _inodes(path)
    # Old files are the same inodes (hard links, never rewritten); new ones sit in their month.
    assert {k: after[k] for k in before} == before
    new_files = sorted(set(after) - set(before))
    assert len(new_files) == 1 and new_files[0].startswith("year=2024/month=3/part-")
    assert _ids(path) == ["a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1"]

    # The header file sorts first, has no rows and carries the merged metadata.
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    first = Path(dataset.files[0])
    assert first.name == append.HEADER_FILE and pq.read_metadata(first).num_rows == 0
    md = dataset.schema.metadata
    assert md[b"name"] == b"c" and md[b"data_source"] == b"src"
    # the stored range widened to the new rows (no date_range argument)
    assert md[b"date_range"] == b"2024-01-01,2024-03-02T00:00:00"
    geo = json.loads(md[b"geo"])["columns"]["geometry"]
    assert geo["bbox"] == [0.0, 0.0, 102.0, 1.0] and geo["geometry_types"] == ["Polygon"]
    assert not [p for p in tmp_path.iterdir() if p.name != "c_records"]  # no leftovers, no lock


def test_second_update_replaces_the_header_and_extends_the_date_range(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows(["a0"], month=5), ("2024-05-01", "2024-05-31"))
    update_collection(path, _rows(["b0"], month=6), date_range=("2024-06-01", "2024-06-30"))
    # An earlier month becomes the first partition: the header moves there.
    update_collection(path, _rows(["c0"], month=2), date_range=("2024-02-01", "2024-02-10"))
    headers = sorted(p.relative_to(path).as_posix() for p in path.rglob(append.HEADER_FILE))
    assert headers == [f"year=2024/month=2/{append.HEADER_FILE}"]
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == ["a0", "b0", "c0"]
    assert back.schema.metadata[b"date_range"] == b"2024-02-01,2024-06-30"


def test_duplicate_ids_are_skipped_not_replaced(tmp_path: Path) -> None:
    """0.4.1 / rasteret semantics: a row whose id is in the collection is not added again."""
    path = tmp_path / "c_records"
    _write(path, _rows(["a0", "a1"], x=0.0))
    res = update_collection(path, _rows(["a1", "a2"], x=50.0))
    assert res.added == 1
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == ["a0", "a1", "a2"]
    a1 = back.filter(pc.equal(back.column("id"), "a1"))
    assert a1.column("bbox").to_pylist()[0]["xmin"] == 1.0  # the old row kept
    same = update_collection(path, _rows(["a0", "a2"]))
    assert same.reused and same.added == 0


def test_new_columns_and_null_typed_columns_are_unified(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows(["a0", "a1"], note=pa.array([None, None], pa.null())))
    update_collection(path, _rows(["b0"], month=2, note=pa.array(["hi"]), cloud=pa.array([12.5])))
    back = writer.read_collection(path)
    assert back.schema.field("note").type == pa.string()
    assert back.schema.field("cloud").type == pa.float64()
    rows = {r["id"]: r for r in back.select(["id", "note", "cloud"]).to_pylist()}
    assert rows["b0"] == {"id": "b0", "note": "hi", "cloud": 12.5}
    assert rows["a0"] == {"id": "a0", "note": None, "cloud": None}


def test_new_rows_take_the_collection_types(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows(["a0"], n=pa.array([1], pa.int32())))
    before = _inodes(path)
    update_collection(path, _rows(["b0"], month=2, n=pa.array([7], pa.int64())))
    back = writer.read_collection(path)
    assert back.schema.field("n").type == pa.int32()
    assert sorted(back.column("n").to_pylist()) == [1, 7]
    assert {k: _inodes(path)[k] for k in before} == before


def test_struct_with_more_fields_falls_back_to_an_atomic_rewrite(tmp_path: Path) -> None:
    """E.g. 1.1 band structs (with ETag fields) into a collection written by 0.4.1."""
    path = tmp_path / "c_records"
    _write(path, _rows(["a0"], meta=pa.array([{"a": 1}])))
    before = _inodes(path)
    res = update_collection(path, _rows(["b0"], month=2, meta=pa.array([{"a": 2, "etag": "x"}])))
    assert res.added == 1
    back = writer.read_collection(path)
    rows = {r["id"]: r["meta"] for r in back.select(["id", "meta"]).to_pylist()}
    assert rows == {"a0": {"a": 1, "etag": None}, "b0": {"a": 2, "etag": "x"}}
    assert set(_inodes(path).values()).isdisjoint(before.values())  # rewritten
    assert not list(path.rglob(append.HEADER_FILE))
    assert not [p for p in tmp_path.iterdir() if p.name != "c_records"]


def test_incompatible_types_are_an_error_and_change_nothing(tmp_path: Path) -> None:
    from rasteret_ingest.errors import TableNormalizationError

    path = tmp_path / "c_records"
    _write(path, _rows(["a0"], flag=pa.array([1], pa.int64())))
    before = _inodes(path)
    with pytest.raises(TableNormalizationError, match="flag"):
        update_collection(path, _rows(["b0"], month=2, flag=pa.array(["yes"])))
    assert _inodes(path) == before and _ids(path) == ["a0"]
    assert not [p for p in tmp_path.iterdir() if p.name != "c_records"]


def test_stale_parquet_sidecars_are_not_carried_over(tmp_path: Path) -> None:
    """rasteret 0.4.1 opens a local ``_metadata`` as the full list of row groups."""
    path = tmp_path / "c_records"
    _write(path, _rows(["a0"]))
    files = sorted(path.rglob("part-*.parquet"))
    pq.write_metadata(pq.read_schema(files[0]), path / "_common_metadata")
    meta = pq.read_metadata(files[0])
    meta.set_file_path(files[0].relative_to(path).as_posix())
    meta.write_metadata_file(str(path / "_metadata"))
    update_collection(path, _rows(["b0"], month=2))
    assert not (path / "_metadata").exists() and not (path / "_common_metadata").exists()
    assert _ids(path) == ["a0", "b0"]


@pytest.mark.slow
def test_one_row_on_200000_rows_appends(tmp_path: Path) -> None:
    """The figure of the issue: 1 new row on 200,000 (time and RSS are measured outside tests)."""
    n = 200_000
    rng = np.random.default_rng(0)
    days = rng.integers(0, 730, size=n)
    when = (np.datetime64("2020-01-01T00:00:00", "us") + days.astype("timedelta64[D]")).astype(
        "datetime64[us]"
    )
    box = shapely.box(15.0, 45.0, 15.1, 45.1).wkb
    table = pa.table(
        {
            "id": pc.binary_join_element_wise("r", pa.array(np.arange(n).astype(str)), ""),
            "datetime": pa.array(when),
            "geometry": pa.array([box] * n, pa.binary()),
            "url": pa.array([f"s3://b/{i}.tif" for i in range(n)]),
        }
    )
    table = normalize_table(table, href_column="url", band_index_map={"B1": 0})
    path = tmp_path / "big_records"
    _write(path, table)
    before = _inodes(path)
    res = update_collection(
        path,
        _rows(["new-0"], year=2023, month=6),
    )
    assert res.added == 1
    assert {k: _inodes(path)[k] for k in before} == before
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    assert dataset.count_rows() == n + 1
    assert dataset.to_table(filter=ds.field("id") == "new-0").num_rows == 1


def test_existing_ids_scan_is_pushed_down(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows([f"a{i}" for i in range(20)]))
    dataset = append.open_collection_dataset(path)
    assert append.existing_ids(dataset, pa.array(["a3", "zz", "a19"])) == {"a3", "a19"}
    assert append.existing_ids(dataset, pa.array([], pa.string())) == set()


def test_date_range_of_a_collection_without_one_covers_old_and_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, _rows(["a0"]))
    update_collection(path, _rows(["b0"], month=2))
    # No stored range: the update stores the span of the old and the new rows.
    md = writer.read_collection(path).schema.metadata
    assert md[b"date_range"] == b"2024-01-01T00:00:00,2024-02-01T00:00:00"
