"""Concurrent, coalesced, retried fetching of byte ranges.

:func:`fetch_ranges` takes many :class:`RangeRequest` (possibly of many objects),
coalesces the ranges of each object into request groups
(:func:`rasteret_io.coalesce.coalesce_ranges`), fetches every group as one
``reader.get_ranges(url, [start], [end])`` call under a shared concurrency bound,
verifies the length of every returned buffer, retries transient failures with
exponential backoff and full jitter, and hands back one :class:`RangeResult` per
request, in request order, holding a zero-copy ``memoryview`` of its bytes or the
error that made it fail.

Cancellation safety: when a request fails for good under the ``"raise"`` policy, or
when the caller is cancelled, every sibling task is cancelled **and awaited** before
control returns, so no backend future outlives the call (and hence the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from rasteret_io.coalesce import DEFAULT_MAX_GAP, DEFAULT_MAX_SIZE, RangeGroup, coalesce_ranges
from rasteret_io.errors import ConfigError, FetchError, ForkSafetyError, ShortReadError
from rasteret_io.metrics import GLOBAL_METRICS, IOMetrics
from rasteret_io.protocols import Buffer, RangeReader
from rasteret_io.retry import RetryPolicy, classify_error, to_fetch_error
from rasteret_io.urls import redact_url

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ErrorPolicy",
    "Fetcher",
    "RangeRequest",
    "RangeResult",
    "fetch_ranges",
    "read_ranges",
]

_log = logging.getLogger(__name__)

ErrorPolicy = Literal["raise", "skip", "nodata"]
"""What a failed range does: ``raise`` a :class:`FetchError` (default); ``skip`` or
``nodata``: return a failed :class:`RangeResult` (the read engine then drops the
record/band or fills it with nodata; both are logged with URL, record and band)."""

DEFAULT_CONCURRENCY = 64
"""Default bound on range requests in flight per :class:`Fetcher`."""


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """One byte range wanted by a caller.

    Attributes:
        url: Object URL (or path) as given to the reader.
        start: First byte (inclusive).
        end: End byte (exclusive).
        record_id: Record the range belongs to (named in errors).
        band: Band the range belongs to (named in errors).
        tag: Anything the caller wants back with the result (e.g. a tile index).
    """

    url: str
    start: int
    end: int
    record_id: str | None = None
    band: str | None = None
    tag: Hashable | Any = None

    @property
    def size(self) -> int:
        """Number of bytes requested."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Outcome of one :class:`RangeRequest`.

    Attributes:
        request: The request.
        data: The bytes (a ``memoryview``, possibly into a larger coalesced buffer), or
            None on failure.
        error: The failure (URL redacted, record and band named), or None.
    """

    request: RangeRequest
    data: memoryview | None = None
    error: FetchError | None = None

    @property
    def ok(self) -> bool:
        """Whether the bytes were fetched."""
        return self.error is None


@dataclass(slots=True)
class Fetcher:
    """Fetch settings plus the concurrency bound shared by all fetches using it.

    One ``Fetcher`` shared across the records of a read bounds the requests in flight
    for the whole read, not per record. The semaphore is created lazily per event loop.

    Attributes:
        reader: The byte-range source.
        concurrency: Maximum range requests in flight.
        retry: Retry policy.
        error_policy: ``"raise"``, ``"skip"`` or ``"nodata"``.
        max_gap: Coalescing gap limit in bytes (see :mod:`rasteret_io.coalesce`).
        max_size: Coalescing size limit in bytes.
        metrics: Extra counters to update (the process-wide ones always are).
    """

    reader: RangeReader
    concurrency: int = DEFAULT_CONCURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    error_policy: ErrorPolicy = "raise"
    max_gap: int = DEFAULT_MAX_GAP
    max_size: int = DEFAULT_MAX_SIZE
    metrics: IOMetrics | None = None
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)
    _sem_loop: object = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be >= 1")
        if self.error_policy not in get_args(ErrorPolicy):
            raise ConfigError(
                f"error_policy must be one of {get_args(ErrorPolicy)}, got {self.error_policy!r}"
            )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.concurrency)
            self._sem_loop = loop
        return self._sem

    def _count(self, **kw: int) -> None:
        GLOBAL_METRICS.add(**kw)
        if self.metrics is not None:
            self.metrics.add(**kw)

    async def fetch(self, requests: Sequence[RangeRequest]) -> list[RangeResult]:
        """Fetch ``requests``; see :func:`fetch_ranges`."""
        results: list[RangeResult | None] = [None] * len(requests)
        by_url: dict[str, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            if req.start < 0 or req.end < req.start:
                raise ConfigError(
                    f"invalid byte range [{req.start}, {req.end}) for {redact_url(req.url)}"
                )
            if req.end == req.start:
                results[i] = RangeResult(req, memoryview(b""))
            else:
                by_url[req.url].append(i)
        self._count(ranges=len(requests))
        jobs: list[tuple[str, RangeGroup, list[int]]] = []
        for url, idx in by_url.items():
            starts = [requests[i].start for i in idx]
            ends = [requests[i].end for i in idx]
            for g in coalesce_ranges(starts, ends, max_gap=self.max_gap, max_size=self.max_size):
                jobs.append((url, g, [idx[m] for m in g.members]))
        if not jobs:
            return [r for r in results if r is not None]
        sem = self._semaphore()
        tasks = [
            asyncio.ensure_future(self._fetch_group(url, g.start, g.end, sem)) for url, g, _ in jobs
        ]
        try:
            if self.error_policy == "raise":
                await self._wait_fail_fast(tasks)
            else:
                await asyncio.wait(tasks)
        except BaseException:
            await _cancel_and_wait(tasks)
            raise
        first_error: FetchError | None = None
        for task, (_url, g, members) in zip(tasks, jobs, strict=True):
            if task.cancelled():  # a sibling failed under "raise"
                continue
            exc = task.exception()
            if exc is None:
                view = memoryview(task.result())
                for m in members:
                    req = requests[m]
                    results[m] = RangeResult(req, view[g.slice_for(req.start, req.end)])
                continue
            if not isinstance(exc, FetchError):  # a programming/environment error
                raise exc
            for m in members:
                req = requests[m]
                err = exc.with_context(record_id=req.record_id, band=req.band)
                results[m] = RangeResult(req, None, err)
                if first_error is None:
                    first_error = err
            if self.error_policy != "raise":
                _log.warning("range fetch failed (%s): %s", self.error_policy, exc)
        if first_error is not None and self.error_policy == "raise":
            raise first_error
        return results  # type: ignore[return-value]

    async def _wait_fail_fast(self, tasks: list[asyncio.Future[Buffer]]) -> None:
        """Wait for all tasks, or cancel (and await) the rest at the first failure."""
        pending: set[asyncio.Future[Buffer]] = set(tasks)
        while pending:
            _done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
            if failed is not None:
                await _cancel_and_wait(list(pending))
                return

    async def _fetch_group(self, url: str, start: int, end: int, sem: asyncio.Semaphore) -> Buffer:
        policy = self.retry
        size = end - start
        attempt = 0
        while True:
            try:
                async with sem:
                    self._count(requests=1, retries=1 if attempt else 0)
                    coro = self.reader.get_ranges(url, [start], [end])
                    if policy.timeout is not None:
                        bufs = await asyncio.wait_for(coro, policy.timeout)
                    else:
                        bufs = await coro
                    if len(bufs) != 1:
                        raise ShortReadError(
                            f"reader returned {len(bufs)} buffers for 1 range",
                            url=redact_url(url),
                            start=start,
                            end=end,
                            retryable=False,
                        )
                    buf = bufs[0]
                    got = memoryview(buf).nbytes
                    if got != size:
                        raise ShortReadError(
                            f"truncated range response: got {got} of {size} bytes",
                            url=redact_url(url),
                            start=start,
                            end=end,
                            retryable=True,
                        )
                    self._count(nbytes=size)
                    return buf
            except (asyncio.CancelledError, ForkSafetyError):
                raise
            except Exception as exc:
                attempt += 1
                retryable = classify_error(exc).retryable
                if not retryable or attempt >= policy.max_attempts:
                    self._count(failures=1)
                    raise to_fetch_error(
                        exc, url=redact_url(url), start=start, end=end, attempts=attempt
                    ) from None
                _log.debug(
                    "retrying %s [%d, %d) after %s", redact_url(url), start, end, type(exc).__name__
                )
            await asyncio.sleep(policy.backoff(attempt - 1, self._rng))


async def _cancel_and_wait(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for t in tasks:
        if not t.done():
            t.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for t in tasks:  # mark exceptions retrieved
        if t.done() and not t.cancelled():
            t.exception()


async def fetch_ranges(
    reader: RangeReader,
    requests: Sequence[RangeRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy | None = None,
    error_policy: ErrorPolicy = "raise",
    max_gap: int = DEFAULT_MAX_GAP,
    max_size: int = DEFAULT_MAX_SIZE,
    metrics: IOMetrics | None = None,
    fetcher: Fetcher | None = None,
) -> list[RangeResult]:
    """Fetch many byte ranges, coalesced per object, concurrently and with retries.

    Args:
        reader: The byte-range source (e.g. an obstore backend).
        requests: Ranges to fetch; may mix objects, overlap and repeat.
        concurrency: Maximum requests in flight for this call (ignored with ``fetcher``).
        retry: Retry policy (default :class:`RetryPolicy()`).
        error_policy: ``"raise"`` (default) raises the first final failure after
            cancelling and awaiting the other requests; ``"skip"`` and ``"nodata"``
            return failed results instead.
        max_gap: Largest gap merged into one request, in bytes.
        max_size: Largest merged request, in bytes.
        metrics: Extra counters to update.
        fetcher: Share the concurrency bound and settings of an existing fetcher
            (other keyword arguments are then ignored).

    Returns:
        One :class:`RangeResult` per request, in request order.

    Raises:
        FetchError: Under ``"raise"``, for the first range that failed for good; names
            the redacted URL, record, band and byte range. ``ObjectNotFoundError`` and
            ``PermissionDeniedError`` are subclasses.
        ConfigError: For invalid ranges or settings.
    """
    if fetcher is None:
        fetcher = Fetcher(
            reader,
            concurrency=concurrency,
            retry=retry if retry is not None else RetryPolicy(),
            error_policy=error_policy,
            max_gap=max_gap,
            max_size=max_size,
            metrics=metrics,
        )
    return await fetcher.fetch(requests)


async def read_ranges(
    reader: RangeReader,
    url: str,
    starts: Sequence[int],
    ends: Sequence[int],
    **kwargs: Any,
) -> list[memoryview]:
    """Fetch ranges of one object and return their bytes (raising on failure).

    Args:
        reader: The byte-range source.
        url: Object URL.
        starts: Range starts.
        ends: Range ends (exclusive).
        **kwargs: Passed to :func:`fetch_ranges` (``error_policy`` is forced to raise).

    Returns:
        One buffer per range.
    """
    kwargs["error_policy"] = "raise"
    reqs = [RangeRequest(url, s, e) for s, e in zip(starts, ends, strict=True)]
    results = await fetch_ranges(reader, reqs, **kwargs)
    return [r.data for r in results if r.data is not None]
