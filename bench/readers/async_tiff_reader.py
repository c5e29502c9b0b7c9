"""async-tiff (developmentseed, Rust core) + obstore ``HTTPStore``.

Variants: ``cold`` (``TIFF.open`` + ``fetch_tiles`` + ``decode`` for every file, all under one
``asyncio.gather``) and ``warm`` (TIFFs opened in ``setup``, before the clock: an in-process
index, async-tiff's best case). The caller computes tile indices and crops (async-tiff has no
window read). W4 is ``TIFF.open`` with the default 32 KiB prefetch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.readers._common import Checksum, pixel_of, tiles_for_window

PREFETCH = 32768


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("async-tiff", "obstore")}


def _keys(task: dict[str, Any]) -> list[str]:
    return sorted({s["keys"][b] for s in task["scenes"] for b in task["bands"]})


async def _open_all(store: Any, keys: list[str]) -> dict[str, Any]:
    from async_tiff import TIFF

    tiffs = await asyncio.gather(*(TIFF.open(k, store=store, prefetch=PREFETCH) for k in keys))
    return dict(zip(keys, tiffs))


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import async_tiff  # noqa: F401
    import numpy  # noqa: F401
    from obstore.store import HTTPStore

    store = HTTPStore.from_url(cfg["base_url"], client_options={"allow_http": True})
    state = {"task": task, "store": store, "tiffs": None}
    if cfg.get("variant") == "warm" and task["kind"] != "headers":
        state["tiffs"] = asyncio.run(_open_all(store, _keys(task)))
    return state


async def _tiff(state: dict[str, Any], key: str) -> Any:
    from async_tiff import TIFF

    if state["tiffs"] is not None:
        return state["tiffs"][key]
    return await TIFF.open(key, store=state["store"], prefetch=PREFETCH)


async def _window_sum(state: dict[str, Any], key: str, window: list[int], cs: Checksum) -> None:
    import numpy as np

    tiff = await _tiff(state, key)
    ifd = tiff.ifds[0]
    size, tile = ifd.image_width, ifd.tile_width
    plan = tiles_for_window(window, tile, size)
    tiles = await tiff.fetch_tiles([(tx, ty) for tx, ty, _, _ in plan], 0)
    arrays = await asyncio.gather(*(t.decode() for t in tiles))
    for (_, _, ys, xs), arr in zip(plan, arrays):
        a = np.asarray(arr)
        a = a.reshape(a.shape[-3], a.shape[-2]) if a.ndim == 3 and a.shape[-1] == 1 else a
        if a.ndim == 3:  # (bands, h, w)
            a = a[0]
        cs.add_array(a[ys, xs])


async def _run(state: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    task = state["task"]
    cs = Checksum()
    kind = task["kind"]
    if kind == "window":
        await asyncio.gather(
            *(
                _window_sum(state, s["keys"][b], task["window"], cs)
                for s in task["scenes"]
                for b in task["bands"]
            )
        )
    elif kind == "chips":
        chips = task["chips"]
        for i in range(0, len(chips), task["batch"]):
            await asyncio.gather(
                *(
                    _window_sum(state, task["scenes"][c["scene"]]["keys"][b], c["window"], cs)
                    for c in chips[i : i + task["batch"]]
                    for b in task["bands"]
                )
            )
    elif kind == "points":
        pix = [pixel_of(x, y, task["origin"], task["res"]) for x, y in zip(task["xs"], task["ys"])]

        async def sample(key: str) -> None:
            tiff = await _tiff(state, key)
            tile = tiff.ifds[0].tile_width
            by_tile: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for c, r in pix:
                by_tile.setdefault((c // tile, r // tile), []).append((c % tile, r % tile))
            xy = list(by_tile)
            tiles = await tiff.fetch_tiles(xy, 0)
            arrays = await asyncio.gather(*(t.decode() for t in tiles))
            for txy, arr in zip(xy, arrays):
                a = np.asarray(arr).reshape(tile, tile)
                for c, r in by_tile[txy]:
                    cs.add_value(a[r, c])

        await asyncio.gather(*(sample(s["keys"][b]) for s in task["scenes"] for b in task["bands"]))
    elif kind == "headers":
        tiffs = await _open_all(state["store"], _keys(task))
        for t in tiffs.values():
            ifd = t.ifds[0]
            cs.add_value(
                ifd.image_width * ifd.image_height
                + ifd.tile_width * ifd.tile_height
                + len(ifd.tile_offsets)
            )
        # every (scene, band) pair counts, as for the other readers
        n_pairs = len(task["scenes"]) * len(task["bands"])
        if n_pairs != len(tiffs):
            raise ValueError("W4 expects one URL per (scene, band)")
    else:
        raise ValueError(kind)
    return cs.result()


def run(state: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_run(state))
