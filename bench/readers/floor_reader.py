"""The floor reader: the least a Python program must do to read a window workload.

Everything that can be known in advance is known in ``setup`` (not timed): the byte range of
every needed tile (parsed from the physical COGs' headers, i.e. a perfect index), the output
array (preallocated), one obstore ``HTTPStore`` and a decode thread pool of one thread per
core. The timed ``run`` then only

1. issues one ``get_range_async`` per file (the needed tiles of a file are adjacent or merged
   into one range: one request per file, like an index-first reader),
2. as each response arrives, submits one task per file to the pool that inflates each tile
   (``imagecodecs.deflate_decode`` into a per-thread scratch buffer, GIL released), undoes the
   horizontal predictor in C (``imagecodecs.delta_decode``) and copies the window part into
   the preallocated output.

No planning, no per-tile Python objects beyond the precomputed tuples, no validity masks. The
result equals every other reader's (same checksum). Kinds: ``window`` only (W1, W5, W6).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.readers._common import Checksum, tiles_for_window

DEFLATE, ADOBE_DEFLATE = 8, 32946


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("obstore", "imagecodecs", "numpy")}


def _file_plan(path: str, window: list[int], size: int) -> dict[str, Any]:
    """Byte range and per-tile (offset in range, length, out slices) for one file."""
    from rasteret_cog import open_header

    lv = open_header(path).levels[0]
    if lv.compression not in (DEFLATE, ADOBE_DEFLATE) or lv.predictor not in (1, 2):
        raise ValueError(f"floor reader handles DEFLATE (+predictor 2) only: {path}")
    per_row = -(-lv.width // lv.tile_width)
    col0, row0 = window[0], window[1]
    tiles = []
    for tx, ty, ys, xs in tiles_for_window(window, lv.tile_width, size):
        i = ty * per_row + tx
        off, n = int(lv.tile_offsets[i]), int(lv.tile_byte_counts[i])
        # where the kept part of this tile lands in the window
        oy = ty * lv.tile_height + ys.start - row0
        ox = tx * lv.tile_width + xs.start - col0
        out_sl = (slice(oy, oy + ys.stop - ys.start), slice(ox, ox + xs.stop - xs.start))
        tiles.append((off, n, ys, xs, out_sl))
    start = min(t[0] for t in tiles)
    end = max(t[0] + t[1] for t in tiles)
    return {
        "start": start,
        "end": end,
        "tiles": [(off - start, n, ys, xs, o) for off, n, ys, xs, o in tiles],
        "tile_shape": (lv.tile_height, lv.tile_width),
        "dtype": lv.dtype,
        "predictor": lv.predictor,
    }


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import imagecodecs  # noqa: F401
    import numpy as np
    from obstore.store import HTTPStore

    if task["kind"] != "window":
        raise ValueError(f"floor reader: {task['kind']} workloads are not implemented")
    window, size = task["window"], task["size"]
    plans: dict[str, dict[str, Any]] = {}
    jobs = []
    for s in task["scenes"]:
        for b in task["bands"]:
            phys = s["physical"][b]
            if phys not in plans:
                plans[phys] = _file_plan(phys, window, size)
            jobs.append((s["keys"][b], plans[phys]))
    dtype = np.dtype(jobs[0][1]["dtype"])
    h, w = min(window[3], size - window[1]), min(window[2], size - window[0])
    out = np.empty((len(jobs), h, w), dtype=dtype)
    store = HTTPStore.from_url(cfg["base_url"], client_options={"allow_http": True})
    cores = os.cpu_count() or 1
    pool = ThreadPoolExecutor(cores)
    list(pool.map(lambda _: None, range(cores)))  # start the threads before the clock
    return {"jobs": jobs, "out": out, "store": store, "pool": pool, "local": threading.local()}


def _decode_file(state: dict[str, Any], k: int, plan: dict[str, Any], data: Any) -> None:
    import imagecodecs
    import numpy as np

    local = state["local"]
    th, tw = plan["tile_shape"]
    scratch = getattr(local, "scratch", None)
    if scratch is None or scratch.shape != (th, tw) or scratch.dtype != state["out"].dtype:
        scratch = local.scratch = np.empty((th, tw), dtype=state["out"].dtype)
    mv = memoryview(data)
    dst = state["out"][k]
    for off, n, ys, xs, out_sl in plan["tiles"]:
        imagecodecs.deflate_decode(mv[off : off + n], out=scratch.reshape(-1).view(np.uint8))
        if plan["predictor"] == 2:
            imagecodecs.delta_decode(scratch, axis=-1, out=scratch)
        dst[out_sl] = scratch[ys, xs]


async def _run(state: dict[str, Any]) -> None:
    import obstore

    loop = asyncio.get_running_loop()
    store, pool = state["store"], state["pool"]

    async def one(k: int, key: str, plan: dict[str, Any]) -> None:
        data = await obstore.get_range_async(store, key, start=plan["start"], end=plan["end"])
        await loop.run_in_executor(pool, _decode_file, state, k, plan, data)

    await asyncio.gather(*(one(k, key, plan) for k, (key, plan) in enumerate(state["jobs"])))


def run(state: dict[str, Any]) -> dict[str, Any]:
    asyncio.run(_run(state))

    def finish() -> dict[str, Any]:
        cs = Checksum()
        cs.add_array(state["out"])
        state["pool"].shutdown()
        return cs.result()

    return {"_finish": finish}
