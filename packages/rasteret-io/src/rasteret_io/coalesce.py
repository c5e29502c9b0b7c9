"""Coalescing of byte ranges into fewer, larger requests (pure functions).

Two ranges of the same object are fetched by one request when the hole between them
is at most ``max_gap`` bytes and the merged request stays at most ``max_size`` bytes.
Over-reading a small gap is cheaper than a round trip on object stores (a request
costs one latency, typically 20-100 ms, while 64 KiB at 100 MB/s costs 0.6 ms); a cap
on the merged size keeps enough requests in flight to use the bandwidth of parallel
connections and bounds memory per request. Defaults were measured with
``bench/io_coalesce.py`` (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rasteret_io.errors import ConfigError

__all__ = ["DEFAULT_MAX_GAP", "DEFAULT_MAX_SIZE", "RangeGroup", "coalesce_ranges"]

DEFAULT_MAX_GAP = 64 * 1024
"""Merge ranges separated by at most 64 KiB."""

DEFAULT_MAX_SIZE = 4 * 1024 * 1024
"""Never grow a merged request beyond 4 MiB (a single larger range stays whole)."""


@dataclass(frozen=True, slots=True)
class RangeGroup:
    """One request covering several input ranges.

    Attributes:
        start: First byte of the request (inclusive).
        end: End of the request (exclusive).
        members: Indices of the input ranges served by this request.
    """

    start: int
    end: int
    members: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of bytes requested."""
        return self.end - self.start

    def slice_for(self, start: int, end: int) -> slice:
        """Slice of this group's buffer holding ``[start, end)``."""
        return slice(start - self.start, end - self.start)


def coalesce_ranges(
    starts: Sequence[int],
    ends: Sequence[int],
    *,
    max_gap: int = DEFAULT_MAX_GAP,
    max_size: int = DEFAULT_MAX_SIZE,
) -> list[RangeGroup]:
    """Group ranges of one object into requests.

    Input need not be sorted; overlapping and duplicate ranges share a request. Empty
    ranges (``start == end``) are put in no group; the caller answers them with
    ``b""``. Groups are returned in ascending byte order and every non-empty input index
    appears in exactly one group.

    Args:
        starts: Range starts (inclusive).
        ends: Range ends (exclusive), same length as ``starts``.
        max_gap: Largest hole, in bytes, that is read and discarded to merge two ranges.
            ``0`` merges only touching or overlapping ranges; negative disables merging.
        max_size: Largest merged request, in bytes. A single range larger than this is
            requested on its own.

    Returns:
        The request groups.

    Raises:
        ConfigError: On length mismatch, negative offsets, ``end < start`` or
            ``max_size <= 0``.
    """
    if len(starts) != len(ends):
        raise ConfigError("starts and ends must have the same length")
    if max_size <= 0:
        raise ConfigError("max_size must be positive")
    order = []
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if s < 0 or e < s:
            raise ConfigError(f"invalid byte range [{s}, {e})")
        if e > s:
            order.append(i)
    order.sort(key=lambda i: (starts[i], ends[i]))
    groups: list[RangeGroup] = []
    cur_start = cur_end = 0
    members: list[int] = []
    for i in order:
        s, e = starts[i], ends[i]
        if members and max_gap >= 0 and s <= cur_end + max_gap:
            new_end = max(cur_end, e)
            if new_end - cur_start <= max_size or e <= cur_end:
                cur_end = new_end
                members.append(i)
                continue
        if members:
            groups.append(RangeGroup(cur_start, cur_end, tuple(members)))
        cur_start, cur_end, members = s, e, [i]
    if members:
        groups.append(RangeGroup(cur_start, cur_end, tuple(members)))
    return groups
