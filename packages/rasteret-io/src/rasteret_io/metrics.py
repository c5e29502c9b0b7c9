"""Counters for the fetch layer (requests, bytes, retries, failures)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["IOMetrics", "MetricsSnapshot"]


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Immutable copy of :class:`IOMetrics` counters.

    Attributes:
        requests: Range requests issued to readers (attempts, retries included).
        bytes: Bytes received in successful requests.
        retries: Attempts that were retries.
        failures: Requests that failed for good (after retries).
        ranges: Caller ranges served (before coalescing).
    """

    requests: int = 0
    bytes: int = 0
    retries: int = 0
    failures: int = 0
    ranges: int = 0


class IOMetrics:
    """Thread-safe, resettable counters shared by fetches.

    Pass one to :func:`rasteret_io.fetch.fetch_ranges` (``metrics=``) or read the
    process-wide :data:`GLOBAL_METRICS`, which every fetch also updates.
    """

    __slots__ = ("_bytes", "_failures", "_lock", "_ranges", "_requests", "_retries")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = self._bytes = self._retries = self._failures = self._ranges = 0

    def add(
        self,
        *,
        requests: int = 0,
        nbytes: int = 0,
        retries: int = 0,
        failures: int = 0,
        ranges: int = 0,
    ) -> None:
        """Increment counters."""
        with self._lock:
            self._requests += requests
            self._bytes += nbytes
            self._retries += retries
            self._failures += failures
            self._ranges += ranges

    def snapshot(self) -> MetricsSnapshot:
        """Return the current counter values."""
        with self._lock:
            return MetricsSnapshot(
                self._requests, self._bytes, self._retries, self._failures, self._ranges
            )

    def reset(self) -> None:
        """Zero all counters."""
        with self._lock:
            self._requests = self._bytes = self._retries = self._failures = self._ranges = 0

    def __reduce__(self):
        return (IOMetrics, ())

    def __repr__(self) -> str:
        s = self.snapshot()
        return (
            f"IOMetrics(requests={s.requests}, bytes={s.bytes}, retries={s.retries}, "
            f"failures={s.failures}, ranges={s.ranges})"
        )


GLOBAL_METRICS = IOMetrics()
"""Process-wide counters updated by every fetch."""
