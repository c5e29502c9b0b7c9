"""Read many pixel windows at once: plan tiles, fetch them in one wave, decode off the loop.

Every window of every (record, band, level) of a read is planned first, as arrays
(:func:`rasteret_io.tileplan.plan_tiles`); identical tiles are fetched and decoded once however
many windows need them. Then, per COG, the event loop only fetches: its ranges are coalesced
and fetched concurrently under one shared bound (:class:`rasteret_io.fetch.Fetcher`), and the
bytes go to a thread pool in as few tasks as the core count allows (:class:`_CogJob`: one task
for a COG of a few tiles). A task decodes its tiles (imagecodecs, GIL released) straight into
the windows' output arrays; the task that finishes a COG applies its internal masks and runs
the caller's per-window ``finish`` step (masking, resampling) there too — the event-loop thread
never touches a pixel.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasteret_cog import decode_tile
from rasteret_cog.codecs import fill_value
from rasteret_cog.errors import CogError
from rasteret_io.budget import Estimate, MemoryBudget
from rasteret_io.errors import ReadError
from rasteret_io.fetch import Fetcher, RangeRequest, RangeResult
from rasteret_io.grid import Window
from rasteret_io.options import Deadline
from rasteret_io.sources import BandSource
from rasteret_io.tileplan import TilePlan, plan_tiles
from rasteret_io.urls import redact_url

if TYPE_CHECKING:
    import numpy as np

    from rasteret_cog import TileSpec

__all__ = [
    "WindowRequest",
    "WindowResult",
    "decode_bytes",
    "decode_executor",
    "read_windows",
    "window_bytes",
]


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
    key: Any = None


@dataclass(frozen=True, slots=True)
class WindowResult:
    """A read window.

    Attributes:
        request: The request.
        data: ``(height, width)`` array in the band's dtype; pixels outside the image or in
            missing tiles hold ``fill``. None when the read failed.
        valid_mask: Boolean ``(height, width)``: True where real pixels were read; None when
            every pixel is real (no array is built for the common case).
        fill: The value used for invalid pixels.
        error: Why the read failed (data is None), or a tolerated failure of some tiles.
    """

    request: WindowRequest
    data: np.ndarray | None
    valid_mask: np.ndarray | None
    fill: int | float
    error: Exception | None = None

    @property
    def all_valid(self) -> bool:
        """True when every pixel of ``data`` is real."""
        return self.data is not None and self.valid_mask is None

    @property
    def valid(self) -> np.ndarray | None:
        """Boolean ``(height, width)`` validity (built on demand when every pixel is real)."""
        if self.valid_mask is not None or self.data is None:
            return self.valid_mask
        import numpy as np

        return np.ones(self.data.shape[:2], dtype=bool)


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


Finish = Callable[[WindowResult], WindowResult]

_local = threading.local()
_SCRATCH_MAX = 64 << 20  # larger tiles get a buffer of their own, as before


def _scratch(spec: TileSpec) -> bytearray | None:
    """This decode thread's buffer that tiles of ``spec`` are inflated into (each tile is
    copied out into its windows before the thread decodes the next one): a tile then costs no
    new buffer and none of its page faults. Grown to the largest tile seen, up to 64 MiB."""
    need = math.prod(spec.tile_shape) * _itemsize(spec.dtype)
    buf: bytearray | None = getattr(_local, "scratch", None)
    if buf is None or len(buf) < need:
        if need > _SCRATCH_MAX:
            return None
        buf = _local.scratch = bytearray(need)
    return buf


@functools.cache
def _itemsize(dtype: str) -> int:
    import numpy as np

    return int(np.dtype(dtype).itemsize)


def window_bytes(plan: TilePlan) -> Estimate:
    """The arrays :func:`read_windows` allocates for ``plan``: every window's data and mask
    (:func:`decode_bytes` adds the decode working set)."""
    est = Estimate()
    for w, (h, wd) in enumerate(plan.window_shape.tolist()):
        if w in plan.errors:
            continue
        est.add((h, wd), plan.specs[int(plan.window_spec[w])].dtype, mask=True, output=True)
    return est


def decode_bytes(plan: TilePlan, est: Estimate, workers: int | None = None) -> str:
    """Add the decode working set of ``plan`` to ``est``; returns a description of it.

    A tile (or strip) is decoded whole however little of it a window needs: each decode
    thread holds one decoded tile at a time, so at the peak the ``workers`` largest distinct
    tiles of the read (``tile_height x tile_width x samples`` of their dtype) are in memory
    at once, next to the compressed bytes of every tile (all fetched bytes are held until
    the read ends). ``workers`` is the decode pool's size (default: one per core).
    """
    import numpy as np

    if plan.tile_spec is None or plan.tile_length is None or not len(plan.tile_spec):
        return ""
    k = min(workers or max(1, os.cpu_count() or 1), len(plan.tile_spec))
    per_spec = np.array([math.prod(s.tile_shape) * _itemsize(s.dtype) for s in plan.specs])
    sizes = per_spec[plan.tile_spec]
    largest = plan.specs[int(plan.tile_spec[int(np.argmax(sizes))])]
    for t in np.argpartition(sizes, len(sizes) - k)[len(sizes) - k :].tolist():
        spec = plan.specs[int(plan.tile_spec[t])]
        est.add(spec.tile_shape, spec.dtype)
    est.add((int(plan.tile_length.sum()),), "uint8")
    shape = " x ".join(str(int(n)) for n in largest.tile_shape)
    return (
        f"decoding {len(sizes)} tile(s)/strip(s), {k} at a time, the largest {shape} "
        f"{largest.dtype}"
    )


# One placement: window, src r0, r1, c0, c1, dst r0, r1, c0, c1, sample.
_Place = tuple[int, int, int, int, int, int, int, int, int, int]


class _CogJob:
    """The windows of one COG and the distinct tiles they need; decoded in worker threads.

    Built on the event loop (plain lists, no pixels); :meth:`run` executes in the pool, once
    per batch of tiles. The first batch allocates the windows' arrays, every batch decodes
    its tiles into them, and the last batch finishes the COG (internal masks, ``finish``).
    """

    def __init__(self, url: str, reads: _Read) -> None:
        self.url = url
        self.read = reads
        self.windows: list[int] = []
        self.tiles: list[tuple[int, int, int]] = []  # (spec id, offset, length)
        self.places: list[list[_Place]] = []
        self.items: list[tuple[int, Any]] = []  # (tile, bytes or error) as they land
        self.lock = threading.Lock()
        self.pending = 0
        self.ready = False

    def ranges(self, j: int) -> list[RangeRequest]:
        """The tiles' byte ranges, tagged ``(j, tile)`` (``j``: this job's index)."""
        src = self.read.requests[self.windows[0]].source
        url, rid, band = self.url, src.record_id, src.band
        ident = src.identity  # the indexed object's ETag / size: a rewrite is refused
        return [
            RangeRequest(url, off, off + n, rid, band, (j, t), ident)
            for t, (_s, off, n) in enumerate(self.tiles)
        ]

    def run(self, batch: list[tuple[int, Any]]) -> None:
        """Decode ``batch`` (``(tile, bytes or error)``) into the windows (worker thread)."""
        try:
            self._decode(batch)
            with self.lock:
                self.pending -= 1
                last = self.pending == 0
            if last:
                for w in self.windows:
                    self.read.finish_window(w)
                self.read.done.job_done()
        except BaseException as exc:  # handed to the event loop, which raises it
            self.read.done.failed(exc)

    def _decode(self, batch: list[tuple[int, Any]]) -> None:
        rd = self.read
        with self.lock:
            if not self.ready:
                for w in self.windows:
                    rd.allocate(w)
                self.ready = True
        for t, raw in batch:
            spec_id = self.tiles[t][0]
            if isinstance(raw, Exception):
                self._failed(t, raw)
                continue
            try:
                tile = decode_tile(
                    raw, rd.plan.specs[spec_id], scratch=_scratch(rd.plan.specs[spec_id])
                )
            except CogError as exc:
                err = ReadError(
                    f"cannot decode tile at byte {self.tiles[t][1]} of {redact_url(self.url)}: {exc}"
                )
                if rd.raise_errors:
                    raise err from exc
                self._failed(t, err)
                continue
            for w, sr0, sr1, sc0, sc1, dr0, dr1, dc0, dc1, s in self.places[t]:
                sub = tile[sr0:sr1, sc0:sc1] if s < 0 else tile[sr0:sr1, sc0:sc1, s]
                rd.data[w][dr0:dr1, dc0:dc1] = sub  # type: ignore[index]
                valid = rd.valid[w]
                if valid is not None:
                    valid[dr0:dr1, dc0:dc1] = True

    def _failed(self, t: int, err: Exception) -> None:
        import numpy as np

        rd = self.read
        for w, *_s, dr0, dr1, dc0, dc1, _smp in self.places[t]:
            rd.errors.setdefault(w, err)
            valid = rd.valid[w]
            if valid is None:
                # Several decode threads may fail tiles of this window at once: the array is
                # created once, under the job's lock (every tile of a window is in this job),
                # or the marks written into a losing copy would be lost.
                with self.lock:
                    valid = rd.valid[w]
                    if valid is None:
                        data = rd.data[w]
                        assert data is not None
                        valid = rd.valid[w] = np.ones(data.shape, dtype=bool)
            rd.data[w][dr0:dr1, dc0:dc1] = rd.fills[w]  # type: ignore[index]
            valid[dr0:dr1, dc0:dc1] = False


class _Completion:
    """Counts finished COG jobs in the decode threads and wakes the event loop once: when the
    last job is done, or at the first failure (not once per COG)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.loop = loop
        self.total = total
        self.left = total
        self.progress = progress
        self.lock = threading.Lock()
        self.future: asyncio.Future[None] = loop.create_future()
        if total == 0:
            self.future.set_result(None)

    def _settle(self, exc: BaseException | None) -> None:
        if not self.future.done():
            if exc is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(exc)

    def job_done(self) -> None:
        with self.lock:
            self.left -= 1
            if self.progress is not None:  # queued in completion order
                self.loop.call_soon_threadsafe(self.progress, self.total - self.left, self.total)
            if self.left == 0:
                self.loop.call_soon_threadsafe(self._settle, None)

    def failed(self, exc: BaseException) -> None:
        self.loop.call_soon_threadsafe(self._settle, exc)


class _Read:
    """State of one :func:`read_windows` call: the plan, output arrays and results."""

    def __init__(
        self,
        requests: list[WindowRequest],
        plan: TilePlan,
        mask_of: dict[int, int],
        n_out: int,
        raise_errors: bool,
        policy: str,
        finish: Finish | None,
    ) -> None:
        self.requests = requests
        self.plan = plan
        self.mask_of = mask_of
        self.is_mask = set(mask_of.values())
        self.n_out = n_out
        self.raise_errors = raise_errors
        self.policy = policy
        self.finish = finish
        n = len(requests)
        self.data: list[np.ndarray | None] = [None] * n
        self.valid: list[np.ndarray | None] = [None] * n
        self.errors: dict[int, Exception] = dict(plan.errors)
        self.fills: list[int | float] = [
            fill_value(plan.specs[s]) if s >= 0 else 0 for s in plan.window_spec.tolist()
        ]
        self.results: list[WindowResult | None] = [None] * n_out
        self.done: _Completion  # set once the jobs are known

    def allocate(self, w: int) -> None:
        """Output arrays of window ``w`` (pre-filled unless its tiles cover it)."""
        import numpy as np

        plan = self.plan
        if w in plan.errors:
            return
        h, wd = (int(v) for v in plan.window_shape[w])
        dtype = np.dtype(plan.specs[int(plan.window_spec[w])].dtype)
        if plan.covered[w]:
            self.data[w] = np.empty((h, wd), dtype=dtype)
        else:
            self.data[w] = np.full((h, wd), self.fills[w], dtype=dtype)
            self.valid[w] = np.zeros((h, wd), dtype=bool)

    def finish_window(self, w: int) -> None:
        """Apply the internal mask, build the result, run ``finish`` (worker thread)."""
        if w in self.is_mask:
            return
        import numpy as np

        req = self.requests[w]
        fill = self.fills[w]
        data, valid, error = self.data[w], self.valid[w], self.errors.get(w)
        if data is None:
            self.results[w] = WindowResult(req, None, None, fill, error)
            return
        m = self.mask_of.get(w)
        if m is not None:
            mdata, merror = self.data[m], self.errors.get(m)
            if merror is not None:
                if self.raise_errors:
                    raise ReadError(
                        f"cannot read the internal mask of {redact_url(req.source.url)}"
                    ) from merror
                # Like a failed data tile: the window reports the mask's error, and pixels
                # whose mask could not be read are invalid (skip: the window is dropped).
                error = error or merror
            if mdata is None:  # nothing of the mask was read: no pixel is known to be real
                masked = np.ones(data.shape, dtype=bool)
            else:
                masked = mdata == 0
                if merror is not None and self.valid[m] is not None:
                    masked |= ~self.valid[m]  # type: ignore[operator]
            if masked.any():
                data[masked] = fill
                if valid is None:
                    valid = np.ones(data.shape, dtype=bool)
                valid[masked] = False
        if error is not None and self.policy == "skip":
            res = WindowResult(req, None, None, fill, error)
        else:
            res = WindowResult(req, data, valid, fill, error)
        self.results[w] = self.finish(res) if self.finish is not None else res


def _jobs(rd: _Read) -> list[_CogJob]:
    """Group windows, tiles and placements by URL (lists built once from the plan arrays)."""
    import numpy as np

    plan = rd.plan
    jobs = [_CogJob(url, rd) for url in plan.urls]
    for w, u in enumerate(plan.window_url.tolist()):
        jobs[u].windows.append(w)
    if plan.tile_url is not None:
        assert plan.tile is not None and plan.window is not None
        assert plan.src is not None and plan.dst is not None and plan.sample is not None
        assert plan.tile_spec is not None and plan.tile_offset is not None
        assert plan.tile_length is not None
        local: list[int] = []
        owner = plan.tile_url.tolist()
        for u, s, off, n in zip(
            owner,
            plan.tile_spec.tolist(),
            plan.tile_offset.tolist(),
            plan.tile_length.tolist(),
            strict=True,
        ):
            job = jobs[u]
            local.append(len(job.tiles))
            job.tiles.append((s, off, n))
            job.places.append([])
        rows = np.concatenate(
            [plan.window[:, None], plan.src, plan.dst, plan.sample[:, None]], axis=1
        ).tolist()
        for t, row in zip(plan.tile.tolist(), rows, strict=True):
            if t >= 0:
                jobs[owner[t]].places[local[t]].append(tuple(row))
    return [j for j in jobs if j.windows]


async def read_windows(
    requests: Sequence[WindowRequest],
    fetcher: Fetcher,
    *,
    executor: ThreadPoolExecutor | None = None,
    apply_masks: bool = True,
    progress: Callable[[int, int], None] | None = None,
    finish: Finish | None = None,
    deadline: Deadline | None = None,
    budget: MemoryBudget | None = None,
    counted: Estimate | None = None,
    counted_what: str = "",
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
        finish: Called in the decode thread with each window's result as soon as its COG is
            decoded; its return value replaces the result (e.g. masked or resampled data).
        deadline: The running deadline of the read this belongs to, shared by every fetch
            (default: one started now from ``fetcher.options.deadline``).
        budget: Refuse the read before any fetch when its windows (data and validity
            masks) and its decode working set (the largest tiles or strips decoded at
            once, the fetched bytes; :func:`decode_bytes`) would exceed this budget (None:
            not checked).
        counted: The caller's own estimate of the read's arrays (it counted the windows
            and what it builds from them): the decode working set is added to it and the
            sum checked instead of :func:`window_bytes`.
        counted_what: What the caller reads, named in the error (with ``counted``).

    Returns:
        One result per request, in order.

    Raises:
        MemoryBudgetError: The windows do not fit ``budget``.
    """
    loop = asyncio.get_running_loop()
    pool = executor or decode_executor()
    expanded = list(requests)
    mask_of: dict[int, int] = {}
    if apply_masks:
        for i, req in enumerate(requests):
            ms = req.source.mask_source() if req.level == 0 else None
            if ms is not None:
                mask_of[i] = len(expanded)
                expanded.append(WindowRequest(ms, req.window, 0, None))
    plan = plan_tiles([(r.source, r.level, r.window) for r in expanded])
    raise_errors = fetcher.error_policy == "raise"
    if raise_errors and plan.errors:
        raise plan.errors[min(plan.errors)]
    if budget is not None:
        workers = getattr(pool, "_max_workers", None)  # the pool's size (no public accessor)
        est = window_bytes(plan) if counted is None else counted
        what = counted_what if counted is not None and counted_what else ""
        what = what or f"reading {len(requests)} window(s)"
        decoding = decode_bytes(plan, est, workers)
        est.check(budget, f"{what}, {decoding}" if decoding else what)
    if deadline is None:
        deadline = fetcher.options.start_deadline()
    rd = _Read(expanded, plan, mask_of, len(requests), raise_errors, fetcher.error_policy, finish)
    jobs = _jobs(rd)
    rd.done = _Completion(loop, len(jobs), progress)
    workers = max(1, os.cpu_count() or 1)

    def submit(job: _CogJob) -> None:
        # As few pool tasks as possible (one for a COG of a few tiles), enough to spread a
        # single large COG over every core. Nothing comes back to the loop per task.
        items = job.items
        size = max(4, -(-len(items) // workers))
        batches = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        job.pending = len(batches)
        for b in batches:
            pool.submit(job.run, b)

    def landed(results: list[RangeResult]) -> None:
        # On the loop, per coalesced request group: a COG is decoded once all its tiles are in.
        for res in results:
            j, tile = res.request.tag
            job = jobs[j]
            job.items.append((tile, res.data if res.error is None else res.error))
            if len(job.items) == len(job.tiles):
                submit(job)

    # One fetch for the whole read: every COG's ranges, coalesced per object, under the
    # read's bounds; groups land in any order.
    ranges: list[RangeRequest] = []
    for j, job in enumerate(jobs):
        if job.tiles:
            ranges.extend(job.ranges(j))
        else:
            submit(job)
    fetching = asyncio.ensure_future(fetcher.fetch(ranges, deadline=deadline, on_group=landed))
    decoded = rd.done.future
    either: list[asyncio.Future[Any]] = [fetching, decoded]
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if decoded.done():
            decoded.result()  # a decode failure: raise it now, cancelling the fetches below
        await fetching
        await decoded
    except BaseException:
        fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
        if not fetching.cancelled() and fetching.done():
            fetching.exception()  # retrieved
        if decoded.done() and not decoded.cancelled():
            decoded.exception()  # retrieved
        else:
            decoded.cancel()
        raise
    out = rd.results
    assert all(r is not None for r in out), "every window is finished by its COG's job"
    return out  # type: ignore[return-value]
