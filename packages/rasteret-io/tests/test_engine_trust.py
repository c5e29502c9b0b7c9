"""Trust features of the read engine: object identity from the index into every range request,
the memory budget checked after planning and before any fetch, and one deadline per read."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from rasteret_io import (
    BatchReader,
    DeadlineExceededError,
    FetchOptions,
    Grid,
    MemoryBudget,
    MemoryBudgetError,
    ObjectIdentity,
    StaleObjectError,
    Window,
    WindowRequest,
    check_budget,
    create_backend,
    default_budget,
    default_fetcher,
    format_bytes,
    normalize_aois,
    read_aois,
    read_grid,
    read_windows,
    run_sync,
    sample_points,
)
from rasteret_io.arrow_sources import records_from_arrow
from rasteret_io.budget import Estimate, available_memory, nbytes
from rasteret_io.sources import record_sources
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table

AOI = [box(500_100, 4_998_500, 501_500, 4_999_900)]  # EPSG:32633


@pytest.fixture
def served(tmp_path: Path, object_server, request) -> dict:
    """Two uncompressed 200 x 200 COGs on the object server, rows carrying their identity."""
    rows, paths = [], []
    for i in range(2):
        path = write_cog(tmp_path / f"{i}.tif", sample_array("uint16", 1, 200, 200, seed=i),
                         compress=None, overviews=False, nodata=0)  # fmt: skip
        key = f"engine-trust/{request.node.name}/{i}.tif"
        (object_server.root / key).parent.mkdir(parents=True, exist_ok=True)
        (object_server.root / key).write_bytes(path.read_bytes())
        url = object_server.url(key)
        ident = run_sync(create_backend().identify(url))
        row = row_for_cogs(f"r{i}", {"b": (path, url)})
        row["b_metadata"].update(etag=ident.etag, file_size=ident.size)
        rows.append(row)
        paths.append(object_server.root / key)
    object_server.reset()
    return {"rows": rows, "paths": paths}


def test_identity_from_arrow_and_dict_rows(served) -> None:
    rows = served["rows"]
    from_arrow = records_from_arrow(rows_table(rows, chunks=2), ["b"])
    for rec, row in zip(from_arrow, rows, strict=True):
        src = rec.bands["b"]
        want = ObjectIdentity(row["b_metadata"]["etag"], row["b_metadata"]["file_size"])
        assert src.identity == want and want.known
        assert record_sources(row, 0, ["b"]).bands["b"].identity == want
    bare = dict(rows[0], b_metadata={**rows[0]["b_metadata"], "etag": None, "file_size": None})
    assert record_sources(bare, 0, ["b"]).bands["b"].identity is None
    assert records_from_arrow(rows_table([bare]), ["b"])[0].bands["b"].identity is None


def _rewrite_same_size(path: Path) -> None:
    raw = path.read_bytes()
    st = path.stat()
    path.write_bytes(raw[:600] + raw[602:] + b"\0\0")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3 * 10**9))


def test_rewritten_object_is_refused_by_every_engine_read(served) -> None:
    rows = served["rows"]
    table = rows_table(rows)
    aois = normalize_aois(AOI, geometry_crs=32633)
    grid = Grid.from_bounds(32633, (500_000, 4_998_000, 502_000, 5_000_000), (10, 10), snap=False)
    clean = run_sync(read_aois(table, ["b"], aois, default_fetcher()))
    _rewrite_same_size(served["paths"][1])
    reads = {
        "aois": lambda f: read_aois(table, ["b"], aois, f),
        "grid": lambda f: read_grid(table, ["b"], grid, f),
        "points": lambda f: sample_points(table, ["b"], [500_555.0], [4_999_555.0], 32633, f),
    }
    for name, read in reads.items():
        with pytest.raises(StaleObjectError) as ei:
            run_sync(read(default_fetcher()))
        assert "record=r1" in str(ei.value) and "ETag" in str(ei.value), name
    off = run_sync(
        read_aois(table, ["b"], aois, default_fetcher(options=FetchOptions(staleness="off")))
    )
    assert not np.array_equal(off.chips[1].data, clean.chips[1].data)  # what the check prevents
    np.testing.assert_array_equal(off.chips[0].data, clean.chips[0].data)


def test_budget_is_checked_before_any_request(served, object_server) -> None:
    table = rows_table(served["rows"])
    aois = normalize_aois(AOI, geometry_crs=32633)
    tiny = MemoryBudget(10_000, "test")
    with pytest.raises(MemoryBudgetError) as ei:
        run_sync(read_aois(table, ["b"], aois, default_fetcher(), budget=tiny))
    assert ei.value.budget == 10_000 and ei.value.needed > 10_000 and "2 array(s)" in str(ei.value)
    huge = Grid.from_bounds(32633, (500_000, 4_998_000, 502_000, 5_000_000), (0.001, 0.001),
                            snap=False)  # fmt: skip
    with pytest.raises(MemoryBudgetError, match="TiB"):
        run_sync(read_grid(table, ["b"], huge, default_fetcher(), budget=default_budget()))
    with pytest.raises(MemoryBudgetError, match="neighbourhood"):
        run_sync(sample_points(table, ["b"], [500_555.0], [4_999_555.0], 32633,
                               default_fetcher(), max_distance_pixels=3000,
                               return_neighbourhood="always", budget=MemoryBudget(10**8)))  # fmt: skip
    src = records_from_arrow(table, ["b"])[0].bands["b"]
    reqs = [WindowRequest(src, Window(0, 0, 200, 200), 0, 0)]
    with pytest.raises(MemoryBudgetError, match="1 window"):
        run_sync(read_windows(reqs, default_fetcher(), budget=MemoryBudget(1000)))
    reader = BatchReader(("b",), memory_budget=tiny, fetch_options=FetchOptions(deadline=5.0))
    clone = pickle.loads(pickle.dumps(reader))
    assert clone == reader
    with pytest.raises(MemoryBudgetError):
        clone.read_aois(table, AOI, 32633)
    assert object_server.count() == 0
    # with room to spare the same read goes through (the copies count the caller's stacking)
    ok = MemoryBudget(10**9, copies=1)
    assert run_sync(read_aois(table, ["b"], aois, default_fetcher(), budget=ok)).chips


def test_one_deadline_bounds_the_whole_read(served, object_server) -> None:
    table = rows_table(served["rows"] * 3)  # six COG reads, one clock
    aois = normalize_aois(AOI, geometry_crs=32633)
    object_server.configure(stall_rate=1.0, stall_s=60.0)
    fetcher = default_fetcher(options=FetchOptions(deadline=1.0, concurrency=1))
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError) as ei:
        run_sync(read_aois(table, ["b"], aois, fetcher), timeout=60)
    assert time.monotonic() - t0 < 6  # not six deadlines in a row
    assert ei.value.deadline == 1.0


def test_budget_arithmetic() -> None:
    assert nbytes((1_500_000, 1_500_000), "uint16") == 4_500_000_000_000  # no int64 overflow
    assert format_bytes(512) == "512 B" and format_bytes(3 * 2**40) == "3.0 TiB"
    est = Estimate()
    est.add((10, 10), "uint16", mask=True)  # 200 + 100 bytes, scratch
    est.add((10, 10), "float64", output=True)  # 800 bytes, output
    assert est.total == 1100 and est.output == 800 and est.arrays == 2
    assert est.needed(MemoryBudget(10, copies=2)) == 1100 + 1600
    est.check(MemoryBudget(2700, copies=2), "x")
    with pytest.raises(MemoryBudgetError) as ei:
        est.check(MemoryBudget(2699, copies=2, hint="do less"), "x")
    assert "do less" in str(ei.value) and "10 x 10 float64" in str(ei.value)
    err = pickle.loads(pickle.dumps(ei.value))
    assert (err.needed, err.budget, str(err)) == (2700, 2699, str(ei.value))
    assert check_budget((4, 4), "uint8", what="a", budget=None) == 16
    total, where = available_memory()
    assert total is None or (total > 2**20 and where)
    b = default_budget(0.5)
    assert b is None or (b.limit == total // 2 and "50 %" in b.source)
