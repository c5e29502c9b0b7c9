"""Drivers that run the sans-I/O :class:`HeaderParser` against a byte source.

The prefetch policy reads ``first_read`` bytes (64 KiB) from offset 0 in the first request, which
holds the whole header of a typical COG (GDAL writes every IFD and tile table before the data).
When more is needed, each further request is at least twice as large as the previous one
(geometric growth), so even a header of many megabytes takes only a handful of requests.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from rasteret_cog.errors import (
    IncompleteRangeError,
    InvalidArgumentError,
    TiffFormatError,
    TruncatedError,
)
from rasteret_cog.header import ByteRange, CogHeader, HeaderParser
from rasteret_cog.ifd import ParseLimits

__all__ = [
    "DEFAULT_FIRST_READ",
    "AsyncGetRange",
    "SyncGetRange",
    "file_get_range",
    "open_header",
    "read_header",
    "read_header_async",
]

#: Size of the first read (bytes).
DEFAULT_FIRST_READ = 64 * 1024
_MAX_REQUESTS = 64

AsyncGetRange = Callable[[int, int], Awaitable[bytes]]
SyncGetRange = Callable[[int, int], bytes]


class _Plan:
    """The prefetch policy shared by the sync and async drivers."""

    def __init__(self, parser: HeaderParser, first_read: int) -> None:
        self.parser = parser
        self.size = max(int(first_read), 16)
        self.requests = 0

    def first(self) -> tuple[int, int]:
        return self._clip(0, self.size)

    def next(self, need: ByteRange) -> tuple[int, int]:
        if self.requests >= _MAX_REQUESTS:
            raise TiffFormatError(f"header still incomplete after {_MAX_REQUESTS} requests")
        self.size *= 2
        return self._clip(need.start, max(need.length, self.size))

    def _clip(self, start: int, length: int) -> tuple[int, int]:
        fs = self.parser.file_size
        if fs is not None:
            if start >= fs:
                raise TruncatedError(
                    f"header needs bytes at offset {start}, past the end of the file ({fs} bytes)"
                )
            length = min(length, fs - start)
        return start, length

    def got(self, start: int, length: int, data: bytes) -> None:
        self.requests += 1
        if len(data) > length:
            data = data[:length]
        if len(data) < length:
            if self.parser.file_size is not None:
                raise IncompleteRangeError(
                    f"get_range({start}, {length}) returned {len(data)} bytes before the end of "
                    f"the file ({self.parser.file_size} bytes)"
                )
            # A short read means end of file.
            self.parser.file_size = start + len(data)
        self.parser.feed(start, data)


async def read_header_async(
    get_range: AsyncGetRange,
    *,
    first_read: int = DEFAULT_FIRST_READ,
    file_size: int | None = None,
    limits: ParseLimits | None = None,
) -> tuple[CogHeader, int]:
    """Parse a header through an async ``get_range(start, length) -> bytes`` callable.

    ``get_range`` may return fewer bytes than asked at the end of the file (that is how the file
    size is learnt when ``file_size`` is not given); it must not return bytes from elsewhere.

    Returns:
        ``(header, number of get_range calls)``.

    Raises:
        TiffFormatError: (and subclasses) for malformed input. I/O errors from ``get_range``
        propagate unchanged.
    """
    parser = HeaderParser(file_size=file_size, limits=limits)
    plan = _Plan(parser, first_read)
    start, length = plan.first()
    plan.got(start, length, bytes(await get_range(start, length)))
    while isinstance(result := parser.parse(), ByteRange):
        start, length = plan.next(result)
        plan.got(start, length, bytes(await get_range(start, length)))
    return result, plan.requests


def read_header(
    get_range: SyncGetRange,
    *,
    first_read: int = DEFAULT_FIRST_READ,
    file_size: int | None = None,
    limits: ParseLimits | None = None,
) -> tuple[CogHeader, int]:
    """Blocking twin of :func:`read_header_async` for a synchronous ``get_range``."""
    if inspect.iscoroutinefunction(get_range):
        raise InvalidArgumentError("get_range is async; use read_header_async")
    parser = HeaderParser(file_size=file_size, limits=limits)
    plan = _Plan(parser, first_read)
    start, length = plan.first()
    plan.got(start, length, bytes(get_range(start, length)))
    while isinstance(result := parser.parse(), ByteRange):
        start, length = plan.next(result)
        plan.got(start, length, bytes(get_range(start, length)))
    return result, plan.requests


def file_get_range(path: str | os.PathLike[str]) -> SyncGetRange:
    """A ``get_range`` reading a local file (opens the file per call; thread-safe)."""
    p = Path(path)

    def get_range(start: int, length: int) -> bytes:
        with p.open("rb") as fh:
            fh.seek(start)
            return fh.read(length)

    return get_range


def open_header(
    path: str | os.PathLike[str],
    *,
    first_read: int = DEFAULT_FIRST_READ,
    limits: ParseLimits | None = None,
) -> CogHeader:
    """Parse the header of a local TIFF file (stdlib only)."""
    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as fh:

        def get_range(start: int, length: int) -> bytes:
            fh.seek(start)
            return fh.read(length)

        header, _ = read_header(get_range, first_read=first_read, file_size=size, limits=limits)
    return header
