"""fetch_ranges through the loopback object server: HTTP, S3 path-style and local files.

The fault matrix at the end: every transient fault is survived with the exact bytes of a
fault-free read; permanent ones fail with a typed error naming URL and HTTP status."""

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
    fetch_ranges,
    run_sync,
)
from rasteret_io.retry import RetryPolicy


@pytest.mark.parametrize("kind", ["http", "s3", "local", "file"])
def test_identical_bytes_every_store(
    object_server, object_urls, object_backend, payload, layout, fast_retry, kind: str
) -> None:
    key, data, _ = payload
    url = object_urls(key)[kind]
    starts, ends = layout(len(data), 80, seed=1)
    reqs = [RangeRequest(url, s, e, tag=i) for i, (s, e) in enumerate(zip(starts, ends))]
    results = run_sync(fetch_ranges(object_backend(), reqs, retry=fast_retry))
    assert [r.request.tag for r in results] == list(range(len(reqs)))
    for r in results:
        assert r.ok
        assert bytes(r.data) == data[r.request.start : r.request.end]


def test_one_request_per_coalesced_group(object_server, object_backend, payload) -> None:
    key, data, _ = payload
    url = object_server.url(key)
    # Three clusters far apart; ranges inside a cluster are 1 KiB apart.
    starts = [c + i * 11_000 for c in (0, 1_000_000, 2_000_000) for i in range(5)]
    ends = [s + 10_000 for s in starts]
    reqs = [RangeRequest(url, s, e) for s, e in zip(starts, ends)]
    metrics = IOMetrics()
    backend = object_backend()
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


def test_stores_are_reused(object_server, object_urls, object_backend, payload) -> None:
    key, _, _ = payload
    backend = object_backend()
    urls = object_urls(key)
    for _ in range(3):
        for url in urls.values():
            run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 10)]))
    assert backend.store_count == 3  # http origin, s3 bucket, local


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_faults_give_identical_bytes(
    object_server, object_urls, object_backend, payload, layout, kind: str
) -> None:
    key, data, _ = payload
    url = object_urls(key)[kind]
    starts, ends = layout(len(data), 100, seed=2)
    reqs = [RangeRequest(url, s, e) for s, e in zip(starts, ends)]
    object_server.configure(
        fail_rate=0.05, stall_rate=0.02, stall_s=5.0, truncate_rate=0.05, fault_seed=7
    )
    metrics = IOMetrics()
    retry = RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.05, timeout=0.5)
    results = run_sync(
        fetch_ranges(object_backend(), reqs, max_gap=-1, retry=retry, metrics=metrics),
        timeout=60,
    )
    for r in results:
        assert bytes(r.data) == data[r.request.start : r.request.end]
    faults = {str(r.fault) for r in object_server.requests if r.fault is not None}
    assert faults >= {"fail", "truncate"}
    assert metrics.snapshot().retries >= 1
    assert metrics.snapshot().failures == 0


def test_missing_object_policies(object_server, object_backend, payload, fast_retry) -> None:
    key, data, _ = payload
    object_server.configure(missing_keys=[key])
    url = object_server.url(key)
    backend = object_backend()
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


def test_permanent_5xx_gives_up(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    object_server.configure(fail_rate=1.0)
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=2.0)
    with pytest.raises(FetchError) as info:
        run_sync(
            fetch_ranges(
                object_backend(), [RangeRequest(object_server.url(key), 0, 9)], retry=retry
            )
        )
    assert info.value.attempts == 3 and info.value.retryable
    assert "503" in str(info.value)
    assert object_server.count("GET", key) == 3


def test_concurrency_bound(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    object_server.configure(latency_ms=30)
    url = object_server.url(key)
    reqs = [RangeRequest(url, i * 20_000, i * 20_000 + 1000) for i in range(24)]
    run_sync(fetch_ranges(object_backend(), reqs, max_gap=-1, concurrency=4))
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


def test_record_concurrency_bound(object_server, object_backend, payload) -> None:
    """``record_concurrency`` bounds each record's requests in flight, not the read's: two
    records of 12 ranges each with a bound of 3 run up to 6 requests at once."""
    key, data, _ = payload
    object_server.configure(latency_ms=30)
    url = object_server.url(key)
    reqs = [
        RangeRequest(url, i * 20_000, i * 20_000 + 1000, record_id=f"r{i % 2}", tag=i)
        for i in range(24)
    ]
    fetcher = Fetcher(object_backend(), max_gap=-1, concurrency=64, record_concurrency=3)
    res = run_sync(fetcher.fetch(reqs))
    assert [bytes(r.data) for r in res] == [data[r.start : r.end] for r in reqs]
    recs = [r for r in object_server.requests if r.method == "GET"]
    first = [int(r.range.split("=")[1].split("-")[0]) for r in recs]  # "bytes=a-b"
    by_record = [[r for r, b in zip(recs, first) if (b // 20_000) % 2 == k] for k in (0, 1)]
    assert all(1 < _peak(rs) <= 3 for rs in by_record), [_peak(rs) for rs in by_record]
    assert _peak(recs) > 3
    assert fetcher._slots is not None and len(fetcher._slots) == 0  # no semaphore left over


def test_on_group_streams_each_group_once(object_server, object_backend, payload) -> None:
    """``on_group`` sees every result exactly once (empty ranges included), as groups land;
    the returned list is the same, in request order."""
    key, data, _ = payload
    url = object_server.url(key)
    reqs = [RangeRequest(url, s, s + 500, tag=k) for k, s in enumerate((0, 600, 90_000, 200_000))]
    reqs.append(RangeRequest(url, 7, 7, tag="empty"))
    seen: list[list[object]] = []
    res = run_sync(
        Fetcher(object_backend()).fetch(reqs, on_group=lambda g: seen.append(
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


def test_caller_cancellation_awaits_children(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    object_server.configure(latency_ms=500)
    url = object_server.url(key)

    async def main() -> None:
        task = asyncio.ensure_future(
            fetch_ranges(
                object_backend(),
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


def test_stalls_are_timed_out_and_retried(object_server, object_backend, payload) -> None:
    key, data, _ = payload
    object_server.configure(stall_rate=0.3, stall_s=10.0, fault_seed=3)
    url = object_server.url(key)
    reqs = [RangeRequest(url, i * 50_000, i * 50_000 + 20_000) for i in range(20)]
    retry = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.01, timeout=0.3)
    metrics = IOMetrics()
    results = run_sync(
        fetch_ranges(object_backend(), reqs, max_gap=-1, retry=retry, metrics=metrics),
        timeout=60,
    )
    assert [bytes(r.data) for r in results] == [data[r.start : r.end] for r in reqs]
    assert object_server.count(fault="stall") >= 1
    assert metrics.snapshot().retries >= 1


def test_read_ranges_helper(object_server, object_backend, payload) -> None:
    from rasteret_io import read_ranges

    key, data, _ = payload
    out = run_sync(read_ranges(object_backend(), object_server.url(key), [5, 0, 9], [9, 0, 99]))
    assert [bytes(b) for b in out] == [data[5:9], b"", data[9:99]]


# -- the fault matrix ------------------------------------------------------------------------

RETRY = RetryPolicy(max_attempts=6, base_delay=0.002, max_delay=0.02, timeout=0.5)


@pytest.fixture(params=["http", "s3"])
def url(request: pytest.FixtureRequest, payload, object_urls) -> str:
    """The payload object's URL: over HTTP, then over S3."""
    return object_urls(payload[0])[request.param]


def _read(backend, url: str, layout, size: int, **kw):
    starts, ends = layout(size, 12, seed=5)
    reqs = [
        RangeRequest(url, s, e, record_id="r7", band="B02", tag=i)
        for i, (s, e) in enumerate(zip(starts, ends))
    ]
    results = run_sync(fetch_ranges(backend, reqs, max_gap=-1, retry=RETRY, **kw), timeout=120)
    return [bytes(r.data) if r.ok else r.error for r in results]


@pytest.mark.parametrize(
    ("fault", "count", "config"),
    [
        ("fail", 4, {}),  # a burst of 503 SlowDown
        ("fail", 3, {"fail_status": 500}),
        ("fail", 2, {"fail_status": 502}),
        ("fail", 2, {"fail_status": 429}),
        ("truncate", 3, {}),  # full Content-Length announced, connection closed halfway
        ("short", 3, {}),  # a valid 206 for half of the range
        ("reset", 3, {}),  # TCP reset before any byte
        ("stall", 2, {"stall_s": 30.0}),  # no first byte within the attempt timeout
        ("body_stall", 2, {"stall_s": 30.0}),  # the body stops halfway
    ],
)
def test_transient_faults_give_the_fault_free_bytes(
    object_server, object_backend, payload, url, layout, fault, count, config
) -> None:
    data = payload[1]
    clean = _read(object_backend(), url, layout, len(data))
    assert object_server.count(fault=fault) == 0
    object_server.reset()
    object_server.configure(**config)
    object_server.inject(fault, count=count)
    metrics = IOMetrics()
    faulty = _read(object_backend(), url, layout, len(data), metrics=metrics)
    assert faulty == clean
    assert all(isinstance(b, bytes) for b in faulty)
    starts, ends = layout(len(data), 12, seed=5)
    assert faulty == [data[s:e] for s, e in zip(starts, ends)]
    assert object_server.pending_faults == 0
    assert object_server.count(fault=fault) == count
    assert metrics.snapshot().retries == count


def test_random_fault_mix_gives_the_fault_free_bytes(
    object_server, object_backend, payload, url, layout
) -> None:
    data = payload[1]
    clean = _read(object_backend(), url, layout, len(data))
    object_server.configure(
        fail_rate=0.1, truncate_rate=0.1, short_rate=0.1, reset_rate=0.1, fault_seed=11
    )
    assert _read(object_backend(), url, layout, len(data)) == clean
    assert sum(object_server.count(fault=f) for f in ("fail", "truncate", "short", "reset")) > 0


def test_permanent_server_failure_names_url_and_status(
    object_server, object_backend, payload, url
) -> None:
    object_server.configure(broken_keys={payload[0]}, fail_status=500)
    reqs = [RangeRequest(url, 0, 100, record_id="r7", band="B02")]
    with pytest.raises(FetchError) as info:
        run_sync(fetch_ranges(object_backend(), reqs, retry=RETRY), timeout=60)
    err = info.value
    assert (err.status, err.attempts, err.retryable) == (500, RETRY.max_attempts, True)
    assert "status=500" in str(err) and url in str(err) and "record=r7" in str(err)
    assert object_server.count("GET", status=500) == RETRY.max_attempts


def test_missing_object_is_final_with_status(object_server, object_backend, payload, url) -> None:
    object_server.configure(missing_keys={payload[0]})
    with pytest.raises(ObjectNotFoundError) as info:
        run_sync(fetch_ranges(object_backend(), [RangeRequest(url, 0, 100)], retry=RETRY))
    assert info.value.status == 404 and info.value.attempts == 1
    assert "status=404" in str(info.value)
    assert object_server.count("GET") == 1


def test_skip_policy_reports_status_per_range(object_server, object_backend, payload) -> None:
    key, data, _ = payload
    object_server.put("iobkt/broken.bin", data[:1000])
    object_server.configure(broken_keys={"iobkt/broken.bin"}, fail_status=503)
    reqs = [
        RangeRequest(object_server.url(key), 0, 10, record_id="ok"),
        RangeRequest(object_server.url("iobkt/broken.bin"), 0, 10, record_id="bad"),
    ]
    res = run_sync(
        fetch_ranges(object_backend(), reqs, retry=RETRY, error_policy="skip"), timeout=60
    )
    assert res[0].ok and bytes(res[0].data) == data[:10]
    assert res[1].error is not None and res[1].error.status == 503
    assert res[1].error.record_id == "bad"
