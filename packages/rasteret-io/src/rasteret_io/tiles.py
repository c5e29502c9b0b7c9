"""Read many pixel windows at once: plan tiles, fetch them in one wave, decode off the loop.

Every window of every (record, band, level) of a read is planned first; identical tiles are
fetched and decoded once however many windows need them; the ranges of each COG are
coalesced and fetched concurrently under one shared bound (:class:`rasteret_io.fetch.Fetcher`);
each COG's tiles are decoded in a thread pool as soon as its bytes arrive (imagecodecs
releases the GIL), and windows are assembled from the decoded tiles.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasteret_cog import TileSpec, assemble, decode_tile, plan_window
from rasteret_cog.codecs import fill_value
from rasteret_cog.errors import CogError
from rasteret_io.errors import ReadError
from rasteret_io.fetch import Fetcher, RangeRequest
from rasteret_io.grid import Window
from rasteret_io.sources import BandSource

if TYPE_CHECKING:
    import numpy as np

__all__ = ["WindowRequest", "WindowResult", "decode_executor", "read_windows"]


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """A pixel window of one band of one record, at one pyramid level.

    Attributes:
        source: The band.
        window: Pixel window in the level's grid; may extend past the image (boundless).
        level: Pyramid level (0 = full resolution).
        key: Caller's handle, returned with the result.
    """

    source: BandSource
    window: Window
    level: int = 0
    key: Hashable | Any = None


@dataclass(frozen=True, slots=True)
class WindowResult:
    """A read window.

    Attributes:
        request: The request.
        data: ``(height, width)`` array in the band's dtype; pixels outside the image or in
            missing tiles hold ``fill``. None when the read failed.
        valid: Boolean ``(height, width)``: True where real pixels were read.
        fill: The value used for invalid pixels.
        error: Why the read failed (data is None), or a tolerated failure of some tiles.
    """

    request: WindowRequest
    data: np.ndarray | None
    valid: np.ndarray | None
    fill: int | float
    error: Exception | None = None


_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_executor_lock = threading.Lock()


def decode_executor() -> ThreadPoolExecutor:
    """The process's decode thread pool (one thread per core; rebuilt after fork)."""
    global _executor, _executor_pid
    pid = os.getpid()
    if _executor is None or _executor_pid != pid:
        with _executor_lock:
            if _executor is None or _executor_pid != pid:
                _executor = ThreadPoolExecutor(
                    max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="rasteret-decode"
                )
                _executor_pid = pid
    return _executor


_TileKey = tuple[str, int, int, TileSpec]


def _decode_batch(items: list[tuple[_TileKey, Any]]) -> list[Any]:
    """Decode tiles in a worker thread; a tile that fails yields its ``CogError``."""
    out: list[Any] = []
    for key, raw in items:
        try:
            out.append(decode_tile(raw, key[3]))
        except CogError as exc:
            out.append(exc)
    return out


async def read_windows(
    requests: Sequence[WindowRequest],
    fetcher: Fetcher,
    *,
    executor: ThreadPoolExecutor | None = None,
    apply_masks: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[WindowResult]:
    """Read ``requests`` in one concurrent wave.

    Args:
        requests: Windows to read.
        fetcher: Byte-range fetcher (reader, concurrency bound, retries, error policy).
            Under ``error_policy="raise"`` the first failed fetch or decode raises; otherwise
            windows whose tiles failed are returned with ``error`` set (``"skip"``: no data;
            ``"nodata"``: filled, those pixels invalid).
        executor: Decode pool (default: :func:`decode_executor`).
        apply_masks: Honour indexed internal (GDAL) masks of full-resolution reads: masked
            pixels become ``fill`` and invalid, as in a GDAL masked read.
        progress: Called as ``progress(done, total)`` each time the tiles of one COG are
            fetched and decoded (e.g. to drive a progress bar).

    Returns:
        One result per request, in order.
    """
    import numpy as np

    loop = asyncio.get_running_loop()
    pool = executor or decode_executor()
    plans: list[Any] = []
    tiles_by_url: dict[str, dict[_TileKey, RangeRequest]] = defaultdict(dict)
    mask_of: dict[int, int] = {}
    expanded = list(requests)
    if apply_masks:
        for i, req in enumerate(requests):
            ms = req.source.mask_source() if req.level == 0 else None
            if ms is not None:
                mask_of[i] = len(expanded)
                expanded.append(WindowRequest(ms, req.window, 0, None))
    for req in expanded:
        src = req.source
        try:
            spec = src.level_spec(req.level)
            lv = src.levels[req.level]
            w = req.window
            plan = plan_window(
                spec,
                w.col_off,
                w.row_off,
                w.width,
                w.height,
                samples=src.samples,
                tile_offsets=lv.tile_offsets,
                tile_byte_counts=lv.tile_byte_counts,
            )
        except (CogError, ReadError, IndexError, ValueError) as exc:
            if fetcher.error_policy == "raise":
                raise ReadError(
                    f"record {src.record_id!r} band {src.band!r} ({src.url}): {exc}"
                ) from exc
            plans.append(exc)
            continue
        plans.append(plan)
        for t in plan.tiles:
            key = (src.url, t.offset, t.length, spec)
            if t.length > 0 and key not in tiles_by_url[src.url]:
                tiles_by_url[src.url][key] = RangeRequest(
                    src.url, t.offset, t.offset + t.length, src.record_id, src.band, key
                )

    decoded: dict[_TileKey, Any] = {}

    workers = max(1, os.cpu_count() or 1)

    async def one_url(reqs: list[RangeRequest]) -> None:
        results = await fetcher.fetch(reqs)
        todo = []
        for res in results:
            key = res.request.tag
            if res.error is not None:
                decoded[key] = res.error
            else:
                todo.append((key, res.data))
        # One executor task per batch of tiles (fewer futures and loop wake-ups); batches are
        # small enough that a single large COG still spreads over every core.
        size = max(4, -(-len(todo) // workers))
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        futs = [loop.run_in_executor(pool, _decode_batch, b) for b in batches]
        for batch, fut in zip(batches, futs, strict=True):
            for (key, _raw), got in zip(batch, await fut, strict=True):
                if isinstance(got, CogError):
                    err = ReadError(f"cannot decode tile at byte {key[1]} of {key[0]}: {got}")
                    if fetcher.error_policy == "raise":
                        raise err from got
                    decoded[key] = err
                else:
                    decoded[key] = got

    total = len(tiles_by_url)
    done_count = 0

    async def tracked(reqs: list[RangeRequest]) -> None:
        nonlocal done_count
        await one_url(reqs)
        done_count += 1
        if progress is not None:
            progress(done_count, total)

    tasks = [asyncio.ensure_future(tracked(list(d.values()))) for d in tiles_by_url.values()]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

    out: list[WindowResult] = []
    for req, plan in zip(expanded, plans, strict=True):
        src = req.source
        if isinstance(plan, Exception):
            out.append(WindowResult(req, None, None, 0, plan))
            continue
        spec = plan.spec
        fill = fill_value(spec)
        # A window inside the image with no sparse tile is entirely overwritten by its tiles:
        # skip pre-filling it (failed tiles are filled below).
        covered = plan.covers_window and all(t.length > 0 for t in plan.tiles)
        if covered:
            data = np.empty(plan.shape, dtype=np.dtype(spec.dtype))
            valid = np.ones(plan.shape[1:], dtype=bool)
        else:
            data = np.full(plan.shape, fill, dtype=np.dtype(spec.dtype))
            valid = np.zeros(plan.shape[1:], dtype=bool)
        error: Exception | None = None
        tiles: dict[int, Any] = {}
        for t in plan.tiles:
            if t.length == 0:
                continue  # sparse tile: stays at fill, invalid
            dst = (slice(t.dst_rows[0], t.dst_rows[1]), slice(t.dst_cols[0], t.dst_cols[1]))
            got = decoded.get((src.url, t.offset, t.length, spec))
            if isinstance(got, Exception) or got is None:
                error = error or (got if isinstance(got, Exception) else ReadError("tile missing"))
                if covered:
                    data[(slice(None), *dst)] = fill
                    valid[dst] = False
                continue
            tiles[t.index] = got
            if not covered:
                valid[dst] = True
        assemble(plan, tiles, fill=fill, out=data)
        if error is not None and fetcher.error_policy == "skip":
            out.append(WindowResult(req, None, None, fill, error))
        else:
            out.append(WindowResult(req, data[0], valid, fill, error))
    for i, j in mask_of.items():
        res, mres = out[i], out[j]
        if res.data is None:
            continue
        if mres.data is None:
            if fetcher.error_policy == "raise":
                raise ReadError(
                    f"cannot read the internal mask of {res.request.source.url}"
                ) from mres.error
            continue
        masked = mres.data == 0
        if masked.any():
            res.data[masked] = res.fill
            res.valid[masked] = False
    return out[: len(requests)]
