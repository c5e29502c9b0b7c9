"""The trust limits of a read: fetch options (retries, timeouts, deadline, staleness) and
the memory budget, resolved once from the read's keywords and ``rasteret.options``
(``ReadOptions.fetch`` and ``ReadOptions.memory_budget``).

:func:`fetch_options` and :func:`resolve_budget` are called by
:meth:`~rasteret.read.requests.ReadOptions.build`; :func:`budget_for` gives each read its
budget with the advice its error shows (how to read less with *that* method).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rasteret._options import check_staleness, get_options, parse_seconds

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io import FetchOptions, MemoryBudget

__all__ = ["HINTS", "budget_for", "fetch_options", "resolve_budget"]

HINTS = {
    "get_numpy": (
        "read less at a time: a smaller AOI, fewer records (date_range=, cloud_cover_lt=, "
        "bbox= filters) or bands, get_xarray(..., chunks=...) for a lazy cube computed "
        "chunk by chunk, or read_window over smaller bounds / a coarser res"
    ),
    "get_xarray": (
        "pass chunks= (e.g. chunks='auto') for a lazy cube computed chunk by chunk, or read "
        "a smaller AOI, fewer records (filters) or bands"
    ),
    "get_xarray(chunks=...)": (
        "pass smaller chunks= (e.g. chunks={'time': 1, 'y': 1024, 'x': 1024})"
    ),
    "get_gdf": "read a smaller AOI, fewer records (filters) or bands",
    "read_window": (
        "read smaller bounds, a coarser res, fewer record_ids or bands, or split the window "
        "into tiles and call read_window per tile"
    ),
    "sample_points": (
        "use a smaller max_distance_pixels, return_neighbourhood='off', or fewer points per call"
    ),
    "to_torchgeo_dataset": "sample smaller chips (a smaller size for the sampler)",
}
"""How to read less, per public read (shown in ``MemoryBudgetError`` messages)."""


def fetch_options(concurrency: int, deadline: Any, timeout: Any, staleness: Any) -> FetchOptions:
    """The frozen :class:`~rasteret_io.FetchOptions` of a read: keywords, else global options.

    Args:
        concurrency: Requests in flight.
        deadline: Total seconds for the read's fetches, ``"off"``, or None (the option).
        timeout: Seconds per attempt, ``"off"``, or None (the option).
        staleness: ``"raise"``, ``"warn"``, ``"off"``, or None (the option).

    Raises:
        InvalidInputError: A non-positive ``deadline`` / ``timeout`` or an unknown
            ``staleness``.
    """
    from rasteret_io import FetchOptions, RetryPolicy

    opts = get_options()
    secs = opts.deadline if deadline is None else parse_seconds(deadline, "deadline")
    attempt = opts.timeout if timeout is None else parse_seconds(timeout, "timeout")
    policy = opts.staleness if staleness is None else check_staleness(staleness)
    return FetchOptions(
        concurrency=concurrency,
        retry=replace(RetryPolicy(), timeout=attempt),
        deadline=secs,
        staleness=policy,
    )


def resolve_budget() -> MemoryBudget | None:
    """The memory budget of a read starting now (``rasteret.options.memory_budget``)."""
    from rasteret_io import MemoryBudget, default_budget

    value = get_options().memory_budget
    if value == "off":
        return None
    if value == "auto":
        return default_budget()
    return MemoryBudget(int(value), "set with rasteret.set_options(memory_budget=...)")


def budget_for(budget: MemoryBudget | None, method: str, *, copies: int = 0) -> MemoryBudget | None:
    """A read's ``budget`` for ``method``: its advice, and the ``copies`` of the output it
    assembles after the engine returns (1 for a stacked array)."""
    if budget is None:
        return None
    return replace(budget, copies=copies, hint=HINTS.get(method, ""))
