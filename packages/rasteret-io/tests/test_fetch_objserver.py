"""fetch_ranges through the loopback object server: HTTP, S3 path-style and local files."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from rasteret_io import (
    Fetcher,
    FetchError,
    IOMetrics,
    ObjectNotFoundError,
    RangeRequest,
    create_backend,
    fetch_ranges,
    run_sync,
)
from rasteret_io.retry import RetryPolicy


def _urls(server, key: str, path) -> dict[str, str]:
    bucket, _, rest = key.partition("/")
    return {
        "http": server.url(key),
        "s3": f"s3://{bucket}/{rest}",
        "local": str(path),
        "file": path.as_uri(),
    }


def _backend(server):
    return create_backend(default_s3_config={"endpoint": server.base_url, "region": "us-east-1"})


@pytest.mark.parametrize("kind", ["http", "s3", "local", "file"])
def test_identical_bytes_every_store(object_server, payload, layout, fast_retry, kind: str) -> None:
    key, data, path = payload
    url = _urls(object_server, key, path)[kind]
    starts, ends = layout(len(data), 80, seed=1)
    reqs = [RangeRequest(url, s, e, tag=i) for i, (s, e) in enumerate(zip(starts, ends))]
    results = run_sync(fetch_ranges(_backend(object_server), reqs, retry=fast_retry))
    assert [r.request.tag for r in results] == list(range(len(reqs)))
    for r in results:
        assert r.ok
        assert bytes(r.data) == data[r.request.start : r.request.end]


def test_one_request_per_coalesced_group(object_server, payload) -> None:
    key, data, _ = payload
    url = object_server.url(key)
    # Three clusters far apart; ranges inside a cluster are 1 KiB apart.
    starts = [c + i * 11_000 for c in (0, 1_000_000, 2_000_000) for i in range(5)]
    ends = [s + 10_000 for s in starts]
    reqs = [RangeRequest(url, s, e) for s, e in zip(starts, ends)]
    metrics = IOMetrics()
    backend = _backend(object_server)
    results = run_sync(fetch_ranges(backend, reqs, max_gap=4096, metrics=metrics))
    assert all(bytes(r.data) == data[r.request.start : r.request.end] for r in results)
    assert object_server.count("GET", key) == 3
    snap = metrics.snapshot()
    assert (snap.requests, snap.ranges, snap.retries) == (3, 15, 0)
    object_server.reset()
    run_sync(fetch_ranges(backend, reqs, max_gap=-1))
    assert object_server.count("GET", key) == 15
    object_server.reset()
    run_sync(fetch_ranges(backend, reqs, max_gap=4096, max_size=25_000))
    assert object_server.count("GET", key) == 9  # 5 ranges of 10 KB: 2 + 2 + 1 per cluster


def test_stores_are_reused(object_server, payload) -> None:
    key, _, path = payload
    backend = _backend(object_server)
    urls = _urls(object_server, key, path)
    for _ in range(3):
        for url in urls.values():
            run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 10)]))
    assert backend.store_count == 3  # http origin, s3 bucket, local


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_faults_give_identical_bytes(object_server, payload, layout, kind: str) -> None:
    key, data, path = payload
    url = _urls(object_server, key, path)[kind]
    starts, ends = layout(len(data), 100, seed=2)
    reqs = [RangeRequest(url, s, e) for s, e in zip(starts, ends)]
    object_server.configure(
        fail_rate=0.05, stall_rate=0.02, stall_s=5.0, truncate_rate=0.05, fault_seed=7
    )
    metrics = IOMetrics()
    retry = RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.05, timeout=0.5)
    results = run_sync(
        fetch_ranges(_backend(object_server), reqs, max_gap=-1, retry=retry, metrics=metrics),
        timeout=60,
    )
    for r in results:
        assert bytes(r.data) == data[r.request.start : r.request.end]
    faults = {str(r.fault) for r in object_server.requests if r.fault is not None}
    assert faults >= {"fail", "truncate"}
    assert metrics.snapshot().retries >= 1
    assert metrics.snapshot().failures == 0


def test_missing_object_policies(object_server, payload, fast_retry) -> None:
    key, data, _ = payload
    object_server.configure(missing_keys=[key])
    url = object_server.url(key)
    backend = _backend(object_server)
    reqs = [
        RangeRequest(url, 0, 100, record_id="rec-1", band="B04"),
        RangeRequest(url, 2_000_000, 2_000_100, record_id="rec-1", band="B04"),
    ]
    with pytest.raises(ObjectNotFoundError) as info:
        run_sync(fetch_ranges(backend, reqs, retry=fast_retry))
    err = info.value
    assert isinstance(err, FetchError) and isinstance(err, FileNotFoundError)
    assert err.url == url and err.record_id == "rec-1" and err.band == "B04"
    assert url in str(err) and "rec-1" in str(err) and "B04" in str(err)
    assert err.attempts == 1  # not retried
    # Other objects still read under skip / nodata; the failure is reported per request.
    other = object_server.url(key + ".ok")
    (object_server.root / (key + ".ok")).write_bytes(data[:1000])
    for policy in ("skip", "nodata"):
        res = run_sync(
            fetch_ranges(
                backend,
                [*reqs, RangeRequest(other, 10, 20, record_id="rec-2")],
                error_policy=policy,
            )
        )
        assert [r.ok for r in res] == [False, False, True]
        assert bytes(res[2].data) == data[10:20]
        assert all(isinstance(r.error, ObjectNotFoundError) for r in res[:2])
        assert res[0].error.record_id == "rec-1" and res[0].data is None


def test_permanent_5xx_gives_up(object_server, payload) -> None:
    key, _, _ = payload
    object_server.configure(fail_rate=1.0)
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=2.0)
    with pytest.raises(FetchError) as info:
        run_sync(
            fetch_ranges(
                _backend(object_server), [RangeRequest(object_server.url(key), 0, 9)], retry=retry
            )
        )
    assert info.value.attempts == 3 and info.value.retryable
    assert "503" in str(info.value)
    assert object_server.count("GET", key) == 3


def test_concurrency_bound(object_server, payload) -> None:
    key, _, _ = payload
    object_server.configure(latency_ms=30)
    url = object_server.url(key)
    reqs = [RangeRequest(url, i * 20_000, i * 20_000 + 1000) for i in range(24)]
    run_sync(fetch_ranges(_backend(object_server), reqs, max_gap=-1, concurrency=4))
    recs = [r for r in object_server.requests if r.method == "GET"]
    assert len(recs) == 24
    events = sorted([(r.start, 1) for r in recs] + [(r.end, -1) for r in recs])
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    assert 1 < peak <= 4


def _peak(recs) -> int:
    events = sorted([(r.start, 1) for r in recs] + [(r.end, -1) for r in recs])
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def test_record_concurrency_bound(object_server, payload) -> None:
    """``record_concurrency`` bounds each record's requests in flight, not the read's: two
    records of 12 ranges each with a bound of 3 run up to 6 requests at once."""
    key, data, _ = payload
    object_server.configure(latency_ms=30)
    url = object_server.url(key)
    reqs = [
        RangeRequest(url, i * 20_000, i * 20_000 + 1000, record_id=f"r{i % 2}", tag=i)
        for i in range(24)
    ]
    fetcher = Fetcher(_backend(object_server), max_gap=-1, concurrency=64, record_concurrency=3)
    res = run_sync(fetcher.fetch(reqs))
    assert [bytes(r.data) for r in res] == [data[r.start : r.end] for r in reqs]
    recs = [r for r in object_server.requests if r.method == "GET"]
    first = [int(r.range.split("=")[1].split("-")[0]) for r in recs]  # "bytes=a-b"
    by_record = [[r for r, b in zip(recs, first) if (b // 20_000) % 2 == k] for k in (0, 1)]
    assert all(1 < _peak(rs) <= 3 for rs in by_record), [_peak(rs) for rs in by_record]
    assert _peak(recs) > 3
    assert fetcher._slots is not None and len(fetcher._slots) == 0  # no semaphore left over


def test_on_group_streams_each_group_once(object_server, payload) -> None:
    """``on_group`` sees every result exactly once (empty ranges included), as groups land;
    the returned list is the same, in request order."""
    key, data, _ = payload
    url = object_server.url(key)
    reqs = [RangeRequest(url, s, s + 500, tag=k) for k, s in enumerate((0, 600, 90_000, 200_000))]
    reqs.append(RangeRequest(url, 7, 7, tag="empty"))
    seen: list[list[object]] = []
    res = run_sync(
        Fetcher(_backend(object_server)).fetch(reqs, on_group=lambda g: seen.append(
            [r.request.tag for r in g]))
    )  # fmt: skip
    assert sorted(t for g in seen for t in g if t != "empty") == [0, 1, 2, 3]
    assert ["empty"] in seen and len(seen) == 4  # the empty range, then 3 groups
    assert [r.request.tag for r in res] == [0, 1, 2, 3, "empty"]
    assert [bytes(r.data) for r in res[:4]] == [data[r.start : r.end] for r in reqs[:4]]


def test_failure_cancels_siblings_cleanly(object_server, payload, tmp_path) -> None:
    """A failing read inside asyncio.run leaves no obstore future behind the closed loop."""
    key, _, _ = payload
    object_server.configure(latency_ms=300, missing_keys=[key + ".missing"])
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from rasteret_io import RangeRequest, create_backend, fetch_ranges, FetchError
        async def main():
            be = create_backend()
            reqs = [RangeRequest({object_server.url(key)!r}, i * 10000, i * 10000 + 100) for i in range(30)]
            reqs.append(RangeRequest({object_server.url(key + ".missing")!r}, 0, 10))
            try:
                await fetch_ranges(be, reqs, max_gap=-1)
            except FetchError as e:
                print("raised", type(e).__name__)
        asyncio.run(main())
        import time; time.sleep(0.6)  # let any orphaned Rust future try to call back
        print("done")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "raised ObjectNotFoundError" in proc.stdout and "done" in proc.stdout
    assert "Event loop is closed" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_caller_cancellation_awaits_children(object_server, payload) -> None:
    key, _, _ = payload
    object_server.configure(latency_ms=500)
    url = object_server.url(key)

    async def main() -> None:
        task = asyncio.ensure_future(
            fetch_ranges(
                _backend(object_server),
                [RangeRequest(url, i * 10_000, i * 10_000 + 9) for i in range(8)],
                max_gap=-1,
            )
        )
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not others

    run_sync(main(), timeout=30)


def test_stalls_are_timed_out_and_retried(object_server, payload) -> None:
    key, data, _ = payload
    object_server.configure(stall_rate=0.3, stall_s=10.0, fault_seed=3)
    url = object_server.url(key)
    reqs = [RangeRequest(url, i * 50_000, i * 50_000 + 20_000) for i in range(20)]
    retry = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.01, timeout=0.3)
    metrics = IOMetrics()
    results = run_sync(
        fetch_ranges(_backend(object_server), reqs, max_gap=-1, retry=retry, metrics=metrics),
        timeout=60,
    )
    assert [bytes(r.data) for r in results] == [data[r.start : r.end] for r in reqs]
    assert object_server.count(fault="stall") >= 1
    assert metrics.snapshot().retries >= 1


def test_read_ranges_helper(object_server, payload) -> None:
    from rasteret_io import read_ranges

    key, data, _ = payload
    out = run_sync(
        read_ranges(_backend(object_server), object_server.url(key), [5, 0, 9], [9, 0, 99])
    )
    assert [bytes(b) for b in out] == [data[5:9], b"", data[9:99]]
