"""Per-attempt timeouts and the total read deadline against the stalling object server.

Every test is bounded twice: the deadline under test, and ``run_sync(timeout=...)`` far above
it (a regression fails instead of hanging). The bounds asserted are correctness bounds (the
deadline is honoured), generous enough for a loaded machine.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rasteret_io import (
    Deadline,
    DeadlineExceededError,
    Fetcher,
    FetchOptions,
    FetchTimeoutError,
    RangeRequest,
    fetch_ranges,
    run_sync,
)
from rasteret_io.retry import RetryPolicy

#: The defaults a user gets: 5 attempts of 30 s each (150 s + backoff when nothing answers).
DEFAULT_RETRY = RetryPolicy()


def _reqs(url: str, n: int = 3) -> list[RangeRequest]:
    return [RangeRequest(url, i * 100_000, i * 100_000 + 1000, record_id=f"r{i}") for i in range(n)]


def test_deadline_bounds_a_server_that_never_answers(
    object_server, object_backend, payload
) -> None:
    key, _, _ = payload
    url = object_server.url(key)
    object_server.configure(stall_rate=1.0, stall_s=120.0)
    opts = FetchOptions(retry=DEFAULT_RETRY, deadline=1.0)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError) as info:
        run_sync(fetch_ranges(object_backend(), _reqs(url), options=opts, max_gap=-1), timeout=60)
    elapsed = time.monotonic() - t0
    assert elapsed < 15.0  # 1 s deadline; without it: 5 x 30 s
    err = info.value
    assert isinstance(err, TimeoutError) and isinstance(err, OSError)
    assert url in str(err) and "deadline of 1 s exceeded" in str(err)
    assert err.deadline == 1.0 and err.elapsed is not None and err.elapsed >= 0.9


def test_attempt_timeout_is_typed_and_named(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    url = object_server.url(key)
    object_server.configure(stall_rate=1.0, stall_s=120.0)
    retry = RetryPolicy(max_attempts=2, base_delay=0.0, timeout=0.3)
    with pytest.raises(FetchTimeoutError) as info:
        run_sync(fetch_ranges(object_backend(), _reqs(url, 1), retry=retry), timeout=60)
    err = info.value
    assert not isinstance(err, DeadlineExceededError)
    assert err.timeout == 0.3 and err.attempts == 2 and err.retryable
    assert "timed out after 0.3 s" in str(err) and url in str(err) and "attempts=2" in str(err)


def test_backoff_never_sleeps_past_the_deadline(object_server, object_backend, payload) -> None:
    key, _, _ = payload
    url = object_server.url(key)
    object_server.configure(fail_rate=1.0)
    retry = RetryPolicy(max_attempts=50, base_delay=20.0, max_delay=20.0, timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError) as info:
        run_sync(
            fetch_ranges(object_backend(), _reqs(url, 1), retry=retry,
                         options=FetchOptions(deadline=2.0)),
            timeout=60,
        )  # fmt: skip
    assert time.monotonic() - t0 < 15.0
    err = info.value
    assert err.status == 503 and "last failure" in str(err) and "status=503" in str(err)


def test_one_deadline_bounds_every_fetch_of_a_read(object_server, object_backend, payload) -> None:
    """The engine passes one Deadline to all the fetches of a read (one per COG)."""
    key, _, _ = payload
    object_server.put("iobkt/second.bin", b"x" * 300_000)
    object_server.configure(stall_rate=1.0, stall_s=120.0)
    fetcher = Fetcher(object_backend(), FetchOptions(retry=DEFAULT_RETRY), error_policy="skip")

    async def read() -> list:
        deadline = Deadline.after(1.0)
        urls = [object_server.url(key), object_server.url("iobkt/second.bin")]
        return await asyncio.gather(*(fetcher.fetch(_reqs(u), deadline=deadline) for u in urls))

    t0 = time.monotonic()
    outcomes = run_sync(read(), timeout=60)
    assert time.monotonic() - t0 < 15.0
    errors = [r.error for results in outcomes for r in results]
    assert len(errors) == 6 and all(isinstance(e, DeadlineExceededError) for e in errors)
    assert {e.record_id for e in errors if e is not None} == {"r0", "r1", "r2"}


def test_waiting_for_a_slot_counts_against_the_deadline(
    object_server, object_backend, payload
) -> None:
    key, _, _ = payload
    object_server.configure(stall_rate=1.0, stall_s=120.0)
    opts = FetchOptions(concurrency=1, retry=DEFAULT_RETRY, deadline=1.0)
    t0 = time.monotonic()
    results = run_sync(
        fetch_ranges(object_backend(), _reqs(object_server.url(key), 4), options=opts,
                     max_gap=-1, error_policy="nodata"),
        timeout=60,
    )  # fmt: skip
    assert time.monotonic() - t0 < 15.0
    assert all(isinstance(r.error, DeadlineExceededError) for r in results)


def test_deadline_leaves_healthy_reads_alone(object_server, object_backend, payload) -> None:
    key, data, _ = payload
    opts = FetchOptions(deadline=30.0)
    res = run_sync(fetch_ranges(object_backend(), _reqs(object_server.url(key)), options=opts))
    assert [bytes(r.data) for r in res] == [
        data[i * 100_000 : i * 100_000 + 1000] for i in range(3)
    ]


def test_run_sync_hands_back_a_coroutine_timeout_error() -> None:
    """A FetchTimeoutError is a TimeoutError, like the sync facade's own wait timeout."""

    async def fails() -> None:
        raise FetchTimeoutError("request timed out after 1 s", url="u", timeout=1.0)

    with pytest.raises(FetchTimeoutError, match="after 1 s"):
        run_sync(fails(), timeout=30)
