"""Killed writers: the previous collection stays intact, the next writer removes the leftovers,
and a live writer's temp directory is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from rasteret_ingest import _swap, writer
from rasteret_ingest.update import update_collection
from rasteret_testkit.rows import record_table

pytestmark = pytest.mark.skipif(_swap.fcntl is None, reason="writer locks need fcntl")

_ROWS = """
from rasteret_testkit.rows import record_table
def rows(tag, n, month=1):
    return record_table([f"{tag}-{i}" for i in range(n)], month=month)
"""


def _rows(tag: str, n: int, month: int = 1) -> pa.Table:
    return record_table([f"{tag}-{i}" for i in range(n)], month=month)


def _ids(path: Path) -> list[str]:
    """Read as rasteret 0.4.1 and ``load`` do: a Hive dataset of the directory."""
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=["id"])
    return sorted(table.column("id").to_pylist())


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _child(body: str) -> subprocess.Popen[str]:
    """A Python child running ``body`` after the row helper; prints a line when it blocks."""
    script = _ROWS + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def _wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == expected, f"child said {line!r}"


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


_SLOW_WRITE = """
from rasteret_ingest import writer, append
real = writer._write_dataset
def slow(*a, **k):
    real(*a, **k)
    print("written", flush=True)
    import time; time.sleep(60)
writer._write_dataset = slow
append._write_dataset = slow
"""


def test_killed_build_is_cleaned_by_the_next_build(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 3), path)
    proc = _child(
        _SLOW_WRITE + f"writer.write_collection(rows('new', 50), {str(path)!r}, force=True)\n"
    )
    try:
        _wait_line(proc, "written")
    finally:
        _kill(proc)
    assert _ids(path) == ["old-0", "old-1", "old-2"]  # intact and readable
    leftovers = [n for n in _hidden(tmp_path) if n.startswith(".c_records.tmp-")]
    assert len(leftovers) == 1  # the dead writer's temp dir (and its lock file)

    writer.write_collection(_rows("next", 2), path, force=True)
    assert _ids(path) == ["next-0", "next-1"]
    assert _hidden(tmp_path) == []  # temp dir and lock file gone


def test_killed_update_keeps_the_collection_and_the_next_update_cleans(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 3), path)
    proc = _child(
        _SLOW_WRITE
        + "from rasteret_ingest.update import update_collection\n"
        + f"update_collection({str(path)!r}, rows('new', 4, month=2))\n"
    )
    try:
        _wait_line(proc, "written")
    finally:
        _kill(proc)
    assert _ids(path) == ["old-0", "old-1", "old-2"]
    assert any(n.startswith(".c_records.tmp-") for n in _hidden(tmp_path))

    res = update_collection(path, _rows("more", 2, month=3))
    assert res.added == 2
    assert _ids(path) == ["more-0", "more-1", "old-0", "old-1", "old-2"]
    assert _hidden(tmp_path) == []


def test_a_live_writer_keeps_its_temp_dir_and_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 3), path)
    proc = _child(
        """
from rasteret_ingest import writer
real = writer._write_dataset
def slow(*a, **k):
    real(*a, **k)
    print("written", flush=True)
    import time; time.sleep(1.5)
writer._write_dataset = slow
"""
        + f"writer.write_collection(rows('live', 5), {str(path)!r}, force=True)\n"
    )
    try:
        _wait_line(proc, "written")
        live = [p for p in tmp_path.iterdir() if p.name.startswith(".c_records.tmp-")]
        assert len(live) == 1
        # Cleanup without waiting: the live writer holds the lock, nothing is removed.
        assert writer.remove_stale_temps(path) == []
        assert live[0].exists()
        # A second writer waits for the first, then replaces its result.
        t0 = time.monotonic()
        writer.write_collection(_rows("second", 2), path, force=True)
        assert time.monotonic() - t0 < 30
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            _kill(proc)
    assert _ids(path) == ["second-0", "second-1"]
    assert _hidden(tmp_path) == []


def test_reused_build_removes_dead_leftovers(tmp_path: Path) -> None:
    from rasteret_ingest.builders import load_cached

    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 2), path)
    dead = tmp_path / ".c_records.tmp-0123456789ab"
    (dead / "year=2024").mkdir(parents=True)
    (tmp_path / ".c_records.lock").touch()  # a dead writer's lock file (not held)
    other = tmp_path / ".d_records.tmp-0123456789ab"  # another collection's: not ours
    other.mkdir()
    res = load_cached(path)
    assert res.reused and res.table.num_rows == 2
    assert not dead.exists() and other.exists()
    assert _hidden(tmp_path) == [".d_records.tmp-0123456789ab"]


def test_interrupted_fallback_swap_is_restored(tmp_path: Path) -> None:
    """Without renameat2 the old directory is renamed aside first; a kill between the two
    renames leaves it at ``.{name}.old-*``: the next writer puts it back before anything."""
    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 2), path)
    aside = tmp_path / ".c_records.old-0123456789ab"
    os.rename(path, aside)
    (tmp_path / ".c_records.tmp-ba9876543210").mkdir()  # the new one, never moved
    assert writer.remove_stale_temps(path) == [aside, tmp_path / ".c_records.tmp-ba9876543210"]
    assert _ids(path) == ["old-0", "old-1"]
    assert _hidden(tmp_path) == []


def test_fallback_swap_without_rename_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_swap, "_rename_exchange", lambda a, b: False)
    path = tmp_path / "c_records"
    writer.write_collection(_rows("old", 2), path)
    writer.write_collection(_rows("new", 1), path, force=True)
    update_collection(path, _rows("up", 1, month=2))
    assert _ids(path) == ["new-0", "up-0"]
    assert _hidden(tmp_path) == []


def test_lock_waits_are_bounded(tmp_path: Path) -> None:
    from rasteret_ingest.errors import WriteError

    target = tmp_path / "c_records"
    with _swap.WriterLock(target):
        other = _swap.WriterLock(target, timeout=0.2)
        with pytest.raises(WriteError, match="held"):
            other.acquire()
        assert _swap.WriterLock(target, timeout=0).acquire() is False
    assert not (tmp_path / ".c_records.lock").exists()
