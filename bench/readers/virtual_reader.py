"""VirtualiZarr + virtual-tiff -> icechunk: the persisted-index peer (own venv ``virtual``).

Index ("build"): ``open_virtual_mfdataset`` over the COG URLs with the ``VirtualTIFF(ifd=0)``
parser (full resolution only: less work than our index, which keeps every band's tile table
and georeferencing), one variable per band concatenated along ``time``, written with
``vds.vz.to_icechunk`` into a local-filesystem icechunk repository and committed. Tuning: the
per-file parse runs on a 64-thread pool (``parallel=ThreadPoolExecutor(64)``; the parser
blocks a thread per file on its header fetch), chunk references point at the loopback
server's HTTP URLs through an ``http_store`` virtual chunk container, and the repository's
storage concurrency is set to one request per chunk (icechunk's default splits each ~200 KB
tile into ~5 concurrent ranges).

Read: open the repository read-only, ``xr.open_zarr`` (no dask), ``isel`` the window of every
band and ``.values``; zarr's async concurrency is raised to 128 so a band's 60 chunk fetches
go out at once, and the two bands load on two threads.

- W4 times the build (every file parsed, manifests written and committed).
- W1 builds the index in ``setup`` (reported as the ``index_build_s`` phase, not in the wall
  time) and times open + read (phases ``open_s`` / ``read_s``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.readers._common import Checksum

PARSE_THREADS = 64
ZARR_CONCURRENCY = 128


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        p: version(p)
        for p in ("virtualizarr", "virtual-tiff", "icechunk", "zarr", "xarray", "obstore")
    }


def _container(base: str) -> tuple[Any, Any]:
    import icechunk

    cfg = icechunk.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(base + "/", icechunk.http_store({"allow_http": "true"}))
    )
    # one request per chunk: by default icechunk splits a ~200 KB chunk into ~5 concurrent
    # ranges (600 requests for W1's 120 tiles instead of 120)
    cfg.storage = icechunk.StorageSettings(
        concurrency=icechunk.StorageConcurrencySettings(
            max_concurrent_requests_for_object=1, ideal_concurrent_request_size=64 << 20
        )
    )
    creds = icechunk.containers_credentials({base + "/": icechunk.credentials.HttpAccess})
    return cfg, creds


def build(task: dict[str, Any], base: str, repo_dir: Path) -> None:
    """Parse every COG header and persist the virtual dataset as an icechunk commit."""
    import icechunk
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import HTTPStore
    from virtual_tiff import VirtualTIFF
    from virtualizarr import open_virtual_mfdataset

    store = HTTPStore.from_url(base, client_options={"allow_http": True})
    registry = ObjectStoreRegistry({base: store})
    per_band = []
    with ThreadPoolExecutor(PARSE_THREADS) as pool:
        for b in task["bands"]:
            urls = [f"{base}/{s['keys'][b]}" for s in task["scenes"]]
            vds = open_virtual_mfdataset(
                urls,
                registry=registry,
                parser=VirtualTIFF(ifd=0),
                concat_dim="time",
                combine="nested",
                coords="minimal",
                compat="override",
                parallel=pool,
            )
            per_band.append(vds.rename({"0": b}))
    vds = xr.merge(per_band, compat="override")
    cfg, creds = _container(base)
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(repo_dir)),
        cfg,
        authorize_virtual_chunk_access=creds,
    )
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("index")


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import warnings

    import icechunk  # noqa: F401
    import numpy  # noqa: F401
    import virtual_tiff  # noqa: F401
    import virtualizarr  # noqa: F401
    import xarray  # noqa: F401
    import zarr

    warnings.filterwarnings("ignore")
    zarr.config.set({"async.concurrency": ZARR_CONCURRENCY})
    if task["kind"] not in ("window", "headers"):
        raise ValueError(f"virtualizarr reader: {task['kind']} is not implemented")
    state: dict[str, Any] = {"task": task, "base": cfg["base_url"], "phases": {}}
    state["dir"] = Path(tempfile.mkdtemp(prefix="bench-icechunk-"))
    if task["kind"] == "window":
        t = time.monotonic()
        build(task, state["base"], state["dir"] / "repo")
        state["phases"]["index_build_s"] = time.monotonic() - t
    return state


def _read(state: dict[str, Any]) -> Any:
    import icechunk
    import numpy as np
    import xarray as xr

    task = state["task"]
    t0 = time.monotonic()
    _, creds = _container(state["base"])
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(state["dir"] / "repo")),
        authorize_virtual_chunk_access=creds,
    )
    ds = xr.open_zarr(
        repo.readonly_session("main").store, consolidated=False, zarr_format=3, chunks=None
    )
    t1 = time.monotonic()
    col, row, w, h = task["window"]

    def band(b: str) -> Any:
        return ds[b].isel(y=slice(row, row + h), x=slice(col, col + w)).values

    with ThreadPoolExecutor(len(task["bands"])) as pool:
        arrays = list(pool.map(band, task["bands"]))
    t2 = time.monotonic()
    state["phases"].update(open_s=t1 - t0, read_s=t2 - t1)
    return np.stack(arrays, axis=1)


def run(state: dict[str, Any]) -> dict[str, Any]:
    task = state["task"]
    if task["kind"] == "headers":
        t = time.monotonic()
        build(task, state["base"], state["dir"] / "repo")
        state["phases"]["build_s"] = time.monotonic() - t

        def finish_build() -> dict[str, Any]:
            import icechunk
            import xarray as xr

            _, creds = _container(state["base"])
            repo = icechunk.Repository.open(
                icechunk.local_filesystem_storage(str(state["dir"] / "repo")),
                authorize_virtual_chunk_access=creds,
            )
            ds = xr.open_zarr(
                repo.readonly_session("main").store, consolidated=False, zarr_format=3
            )
            cs = Checksum()
            for b in task["bands"]:
                v = ds[b]
                h, w = v.shape[-2:]
                th, tw = v.encoding.get("chunks", v.encoding.get("preferred_chunks"))[-2:]
                n_tiles = -(-h // th) * -(-w // tw)
                for _ in range(v.shape[0]):
                    cs.add_value(h * w + th * tw + n_tiles)
            size = sum(p.stat().st_size for p in state["dir"].rglob("*") if p.is_file())
            shutil.rmtree(state["dir"], ignore_errors=True)
            return {**cs.result(), "index_bytes": size}

        return {"phases": state["phases"], "_finish": finish_build}
    data = _read(state)

    def finish() -> dict[str, Any]:
        cs = Checksum()
        cs.add_array(data)
        shutil.rmtree(state["dir"], ignore_errors=True)
        return cs.result()

    return {"phases": state["phases"], "_finish": finish}
