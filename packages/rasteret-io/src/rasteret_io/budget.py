"""Memory budgets: refuse a read whose arrays would not fit, before a byte is fetched.

Once a read is planned (from the index alone) the shape and dtype of every array it will
allocate are known: the decoded windows, the resampled output grids, the mosaic or the
stacked result. :func:`check_budget` (one array) and :class:`Estimate` (the sum of a read's
arrays) compare that size with a :class:`MemoryBudget` and raise
:class:`~rasteret_io.errors.MemoryBudgetError` naming the size and how to read less, instead
of letting the allocation succeed lazily and the kernel kill the process later.

The budget itself is chosen by the caller (the meta package resolves ``rasteret.options``:
by default :data:`DEFAULT_FRACTION` of :func:`available_memory`, read when a read starts,
never at import time).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rasteret_io.errors import MemoryBudgetError

__all__ = [
    "DEFAULT_FRACTION",
    "Estimate",
    "MemoryBudget",
    "available_memory",
    "check_budget",
    "default_budget",
    "format_bytes",
    "nbytes",
]

DEFAULT_FRACTION = 0.25
"""Share of :func:`available_memory` a read may allocate by default."""

_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
_HINT = (
    "read less at a time: a smaller AOI or window, a coarser resolution, fewer records "
    "(filters) or bands"
)


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human string (``"1.9 TiB"``, ``"512 B"``)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def _read_limit(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if not text.isdigit():  # "max": no limit
        return None
    value = int(text)
    return value if 0 < value < 1 << 60 else None  # cgroup v1 "no limit" is ~2**63


def available_memory() -> tuple[int | None, str]:
    """The memory this process may use, and where that figure comes from.

    The smallest of physical memory (``os.sysconf``), the cgroup memory limit of a container
    (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``) and the address-space limit
    (``RLIMIT_AS``). Returns ``(None, reason)`` when none can be read.
    """
    found: list[tuple[int, str]] = []
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            found.append((pages * size, "physical memory"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in _CGROUP_LIMITS:
        limit = _read_limit(path)
        if limit is not None:
            found.append((limit, "the container's memory limit"))
            break
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            found.append((int(soft), "the address-space limit (RLIMIT_AS)"))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-POSIX
        pass
    if not found:
        return None, "memory size unknown"
    return min(found)


def default_budget(fraction: float = DEFAULT_FRACTION) -> MemoryBudget | None:
    """``fraction`` of :func:`available_memory` (None when the memory size is unknown)."""
    total, where = available_memory()
    if total is None:
        return None
    pct = f"{fraction * 100:g} %"
    return MemoryBudget(int(total * fraction), f"{pct} of {where} ({format_bytes(total)})")


def nbytes(shape: Sequence[int], dtype: Any) -> int:
    """Exact size of an array of ``shape`` and ``dtype`` (a Python int: never overflows)."""
    import numpy as np

    return math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """How many bytes the arrays of one read may take.

    Attributes:
        limit: The budget in bytes.
        source: Where the figure comes from (named in errors), e.g. ``"25 % of physical
            memory (16.0 GiB)"`` or ``"rasteret.options(memory_budget=...)"``.
        copies: Further copies of the read's output the caller assembles afterwards (e.g. 1
            when chips are stacked into one array); counted in the estimate.
        hint: How to read less, in the caller's vocabulary (replaces the generic advice).
    """

    limit: int
    source: str = "the memory budget"
    copies: int = 0
    hint: str = field(default="", compare=False)

    def check(self, needed: int, what: str) -> None:
        """Raise when ``needed`` bytes exceed the budget.

        Raises:
            MemoryBudgetError: names ``what``, the size, the budget and how to read less.
        """
        if needed <= self.limit:
            return
        raise MemoryBudgetError(
            f"{what} would allocate {format_bytes(needed)} ({needed} bytes), more than the "
            f"memory budget of {format_bytes(self.limit)} ({self.source}); "
            f"{self.hint or _HINT}. The budget is set with "
            "rasteret.set_options(memory_budget=...) (bytes, '8GiB', 'auto' or 'off')",
            needed=needed,
            budget=self.limit,
            what=what,
        )


def check_budget(
    shape: Sequence[int], dtype: Any, *, what: str, budget: MemoryBudget | None
) -> int:
    """Check that one array of ``shape`` / ``dtype`` fits ``budget`` (None: not checked).

    Returns:
        The array's size in bytes.

    Raises:
        MemoryBudgetError: It does not fit.
    """
    size = nbytes(shape, dtype)
    if budget is not None:
        budget.check(size, f"{what} ({' x '.join(str(int(s)) for s in shape)} {dtype})")
    return size


class Estimate:
    """The arrays a read will hold at once, added up before anything is allocated.

    Tracks the total, the part that is the read's output (what a caller may copy again,
    :attr:`MemoryBudget.copies`), the number of arrays and the largest one (named in errors).
    """

    __slots__ = ("arrays", "largest", "output", "total")

    def __init__(self) -> None:
        self.total = 0
        self.output = 0
        self.arrays = 0
        self.largest: tuple[int, tuple[int, ...], str] = (0, (), "")

    def add(
        self, shape: Sequence[int], dtype: Any, *, mask: bool = False, output: bool = False
    ) -> int:
        """Count an array (plus a boolean validity mask of the same shape with ``mask``);
        ``output`` marks it as part of the result handed to the caller."""
        size = nbytes(shape, dtype)
        if size > self.largest[0]:
            self.largest = (size, tuple(int(s) for s in shape), str(dtype))
        if output:
            self.output += size
        if mask:
            size += nbytes(shape, "bool")
        self.total += size
        self.arrays += 1
        return size

    def needed(self, budget: MemoryBudget | None) -> int:
        """Bytes at the peak: everything counted plus ``budget.copies`` copies of the output."""
        return self.total + (budget.copies * self.output if budget is not None else 0)

    def check(self, budget: MemoryBudget | None, what: str) -> None:
        """Check :meth:`needed` against ``budget`` (None: not checked).

        Raises:
            MemoryBudgetError: The read does not fit.
        """
        if budget is None or not self.arrays:
            return
        _size, shape, dtype = self.largest
        desc = f"{what} ({self.arrays} array(s), the largest {' x '.join(map(str, shape))} {dtype})"
        budget.check(self.needed(budget), desc)
