"""async-geotiff (developmentseed; Rust core over async-tiff) + obstore ``HTTPStore``.

The timed region opens every file (``GeoTIFF.open``, default 32 KiB prefetch: one request for
these headers) and then reads the window of each (``GeoTIFF.read(window=...)``: async-tiff
fetches the tiles, decodes them on its Rust thread pool and async-geotiff stitches the
window), all files under one ``asyncio.gather`` per phase. Phases ``open_s`` / ``read_s`` are
reported apart: the issue compares our read with ``read_s`` and our header indexing with
``open_s``. W4 is the open phase alone over the 400 big-header COGs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.readers._common import Checksum


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("async-geotiff", "async-tiff", "obstore")}


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import async_geotiff  # noqa: F401
    import numpy  # noqa: F401
    from obstore.store import HTTPStore

    if task["kind"] not in ("window", "headers"):
        raise ValueError(f"async-geotiff reader: {task['kind']} is not implemented")
    store = HTTPStore.from_url(cfg["base_url"], client_options={"allow_http": True})
    keys = [s["keys"][b] for s in task["scenes"] for b in task["bands"]]
    return {"task": task, "store": store, "keys": keys}


async def _run(state: dict[str, Any]) -> dict[str, Any]:
    from async_geotiff import GeoTIFF, Window

    task, store = state["task"], state["store"]
    t0 = time.monotonic()
    tiffs = await asyncio.gather(*(GeoTIFF.open(k, store=store) for k in state["keys"]))
    t1 = time.monotonic()
    if task["kind"] == "headers":
        cs = Checksum()
        for g in tiffs:
            ifd = g.ifd
            cs.add_value(
                ifd.image_width * ifd.image_height
                + ifd.tile_width * ifd.tile_height
                + len(ifd.tile_offsets)
            )
        return {**cs.result(), "phases": {"open_s": t1 - t0}}
    col, row, w, h = task["window"]
    win = Window(col_off=col, row_off=row, width=w, height=h)
    arrays = await asyncio.gather(*(g.read(window=win) for g in tiffs))
    t2 = time.monotonic()

    def finish() -> dict[str, Any]:
        cs = Checksum()
        for a in arrays:
            cs.add_array(a.data)
        return cs.result()

    return {"phases": {"open_s": t1 - t0, "read_s": t2 - t1}, "_finish": finish}


def run(state: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_run(state))
