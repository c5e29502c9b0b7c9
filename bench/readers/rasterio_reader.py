"""rasterio / GDAL ``/vsicurl/`` with the best-practice configuration (peers.md §3.5).

Variants (``cfg["variant"]``): ``seq`` (one dataset at a time) and ``t16`` (a 16-thread pool,
one dataset per task, the stackstac/odc pattern). Cold: no handle survives between runs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.readers._common import Checksum

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "60",
}


def versions() -> dict[str, str]:
    import rasterio

    return {"rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__}


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy  # noqa: F401
    import rasterio  # noqa: F401
    from rasterio.windows import Window  # noqa: F401

    os.environ.update(GDAL_ENV)
    threads = 16 if cfg.get("variant") == "t16" else 1
    return {"task": task, "base": cfg["base_url"], "threads": threads}


def _url(state: dict[str, Any], key: str) -> str:
    return f"/vsicurl/{state['base']}/{key}"


def _map(state: dict[str, Any], fn: Any, items: list[Any]) -> list[Any]:
    if state["threads"] == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(state["threads"]) as pool:
        return list(pool.map(fn, items))


def run(state: dict[str, Any]) -> dict[str, Any]:
    import rasterio
    from rasterio.windows import Window

    task = state["task"]
    cs = Checksum()
    with rasterio.Env(**GDAL_ENV):
        kind = task["kind"]
        if kind == "window":
            win = Window(*task["window"])
            jobs = [(s["keys"][b]) for s in task["scenes"] for b in task["bands"]]

            def read(key: str) -> Any:
                with rasterio.open(_url(state, key)) as src:
                    return src.read(1, window=win)

            for arr in _map(state, read, jobs):
                cs.add_array(arr)
        elif kind == "chips":
            scenes = task["scenes"]

            def chip(c: dict[str, Any]) -> list[Any]:
                out = []
                for b in task["bands"]:
                    with rasterio.open(_url(state, scenes[c["scene"]]["keys"][b])) as src:
                        out.append(src.read(1, window=Window(*c["window"])))
                return out

            chips = task["chips"]
            for i in range(0, len(chips), task["batch"]):
                for arrs in _map(state, chip, chips[i : i + task["batch"]]):
                    for a in arrs:
                        cs.add_array(a)
        elif kind == "points":
            xy = list(zip(task["xs"], task["ys"]))
            jobs = [s["keys"][b] for s in task["scenes"] for b in task["bands"]]

            def sample(key: str) -> list[int]:
                with rasterio.open(_url(state, key)) as src:
                    return [int(v[0]) for v in src.sample(xy)]

            for vals in _map(state, sample, jobs):
                for v in vals:
                    cs.add_value(v)
        elif kind == "headers":
            jobs = [s["keys"][b] for s in task["scenes"] for b in task["bands"]]

            def header(key: str) -> int:
                with rasterio.open(_url(state, key)) as src:
                    tw, th = src.block_shapes[0]
                    ntiles = -(-src.width // tw) * -(-src.height // th)
                    return src.width * src.height + tw * th + ntiles

            for v in _map(state, header, jobs):
                cs.add_value(v)
        else:
            raise ValueError(kind)
    return cs.result()
