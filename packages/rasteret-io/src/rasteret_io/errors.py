"""Exceptions raised by :mod:`rasteret_io`.

Every error derives from :class:`RasteretIOError`. Narrow subclasses mix in the builtin
exception callers already catch: :class:`FetchError` is an :class:`OSError`,
:class:`ConfigError` a :class:`ValueError`. URLs carried by errors are always redacted
(no userinfo, no signatures or SAS tokens), and the original backend exception is not
chained because its text may contain a signed URL; its redacted text and type name are
kept in the message instead.
"""

from __future__ import annotations

__all__ = [
    "BandResolutionError",
    "ConfigError",
    "FetchError",
    "ForkSafetyError",
    "NoDataError",
    "ObjectNotFoundError",
    "PermissionDeniedError",
    "RasteretIOError",
    "ReadError",
    "ShortReadError",
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
        url: The URL of the object, with credentials redacted.
        record_id: The record the range belongs to, if the caller said.
        band: The band the range belongs to, if the caller said.
        start: First byte of the failed range (inclusive), if known.
        end: End of the failed range (exclusive), if known.
        attempts: How many attempts were made before giving up.
        retryable: Whether the final failure was of a transient kind.
    """

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
    ) -> None:
        self.url = url
        self.record_id = record_id
        self.band = band
        self.start = start
        self.end = end
        self.attempts = attempts
        self.retryable = retryable
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
        if self.attempts > 1:
            where.append(f"attempts={self.attempts}")
        return f"{self.reason} ({', '.join(where)})"

    def __str__(self) -> str:
        return self._format()

    def __reduce__(self):
        return (
            _rebuild_fetch_error,
            (
                type(self),
                self.reason,
                self.url,
                self.record_id,
                self.band,
                self.start,
                self.end,
                self.attempts,
                self.retryable,
            ),
        )

    def with_context(self, *, record_id: str | None = None, band: str | None = None) -> FetchError:
        """Return a copy of this error naming ``record_id`` and ``band``.

        Args:
            record_id: Record identifier to attach (kept if None).
            band: Band name to attach (kept if None).

        Returns:
            A new error of the same type.
        """
        return type(self)(
            self.reason,
            url=self.url,
            record_id=record_id if record_id is not None else self.record_id,
            band=band if band is not None else self.band,
            start=self.start,
            end=self.end,
            attempts=self.attempts,
            retryable=self.retryable,
        )


def _rebuild_fetch_error(
    cls: type[FetchError],
    reason: str,
    url: str,
    record_id: str | None,
    band: str | None,
    start: int | None,
    end: int | None,
    attempts: int,
    retryable: bool,
) -> FetchError:
    return cls(
        reason,
        url=url,
        record_id=record_id,
        band=band,
        start=start,
        end=end,
        attempts=attempts,
        retryable=retryable,
    )


class ObjectNotFoundError(FetchError, FileNotFoundError):
    """The object does not exist (HTTP 404 / NoSuchKey / missing local file)."""


class PermissionDeniedError(FetchError, PermissionError):
    """Access was refused (HTTP 401/403): missing or insufficient credentials."""


class ShortReadError(FetchError):
    """The backend returned fewer bytes than the requested range (truncated body)."""


class ReadError(RasteretIOError, ValueError):
    """A read cannot be planned or its data cannot be used (bad metadata, rotation, ...)."""


class BandResolutionError(ReadError):
    """A requested band cannot be resolved for a record (no asset / metadata for it)."""


class NoDataError(ReadError):
    """Nothing could be read: no record intersects the AOIs, or every read failed."""


class UnsupportedGeometryError(RasteretIOError, TypeError):
    """A geometry of an unsupported type was given (e.g. points for a masked AOI read)."""
