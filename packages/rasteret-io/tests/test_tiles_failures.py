"""Failed tiles, failed internal masks and the decode working set of ``read_windows``."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rasteret_io import Fetcher, WindowRequest, create_backend, read_windows, run_sync
from rasteret_io.arrow_sources import records_from_arrow
from rasteret_io.backend import as_range_reader
from rasteret_io.grid import Window
from rasteret_testkit.cogs import write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table


def _serve(object_server, tmp_path: Path, name: str, arr: np.ndarray, **kw) -> tuple[dict, str]:
    """Write a COG, put it on the object server and return its row and key."""
    path = write_cog(tmp_path / f"{name}.tif", arr, overviews=False, **kw)
    key = f"tiles-failures/{name}.tif"
    (object_server.root / key).parent.mkdir(parents=True, exist_ok=True)
    (object_server.root / key).write_bytes(path.read_bytes())
    return row_for_cogs("r0", {"b": (path, object_server.url(key))}), key


def test_tiles_failing_in_two_threads_stay_invalid(object_server, tmp_path, monkeypatch) -> None:
    """Two decode threads fail tiles of one window at the same moment: each one's invalid
    marks must land in the one validity array the result returns."""
    arr = np.full((1, 512, 512), 7, dtype="uint8")
    row, key = _serve(object_server, tmp_path, "race", arr, blocksize=64)
    object_server.configure(missing_keys=frozenset({key}))  # every tile: 404
    src = records_from_arrow(rows_table([row]), ["b"])[0].bands["b"]
    # two pool tasks for the COG's 64 tiles, in two threads that both fail their first tile
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    barrier = threading.Barrier(2)
    real_ones = np.ones
    met: list[str] = []

    def ones(shape, dtype=None, **kw):  # type: ignore[no-untyped-def]
        # Hold the first validity array back until the other thread asks for one too (a
        # bounded wait: with the array created under a lock, the other thread never asks).
        if dtype is bool and threading.current_thread().name.startswith("race-decode"):
            try:
                if barrier.wait(timeout=1.5) == 0:
                    met.append("both")
                    time.sleep(0.3)  # the other thread marks its tile first
            except threading.BrokenBarrierError:
                pass
        return real_ones(shape, dtype=dtype, **kw)

    monkeypatch.setattr(np, "ones", ones)
    with ThreadPoolExecutor(2, thread_name_prefix="race-decode") as pool:
        fetcher = Fetcher(as_range_reader(create_backend()), error_policy="nodata", max_gap=-1)
        (res,) = run_sync(read_windows([WindowRequest(src, Window(0, 0, 512, 512))], fetcher,
                                       executor=pool))  # fmt: skip
    assert res.error is not None and res.data is not None
    assert res.valid_mask is not None
    assert int(res.valid_mask.sum()) == 0, f"{int(res.valid_mask.sum())} failed px marked valid"
    assert (res.data == res.fill).all()
