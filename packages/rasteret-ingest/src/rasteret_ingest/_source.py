"""Header reads through ``rasteret_io`` backends, with the object's ETag / size / Last-Modified.

This is the one module that reaches below ``rasteret_io``'s range-reader protocol: for
backends exposing their obstore stores (``RoutingBackend.store_for`` or ``ObstoreBackend.store``)
each range is fetched with ``obstore.get_async(store, path, options={"range": ...})``, whose
response carries the object metadata, so a typical COG costs **one** request for header plus
ETag, size and Last-Modified. Other backends (anything with ``get_ranges`` / ``get_range``) are
read through :func:`rasteret_io.as_range_reader` without object metadata.

The prefetch policy mirrors ``rasteret_cog.fetch``: 64 KiB first, then each further request at
least twice the previous size (the file size learnt from the first response clips requests).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rasteret_cog import DEFAULT_FIRST_READ, ByteRange, CogHeader, HeaderParser, TiffFormatError
from rasteret_io import ObstoreBackend, RetryPolicy, RoutingBackend, as_range_reader, redact_url
from rasteret_io.retry import classify_error, to_fetch_error

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

T = TypeVar("T")

__all__ = ["HeaderRead", "HeaderSource", "ObjectInfo"]

_MAX_REQUESTS = 32


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """Object metadata returned by the server.

    Attributes:
        etag: ETag header value (quotes kept), if any.
        size: Object size in bytes, if known.
        last_modified: Last-Modified as a naive UTC datetime, if any.
    """

    etag: str | None = None
    size: int | None = None
    last_modified: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class HeaderRead:
    """A parsed header and how it was obtained.

    Attributes:
        header: The parsed header.
        requests: Range requests made (retries included).
        info: Object metadata, when the backend exposes it.
    """

    header: CogHeader
    requests: int
    info: ObjectInfo | None


def _naive_utc(value: Any) -> _dt.datetime | None:
    if not isinstance(value, _dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value


class HeaderSource:
    """Reads COG headers of URLs through one backend.

    Args:
        backend: A ``rasteret_io`` backend (``create_backend(...)``), an ``ObstoreBackend``, or
            any object with ``get_ranges(url, starts, ends)`` / ``get_range(url, start, length)``.
        retry: Retry policy for transient failures (5xx, timeouts, resets).
        first_read: Size of the first request.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        retry: RetryPolicy | None = None,
        first_read: int = DEFAULT_FIRST_READ,
    ) -> None:
        self.backend = backend
        self.retry = retry or RetryPolicy(max_attempts=3, base_delay=0.05, timeout=30.0)
        self.first_read = int(first_read)
        self._reader: Any = None
        self._rng = random.Random()
        self.request_count = 0
        """Requests made by this source so far (failed attempts included)."""

    def _store_path(self, url: str) -> tuple[Any, str] | None:
        b = self.backend
        if isinstance(b, RoutingBackend):
            return b.store_for(url)
        if isinstance(b, ObstoreBackend):
            prefix = b.url_prefix
            return b.store, url[len(prefix) :] if prefix and url.startswith(prefix) else url
        return None

    async def _get_once(self, url: str, start: int, end: int) -> tuple[bytes, ObjectInfo | None]:
        sp = self._store_path(url)
        if sp is not None:
            import obstore

            store, path = sp
            result = await obstore.get_async(store, path, options={"range": (start, end)})
            meta = result.meta
            data = bytes(await result.bytes_async())
            info = ObjectInfo(
                etag=meta.get("e_tag"),
                size=meta.get("size"),
                last_modified=_naive_utc(meta.get("last_modified")),
            )
            return data, info
        if self._reader is None:
            self._reader = as_range_reader(self.backend)
        bufs = await self._reader.get_ranges(url, [start], [end])
        return bytes(bufs[0]), None

    async def _retried(
        self,
        url: str,
        attempt_once: Callable[[], Awaitable[T]],
        start: int | None = None,
        end: int | None = None,
    ) -> tuple[T, int]:
        """``(result, attempts)`` of ``attempt_once`` retried on transient errors."""
        policy = self.retry
        attempt = 0
        while True:
            attempt += 1
            self.request_count += 1
            try:
                # asyncio.timeout, not wait_for: no extra task per request
                async with asyncio.timeout(policy.timeout):
                    return await attempt_once(), attempt
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not classify_error(exc).retryable or attempt >= policy.max_attempts:
                    raise to_fetch_error(
                        exc, url=redact_url(url), start=start, end=end, attempts=attempt
                    ) from None
            await asyncio.sleep(policy.backoff(attempt - 1, self._rng))

    async def _get(self, url: str, start: int, end: int) -> tuple[bytes, ObjectInfo | None, int]:
        (data, info), attempts = await self._retried(
            url, lambda: self._get_once(url, start, end), start, end
        )
        return data, info, attempts

    async def head(self, url: str) -> ObjectInfo | None:
        """Object metadata of ``url`` (one HEAD request), or None when the backend hides it.

        Raises:
            rasteret_io.FetchError: the object could not be reached (after retries).
        """
        sp = self._store_path(url)
        if sp is None:
            return None
        import obstore

        store, path = sp

        async def head_once() -> ObjectInfo:
            meta = await obstore.head_async(store, path)
            return ObjectInfo(
                etag=meta.get("e_tag"),
                size=meta.get("size"),
                last_modified=_naive_utc(meta.get("last_modified")),
            )

        info, _ = await self._retried(url, head_once)
        return info

    async def read(self, url: str) -> HeaderRead:
        """Fetch and parse the header of ``url``.

        Raises:
            rasteret_io.FetchError: the object could not be read (after retries).
            rasteret_cog.TiffFormatError: the bytes are not a usable TIFF header.
        """
        parser = HeaderParser()
        size = max(self.first_read, 16)
        data, info, requests = await self._get(url, 0, size)
        if info is not None and info.size is not None:
            parser.file_size = info.size
        elif len(data) < size:
            parser.file_size = len(data)
        parser.feed(0, data)
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
            data, more_info, n = await self._get(url, start, start + length)
            requests += n
            info = info or more_info
            if len(data) < length and parser.file_size is None:
                parser.file_size = start + len(data)
            parser.feed(start, data)
        return HeaderRead(header=need, requests=requests, info=info)
