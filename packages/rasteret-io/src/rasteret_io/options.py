"""Fetch options and read deadlines: the time and trust bounds of the fetch layer.

:class:`FetchOptions` is the frozen, hashable bag a read's fetches run under (concurrency,
retries and the per-attempt timeout, the total deadline, the staleness policy,
coalescing). The meta package builds one from user keywords; everything below takes it.

:class:`Deadline` is the running clock of one read: created when the read starts
(:meth:`Deadline.after`) and passed to every fetch of that read, so the whole read, not
each call or attempt, is bounded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import get_args

from rasteret_io.coalesce import DEFAULT_MAX_GAP, DEFAULT_MAX_SIZE
from rasteret_io.errors import ConfigError
from rasteret_io.identity import StalenessPolicy
from rasteret_io.retry import RetryPolicy

__all__ = ["DEFAULT_CONCURRENCY", "Deadline", "FetchOptions"]

DEFAULT_CONCURRENCY = 64
"""Default bound on range requests in flight per :class:`~rasteret_io.fetch.Fetcher`."""


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How the byte ranges of one read are fetched.

    Attributes:
        concurrency: Maximum range requests in flight (shared by the whole read).
        retry: Attempts, backoff and the per-attempt timeout (``retry.timeout``, seconds).
        deadline: Total seconds allowed for a read's fetches, retries and backoff
            included; ``None`` (default) for no total bound. When it runs out every
            unfinished range fails with :class:`~rasteret_io.errors.DeadlineExceededError`.
        staleness: Check each response against the object identity recorded at build
            time: ``"raise"`` (default), ``"warn"`` or ``"off"`` (see
            :data:`~rasteret_io.identity.StalenessPolicy`).
        max_gap: Largest hole merged into one request, in bytes (``-1``: never merge).
        max_size: Largest merged request, in bytes.
        record_concurrency: Maximum range requests in flight per record (requests without
            a record id count per object URL), inside ``concurrency``; None (default): no
            per-record bound. rasteret's ``max_concurrent`` read keyword maps here.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float | None = None
    staleness: StalenessPolicy = "raise"
    max_gap: int = DEFAULT_MAX_GAP
    max_size: int = DEFAULT_MAX_SIZE
    record_concurrency: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ConfigError(f"concurrency must be an integer, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        rc = self.record_concurrency
        if rc is not None and (isinstance(rc, bool) or not isinstance(rc, int) or rc < 1):
            raise ConfigError(f"record_concurrency must be an integer >= 1 or None, got {rc!r}")
        if not isinstance(self.retry, RetryPolicy):
            raise ConfigError(f"retry must be a RetryPolicy, got {type(self.retry).__name__}")
        if self.deadline is not None and not (self.deadline > 0):  # also rejects NaN
            raise ConfigError(
                f"deadline must be a positive number of seconds or None, got {self.deadline!r}"
            )
        if self.staleness not in get_args(StalenessPolicy):
            raise ConfigError(
                f"staleness must be one of {get_args(StalenessPolicy)}, got {self.staleness!r}"
            )
        if self.max_size < 1:
            raise ConfigError(f"max_size must be >= 1, got {self.max_size}")

    def start_deadline(self) -> Deadline | None:
        """A running :class:`Deadline` for a read starting now (None without a deadline)."""
        return None if self.deadline is None else Deadline.after(self.deadline)


@dataclass(frozen=True, slots=True)
class Deadline:
    """The clock of one read: a time budget and the monotonic instant it runs out.

    Attributes:
        seconds: The budget.
        expires_at: ``time.monotonic()`` value at which the budget is spent.
    """

    seconds: float
    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        if not (seconds > 0):
            raise ConfigError(f"deadline must be a positive number of seconds, got {seconds!r}")
        return cls(float(seconds), time.monotonic() + float(seconds))

    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self.expires_at - time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the deadline started."""
        return self.seconds - self.remaining()

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.remaining() <= 0.0
