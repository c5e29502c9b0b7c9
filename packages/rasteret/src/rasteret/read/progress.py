"""Progress bars for long reads (tqdm), driven by the engine's ``progress(done, total)`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress_callback"]


@contextmanager
def progress_callback(enabled: bool, desc: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a callback updating a tqdm bar (one step per COG read), or None when disabled."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="cog", leave=False)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
