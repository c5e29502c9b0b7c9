"""Process-global options (``get_options`` / ``set_options`` / ``options``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from rasteret.errors import InvalidInputError

__all__ = [
    "RasteretOptions",
    "build_progress",
    "get_options",
    "options",
    "resolve_progress",
    "set_options",
]


@dataclass(frozen=True, slots=True)
class RasteretOptions:
    """Global rasteret options.

    Attributes:
        progress: Show tqdm progress bars in builds and reads whose ``progress`` argument is
            ``None`` (the default of every such argument).
        max_requests_in_flight: Range requests one read keeps in flight, all records
            together (default 256). A read's ``max_concurrent`` keyword bounds each record's
            requests within it (see ``docs/decisions.md``); lower this for servers that limit
            connections.
    """

    progress: bool = False
    max_requests_in_flight: int = 256


_lock = threading.Lock()
_current = RasteretOptions()
_progress_set = False  # whether progress was ever set explicitly (builds default to "on a TTY")


def get_options() -> RasteretOptions:
    """Return the current (immutable) global options."""
    return _current


def set_options(*, progress: bool | None = None, max_requests_in_flight: int | None = None) -> None:
    """Change the global options; arguments left as ``None`` keep their value.

    Args:
        progress: Show progress bars by default.
        max_requests_in_flight: Range requests one read keeps in flight (an int >= 1).

    Raises:
        TypeError: ``progress`` is not a bool.
        InvalidInputError: ``max_requests_in_flight`` is not an int >= 1 (a ``ValueError``).
    """
    global _current, _progress_set
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {type(progress).__name__}")
    if max_requests_in_flight is not None and (
        isinstance(max_requests_in_flight, bool)
        or not isinstance(max_requests_in_flight, int)
        or max_requests_in_flight < 1
    ):
        raise InvalidInputError(
            f"max_requests_in_flight must be an int >= 1, got {max_requests_in_flight!r}"
        )
    with _lock:
        if progress is not None:
            _current = replace(_current, progress=progress)
            _progress_set = True
        if max_requests_in_flight is not None:
            _current = replace(_current, max_requests_in_flight=max_requests_in_flight)


@contextmanager
def options(
    *, progress: bool | None = None, max_requests_in_flight: int | None = None
) -> Iterator[RasteretOptions]:
    """Set options for the duration of a ``with`` block, then restore the previous ones.

    Example:
        >>> with rasteret.options(progress=True):
        ...     collection.get_xarray(...)
    """
    global _current, _progress_set
    previous, previous_set = _current, _progress_set
    set_options(progress=progress, max_requests_in_flight=max_requests_in_flight)
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
