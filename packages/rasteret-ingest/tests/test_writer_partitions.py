"""Partition files written on worker threads equal pyarrow's dataset writer's, file by file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rasteret_ingest import writer
from rasteret_testkit.rows import record_table


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def _shuffled(n: int) -> pa.Table:
    # months and years interleaved so that rows of one partition are not contiguous
    dates = [f"{2023 + i % 3}-{1 + (i * 5) % 12:02d}-10T00:00:00Z" for i in range(n)]
    t = record_table([f"r-{i}" for i in range(n)], datetimes=dates)
    assert t.schema.field("year").type == pa.int32()  # the layout columns come with it
    return t.replace_schema_metadata(writer.schema_metadata(t, {"name": "c"}))


@pytest.mark.parametrize("n", [1, 7, 40])
def test_threaded_partitions_equal_dataset_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    table = _shuffled(n)
    ours, ref = tmp_path / "ours", tmp_path / "ref"
    writer._write_dataset(table, str(ours), ("year", "month"), None)
    monkeypatch.setattr(writer, "_int_partitions", lambda *_: False)  # pyarrow's writer
    writer._write_dataset(table, str(ref), ("year", "month"), None)
    parts = set(zip(table.column("year").to_pylist(), table.column("month").to_pylist()))
    assert _files(ours) == _files(ref) and len(_files(ours)) == len(parts)
    for name in _files(ours):
        a, b = pq.read_table(ours / name), pq.read_table(ref / name)
        assert a.schema.equals(b.schema, check_metadata=True)
        assert a.equals(b)  # same rows, same order within the partition
        ma, mb = pq.read_metadata(ours / name), pq.read_metadata(ref / name)
        assert ma.num_row_groups == mb.num_row_groups == 1
        for i in range(ma.num_columns):
            ca, cb = ma.row_group(0).column(i), mb.row_group(0).column(i)
            assert (ca.path_in_schema, ca.compression, ca.encodings) == (
                cb.path_in_schema,
                cb.compression,
                cb.encodings,
            )
            assert (ca.statistics is None) == (cb.statistics is None)
