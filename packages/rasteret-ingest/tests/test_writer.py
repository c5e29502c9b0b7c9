"""Hive-partitioned writes, metadata, existence rules and atomic replacement."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rasteret_ingest import writer
from rasteret_ingest.errors import CollectionExistsError, WriteError
from rasteret_ingest.metadata import collection_metadata
from rasteret_testkit.rows import record_table


def _records(n: int, tag: str) -> pa.Table:
    months = [f"2024-{1 + i % 3:02d}-10T00:00:00Z" for i in range(n)]
    return record_table([f"{tag}-{i}" for i in range(n)], datetimes=months)


def test_layout_metadata_and_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    out = writer.write_collection(
        _records(6, "a"), path, metadata=collection_metadata(name="c", data_source="src")
    )
    assert out == str(path)
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.parquet"))
    assert files == [f"year=2024/month={m}/part-0.parquet" for m in (1, 2, 3)]
    md = pq.read_schema(path / files[0]).metadata
    assert md[b"name"] == b"c" and md[b"data_source"] == b"src"
    assert md[b"rasteret_collection_version"] == b"1"
    geo = json.loads(md[b"geo"])
    assert geo["columns"]["geometry"]["geometry_types"] == ["Polygon"]
    meta = pq.read_metadata(path / files[0])
    assert meta.row_group(0).column(0).compression == "LZ4"
    assert meta.row_group(0).column(0).statistics is not None
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == sorted(f"a-{i}" for i in range(6))
    assert back.schema.field("year").type == pa.int32()


def test_exists_and_force_replaces(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    writer.write_collection(_records(3, "old"), path, metadata={"name": "old"})
    with pytest.raises(CollectionExistsError) as err:
        writer.write_collection(_records(3, "new"), path)
    assert isinstance(err.value, FileExistsError)
    writer.write_collection(_records(2, "new"), path, metadata={"name": "new"}, force=True)
    back = writer.read_collection(path)
    assert sorted(back.column("id").to_pylist()) == ["new-0", "new-1"]
    assert back.schema.metadata[b"name"] == b"new"  # passed metadata wins over stale keys
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failure_midway_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c_records"
    writer.write_collection(_records(3, "old"), path)
    real = writer._write_dataset

    def broken(table, base_dir, partition_by, filesystem):
        real(table.slice(0, 1), base_dir, partition_by, filesystem)  # half-written
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_dataset", broken)
    with pytest.raises(WriteError, match="disk full"):
        writer.write_collection(_records(5, "new"), path, force=True)
    assert sorted(writer.read_collection(path).column("id").to_pylist()) == [
        "old-0",
        "old-1",
        "old-2",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["c_records"]  # temp dir removed


def test_killed_build_leaves_previous_intact(tmp_path: Path) -> None:
    """SIGKILL a process while it writes a replacement: the old collection stays readable."""
    path = tmp_path / "c_records"
    writer.write_collection(_records(3, "old"), path)
    script = textwrap.dedent(
        f"""
        import pyarrow as pa, shapely
        from rasteret_ingest import writer
        from rasteret_ingest.normalize import normalize_table
        n = 300
        t = normalize_table(pa.table({{
            "id": [str(i) for i in range(n)],
            "datetime": [f"{{2000 + i % 150}}-01-01T00:00:00Z" for i in range(n)],
            "geometry": [shapely.box(0, 0, 1, 1).wkb] * n,
            "assets": [{{"B1": {{"href": "x", "band_index": 0}}}}] * n,
        }}))
        real = writer._write_dataset
        def slow(*a, **k):
            print("writing", flush=True)
            real(*a, **k)
            import time; time.sleep(30)
        writer._write_dataset = slow
        writer.write_collection(t, {str(path)!r}, force=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the temp dir holds files
            tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".c_records.tmp-")]
            if tmp and len(list(tmp[0].rglob("*.parquet"))) >= 150:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert sorted(writer.read_collection(path).column("id").to_pylist()) == [
        "old-0",
        "old-1",
        "old-2",
    ]


def test_empty_table_written(tmp_path: Path) -> None:
    t = _records(2, "x").slice(0, 0)
    writer.write_collection(t, tmp_path / "e_records")
    assert writer.read_collection(tmp_path / "e_records").num_rows == 0


def test_no_dictionary_pages(tmp_path: Path) -> None:
    """Columns are written plain (zstd-compressed), tile tables and nested levels included."""
    from rasteret_catalog.arrow import band_metadata_type

    t = _records(2, "d")
    lv = {"image_width": 4, "image_height": 4, "tile_width": 2, "tile_height": 2,
          "transform": [1.0, 0.0, -1.0, 4.0], "tile_offsets": [8, 16, 24, 32],
          "tile_byte_counts": [8, 8, 8, 8], "compression": 1}  # fmt: skip
    meta = {**lv, "dtype": "uint8", "overviews": [lv], "mask": lv}
    t = t.append_column("B1_metadata", pa.array([meta, meta], band_metadata_type()))
    for partition_by in (("year", "month"), ()):
        path = tmp_path / f"d{len(partition_by)}_records"
        writer.write_collection(t, path, partition_by=partition_by)
        pf = pq.ParquetFile(next(path.rglob("*.parquet")))
        rg = pf.metadata.row_group(0)
        assert rg.num_columns > 40
        assert not any(rg.column(i).has_dictionary_page for i in range(rg.num_columns))
        assert {rg.column(i).compression for i in range(rg.num_columns)} == {"LZ4"}
