"""Structural types for byte-range sources.

Anything async that can return byte ranges of an object plugs into the fetch layer:
the obstore backends of this package, an async-tiff/obspec store wrapper, an
in-memory fake in a test.

- :class:`RangeReader` is the one required method (``get_ranges(url, starts, ends)``).
- :class:`IdentifiedRangeReader` adds ranged reads that also report the object's
  identity (ETag, size, Last-Modified) from the same response, and a HEAD; readers
  offering it get the read-time staleness check (every ``rasteret_io`` backend does).
- :class:`StorageBackend` is the original library's backend shape
  (``get_range(url, start, length)``); :func:`rasteret_io.backend.as_range_reader`
  adapts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeAlias, runtime_checkable

from rasteret_io.identity import ObjectIdentity

__all__ = [
    "Backend",
    "Buffer",
    "IdentifiedRangeReader",
    "RangeBody",
    "RangeReader",
    "StorageBackend",
]

if TYPE_CHECKING:
    from obstore import Bytes

    Buffer: TypeAlias = bytes | bytearray | memoryview | Bytes
else:
    Buffer = bytes | bytearray | memoryview
"""Types a reader may return for one range (anything supporting the buffer protocol
and ``len``; obstore's ``Bytes`` qualifies)."""


class RangeBody(NamedTuple):
    """One ranged response: its bytes and the identity of the object that served them."""

    data: Buffer
    identity: ObjectIdentity


@runtime_checkable
class RangeReader(Protocol):
    """An async source of byte ranges, addressed by URL.

    ``ends`` are exclusive. Implementations return one buffer per range, in order, and
    may return short buffers (the fetch layer verifies lengths and retries).
    Implementations should raise :class:`rasteret_io.errors.ObjectNotFoundError` for a
    missing object when they can tell; any other exception is classified by
    :func:`rasteret_io.retry.classify_error`.
    """

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> Sequence[Buffer]:
        """Fetch ``[starts[i], ends[i])`` of the object at ``url`` for every i."""
        ...


@runtime_checkable
class IdentifiedRangeReader(RangeReader, Protocol):
    """A :class:`RangeReader` that also reports which object version served a range."""

    async def get_range_identified(self, url: str, start: int, end: int) -> RangeBody:
        """Fetch ``[start, end)`` of ``url`` in one request, with the response's identity."""
        ...

    async def identify(self, url: str) -> ObjectIdentity:
        """The current identity of ``url`` (one HEAD request)."""
        ...


@runtime_checkable
class StorageBackend(Protocol):
    """The backend protocol of rasteret 0.4.1: one range at a time, as ``(start, length)``.

    Its optional ``get_ranges(url, ranges)`` takes ``(start, length)`` pairs; such a backend
    is read through :func:`rasteret_io.backend.as_range_reader`, which calls only
    ``get_range`` (concurrently for several ranges).
    """

    async def get_range(self, url: str, start: int, length: int) -> Buffer:
        """Fetch ``length`` bytes of ``url`` at ``start``."""
        ...


Backend = RangeReader | StorageBackend
"""What reads and builds accept as ``backend=``: a :class:`RangeReader` or a 0.4.1
:class:`StorageBackend`."""
