"""A small synchronous reader for local files (tests, benchmarks, debugging).

The real read engine (concurrency, coalescing, retries) lives in ``rasteret_io``; this module
only strings the pieces together: :func:`plan_window` -> read bytes -> :func:`decode_tile` ->
:func:`assemble`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rasteret_cog.codecs import decode_tile
from rasteret_cog.errors import InvalidArgumentError
from rasteret_cog.header import CogHeader
from rasteret_cog.planning import assemble, plan_window

if TYPE_CHECKING:
    import numpy as np

__all__ = ["read_window"]


def read_window(
    path: str | os.PathLike[str],
    header: CogHeader,
    *,
    level: int = 0,
    window: tuple[int, int, int, int] | None = None,
    samples: tuple[int, ...] | None = None,
    mask: bool = False,
) -> np.ndarray:
    """Read a pixel window ``(col_off, row_off, width, height)`` of one level of a local file.

    Args:
        path: The file the header was parsed from.
        header: Its parsed header.
        level: Index into ``header.levels`` (0 = full resolution).
        window: Pixel window; default the whole level.
        samples: Sample indices (default all).
        mask: Read the level's internal mask instead (0/255 uint8).

    Returns:
        ``(bands, height, width)`` array.
    """
    lv = header.levels[level]
    if mask:
        m = header.masks[level]
        if m is None:
            raise InvalidArgumentError(f"level {level} has no internal mask")
        lv = m
    if window is None:
        window = (0, 0, lv.width, lv.height)
    plan = plan_window(lv, *window, samples=samples)
    spec = plan.spec
    tiles = {}
    with Path(path).open("rb") as fh:
        for t in plan.tiles:
            if t.index in tiles:
                continue
            fh.seek(t.offset)
            raw = fh.read(t.length) if t.length else b""
            tiles[t.index] = decode_tile(raw, spec)
    return assemble(plan, tiles)
