"""Exceptions (and the one warning) raised by :mod:`rasteret_io`.

Every error derives from :class:`RasteretIOError`. Narrow subclasses mix in the builtin
exception callers already catch: :class:`FetchError` is an :class:`OSError`,
:class:`FetchTimeoutError` a :class:`TimeoutError`, :class:`ConfigError` a
:class:`ValueError`. URLs carried by errors are always redacted (no userinfo, no
signatures or SAS tokens), and the original backend exception is not chained because its
text may contain a signed URL; its redacted text, type name and HTTP status are kept
instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from rasteret_io.identity import ObjectIdentity

__all__ = [
    "BandResolutionError",
    "ConfigError",
    "DeadlineExceededError",
    "FetchError",
    "FetchTimeoutError",
    "ForkSafetyError",
    "MemoryBudgetError",
    "NoDataError",
    "ObjectNotFoundError",
    "PermissionDeniedError",
    "RasteretIOError",
    "ReadError",
    "ShortRangeError",
    "ShortReadError",
    "StaleObjectError",
    "StaleObjectWarning",
    "UnsupportedGeometryError",
]


class RasteretIOError(Exception):
    """Base class of every error raised by rasteret_io."""


class ConfigError(RasteretIOError, ValueError):
    """Invalid backend, store, URL or policy configuration."""


class ForkSafetyError(RasteretIOError, RuntimeError):
    """obstore was used in a parent process that then forked; it cannot run in the child.

    obstore's tokio runtime does not survive ``fork`` (its worker threads are not
    copied). Use the ``"spawn"`` or ``"forkserver"`` multiprocessing start method, or
    fork before the first read; backends pickle and rebuild their stores in the child.
    """


class FetchError(RasteretIOError, OSError):
    """A byte range could not be fetched.

    Attributes:
        reason: What went wrong (without the location details).
        url: The URL of the object, with credentials redacted.
        record_id: The record the range belongs to, if the caller said.
        band: The band the range belongs to, if the caller said.
        start: First byte of the failed range (inclusive), if known.
        end: End of the failed range (exclusive), if known.
        attempts: How many attempts were made before giving up.
        retryable: Whether the final failure was of a transient kind.
        status: HTTP status of the final failure, when the server sent one.
    """

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "url",
        "record_id",
        "band",
        "start",
        "end",
        "attempts",
        "retryable",
        "status",
    )
    """The constructor keywords, each kept as the attribute of its name (subclasses add theirs)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        record_id: str | None = None,
        band: str | None = None,
        start: int | None = None,
        end: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
        status: int | None = None,
    ) -> None:
        self.url = url
        self.record_id = record_id
        self.band = band
        self.start = start
        self.end = end
        self.attempts = attempts
        self.retryable = retryable
        self.status = status
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = [f"url={self.url}"]
        if self.record_id is not None:
            where.append(f"record={self.record_id}")
        if self.band is not None:
            where.append(f"band={self.band}")
        if self.start is not None and self.end is not None:
            where.append(f"bytes={self.start}-{self.end - 1}")
        if self.status is not None:
            where.append(f"status={self.status}")
        if self.attempts > 1:
            where.append(f"attempts={self.attempts}")
        return f"{self.reason} ({', '.join(where)})"

    def __str__(self) -> str:
        return self._format()

    def _kwargs(self) -> dict[str, Any]:
        """Keyword arguments rebuilding this error (its :attr:`_FIELDS`)."""
        return {name: getattr(self, name) for name in self._FIELDS}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_fetch_error, (type(self), self.reason, self._kwargs()))

    def replace(self, **changes: Any) -> Self:
        """Return a copy of this error (same type) with some fields changed.

        Args:
            **changes: Constructor keywords to change (``attempts``, ``status``, ...).

        Returns:
            A new error of the same type.
        """
        kwargs = self._kwargs()
        reason = changes.pop("message", self.reason)
        kwargs.update(changes)
        return type(self)(reason, **kwargs)

    def with_context(self, *, record_id: str | None = None, band: str | None = None) -> Self:
        """Return a copy of this error naming ``record_id`` and ``band``.

        Args:
            record_id: Record identifier to attach (kept if None).
            band: Band name to attach (kept if None).

        Returns:
            A new error of the same type.
        """
        return self.replace(
            record_id=record_id if record_id is not None else self.record_id,
            band=band if band is not None else self.band,
        )


def _rebuild_fetch_error(cls: type[FetchError], reason: str, kwargs: dict[str, Any]) -> FetchError:
    return cls(reason, **kwargs)


class ObjectNotFoundError(FetchError, FileNotFoundError):
    """The object does not exist (HTTP 404 / NoSuchKey / missing local file)."""


class PermissionDeniedError(FetchError, PermissionError):
    """Access was refused (HTTP 401/403): missing or insufficient credentials."""


class ShortRangeError(FetchError):
    """The backend returned fewer bytes than the requested range (truncated body)."""


ShortReadError = ShortRangeError
"""Former name of :class:`ShortRangeError` (kept for compatibility)."""


class FetchTimeoutError(FetchError, TimeoutError):
    """An attempt took longer than the per-attempt timeout.

    Attributes:
        timeout: The per-attempt limit that ran out, in seconds.
    """

    _FIELDS = (*FetchError._FIELDS, "timeout")

    def __init__(self, message: str, *, timeout: float | None = None, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(message, **kwargs)


class DeadlineExceededError(FetchTimeoutError):
    """The total time allowed for a read (its deadline) ran out before this range arrived.

    Attributes:
        deadline: The read's time budget, in seconds.
        elapsed: Seconds spent when the range was given up.
    """

    _FIELDS = (*FetchTimeoutError._FIELDS, "deadline", "elapsed")

    def __init__(
        self,
        message: str,
        *,
        deadline: float | None = None,
        elapsed: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.deadline = deadline
        self.elapsed = elapsed
        super().__init__(message, **kwargs)


class StaleObjectError(FetchError):
    """The object changed since it was indexed: its tile offsets no longer hold.

    Raised instead of returning bytes of a rewritten object. Re-index the asset (build or
    update the collection again) to read it.

    Attributes:
        expected: Identity recorded when the collection was built.
        observed: Identity reported by the server now (None when unknown).
    """

    _FIELDS = (*FetchError._FIELDS, "expected", "observed")

    def __init__(
        self,
        message: str,
        *,
        expected: ObjectIdentity | None = None,
        observed: ObjectIdentity | None = None,
        **kwargs: Any,
    ) -> None:
        self.expected = expected
        self.observed = observed
        super().__init__(message, **kwargs)


class StaleObjectWarning(UserWarning):
    """Issued under ``staleness="warn"`` when an indexed object changed (its ranges fail)."""


class ReadError(RasteretIOError, ValueError):
    """A read cannot be planned or its data cannot be used (bad metadata, rotation, ...)."""


class BandResolutionError(ReadError):
    """A requested band cannot be resolved for a record (no asset / metadata for it)."""


class NoDataError(ReadError):
    """Nothing could be read: no record intersects the AOIs, or every read failed."""


class MemoryBudgetError(RasteretIOError, MemoryError):
    """A read would allocate more than the memory budget; raised before any byte is fetched.

    Attributes:
        needed: Estimated bytes the read's arrays would take.
        budget: The budget in bytes.
        what: What would have been allocated (named in the message).
    """

    def __init__(self, message: str, *, needed: int = 0, budget: int = 0, what: str = "") -> None:
        super().__init__(message)
        self.needed = needed
        self.budget = budget
        self.what = what

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_budget_error, (str(self), self.needed, self.budget, self.what))


def _rebuild_budget_error(message: str, needed: int, budget: int, what: str) -> MemoryBudgetError:
    return MemoryBudgetError(message, needed=needed, budget=budget, what=what)


class UnsupportedGeometryError(RasteretIOError, TypeError):
    """A geometry of an unsupported type was given (e.g. points for a masked AOI read)."""
