"""A sparse store of byte ranges the sans-I/O parser reads from (private)."""

from __future__ import annotations

from bisect import bisect_right

from rasteret_cog.errors import CogError, InvalidArgumentError, TruncatedError

__all__ = ["ByteStore", "NeedBytes"]


class NeedBytes(CogError):
    """Raised inside the parser when a range is missing; turned into a request by the driver.

    Never leaves the package: :class:`~rasteret_cog.HeaderParser` turns it into a
    :class:`~rasteret_cog.ByteRange` (or ``IncompleteHeaderError``).
    """

    def __init__(self, start: int, length: int) -> None:
        super().__init__(start, length)
        self.start = start
        self.length = length


class ByteStore:
    """Non-overlapping, merged byte chunks keyed by file offset.

    Args:
        file_size: Total file size when known; reads past it raise :class:`TruncatedError`
            instead of asking for more bytes.
    """

    __slots__ = ("_data", "_starts", "_views", "file_size")

    def __init__(self, file_size: int | None = None) -> None:
        self._starts: list[int] = []
        self._data: list[bytes] = []
        self._views: list[memoryview] = []  # of ``_data``: one slice per get, no view each
        self.file_size = file_size

    def add(self, start: int, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` found at file offset ``start`` (merging with touching chunks)."""
        if start < 0:
            raise InvalidArgumentError("start must be >= 0")
        data = bytes(data)
        if not data:
            return
        keep_s: list[int] = []
        keep_d: list[bytes] = []
        new_s, new_d = start, data
        for s, d in zip(self._starts, self._data):
            e = s + len(d)
            if e < new_s or s > new_s + len(new_d):
                keep_s.append(s)
                keep_d.append(d)
                continue
            # Overlapping or touching: merge (existing bytes fill what the new chunk lacks).
            lo = min(s, new_s)
            hi = max(e, new_s + len(new_d))
            buf = bytearray(hi - lo)
            buf[s - lo : e - lo] = d
            buf[new_s - lo : new_s - lo + len(new_d)] = new_d
            new_s, new_d = lo, bytes(buf)
        keep_s.append(new_s)
        keep_d.append(new_d)
        order = sorted(range(len(keep_s)), key=keep_s.__getitem__)
        self._starts = [keep_s[i] for i in order]
        self._data = [keep_d[i] for i in order]
        self._views = [memoryview(d) for d in self._data]

    def get(self, start: int, length: int) -> memoryview:
        """Return ``length`` bytes at ``start`` or raise :class:`NeedBytes`/:class:`TruncatedError`."""
        if start < 0 or length < 0:
            raise TruncatedError(f"invalid byte range start={start} length={length}")
        if self.file_size is not None and start + length > self.file_size:
            raise TruncatedError(
                f"byte range [{start}, {start + length}) lies past the end of the file "
                f"({self.file_size} bytes)"
            )
        i = bisect_right(self._starts, start) - 1
        if i >= 0:
            s = self._starts[i]
            d = self._views[i]
            if start + length <= s + len(d):
                return d[start - s : start - s + length]
            if start < s + len(d):
                # Partly present: ask only for the missing tail.
                have_end = s + len(d)
                raise NeedBytes(have_end, start + length - have_end)
        raise NeedBytes(start, length)

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The (start, length) chunks held."""
        return tuple((s, len(d)) for s, d in zip(self._starts, self._data))

    @property
    def total_bytes(self) -> int:
        """Number of bytes held."""
        return sum(len(d) for d in self._data)
