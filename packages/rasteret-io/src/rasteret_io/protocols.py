"""Structural types for byte-range sources.

Anything async that can return byte ranges of an object plugs into the fetch layer:
the obstore backends of this package, an async-tiff/obspec store wrapper, an
in-memory fake in a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Backend", "Buffer", "RangeReader", "StorageBackend"]

Buffer = bytes | bytearray | memoryview
"""Types a reader may return for one range (anything supporting the buffer protocol
and ``len``; obstore's ``Bytes`` qualifies)."""


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
class StorageBackend(Protocol):
    """The backend protocol of rasteret 0.4.1: one range at a time, as ``(start, length)``.

    Such a backend is read through :func:`rasteret_io.backend.as_range_reader`, which calls
    ``get_range`` for every range (concurrently).
    """

    async def get_range(self, url: str, start: int, length: int) -> Buffer:
        """Fetch ``length`` bytes of the object at ``url`` from ``start``."""
        ...


Backend = RangeReader | StorageBackend
"""What reads and builds accept as ``backend=``: a :class:`RangeReader` or a 0.4.1
:class:`StorageBackend`."""
