"""The physical floor of each workload (peers.md §3.6), from measured rates on this machine.

    T_min = d x L + max(B / BW, n_tiles x t_tile / cores)

- ``d``: dependency depth of the minimal request plan (1: the index, or one header prefetch
  per file, gives every byte range up front; all requests of a level run concurrently).
- ``L``: the server's first-byte latency.
- ``B``: bytes strictly needed (sum of the needed tiles' byte counts from the headers; for W4
  the header region of each file, i.e. bytes before its first tile).
- ``BW``: loopback throughput of the object server measured at the start of the run.
- ``t_tile``: single-thread decode time of one tile (libdeflate + predictor 2 via imagecodecs,
  the fastest decoder here), measured at the start of the run on this corpus' tiles.
"""

from __future__ import annotations

import http.client
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from bench.readers._common import pixel_of, tiles_for_window


@dataclass(frozen=True)
class Rates:
    t_tile_s: float  # one 512x512 uint16 DEFLATE+pred2 tile, one thread
    t_tile_big_s: float  # one 256x256 tile
    bandwidth_Bps: float
    cores: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _header(path: str) -> Any:
    from rasteret_cog import open_header

    return open_header(path)


def _decode_time(path: str, n: int = 48) -> float:
    import imagecodecs
    import numpy as np

    lv = _header(path).levels[0]
    raws = []
    with open(path, "rb") as fh:
        for i in range(min(n, len(lv.tile_offsets))):
            fh.seek(lv.tile_offsets[i])
            raws.append(fh.read(lv.tile_byte_counts[i]))
    shape = (lv.tile_height, lv.tile_width)
    nbytes = shape[0] * shape[1] * 2
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for raw in raws:
            out = imagecodecs.deflate_decode(raw, out=nbytes)
            arr = np.frombuffer(out, dtype=np.uint16).reshape(shape)
            imagecodecs.delta_decode(arr, axis=1, out=arr.copy())
        best = min(best, (time.perf_counter() - t) / len(raws))
    return best


def _get_all(base_url: str, key: str) -> int:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", "/" + key)
        return len(conn.getresponse().read())
    finally:
        conn.close()


def measure(base_url: str, ts_file: str, big_file: str, keys: list[str]) -> Rates:
    """Decode and bandwidth rates (``base_url``: a 0-latency server)."""
    n = 0
    t = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        n = sum(pool.map(lambda k: _get_all(base_url, k), keys))
    bw = n / (time.perf_counter() - t)
    return Rates(_decode_time(ts_file), _decode_time(big_file), bw, os.cpu_count() or 1)


def plan(task: dict[str, Any]) -> dict[str, Any]:
    """Bytes and tiles the workload strictly needs, from the physical headers."""
    nbytes = 0
    tiles = 0
    kind = task["kind"]

    def add(path: str, xy: list[tuple[int, int]]) -> None:
        nonlocal nbytes, tiles
        lv = _header(path).levels[0]
        per_row = -(-lv.width // lv.tile_width)
        for tx, ty in set(xy):
            nbytes += lv.tile_byte_counts[ty * per_row + tx]
            tiles += 1

    if kind == "window":
        for s in task["scenes"]:
            for b in task["bands"]:
                p = s["physical"][b]
                tile = _header(p).levels[0].tile_width
                add(
                    p,
                    [(x, y) for x, y, _, _ in tiles_for_window(task["window"], tile, task["size"])],
                )
    elif kind == "chips":
        for c in task["chips"]:
            s = task["scenes"][c["scene"]]
            for b in task["bands"]:
                p = s["physical"][b]
                tile = _header(p).levels[0].tile_width
                add(p, [(x, y) for x, y, _, _ in tiles_for_window(c["window"], tile, task["size"])])
    elif kind == "points":
        pix = [pixel_of(x, y, task["origin"], task["res"]) for x, y in zip(task["xs"], task["ys"])]
        for s in task["scenes"]:
            for b in task["bands"]:
                p = s["physical"][b]
                tile = _header(p).levels[0].tile_width
                add(p, [(c // tile, r // tile) for c, r in pix])
    elif kind == "headers":
        for s in task["scenes"]:
            for b in task["bands"]:
                h = _header(s["physical"][b])
                nbytes += min(min(lv.tile_offsets) for lv in h.ifds if lv.tile_offsets)
    return {"bytes": nbytes, "tiles": tiles, "depth": 1}


def floor_s(
    p: dict[str, Any], rates: Rates, latency_ms: float, big: bool = False
) -> dict[str, float]:
    t_tile = rates.t_tile_big_s if big else rates.t_tile_s
    t_lat = p["depth"] * latency_ms / 1000
    t_xfer = p["bytes"] / rates.bandwidth_Bps
    t_cpu = p["tiles"] * t_tile / rates.cores
    return {"t_lat": t_lat, "t_xfer": t_xfer, "t_cpu": t_cpu, "floor": t_lat + max(t_xfer, t_cpu)}
