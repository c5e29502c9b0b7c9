"""Incremental updates: partition layouts."""

from __future__ import annotations

from pathlib import Path

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
