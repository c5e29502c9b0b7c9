"""Concurrent, coalesced, retried, time-bounded and identity-checked fetching of byte ranges.

:func:`fetch_ranges` takes many :class:`RangeRequest` (possibly of many objects),
coalesces the ranges of each object into request groups
(:func:`rasteret_io.coalesce.coalesce_ranges`), fetches every group as one request under
a shared concurrency bound, verifies the length of every returned buffer and, when the
request carries the object identity recorded at build time, that the response comes from
that same object version (see :mod:`rasteret_io.identity`). Transient failures are
retried with exponential backoff and full jitter; each attempt has a timeout and the whole
read may have a deadline (:class:`~rasteret_io.options.Deadline`). One
:class:`RangeResult` per request comes back, in request order, holding a zero-copy
``memoryview`` of its bytes or the error that made it fail.

Cancellation safety: when a request fails for good under the ``"raise"`` policy, or
when the caller is cancelled, every sibling task is cancelled **and awaited** before
control returns, so no backend future outlives the call (and hence the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar, get_args, overload

from rasteret_io._attempts import GroupFetch, GroupJob, KeyedSlots
from rasteret_io.coalesce import RangeGroup, coalesce_ranges
from rasteret_io.errors import ConfigError, FetchError, StaleObjectError, StaleObjectWarning
from rasteret_io.identity import ObjectIdentity, StalenessPolicy
from rasteret_io.metrics import GLOBAL_METRICS, IOMetrics
from rasteret_io.options import DEFAULT_CONCURRENCY, Deadline, FetchOptions
from rasteret_io.protocols import IdentifiedRangeReader, RangeReader
from rasteret_io.retry import RetryPolicy
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
_V = TypeVar("_V")

ErrorPolicy = Literal["raise", "skip", "nodata"]
"""What a failed range does: ``raise`` a :class:`FetchError` (default); ``skip`` or
``nodata``: return a failed :class:`RangeResult` (the read engine then drops the
record/band or fills it with nodata; both are logged with URL, record and band)."""


@dataclass(frozen=True, slots=True, repr=False)
class RangeRequest:
    """One byte range wanted by a caller.

    Attributes:
        url: Object URL (or path) as given to the reader.
        start: First byte (inclusive).
        end: End byte (exclusive).
        record_id: Record the range belongs to (named in errors).
        band: Band the range belongs to (named in errors).
        tag: Anything the caller wants back with the result (e.g. a tile index).
        expected: Identity of the object when it was indexed (ETag / size /
            Last-Modified); responses from another version fail with
            :class:`~rasteret_io.errors.StaleObjectError`. None: not checked.
    """

    url: str
    start: int
    end: int
    record_id: str | None = None
    band: str | None = None
    tag: Any = None
    expected: ObjectIdentity | None = None

    @property
    def size(self) -> int:
        """Number of bytes requested."""
        return self.end - self.start

    def __repr__(self) -> str:
        return (
            f"RangeRequest({redact_url(self.url)!r}, {self.start}, {self.end}, "
            f"record_id={self.record_id!r}, band={self.band!r}, tag={self.tag!r}, "
            f"expected={self.expected!r})"
        )


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Outcome of one :class:`RangeRequest`.

    Attributes:
        request: The request.
        data: The bytes (a ``memoryview``, possibly into a larger coalesced buffer), or
            None on failure.
        error: The failure (URL redacted, record, band and HTTP status named), or None.
    """

    request: RangeRequest
    data: memoryview | None = None
    error: FetchError | None = None

    @property
    def ok(self) -> bool:
        """Whether the bytes were fetched."""
        return self.error is None


class _Option(Generic[_V]):
    """A read-only attribute of a :class:`Fetcher`: its :class:`FetchOptions` field of the
    same name."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Option[_V]: ...

    @overload
    def __get__(self, obj: Fetcher, owner: type | None = None) -> _V: ...

    def __get__(self, obj: Fetcher | None, owner: type | None = None) -> _V | _Option[_V]:
        if obj is None:
            return self
        value: _V = getattr(obj.options, self.name)
        return value

    def __set__(self, obj: Fetcher, value: object) -> None:
        raise AttributeError(f"Fetcher.{self.name} is read-only (set it in FetchOptions)")


class Fetcher:
    """Fetch options plus the concurrency bound shared by all fetches using it.

    One ``Fetcher`` shared across the records of a read bounds the requests in flight
    for the whole read, not per record. The semaphore is created lazily per event loop.

    Args:
        reader: The byte-range source. Readers implementing
            :class:`~rasteret_io.protocols.IdentifiedRangeReader` (every rasteret_io
            backend) get the staleness check for requests carrying ``expected``.
        options: Fetch options (default :class:`FetchOptions()`).
        error_policy: ``"raise"``, ``"skip"`` or ``"nodata"``.
        metrics: Extra counters to update (the process-wide ones always are).
        concurrency: Overrides ``options.concurrency``.
        record_concurrency: Overrides ``options.record_concurrency``.
        retry: Overrides ``options.retry``.
        max_gap: Overrides ``options.max_gap``.
        max_size: Overrides ``options.max_size``.
        deadline: Overrides ``options.deadline`` (seconds).
        staleness: Overrides ``options.staleness``.

    Raises:
        ConfigError: For invalid settings.
    """

    __slots__ = (
        "_checks",
        "_groups",
        "_sem",
        "_sem_loop",
        "_slots",
        "error_policy",
        "metrics",
        "options",
        "reader",
    )

    def __init__(
        self,
        reader: RangeReader,
        options: FetchOptions | None = None,
        *,
        error_policy: ErrorPolicy = "raise",
        metrics: IOMetrics | None = None,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        max_gap: int | None = None,
        max_size: int | None = None,
        deadline: float | None = None,
        staleness: StalenessPolicy | None = None,
        record_concurrency: int | None = None,
    ) -> None:
        opts = options if options is not None else FetchOptions()
        overrides: dict[str, Any] = {
            k: v
            for k, v in (
                ("concurrency", concurrency),
                ("retry", retry),
                ("max_gap", max_gap),
                ("max_size", max_size),
                ("deadline", deadline),
                ("staleness", staleness),
                ("record_concurrency", record_concurrency),
            )
            if v is not None
        }
        self.options: FetchOptions = replace(opts, **overrides) if overrides else opts
        if error_policy not in get_args(ErrorPolicy):
            raise ConfigError(
                f"error_policy must be one of {get_args(ErrorPolicy)}, got {error_policy!r}"
            )
        self.reader = reader
        self.error_policy: ErrorPolicy = error_policy
        self.metrics = metrics
        self._checks = self.options.staleness != "off" and isinstance(reader, IdentifiedRangeReader)
        self._sem: asyncio.Semaphore | None = None
        self._slots: KeyedSlots | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._groups = GroupFetch(
            reader, self.options.retry, self.options.staleness, self._count, random.Random()
        )

    concurrency: _Option[int] = _Option("Maximum range requests in flight.")
    retry: _Option[RetryPolicy] = _Option("Retry policy (attempts, backoff, per-attempt timeout).")
    max_gap: _Option[int] = _Option("Coalescing gap limit in bytes.")
    max_size: _Option[int] = _Option("Coalescing size limit in bytes.")
    staleness: _Option[StalenessPolicy] = _Option("Staleness policy.")

    def __repr__(self) -> str:
        return f"Fetcher({self.reader!r}, {self.options!r}, error_policy={self.error_policy!r})"

    def _semaphores(self) -> tuple[asyncio.Semaphore, KeyedSlots | None]:
        """The read's bound and the per-record bounds, on the running loop."""
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.concurrency)
            rc = self.options.record_concurrency
            self._slots = KeyedSlots(rc) if rc is not None and rc < self.concurrency else None
            self._sem_loop = loop
        return self._sem, self._slots

    def _count(self, **kw: int) -> None:
        GLOBAL_METRICS.add(**kw)
        if self.metrics is not None:
            self.metrics.add(**kw)

    async def fetch(
        self,
        requests: Sequence[RangeRequest],
        *,
        deadline: Deadline | None = None,
        on_group: Callable[[list[RangeResult]], None] | None = None,
    ) -> list[RangeResult]:
        """Fetch ``requests``; see :func:`fetch_ranges`.

        Args:
            requests: The ranges.
            deadline: The running deadline of the read this fetch belongs to (share one
                across all fetches of a read); default: a new one from
                ``options.deadline`` for this call alone.
            on_group: Called on the event loop with the results of each coalesced request
                group as soon as it lands (failed ones too, unless the error policy is
                ``"raise"``), so one call can serve a whole read while its consumers start
                on what has arrived. An exception it raises fails the fetch.
        """
        if deadline is None:
            deadline = self.options.start_deadline()
        results: list[RangeResult | None] = [None] * len(requests)
        jobs = self._jobs(requests, results)
        if on_group is not None and len(jobs) < len(requests):
            empty = [r for r in results if r is not None]  # answered without a request
            if empty:
                on_group(empty)
        if not jobs:
            return [r for r in results if r is not None]
        sem, slots = self._semaphores()
        raising = self.error_policy == "raise"
        stale: list[tuple[str, StaleObjectError]] = []
        fetch_group = self._groups.fetch

        async def run(job: GroupJob) -> None:
            try:
                got = await fetch_group(job, sem, deadline, slots)
            except FetchError as exc:
                err = self._fail(requests, results, job, exc)
                if raising:
                    raise err from None
                _log.warning("range fetch failed (%s): %s", self.error_policy, exc)
            else:
                if isinstance(got, StaleObjectError):  # staleness="warn": never raises
                    self._fail(requests, results, job, got)
                    stale.append((job.url, got))
                else:
                    view = memoryview(got)
                    g0 = job.group.start
                    for m in job.members:
                        req = requests[m]
                        results[m] = RangeResult(req, view[req.start - g0 : req.end - g0])
            if on_group is not None:
                on_group([results[m] for m in job.members])  # type: ignore[misc]

        tasks = [asyncio.ensure_future(run(job)) for job in jobs]
        try:
            if raising:
                await _wait_fail_fast(tasks)
            else:
                await asyncio.wait(tasks)
        except BaseException:
            await _cancel_and_wait(tasks)
            raise
        first_error: BaseException | None = None
        for task in tasks:
            if task.cancelled():  # a sibling failed under "raise"
                continue
            exc = task.exception()
            if exc is not None and not isinstance(exc, FetchError):
                raise exc  # a programming/environment error, or on_group's
            if exc is not None and first_error is None:
                first_error = exc
        if first_error is not None:
            raise first_error
        warned: set[str] = set()
        for url, err in stale:
            if url not in warned:
                warned.add(url)
                warnings.warn(str(err), StaleObjectWarning, stacklevel=2)
        return results  # type: ignore[return-value]  # every slot is filled above

    async def fetch_one(
        self, request: RangeRequest, *, deadline: Deadline | None = None
    ) -> memoryview:
        """The bytes of one range (a zero-copy view), or its error raised (whatever the
        error policy).

        The same request, retries, timeouts, identity check, metrics and errors as
        ``fetch([request])`` under ``error_policy="raise"``, without the grouping of a batch:
        the path of small single-range reads such as COG headers. Under
        ``staleness="warn"`` a changed object warns (:class:`StaleObjectWarning`) and then
        raises its :class:`StaleObjectError`.

        Args:
            request: The range.
            deadline: The running deadline of the read (default: a new one from
                ``options.deadline``).

        Raises:
            FetchError: The range could not be fetched (``DeadlineExceededError``,
                ``StaleObjectError``...), with the request's record and band.
            ConfigError: An invalid range.
        """
        if self.options.staleness == "warn":  # rare: the batch path warns once per object
            (result,) = await self.fetch([request], deadline=deadline)
            if result.error is not None:
                raise result.error
            assert result.data is not None
            return memoryview(result.data)
        start, end, url = request.start, request.end, request.url
        if start < 0 or end < start:
            raise ConfigError(f"invalid byte range [{start}, {end}) for {redact_url(url)}")
        self._count(ranges=1)
        if end == start:
            return memoryview(b"")
        if deadline is None:
            deadline = self.options.start_deadline()
        expected = request.expected if self._checks else None
        key = None
        if self.options.record_concurrency is not None:
            key = request.record_id or url
        job = GroupJob(url, RangeGroup(start, end, (0,)), [0], expected, key)
        sem, slots = self._semaphores()
        try:
            got = await self._groups.fetch(job, sem, deadline, slots)
        except FetchError as exc:
            raise exc.with_context(record_id=request.record_id, band=request.band) from None
        assert not isinstance(got, StaleObjectError)  # only returned under "warn"
        return memoryview(got)

    def _jobs(
        self, requests: Sequence[RangeRequest], results: list[RangeResult | None]
    ) -> list[GroupJob]:
        """Group ``requests`` by object (and expected identity) and coalesce each object's
        ranges into request groups; empty ranges are answered in ``results`` at once."""
        by_object: dict[tuple[str, ObjectIdentity | None], list[int]] = defaultdict(list)
        checks = self._checks
        for i, req in enumerate(requests):
            if req.start < 0 or req.end < req.start:
                raise ConfigError(
                    f"invalid byte range [{req.start}, {req.end}) for {redact_url(req.url)}"
                )
            if req.end == req.start:
                results[i] = RangeResult(req, memoryview(b""))
            else:
                expected = req.expected if checks and req.expected is not None else None
                by_object[(req.url, expected)].append(i)
        self._count(ranges=len(requests))
        per_record = self.options.record_concurrency is not None
        jobs: list[GroupJob] = []
        max_gap, max_size = self.max_gap, self.max_size
        for (url, expected), idx in by_object.items():
            if len(idx) == 1:  # the common case of one range per object
                i = idx[0]
                req = requests[i]
                groups = [RangeGroup(req.start, req.end, (0,))]
            else:
                starts = [requests[i].start for i in idx]
                ends = [requests[i].end for i in idx]
                groups = coalesce_ranges(starts, ends, max_gap=max_gap, max_size=max_size)
            for g in groups:
                members = [idx[m] for m in g.members]
                key = None
                if per_record:
                    key = requests[members[0]].record_id or url
                jobs.append(GroupJob(url, g, members, expected, key))
        return jobs

    @staticmethod
    def _fail(
        requests: Sequence[RangeRequest],
        results: list[RangeResult | None],
        job: GroupJob,
        exc: FetchError,
    ) -> FetchError:
        """Mark every member of ``job`` failed with ``exc``; return the first member's error."""
        first: FetchError | None = None
        for m in job.members:
            req = requests[m]
            err = exc.with_context(record_id=req.record_id, band=req.band)
            results[m] = RangeResult(req, None, err)
            first = first or err
        return first or exc


async def _wait_fail_fast(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for all tasks, or cancel (and await) the rest at the first failure."""
    pending: set[asyncio.Future[Any]] = set(tasks)
    while pending:
        _done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
        if failed is not None:
            await _cancel_and_wait(list(pending))
            return


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
    options: FetchOptions | None = None,
    deadline: Deadline | None = None,
    concurrency: int | None = None,
    retry: RetryPolicy | None = None,
    error_policy: ErrorPolicy = "raise",
    max_gap: int | None = None,
    max_size: int | None = None,
    metrics: IOMetrics | None = None,
    fetcher: Fetcher | None = None,
) -> list[RangeResult]:
    """Fetch many byte ranges, coalesced per object, concurrently, with retries and checks.

    Args:
        reader: The byte-range source (e.g. an obstore backend).
        requests: Ranges to fetch; may mix objects, overlap and repeat.
        options: Fetch options (concurrency, retries and attempt timeout, deadline,
            staleness, coalescing); the keywords below override single fields.
        deadline: The running deadline of the enclosing read (default: a new one from
            ``options.deadline``).
        concurrency: Maximum requests in flight for this call.
        retry: Retry policy (default :class:`RetryPolicy()`).
        error_policy: ``"raise"`` (default) raises the first final failure after
            cancelling and awaiting the other requests; ``"skip"`` and ``"nodata"``
            return failed results instead.
        max_gap: Largest gap merged into one request, in bytes.
        max_size: Largest merged request, in bytes.
        metrics: Extra counters to update.
        fetcher: Share the concurrency bound and settings of an existing fetcher
            (the other settings are then ignored).

    Returns:
        One :class:`RangeResult` per request, in request order.

    Raises:
        FetchError: Under ``"raise"``, for the first range that failed for good; names
            the redacted URL, record, band, byte range and HTTP status.
            ``ObjectNotFoundError``, ``PermissionDeniedError``, ``FetchTimeoutError``
            (an attempt timed out), ``DeadlineExceededError`` (the read's deadline ran
            out) and ``StaleObjectError`` (the object changed since indexing) are
            subclasses.
        ConfigError: For invalid ranges or settings.
    """
    if fetcher is None:
        fetcher = Fetcher(
            reader,
            options,
            error_policy=error_policy,
            metrics=metrics,
            concurrency=concurrency,
            retry=retry,
            max_gap=max_gap,
            max_size=max_size,
        )
    return await fetcher.fetch(requests, deadline=deadline)


async def read_ranges(
    reader: RangeReader,
    url: str,
    starts: Sequence[int],
    ends: Sequence[int],
    *,
    expected: ObjectIdentity | None = None,
    options: FetchOptions | None = None,
    deadline: Deadline | None = None,
    metrics: IOMetrics | None = None,
    fetcher: Fetcher | None = None,
) -> list[memoryview]:
    """Fetch ranges of one object and return their bytes (raising on failure).

    Args:
        reader: The byte-range source.
        url: Object URL.
        starts: Range starts.
        ends: Range ends (exclusive).
        expected: Identity the object must still have (see :class:`RangeRequest`).
        options: Fetch options.
        deadline: Running deadline of the enclosing read.
        metrics: Extra counters to update.
        fetcher: Share an existing fetcher's bound and settings.

    Returns:
        One buffer per range.

    Raises:
        FetchError: For the first range that failed for good.
    """
    reqs = [RangeRequest(url, s, e, expected=expected) for s, e in zip(starts, ends, strict=True)]
    results = await fetch_ranges(
        reader, reqs, options=options, deadline=deadline, metrics=metrics, fetcher=fetcher
    )
    out: list[memoryview] = []
    for r in results:  # a shared fetcher may tolerate failures; this helper does not
        if r.data is None:
            raise r.error or ConfigError("range missing from the results")
        out.append(r.data)
    return out
