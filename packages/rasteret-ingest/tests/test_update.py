"""Incremental updates: the stored date range, repeated ids in a batch, partition layouts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rasteret_ingest import append, writer
from rasteret_ingest.metadata import collection_metadata
from rasteret_ingest.update import update_collection
from rasteret_testkit.rows import record_table


def _write(
    path: Path,
    table: pa.Table,
    date_range: tuple[str, str] | None = None,
    partition_by: tuple[str, ...] = ("year", "month"),
) -> None:
    md = collection_metadata(name="c", data_source="src", date_range=date_range)
    writer.write_collection(table, path, metadata=md, partition_by=partition_by)


def _stored_range(path: Path) -> bytes:
    md = writer.read_collection(path, columns=["id"]).schema.metadata
    return md[b"date_range"]


def _ids(path: Path) -> list[str]:
    return sorted(writer.read_collection(path, columns=["id"]).column("id").to_pylist())


def _layout(path: Path) -> list[str]:
    """Relative directories holding data files (the header file excluded)."""
    return sorted(
        {
            p.parent.relative_to(path).as_posix()
            for p in path.rglob("*.parquet")
            if p.name != append.HEADER_FILE
        }
    )


# -- the stored date range ------------------------------------------------------------------
# (the collection's ``datetime`` is naive UTC, so its bounds are stored without an offset)


def test_date_range_widens_to_the_new_rows_without_an_argument(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0", "a1"], month=1), ("2024-01-01", "2024-01-31"))
    late = ["2025-01-05T12:00:00Z", "2025-01-04T08:00:00Z"]
    update_collection(path, record_table(["b0", "b1"], datetimes=late))
    assert _stored_range(path) == b"2024-01-01,2025-01-05T12:00:00"
    early = ["2023-11-30T23:30:00Z"]
    update_collection(path, record_table(["c0"], datetimes=early))
    assert _stored_range(path) == b"2023-11-30T23:30:00,2025-01-05T12:00:00"


def test_date_range_keeps_stored_bounds_that_already_cover_the_rows(tmp_path: Path) -> None:
    """A date-only end covers that whole day (as builds store a searched range)."""
    path = tmp_path / "c_records"
    stored = ("2024-01-01T06:00:00+00:00", "2024-01-31")
    _write(path, record_table(["a0"], datetimes=["2024-01-02T00:00:00Z"]), stored)
    update_collection(path, record_table(["b0"], datetimes=["2024-01-31T18:00:00Z"]))
    assert _stored_range(path) == b"2024-01-01T06:00:00+00:00,2024-01-31"


def test_passed_date_range_does_not_replace_the_old_data_span(tmp_path: Path) -> None:
    """No stored range: the old rows' span, the new rows and the searched range."""
    path = tmp_path / "c_records"
    old = ["2024-03-31T08:00:00Z", "2024-04-01T08:00:00Z"]
    _write(path, record_table(["a0", "a1"], datetimes=old))
    assert _stored_range(path) == b""
    update_collection(
        path,
        record_table(["b0"], datetimes=["2025-03-05T00:00:00Z"]),
        date_range=("2025-03-01", "2025-03-31"),
    )
    assert _stored_range(path) == b"2024-03-31T08:00:00,2025-03-31"


def test_date_range_without_stored_range_or_argument_covers_all_rows(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0", "a1"], month=5))
    update_collection(path, record_table(["b0"], datetimes=["2024-02-10T10:30:00Z"]))
    assert _stored_range(path) == b"2024-02-10T10:30:00,2024-05-02T00:00:00"


def test_a_wider_passed_range_still_extends_the_stored_one(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"], month=5), ("2024-05-01", "2024-05-31"))
    update_collection(
        path,
        record_table(["b0"], datetimes=["2024-06-03T00:00:00Z"]),
        date_range=(dt.date(2024, 4, 1), dt.datetime(2024, 6, 30, 23, tzinfo=dt.UTC)),
    )
    assert _stored_range(path) == b"2024-04-01,2024-06-30T23:00:00+00:00"


# -- ids repeated inside one batch ----------------------------------------------------------


def test_repeated_ids_in_a_table_batch_are_written_once_first_wins(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"]))
    batch = record_table(["d", "d", "e", "a0", "a0"], month=2, x=10.0)
    res = update_collection(path, batch)
    assert res.added == 2 and res.repeated == 2 and res.skipped == 1
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == ["a0", "d", "e"]
    d = back.filter(pc.equal(back.column("id"), "d"))
    assert d.column("bbox").to_pylist()[0]["xmin"] == 10.0  # the first "d" (x + 0)
    assert "added=2" in repr(res) and "repeated=2" in repr(res) and "skipped=1" in repr(res)

    # Nothing new at all: repeats and present ids are still counted.
    same = update_collection(path, record_table(["e", "e"], month=2))
    assert same.reused and same.added == 0 and same.repeated == 1 and same.skipped == 1


def test_repeated_ids_in_stac_items_are_written_once_first_wins(tmp_path: Path, h: Any) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"]))
    when = dt.datetime(2024, 2, 1, 10)
    items = [
        h.item_dict("s1", when, {"B1": "/data/first.tif"}),
        h.item_dict("s1", when + dt.timedelta(days=1), {"B1": "/data/second.tif"}),
        h.item_dict("s2", when, {"B1": "/data/third.tif"}),
        h.item_dict("a0", when, {"B1": "/data/fourth.tif"}),
    ]
    res = update_collection(path, items)
    assert res.added == 2 and res.repeated == 1 and res.skipped == 1
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == ["a0", "s1", "s2"]
    s1 = back.filter(pc.equal(back.column("id"), "s1")).to_pylist()[0]
    assert s1["assets"]["B1"]["href"] == "/data/first.tif"


def test_counts_without_repeats_or_present_ids(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"]))
    res = update_collection(path, record_table(["b0", "b1"], month=2))
    assert (res.added, res.repeated, res.skipped) == (2, 0, 0)


# -- partition layouts ----------------------------------------------------------------------


def test_update_of_a_flat_collection_stays_flat(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0", "a1"]), partition_by=())
    assert _layout(path) == ["."]
    res = update_collection(path, record_table(["b0"], year=2025, month=3))
    assert res.added == 1
    assert _layout(path) == ["."]
    assert _ids(path) == ["a0", "a1", "b0"]
    back = writer.read_collection(path)
    b0 = back.filter(pc.equal(back.column("id"), "b0")).to_pylist()[0]
    assert (b0["year"], b0["month"]) == (2025, 3)  # stored columns, filled for new rows


def test_flat_collection_rewrite_fallback_stays_flat(tmp_path: Path) -> None:
    """A struct that gains a field makes the update rewrite; the layout is kept."""
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"], meta=pa.array([{"a": 1}])), partition_by=())
    res = update_collection(
        path, record_table(["b0"], month=2, meta=pa.array([{"a": 2, "etag": "x"}]))
    )
    assert res.added == 1
    assert _layout(path) == ["."]
    assert _ids(path) == ["a0", "b0"]


def test_year_month_collection_keeps_year_month(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(path, record_table(["a0"], month=1))
    update_collection(path, record_table(["b0"], year=2025, month=3))
    assert _layout(path) == ["year=2024/month=1", "year=2025/month=3"]


def test_user_partitioned_collection_keeps_its_key(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    _write(
        path,
        record_table(["a0", "a1"], split=pa.array(["train", "test"])),
        partition_by=("split",),
    )
    update_collection(path, record_table(["b0", "b1"], month=2, split=pa.array(["train", "val"])))
    assert _layout(path) == ["split=test", "split=train", "split=val"]
    back = writer.read_collection(path)
    rows = {r["id"]: r["split"] for r in back.select(["id", "split"]).to_pylist()}
    assert rows == {"a0": "train", "a1": "test", "b0": "train", "b1": "val"}


@pytest.mark.parametrize("partition_by", [(), ("year", "month"), ("split",)])
def test_partition_keys_come_from_the_directories(
    tmp_path: Path, partition_by: tuple[str, ...]
) -> None:
    from rasteret_ingest.update import _partition_keys

    path = tmp_path / "c_records"
    _write(path, record_table(["a0"], split=pa.array(["train"])), partition_by=partition_by)
    assert _partition_keys(writer.open_dataset(path), str(path)) == partition_by


@pytest.mark.parametrize("partition_by", [(), ("year", "month")])
def test_partition_keys_of_a_cloud_collection(
    moto_s3: Any, moto_fs: Any, partition_by: tuple[str, ...]
) -> None:
    """pyarrow lists a cloud dataset's files as ``bucket/key``: the root is the URI's path."""
    import pyarrow.dataset as ds

    from rasteret_ingest.update import _partition_keys

    where = f"{moto_s3.bucket}/keys-{len(partition_by)}/c_records"
    md = collection_metadata(name="c", data_source="src")
    writer.write_collection(
        record_table(["a0"]), where, metadata=md, partition_by=partition_by, filesystem=moto_fs
    )
    dataset = ds.dataset(where, format="parquet", partitioning="hive", filesystem=moto_fs)
    assert _partition_keys(dataset, f"s3://{where}") == partition_by
