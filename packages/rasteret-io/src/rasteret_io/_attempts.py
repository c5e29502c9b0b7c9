"""One request group's attempts: retries, timeouts, the read deadline, identity checks.

:class:`GroupFetch` runs the attempts of one coalesced request group for
:class:`rasteret_io.fetch.Fetcher`: each attempt waits for a slot of the shared
concurrency bound, runs under the per-attempt timeout and the read's deadline, checks the
response's length and (for requests carrying an expected identity) that it came from the
indexed object version, and transient failures are retried after a full-jitter backoff
that never sleeps past the deadline.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from rasteret_io.coalesce import RangeGroup
from rasteret_io.errors import (
    DeadlineExceededError,
    FetchError,
    FetchTimeoutError,
    ForkSafetyError,
    ShortRangeError,
    StaleObjectError,
)
from rasteret_io.identity import ObjectIdentity, StalenessPolicy
from rasteret_io.options import Deadline
from rasteret_io.protocols import Buffer, IdentifiedRangeReader, RangeReader
from rasteret_io.retry import RetryPolicy, classify_error, to_fetch_error
from rasteret_io.urls import redact_url

__all__ = ["DeadlineHit", "GroupFetch", "GroupJob", "KeyedSlots"]

_log = logging.getLogger("rasteret_io.fetch")


@dataclass(frozen=True, slots=True)
class GroupJob:
    """One request group: a coalesced range of one object version.

    Attributes:
        url: Object URL.
        group: The coalesced range.
        members: Indices of the caller's requests served by this group.
        expected: Identity the object must have, or None (not checked).
    """

    url: str
    group: RangeGroup
    members: list[int]
    expected: ObjectIdentity | None
    key: str | None = None


class KeyedSlots:
    """A concurrency bound per key (a record): ``limit`` slots for each key, the state of a
    key existing only while some request of that key holds or waits for a slot.

    Taking a free slot is a counter increment (:meth:`try_acquire`, no await): a read whose
    records stay under their bound pays no semaphore per request. Only a request finding
    its key's slots all taken waits (:meth:`acquire`), first come first served; a released
    slot is handed straight to the next waiter.

    Event-loop only (no locking): created and used on the loop of one fetcher.
    """

    __slots__ = ("_held", "_waiters", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}

    def try_acquire(self, key: str) -> bool:
        """Take a slot of ``key`` if one is free and nobody waits for it (no await)."""
        held = self._held.get(key, 0)
        if held >= self.limit or key in self._waiters:
            return False
        self._held[key] = held + 1
        return True

    async def acquire(self, key: str) -> None:
        """Wait for a slot of ``key``."""
        if self.try_acquire(key):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters.setdefault(key, collections.deque())
        queue.append(fut)
        try:
            await fut  # set by release(): the releaser's slot is now ours
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release(key)  # handed over just as we were cancelled: pass it on
            else:
                waiting = self._waiters.get(key)
                if waiting is not None and fut in waiting:
                    waiting.remove(fut)
                    if not waiting:
                        del self._waiters[key]
            raise

    def release(self, key: str) -> None:
        """Give back a slot of ``key`` (to its next waiter, if any)."""
        queue = self._waiters.get(key)
        while queue:
            fut = queue.popleft()
            if not queue:
                del self._waiters[key]
            if not fut.done():
                fut.set_result(None)  # the slot changes hands: the count stays
                return
            queue = self._waiters.get(key)
        left = self._held[key] - 1
        if left:
            self._held[key] = left
        else:
            del self._held[key]

    def __len__(self) -> int:
        """Keys with a slot held or awaited."""
        return len(self._held.keys() | self._waiters.keys())


class DeadlineHit(Exception):
    """Internal: the read's deadline ran out during an attempt or a wait."""


@dataclass(frozen=True, slots=True, eq=False)
class GroupFetch:
    """Fetches request groups through one reader under one retry/staleness policy.

    Attributes:
        reader: The byte-range source (an ``IdentifiedRangeReader`` when jobs carry an
            expected identity).
        retry: Attempts, backoff and per-attempt timeout.
        staleness: ``"warn"`` returns a :class:`StaleObjectError` instead of raising it.
        count: Metrics sink (``count(requests=1)``, ``count(nbytes=n)``, ...).
        rng: Random source of the backoff jitter.
    """

    reader: RangeReader
    retry: RetryPolicy
    staleness: StalenessPolicy
    count: Callable[..., None]
    rng: random.Random

    async def fetch(
        self,
        job: GroupJob,
        sem: asyncio.Semaphore,
        deadline: Deadline | None,
        slots: KeyedSlots | None = None,
    ) -> Buffer | StaleObjectError:
        """Fetch one group with retries (each attempt holds a slot of ``sem`` and, with
        ``slots``, one of ``job.key``'s).

        Returns:
            The group's bytes; under ``staleness="warn"`` the :class:`StaleObjectError`
            of a changed object (returned, not raised).

        Raises:
            FetchError: The final failure (``DeadlineExceededError`` when the deadline
                ran out, ``StaleObjectError`` for a changed object under ``"raise"``).
        """
        policy = self.retry
        start, end = job.group.start, job.group.end
        attempt = 0
        last: FetchError | None = None
        while True:
            try:
                return await self._attempt(job, sem, deadline, attempt, slots)
            except (asyncio.CancelledError, ForkSafetyError):
                raise
            except DeadlineHit:
                self.count(failures=1)
                raise self._deadline_error(job, deadline, attempt, last) from None
            except StaleObjectError as exc:
                self.count(failures=1)
                return self._stale(exc.replace(attempts=attempt + 1))
            except Exception as exc:
                attempt += 1
                err = to_fetch_error(
                    exc, url=redact_url(job.url), start=start, end=end, attempts=attempt,
                    timeout=policy.timeout,
                )  # fmt: skip
                if not err.retryable or attempt >= policy.max_attempts:
                    self.count(failures=1)
                    stale = await self._diagnose(job, err, deadline)
                    if stale is not None:
                        return self._stale(stale)
                    raise err from None
                last = err
                _log.debug("retrying %s [%d, %d) after %s", err.url, start, end, err.reason)
            delay = policy.backoff(attempt - 1, self.rng)
            if deadline is not None and delay >= deadline.remaining():
                self.count(failures=1)
                raise self._deadline_error(job, deadline, attempt, last) from None
            await asyncio.sleep(delay)

    def _stale(self, exc: StaleObjectError) -> StaleObjectError:
        if self.staleness == "warn":
            return exc
        raise exc from None

    async def _attempt(
        self,
        job: GroupJob,
        sem: asyncio.Semaphore,
        deadline: Deadline | None,
        attempt: int,
        slots: KeyedSlots | None = None,
    ) -> Buffer:
        """One request for ``job`` under the semaphores, the attempt timeout and the deadline."""
        ks = slots if job.key is not None else None
        key = job.key or ""
        held = False
        try:
            if ks is not None and ks.try_acquire(key):
                held = True  # a free slot of the record: taken without waiting
            if deadline is None:
                if ks is not None and not held:
                    await ks.acquire(key)
                    held = True
                await sem.acquire()
            else:
                try:
                    async with asyncio.timeout(max(0.0, deadline.remaining())):
                        if ks is not None and not held:
                            await ks.acquire(key)
                            held = True
                        await sem.acquire()
                except TimeoutError:
                    raise DeadlineHit from None
        except BaseException:
            if held:
                ks.release(key)  # type: ignore[union-attr]  # held implies ks
            raise
        try:
            self.count(requests=1, retries=1 if attempt else 0)
            limit, by_deadline = self.retry.timeout, False
            if deadline is not None:
                left = max(0.0, deadline.remaining())
                if limit is None or left < limit:
                    limit, by_deadline = left, True
            try:
                async with asyncio.timeout(limit) as timer:
                    return await self._request(job)
            except TimeoutError:
                if not timer.expired():
                    raise  # the reader's own timeout error
                if by_deadline:
                    raise DeadlineHit from None
                raise FetchTimeoutError(
                    f"request timed out after {limit:g} s",
                    url=redact_url(job.url), start=job.group.start, end=job.group.end,
                    retryable=True, timeout=limit,
                ) from None  # fmt: skip
        finally:
            sem.release()
            if ks is not None:
                ks.release(key)

    async def _request(self, job: GroupJob) -> Buffer:
        """One request: bytes of ``job``'s group, identity- and length-checked."""
        url, start, end = job.url, job.group.start, job.group.end
        if job.expected is not None:
            # the fetcher sends expected identities only to an IdentifiedRangeReader (a
            # runtime Protocol isinstance check here would cost more than the rest of the call)
            reader = cast("IdentifiedRangeReader", self.reader)
            body = await reader.get_range_identified(url, start, end)
            self._check_identity(job, body.identity)
            buf = body.data
        else:
            bufs = await self.reader.get_ranges(url, [start], [end])
            if len(bufs) != 1:
                raise self._short(job, f"reader returned {len(bufs)} buffers for 1 range", False)
            buf = bufs[0]
        got = memoryview(buf).nbytes
        if got != end - start:
            raise self._short(job, f"truncated range response: got {got} of {end - start} bytes")
        self.count(nbytes=got)
        return buf

    def _check_identity(self, job: GroupJob, observed: ObjectIdentity) -> None:
        assert job.expected is not None
        why = job.expected.mismatch(observed)
        if why is not None:
            raise StaleObjectError(
                f"object changed since it was indexed ({why}); its tile offsets no longer "
                "apply: rebuild or update the collection",
                url=redact_url(job.url), start=job.group.start, end=job.group.end,
                expected=job.expected, observed=observed,
            )  # fmt: skip

    @staticmethod
    def _short(job: GroupJob, message: str, retryable: bool = True) -> ShortRangeError:
        return ShortRangeError(
            message,
            url=redact_url(job.url),
            start=job.group.start,
            end=job.group.end,
            retryable=retryable,
        )

    async def _diagnose(
        self, job: GroupJob, err: FetchError, deadline: Deadline | None
    ) -> StaleObjectError | None:
        """After a final failure, ask whether the object changed (one HEAD).

        A rewritten object often shows up as a range past its new end (416), a short body
        or a server error rather than as a response with another ETag.
        """
        if job.expected is None or classify_error(err).kind in ("not_found", "denied", "timeout"):
            return None
        reader = self.reader
        assert isinstance(reader, IdentifiedRangeReader)
        limit = self.retry.timeout
        if deadline is not None:
            limit = min(limit or float("inf"), max(0.0, deadline.remaining()))
        try:
            async with asyncio.timeout(limit):
                observed = await reader.identify(job.url)
            self._check_identity(job, observed)
        except StaleObjectError as stale:
            return stale.replace(attempts=err.attempts, status=err.status)
        except Exception as exc:  # the HEAD failing tells nothing more
            _log.debug("identity check of %s failed: %s", err.url, type(exc).__name__)
        return None

    @staticmethod
    def _deadline_error(
        job: GroupJob, deadline: Deadline | None, attempts: int, last: FetchError | None
    ) -> DeadlineExceededError:
        assert deadline is not None
        elapsed = deadline.elapsed()
        reason = f"read deadline of {deadline.seconds:g} s exceeded after {elapsed:.1f} s"
        if last is not None:
            reason += f"; last failure: {last.reason}"
        return DeadlineExceededError(
            reason,
            url=redact_url(job.url), start=job.group.start, end=job.group.end,
            attempts=max(1, attempts), retryable=False,
            status=last.status if last is not None else None,
            timeout=deadline.seconds, deadline=deadline.seconds, elapsed=elapsed,
        )  # fmt: skip
