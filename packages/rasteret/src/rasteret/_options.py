"""Process-global options (``get_options`` / ``set_options`` / ``options``).

Besides ``progress`` they hold the read-trust defaults every read starts from (a read's own
keywords override them): the memory budget, the total deadline and per-attempt timeout of
a read's fetches, and the staleness policy. Nothing here reads the environment or the
machine at import time; ``memory_budget="auto"`` is resolved when a read starts.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, ParamSpec, TypeVar

from rasteret.errors import InvalidInputError

__all__ = [
    "RasteretOptions",
    "build_progress",
    "check_staleness",
    "get_options",
    "options",
    "parse_seconds",
    "parse_size",
    "resolve_progress",
    "set_options",
]

Staleness = Literal["raise", "warn", "off"]
_P = ParamSpec("_P")
_R = TypeVar("_R")
_STALENESS = ("raise", "warn", "off")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True, slots=True)
class RasteretOptions:
    """Global rasteret options.

    Attributes:
        progress: Show tqdm progress bars in builds and reads whose ``progress`` argument is
            ``None`` (the default of every such argument).
        memory_budget: Largest total size of the arrays one read may allocate: a number of
            bytes, ``"auto"`` (default: 25 % of the memory this process may use — physical
            memory, a container limit or ``RLIMIT_AS``, whichever is smallest — resolved
            when a read starts) or ``"off"``.
        deadline: Total seconds a read's fetches may take (queueing, retries and backoff
            included), or None (default: no total bound).
        timeout: Seconds each request attempt may take before it is retried (default 30),
            or None for no timeout of rasteret's own.
        staleness: What a read does when an indexed COG changed since the build (its ETag or
            size differ): ``"raise"`` (default), ``"warn"`` (warn, re-read the header and
            read again) or ``"off"``.
        max_requests_in_flight: Range requests one read keeps in flight, all records
            together (default 256). A read's ``max_concurrent`` keyword bounds each record's
            requests within it (see ``docs/decisions.md``); lower this for servers that limit
            connections.
    """

    progress: bool = False
    memory_budget: int | Literal["auto", "off"] = "auto"
    deadline: float | None = None
    timeout: float | None = 30.0
    staleness: Staleness = "raise"
    max_requests_in_flight: int = 256


_lock = threading.Lock()
_current = RasteretOptions()
_progress_set = False  # whether progress was ever set explicitly (builds default to "on a TTY")


def get_options() -> RasteretOptions:
    """Return the current (immutable) global options."""
    return _current


def parse_size(value: Any, what: str = "memory_budget") -> int | Literal["auto", "off"]:
    """A byte count from an int or a string such as ``"8GiB"`` / ``"500 MB"``; ``"auto"`` and
    ``"off"`` pass through.

    Raises:
        InvalidInputError: Not a positive size (a ``ValueError``).
    """
    if value in ("auto", "off"):
        return value
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a number of bytes, a size string, 'auto' or 'off'")
    if isinstance(value, int | float):
        if not (value > 0 and math.isfinite(value)):
            raise InvalidInputError(f"{what} must be > 0 bytes, got {value!r}")
        return int(value)
    if isinstance(value, str):
        m = _SIZE.match(value)
        unit = m.group(2).lower() if m else None
        if m and unit in _UNITS and float(m.group(1)) > 0:
            return int(float(m.group(1)) * _UNITS[unit])
    raise InvalidInputError(
        f"{what} must be a number of bytes, a size such as '8GiB' or '500MB', 'auto' or "
        f"'off', got {value!r}"
    )


def parse_seconds(value: Any, what: str) -> float | None:
    """A positive number of seconds, or None for ``"off"``.

    Raises:
        InvalidInputError: Not a positive finite number (or ``"off"``).
    """
    if value == "off":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"{what} must be a positive number of seconds or 'off', got {value!r}"
        )
    if not (value > 0 and math.isfinite(value)):
        raise InvalidInputError(
            f"{what} must be a positive number of seconds or 'off', got {value!r}"
        )
    return float(value)


def check_staleness(value: Any) -> Staleness:
    """``value`` if it is a staleness policy (``"raise"``, ``"warn"``, ``"off"``).

    Raises:
        InvalidInputError: Any other value.
    """
    if value not in _STALENESS:
        raise InvalidInputError(f"staleness must be one of {list(_STALENESS)}, got {value!r}")
    return value


def _check_in_flight(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"max_requests_in_flight must be an int >= 1, got {value!r}")
    return value


def set_options(
    *,
    progress: bool | None = None,
    memory_budget: int | str | None = None,
    deadline: float | str | None = None,
    timeout: float | str | None = None,
    staleness: str | None = None,
    max_requests_in_flight: int | None = None,
) -> None:
    """Change the global options; arguments left as ``None`` keep their value.

    Args:
        progress: Show progress bars by default.
        memory_budget: Bytes (int, or a string such as ``"8GiB"``), ``"auto"`` (25 % of
            the memory available to the process) or ``"off"``.
        deadline: Total seconds per read, or ``"off"`` for none.
        timeout: Seconds per request attempt, or ``"off"`` for none of rasteret's own.
        staleness: ``"raise"``, ``"warn"`` or ``"off"``.
        max_requests_in_flight: Range requests one read keeps in flight (an int >= 1).

    Raises:
        TypeError: ``progress`` is not a bool.
        InvalidInputError: A value out of range, a ``ValueError`` (nothing is changed then).
    """
    global _current, _progress_set
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {type(progress).__name__}")
    changes: dict[str, Any] = {}
    if progress is not None:
        changes["progress"] = progress
    if memory_budget is not None:
        changes["memory_budget"] = parse_size(memory_budget)
    if deadline is not None:
        changes["deadline"] = parse_seconds(deadline, "deadline")
    if timeout is not None:
        changes["timeout"] = parse_seconds(timeout, "timeout")
    if staleness is not None:
        changes["staleness"] = check_staleness(staleness)
    if max_requests_in_flight is not None:
        changes["max_requests_in_flight"] = _check_in_flight(max_requests_in_flight)
    with _lock:
        if changes:
            _current = replace(_current, **changes)
        if progress is not None:
            _progress_set = True


def _keywords_of(
    template: Callable[_P, object],
) -> Callable[[Callable[..., _R]], Callable[_P, _R]]:
    """Give a function taking ``**keywords`` the parameters of ``template``: a call is
    checked against them (a ``TypeError`` names an unexpected argument, as for any call);
    type checkers see them through the ParamSpec, ``inspect.signature`` (help, IDEs,
    notebooks) through ``__signature__``."""
    signature = inspect.signature(template)

    def decorate(fn: Callable[..., _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{fn.__name__}() {exc}") from None
            return fn(*args, **kwargs)

        own = inspect.signature(fn).return_annotation
        call.__signature__ = signature.replace(return_annotation=own)  # type: ignore[attr-defined]
        return call

    return decorate


@_keywords_of(set_options)
@contextmanager
def options(**changes: Any) -> Iterator[RasteretOptions]:
    """Set options for the duration of a ``with`` block, then restore the previous ones.

    Takes the keywords of :func:`set_options`. The options are process-wide: threads
    reading concurrently with different settings should pass the read keywords
    (``deadline=``, ``timeout=``, ``staleness=``) instead.

    Example:
        >>> with rasteret.options(progress=True, deadline=60):
        ...     collection.get_xarray(...)
    """
    global _current, _progress_set
    previous, previous_set = _current, _progress_set
    set_options(**changes)
    try:
        yield _current
    finally:
        with _lock:
            _current, _progress_set = previous, previous_set


def build_progress() -> bool | None:
    """Progress setting for builds: the global option once set, else ``None`` (on a TTY)."""
    return _current.progress if _progress_set else None


def resolve_progress(progress: bool | None) -> bool:
    """An explicit ``progress`` argument, else the global option."""
    return _current.progress if progress is None else bool(progress)
