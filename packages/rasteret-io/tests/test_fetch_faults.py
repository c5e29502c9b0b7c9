"""The fault matrix at the fetch level: every transient fault is survived with the exact bytes
of a fault-free read; permanent ones fail with a typed error naming URL and HTTP status."""

from __future__ import annotations

import pytest

from rasteret_io import (
    FetchError,
    IOMetrics,
    ObjectNotFoundError,
    RangeRequest,
    create_backend,
    fetch_ranges,
    run_sync,
)
from rasteret_io.retry import RetryPolicy

RETRY = RetryPolicy(max_attempts=6, base_delay=0.002, max_delay=0.02, timeout=0.5)


def _backend(server):
    return create_backend(default_s3_config={"endpoint": server.base_url, "region": "us-east-1"})


def _url(server, key: str, kind: str) -> str:
    bucket, _, rest = key.partition("/")
    return server.url(key) if kind == "http" else f"s3://{bucket}/{rest}"


def _read(server, url: str, layout, size: int, **kw):
    starts, ends = layout(size, 12, seed=5)
    reqs = [
        RangeRequest(url, s, e, record_id="r7", band="B02", tag=i)
        for i, (s, e) in enumerate(zip(starts, ends))
    ]
    results = run_sync(
        fetch_ranges(_backend(server), reqs, max_gap=-1, retry=RETRY, **kw), timeout=120
    )
    return [bytes(r.data) if r.ok else r.error for r in results]


@pytest.mark.parametrize("kind", ["http", "s3"])
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
    object_server, payload, layout, kind, fault, count, config
) -> None:
    key, data, _ = payload
    url = _url(object_server, key, kind)
    clean = _read(object_server, url, layout, len(data))
    assert object_server.count(fault=fault) == 0
    object_server.reset()
    object_server.configure(**config)
    object_server.inject(fault, count=count)
    metrics = IOMetrics()
    faulty = _read(object_server, url, layout, len(data), metrics=metrics)
    assert faulty == clean
    assert all(isinstance(b, bytes) for b in faulty)
    starts, ends = layout(len(data), 12, seed=5)
    assert faulty == [data[s:e] for s, e in zip(starts, ends)]
    assert object_server.pending_faults == 0
    assert object_server.count(fault=fault) == count
    assert metrics.snapshot().retries == count


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_random_fault_mix_gives_the_fault_free_bytes(object_server, payload, layout, kind) -> None:
    key, data, _ = payload
    url = _url(object_server, key, kind)
    clean = _read(object_server, url, layout, len(data))
    object_server.configure(
        fail_rate=0.1, truncate_rate=0.1, short_rate=0.1, reset_rate=0.1, fault_seed=11
    )
    assert _read(object_server, url, layout, len(data)) == clean
    assert sum(object_server.count(fault=f) for f in ("fail", "truncate", "short", "reset")) > 0


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_permanent_server_failure_names_url_and_status(object_server, payload, kind) -> None:
    key, _, _ = payload
    url = _url(object_server, key, kind)
    object_server.configure(broken_keys={key}, fail_status=500)
    reqs = [RangeRequest(url, 0, 100, record_id="r7", band="B02")]
    with pytest.raises(FetchError) as info:
        run_sync(fetch_ranges(_backend(object_server), reqs, retry=RETRY), timeout=60)
    err = info.value
    assert (err.status, err.attempts, err.retryable) == (500, RETRY.max_attempts, True)
    assert "status=500" in str(err) and url in str(err) and "record=r7" in str(err)
    assert object_server.count("GET", status=500) == RETRY.max_attempts


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_missing_object_is_final_with_status(object_server, payload, kind) -> None:
    key, _, _ = payload
    url = _url(object_server, key, kind)
    object_server.configure(missing_keys={key})
    with pytest.raises(ObjectNotFoundError) as info:
        run_sync(fetch_ranges(_backend(object_server), [RangeRequest(url, 0, 100)], retry=RETRY))
    assert info.value.status == 404 and info.value.attempts == 1
    assert "status=404" in str(info.value)
    assert object_server.count("GET") == 1


def test_skip_policy_reports_status_per_range(object_server, payload) -> None:
    key, data, _ = payload
    object_server.put("iobkt/broken.bin", data[:1000])
    object_server.configure(broken_keys={"iobkt/broken.bin"}, fail_status=503)
    reqs = [
        RangeRequest(object_server.url(key), 0, 10, record_id="ok"),
        RangeRequest(object_server.url("iobkt/broken.bin"), 0, 10, record_id="bad"),
    ]
    res = run_sync(
        fetch_ranges(_backend(object_server), reqs, retry=RETRY, error_policy="skip"), timeout=60
    )
    assert res[0].ok and bytes(res[0].data) == data[:10]
    assert res[1].error is not None and res[1].error.status == 503
    assert res[1].error.record_id == "bad"
