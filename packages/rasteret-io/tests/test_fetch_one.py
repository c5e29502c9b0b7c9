"""Fetcher.fetch_one (the single-range path of header reads) against fetch([request]).

Through the loopback object server: the same bytes, request counts, metrics and errors
(type, URL, record, band, attempts) as the batch path under ``error_policy="raise"``, for
plain reads, retried faults, missing and rewritten objects, and the policies the batch
path reports instead of raising.
"""

from __future__ import annotations

import os
import warnings

import pytest

from rasteret_io import (
    ConfigError,
    Fetcher,
    FetchError,
    FetchOptions,
    IOMetrics,
    ObjectNotFoundError,
    RangeRequest,
    StaleObjectError,
    StaleObjectWarning,
    run_sync,
)
from rasteret_io.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)


def _one(fetcher: Fetcher, req: RangeRequest) -> bytes:
    return bytes(run_sync(fetcher.fetch_one(req), timeout=60))


@pytest.mark.parametrize("kind", ["http", "s3", "local"])
def test_bytes_and_metrics_match_the_batch_path(
    object_server, object_urls, object_backend, payload, kind: str
) -> None:
    key, data, _ = payload
    url = object_urls(key)[kind]
    spans = [(0, 65_536), (123_457, 200_001), (len(data) - 10, len(data)), (500, 500)]
    one, batch = IOMetrics(), IOMetrics()
    f_one = Fetcher(object_backend(), FetchOptions(retry=FAST), metrics=one)
    f_batch = Fetcher(object_backend(), FetchOptions(retry=FAST), metrics=batch)
    for s, e in spans:
        req = RangeRequest(url, s, e)
        got = run_sync(f_one.fetch_one(req))
        assert isinstance(got, memoryview) and bytes(got) == data[s:e]
        (res,) = run_sync(f_batch.fetch([req]))
        assert bytes(res.data) == bytes(got)
    assert one.snapshot() == batch.snapshot()
    assert one.snapshot().requests == 3 and one.snapshot().ranges == 4


def test_transient_faults_are_retried(object_server, object_backend, payload) -> None:
    key, data, _ = payload
    object_server.configure(fail_rate=0.3, truncate_rate=0.3, fault_seed=3)
    metrics = IOMetrics()
    retry = RetryPolicy(max_attempts=20, base_delay=0.001, max_delay=0.01, timeout=5.0)
    fetcher = Fetcher(object_backend(), FetchOptions(retry=retry), metrics=metrics)
    url = object_server.url(key)
    for i in range(12):
        s = i * 50_000
        assert _one(fetcher, RangeRequest(url, s, s + 40_000)) == data[s : s + 40_000]
    assert metrics.snapshot().retries >= 1 and metrics.snapshot().failures == 0


@pytest.mark.parametrize("policy", ["raise", "skip", "nodata"])
def test_errors_are_those_of_the_batch_path(
    object_server, object_backend, payload, policy: str
) -> None:
    key, _, _ = payload
    object_server.configure(missing_keys=[key])
    url = object_server.url(key)
    fetcher = Fetcher(object_backend(), FetchOptions(retry=FAST), error_policy=policy)  # type: ignore[arg-type]
    req = RangeRequest(url, 0, 100, record_id="rec-1", band="B04")
    with pytest.raises(ObjectNotFoundError) as one:
        run_sync(fetcher.fetch_one(req))
    raising = Fetcher(object_backend(), FetchOptions(retry=FAST))
    with pytest.raises(ObjectNotFoundError) as batch:
        run_sync(raising.fetch([req]))
    a, b = one.value, batch.value
    assert type(a) is type(b)  # messages differ only in the store's timing text
    assert all(x in str(a) for x in (url, "rec-1", "B04", "404"))
    assert (a.url, a.record_id, a.band, a.attempts, a.status) == (
        b.url, b.record_id, b.band, b.attempts, b.status,
    )  # fmt: skip


def test_permanent_5xx_gives_up_after_the_attempts(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    object_server.configure(fail_rate=1.0)
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=2.0)
    fetcher = Fetcher(object_backend(), FetchOptions(retry=retry))
    with pytest.raises(FetchError) as info:
        run_sync(fetcher.fetch_one(RangeRequest(object_server.url(key), 0, 9)))
    assert info.value.attempts == 3 and "503" in str(info.value)
    assert object_server.count("GET", key) == 3


def test_invalid_range_is_a_config_error(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    fetcher = Fetcher(object_backend())
    with pytest.raises(ConfigError):
        run_sync(fetcher.fetch_one(RangeRequest(object_server.url(key), 10, 5)))
    assert object_server.count("GET", key) == 0


@pytest.mark.parametrize("staleness", ["raise", "warn", "off"])
def test_rewritten_object(object_server, object_backend, payload, staleness: str) -> None:
    key, data, _ = payload
    url = object_server.url(key)
    backend = object_backend()
    expected = run_sync(backend.identify(url))
    path = object_server.root / key
    st = path.stat()
    path.write_bytes(data[::-1])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    fetcher = Fetcher(backend, FetchOptions(retry=FAST, staleness=staleness))  # type: ignore[arg-type]
    req = RangeRequest(url, 0, 1000, record_id="rec-1", band="B04", expected=expected)
    if staleness == "off":
        assert _one(fetcher, req) == data[::-1][:1000]
        return
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(StaleObjectError) as info:
            run_sync(fetcher.fetch_one(req))
    assert info.value.record_id == "rec-1" and info.value.band == "B04"
    assert any(issubclass(w.category, StaleObjectWarning) for w in seen) == (staleness == "warn")
