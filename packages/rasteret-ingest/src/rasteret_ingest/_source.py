"""Header reads through the ``rasteret_io`` fetch layer, with the object's identity.

Every request of a header read goes through one :class:`rasteret_io.Fetcher` shared by the
whole enrichment, so header reads get the fetch layer's retries (5xx, 429, resets, truncated
and short bodies), per-attempt timeouts, the build's total :class:`rasteret_io.Deadline`,
its request accounting and its error types (``DeadlineExceededError``, ``ObjectNotFoundError``...).

The fetcher reads through a small adapter (:class:`_IdentityTap`) that asks the backend for
each range *with* the identity of the object that served it
(:meth:`rasteret_io.IdentifiedRangeReader.get_range_identified`: one request returns the
bytes plus ETag, size and Last-Modified), so a typical COG costs **one** request for its
header and its :class:`rasteret_io.ObjectIdentity`. Further requests of the same header carry
that identity as ``expected``: an object rewritten while its header is read fails with
``StaleObjectError`` instead of mixing two versions. Backends without identities (0.4.1-style
``get_range`` backends) are read without them.

The first request asks for 64 KiB; a file shorter than that answers with fewer bytes. The
adapter tells such an *end-of-object* answer (the response ends exactly at the object's size)
from a truncated one (which the fetch layer retries) and pads the former for the fetch
layer's length check, remembering the true length. Each further request is at least twice
the previous one and clipped by the size learnt from the first response.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rasteret_cog import DEFAULT_FIRST_READ, ByteRange, CogHeader, HeaderParser, TiffFormatError
from rasteret_io import (
    Deadline,
    Fetcher,
    FetchOptions,
    IdentifiedRangeReader,
    IOMetrics,
    ObjectIdentity,
    RangeBody,
    RangeReader,
    RangeRequest,
    RetryPolicy,
    as_range_reader,
    redact_url,
)
from rasteret_io.retry import classify_error, to_fetch_error

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from rasteret_io.protocols import Backend, Buffer

__all__ = ["DEFAULT_HEADER_RETRY", "HeaderRead", "HeaderSource"]

_MAX_REQUESTS = 32

DEFAULT_HEADER_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, timeout=30.0)
"""Header reads: 3 attempts, 30 s per attempt (a header is one small request)."""


@dataclass(frozen=True, slots=True)
class HeaderRead:
    """A parsed header and how it was obtained.

    Attributes:
        header: The parsed header.
        requests: Range requests the header needed (retries are counted by the source's
            metrics, shared by every concurrent read).
        info: Identity of the object (ETag / size / Last-Modified), when the backend
            reports it.
    """

    header: CogHeader
    requests: int
    info: ObjectIdentity | None


class _Tap:
    """What the adapter learnt about each range it served: identity and true length."""

    __slots__ = ("lengths", "seen")

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int, int], ObjectIdentity | None] = {}
        self.lengths: dict[tuple[str, int, int], int] = {}

    def record(
        self, url: str, start: int, end: int, data: Buffer, ident: ObjectIdentity | None
    ) -> Buffer:
        """Remember ``ident``; pad an end-of-object answer to the requested length."""
        key = (url, start, end)
        self.seen[key] = ident
        got = memoryview(data).nbytes
        want = end - start
        at_end = ident is None or ident.size is None or start + got == ident.size
        if got < want and at_end:  # the object ends here: not a truncated body
            self.lengths[key] = got
            return bytes(data) + bytes(want - got)
        self.lengths.pop(key, None)
        return data

    def take(self, url: str, start: int, end: int) -> tuple[ObjectIdentity | None, int | None]:
        key = (url, start, end)
        return self.seen.pop(key, None), self.lengths.pop(key, None)


class _PlainTap:
    """A :class:`~rasteret_io.RangeReader` over a backend that reports no identity."""

    __slots__ = ("inner", "tap")

    def __init__(self, inner: RangeReader, tap: _Tap) -> None:
        self.inner = inner
        self.tap = tap

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[Buffer]:
        bufs = await self.inner.get_ranges(url, starts, ends)
        return [
            self.tap.record(url, s, e, b, None) for s, e, b in zip(starts, ends, bufs, strict=True)
        ]


class _IdentityTap(_PlainTap):
    """An :class:`~rasteret_io.IdentifiedRangeReader` recording each response's identity."""

    __slots__ = ()

    inner: IdentifiedRangeReader

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[Buffer]:
        out: list[Buffer] = []
        for s, e in zip(starts, ends, strict=True):  # one range per call in header reads
            body = await self.inner.get_range_identified(url, s, e)
            out.append(self.tap.record(url, s, e, body.data, body.identity))
        return out

    async def get_range_identified(self, url: str, start: int, end: int) -> RangeBody:
        body = await self.inner.get_range_identified(url, start, end)
        data = self.tap.record(url, start, end, body.data, body.identity)
        return RangeBody(data, body.identity)

    async def identify(self, url: str) -> ObjectIdentity:
        return await self.inner.identify(url)


class HeaderSource:
    """Reads COG headers of URLs through one backend and one fetcher.

    Args:
        backend: A ``rasteret_io`` backend (``create_backend(...)``), an ``ObstoreBackend``, or
            any object with ``get_ranges(url, starts, ends)`` / ``get_range(url, start, length)``.
        retry: Attempts, backoff and per-attempt timeout (default
            :data:`DEFAULT_HEADER_RETRY`).
        concurrency: Requests in flight through this source.
        first_read: Size of the first request.
    """

    def __init__(
        self,
        backend: Backend | None,
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 64,
        first_read: int = DEFAULT_FIRST_READ,
    ) -> None:
        reader = as_range_reader(backend)
        self._tap = _Tap()
        tapped: RangeReader = (
            _IdentityTap(reader, self._tap)
            if isinstance(reader, IdentifiedRangeReader)
            else _PlainTap(reader, self._tap)
        )
        self._reader = reader
        self.retry = retry or DEFAULT_HEADER_RETRY
        self.metrics = IOMetrics()
        self.fetcher = Fetcher(
            tapped,
            FetchOptions(concurrency=max(1, int(concurrency)), retry=self.retry),
            metrics=self.metrics,
        )
        self.first_read = int(first_read)
        self._rng = random.Random()

    @property
    def request_count(self) -> int:
        """Requests made by this source so far (failed attempts included)."""
        return self.metrics.snapshot().requests

    async def _get(
        self,
        url: str,
        start: int,
        end: int,
        expected: ObjectIdentity | None,
        deadline: Deadline | None,
    ) -> tuple[bytes | memoryview, ObjectIdentity | None]:
        data = await self.fetcher.fetch_one(
            RangeRequest(url, start, end, expected=expected), deadline=deadline
        )
        ident, true_len = self._tap.take(url, start, end)
        return (data if true_len is None else data[:true_len]), ident

    async def read(self, url: str, *, deadline: Deadline | None = None) -> HeaderRead:
        """Fetch and parse the header of ``url``.

        Args:
            url: Object URL.
            deadline: The build's running deadline (shared by every header read).

        Raises:
            rasteret_io.FetchError: the object could not be read (after retries), changed
                while being read (``StaleObjectError``) or the deadline ran out
                (``DeadlineExceededError``).
            rasteret_cog.TiffFormatError: the bytes are not a usable TIFF header.
        """
        parser = HeaderParser()
        size = max(self.first_read, 16)
        data, info = await self._get(url, 0, size, None, deadline)
        if info is not None and info.size is not None:
            parser.file_size = info.size
        elif len(data) < size:
            parser.file_size = len(data)
        parser.feed(0, data)
        requests = 1
        expected = info if info is not None and info.known else None
        while isinstance(need := parser.parse(), ByteRange):
            if requests >= _MAX_REQUESTS:
                raise TiffFormatError(f"header still incomplete after {requests} requests")
            size *= 2
            start, length = need.start, max(need.length, size)
            if parser.file_size is not None:
                if start >= parser.file_size:
                    raise TiffFormatError(
                        f"header needs bytes at offset {start}, past the end of the file "
                        f"({parser.file_size} bytes)"
                    )
                length = min(length, parser.file_size - start)
            data, more = await self._get(url, start, start + length, expected, deadline)
            requests += 1
            info = info or more
            if len(data) < length and parser.file_size is None:
                parser.file_size = start + len(data)
            parser.feed(start, data)
        return HeaderRead(header=need, requests=requests, info=info)

    async def head(self, url: str, *, deadline: Deadline | None = None) -> ObjectIdentity | None:
        """Identity of ``url`` now (one HEAD request, retried), or None when the backend
        reports no identities.

        Raises:
            rasteret_io.FetchError: the object could not be reached (after retries).
        """
        reader = self._reader
        if not isinstance(reader, IdentifiedRangeReader):
            return None
        policy = self.retry
        attempt = 0
        while True:
            attempt += 1
            self.metrics.add(requests=1, retries=1 if attempt > 1 else 0)
            limit = policy.timeout
            if deadline is not None:
                left = max(0.0, deadline.remaining())
                limit = left if limit is None else min(limit, left)
            try:
                async with asyncio.timeout(limit):
                    return await reader.identify(url)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = to_fetch_error(
                    exc, url=redact_url(url), attempts=attempt, timeout=policy.timeout
                )
                expired = deadline is not None and deadline.expired
                if expired or not classify_error(exc).retryable or attempt >= policy.max_attempts:
                    self.metrics.add(failures=1)
                    raise err from None
            await asyncio.sleep(policy.backoff(attempt - 1, self._rng))
