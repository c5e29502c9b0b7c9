"""Retry policy and error classification.

rasteret_io runs the single retry policy of the read path: obstore stores built by
this package are configured with ``max_retries=0`` so a transient failure is retried
exactly once per policy decision, with our backoff, our accounting (metrics) and our
short-body checks, instead of being multiplied by two nested retry loops.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from typing import Any

from rasteret_io.errors import (
    ConfigError,
    FetchError,
    FetchTimeoutError,
    ForkSafetyError,
    ObjectNotFoundError,
    PermissionDeniedError,
    ShortRangeError,
)
from rasteret_io.urls import redact_text

__all__ = ["ErrorClass", "RetryPolicy", "classify_error", "to_fetch_error"]

_STATUS = re.compile(
    r"status code:?\s*(\d{3})|\bHTTP(?:/\d\.\d)?\s+(\d{3})\b|\b(\d{3}) (?:[A-Z][a-z]+ ?)+"
)
_SHORT_RANGE = re.compile(r"Requested \d+\.\.\d+, got \d+\.\.\d+")
_BAD_RANGE = re.compile(r"range (?:was )?invalid|InvalidRange|not satisfiable", re.IGNORECASE)
_TRANSIENT_WORDS = re.compile(
    r"timed? ?out|timeout|error sending request|connection|reset|broken pipe|"
    r"body error|interrupted|incomplete|unexpected eof|closed|temporarily|try again|"
    r"slow ?down|throttl|dns error|Service Unavailable",
    re.IGNORECASE,
)
_NOT_RETRYABLE_NAMES = frozenset(
    {
        "InvalidPathError",
        "NotSupportedError",
        "AlreadyExistsError",
        "PreconditionError",
        "NotModifiedError",
        "UnknownConfigurationKeyError",
        "NotImplementedError",
    }
)


_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        max_attempts: Total attempts per request, including the first (>= 1).
        base_delay: Backoff base in seconds; attempt ``n`` (0-based) sleeps a uniformly
            random time in ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter").
        max_delay: Cap of one backoff sleep, in seconds.
        timeout: Per-attempt timeout in seconds (``None``: no timeout of our own; the
            store's HTTP client timeout still applies).
    """

    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0
    timeout: float | None = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("delays must be >= 0")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("timeout must be positive or None")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Sleep before retry number ``attempt + 1`` (0-based ``attempt``)."""
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(0.0, cap)


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """Result of :func:`classify_error`.

    Attributes:
        retryable: Whether another attempt may succeed.
        kind: ``"not_found"``, ``"denied"``, ``"short"``, ``"timeout"``, ``"http"``,
            ``"range"`` (past the end of an object, without HTTP status: 416 is ``"http"``)
            or ``"other"``.
        status: HTTP status if one could be found.
    """

    retryable: bool
    kind: str
    status: int | None = None


def _status_of(text: str) -> int | None:
    m = _STATUS.search(text)
    if not m:
        return None
    for g in m.groups():
        if g:
            code = int(g)
            if 100 <= code <= 599:
                return code
    return None


def classify_error(exc: BaseException) -> ErrorClass:
    """Decide whether an exception from a reader is worth retrying.

    Missing objects, permission errors, invalid paths and 4xx statuses (other than 408
    and 429) are final. 5xx, 408, 429, timeouts, connection resets and truncated bodies
    are transient. Unknown errors of obstore's generic kind are treated as transient
    (they are transport errors); unknown Python errors are final.

    Args:
        exc: The exception raised by a reader.

    Returns:
        The classification.
    """
    if isinstance(exc, ForkSafetyError):
        return ErrorClass(False, "other")
    if isinstance(exc, ShortRangeError):
        return ErrorClass(True, "short")
    if isinstance(exc, FetchError):
        status: int | None = exc.status
    else:
        status = _status_of(str(exc).split("\n\nDebug source", 1)[0])
    if isinstance(exc, ObjectNotFoundError | FileNotFoundError):
        return ErrorClass(False, "not_found", status)
    if isinstance(exc, PermissionDeniedError | PermissionError):
        return ErrorClass(False, "denied", status)
    if isinstance(exc, FetchTimeoutError):
        return ErrorClass(exc.retryable, "timeout", status)
    if isinstance(exc, FetchError):
        return ErrorClass(exc.retryable, "other", status)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ErrorClass(True, "timeout")
    if isinstance(exc, ConnectionError):
        return ErrorClass(True, "other")
    name = type(exc).__name__
    text = str(exc).split("\n\nDebug source", 1)[0]
    if name in ("PermissionDeniedError", "UnauthenticatedError"):
        return ErrorClass(False, "denied", status)
    if name in _NOT_RETRYABLE_NAMES:
        return ErrorClass(False, "other", status)
    if _SHORT_RANGE.search(text):  # obstore: the server answered a shorter range
        return ErrorClass(True, "short", status)
    if status is not None:
        if status == 404:
            return ErrorClass(False, "not_found", status)
        if status in (401, 403):
            return ErrorClass(False, "denied", status)
        if status >= 500 or status in (408, 429):
            return ErrorClass(True, "http", status)
        if 400 <= status < 500:
            return ErrorClass(False, "http", status)
    if _BAD_RANGE.search(text):  # a range past the end of an object without HTTP status
        return ErrorClass(False, "range", status)
    if _TRANSIENT_WORDS.search(text):
        kind = "timeout" if "time" in text.lower() else "other"
        return ErrorClass(True, kind, status)
    if name == "GenericError" or isinstance(exc, OSError):
        return ErrorClass(True, "other", status)
    return ErrorClass(False, "other", status)


def to_fetch_error(
    exc: BaseException,
    *,
    url: str,
    start: int | None = None,
    end: int | None = None,
    attempts: int = 1,
    timeout: float | None = None,
) -> FetchError:
    """Convert any reader exception into a redacted :class:`FetchError` subclass.

    The HTTP status found in the backend's message (if any) is kept in ``.status``.

    Args:
        exc: Original exception (its text is redacted; it is not chained).
        url: Redacted URL of the object.
        start: Range start, if relevant.
        end: Range end, if relevant.
        attempts: Attempts made.
        timeout: The per-attempt timeout in force, named when ``exc`` is a timeout.

    Returns:
        The error to raise or report.
    """
    if isinstance(exc, FetchError):
        if exc.attempts == attempts:
            return exc
        return exc.replace(
            start=exc.start if exc.start is not None else start,
            end=exc.end if exc.end is not None else end,
            attempts=attempts,
        )
    cls = classify_error(exc)
    where: dict[str, Any] = {
        "url": url,
        "start": start,
        "end": end,
        "attempts": attempts,
        "retryable": cls.retryable,
        "status": cls.status,
    }
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        after = f" after {timeout:g} s" if timeout is not None else ""
        return FetchTimeoutError(f"request timed out{after}", timeout=timeout, **where)
    # redact before shortening: a URL cut inside its userinfo would no longer be recognised
    first = redact_text(" ".join(str(exc).split("\n\nDebug source", 1)[0].split()))
    first = first or type(exc).__name__
    if len(first) > _MAX_REASON:
        first = first[: _MAX_REASON - 3] + "..."
    reason = f"{type(exc).__name__}: {first}"
    if cls.kind == "not_found":
        return ObjectNotFoundError(f"object not found: {reason}", **where)
    if cls.kind == "denied":
        return PermissionDeniedError(f"access denied: {reason}", **where)
    if cls.kind == "short":
        return ShortRangeError(f"short range response: {reason}", **where)
    return FetchError(reason, **where)
