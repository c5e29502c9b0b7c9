"""The public rasteret API, exactly as a user calls it: ``rasteret.load`` + ``get_numpy`` & co.

The same module serves two readers:

- **ours** (the workspace interpreter): our meta package;
- **rasteret-0.4.1** (its own Python 3.12 venv, ``bench/.venvs/rasteret041``): PyPI 0.4.1.

Hrefs are ``s3://perf/...`` and every call passes the same backend:
``create_backend(default_s3_config={"endpoint": <loopback server>, "skip_signature": "true",
...})``, so a persisted collection does not depend on the server's port.

- Reads (W1, W2, W3, W5, W6): the collection is built once per library and code version with
  ``build_from_table(..., enrich_cog=True, workspace_dir=...)`` (persisted Parquet, cached
  under the corpus directory). The timed region is ``rasteret.load(path)`` (+ ``subset`` for
  W6) + the read call, as in a user's script (phases ``load_s`` / ``read_s``).
- W4 times ``build_from_table(table, name=..., workspace_dir=tmp, enrich_cog=True)``: the
  persisted build (headers fetched and parsed, Parquet written); the checksum is computed
  from the written collection after the clock. A one-record in-memory build in ``setup``
  does the lazy imports.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.readers._common import Checksum, header_checksum


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("rasteret", "obstore", "pyarrow")}


def _wkb_box(b: list[float]) -> bytes:
    x0, y0, x1, y1 = b
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)


def record_table(scenes: list[dict[str, Any]], bands: list[str]) -> Any:
    """The STAC-like record table a user would start a build from (one row per scene)."""
    import pyarrow as pa

    return pa.table(
        {
            "id": [s["id"] for s in scenes],
            "datetime": pa.array(
                [dt.datetime.fromisoformat(s["datetime"]) for s in scenes], pa.timestamp("us")
            ),
            "geometry": pa.array([_wkb_box(s["bbox"]) for s in scenes], pa.binary()),
            "assets": [{b: {"href": f"s3://{s['keys'][b]}"} for b in bands} for s in scenes],
        }
    )


def make_backend(base_url: str) -> Any:
    import rasteret

    return rasteret.create_backend(
        default_s3_config={
            "endpoint": base_url,
            "skip_signature": "true",
            "allow_http": "true",
            "region": "us-east-1",
        }
    )


def _index_scenes(task: dict[str, Any]) -> list[dict[str, Any]]:
    return task.get("collection") or task["scenes"]


def index_path(task: dict[str, Any], cfg: dict[str, Any]) -> Path:
    """Where this library's persisted collection for ``task`` lives (keyed by code version)."""
    import hashlib

    who = "ours-" + cfg.get("code_key", "dev") if cfg.get("variant") != "041" else "041"
    scenes = _index_scenes(task)
    # keyed by the records it holds, so workloads over the same scenes share one index
    digest = hashlib.sha1(
        json.dumps([[s["id"], s["datetime"], s["keys"]] for s in scenes]).encode()
    ).hexdigest()[:10]
    name = f"c{len(scenes)}x{len(task['bands'])}-{digest}"
    return Path(cfg["cache_dir"]) / "collections" / who / f"{name}_records"


def ensure_index(task: dict[str, Any], cfg: dict[str, Any], backend: Any) -> Path:
    import rasteret

    path = index_path(task, cfg)
    if not path.exists():
        tmp = path.with_name(path.name + f".tmp{time.time_ns()}_records")
        rasteret.build_from_table(
            record_table(_index_scenes(task), task["bands"]),
            name=path.name.removesuffix("_records"),
            workspace_dir=str(tmp),
            enrich_cog=True,
            band_codes=task["bands"],
            backend=backend,
        )
        tmp.rename(path)
    return path


def prepare(task: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Build (once) the persisted collection the read workloads load."""
    if task["kind"] != "headers":
        ensure_index(task, cfg, make_backend(cfg["base_url"]))


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    import rasteret  # noqa: F401  (0.4.1 imports everything here)

    backend = make_backend(cfg["base_url"])
    state: dict[str, Any] = {"task": task, "backend": backend, "cfg": cfg}
    if task["kind"] == "headers":
        state["table"] = record_table(task["scenes"], task["bands"])
        state["tmp"] = Path(tempfile.mkdtemp(prefix="bench-w4-"))
        warm_build(task["scenes"][:1], task["bands"], backend)
    else:
        state["path"] = str(ensure_index(task, cfg, backend))
        warm_read(state["path"], task, cfg["base_url"], cfg.get("variant", ""))
    return state


def warm_read(path: str, task: dict[str, Any], base_url: str, variant: str = "") -> None:
    """Before the clock: one ``load`` and a one-record read (own backend) so the library's
    lazy imports are done, as in a process that has read before: ``get_numpy``, or
    ``get_xarray`` for the ``"xarray"`` variant."""
    import pyarrow.compute as pc

    import rasteret

    col = rasteret.load(path).where(pc.field("id") == _index_scenes(task)[0]["id"])
    bounds = tuple(task["bounds"]) if "bounds" in task else _full_bounds(task)
    kw = {"bands": task["bands"], "geometry_crs": task["epsg"], "backend": make_backend(base_url)}
    if variant == "xarray":
        col.get_xarray(geometries=bounds, groupby="id", **kw)
    else:
        col.get_numpy(geometries=bounds, **kw)


def _full_bounds(task: dict[str, Any]) -> tuple[float, ...]:
    x0, y1 = task["origin"]
    n = 256 * task["res"]
    return (x0, y1 - n, x0 + n, y1)


def warm_build(scenes: list[dict[str, Any]], bands: list[str], backend: Any) -> None:
    """A one-record, in-memory build before the clock: the lazy imports of a library that
    loads its build path on first use happen here (0.4.1 imports everything up front)."""
    import rasteret

    rasteret.build_from_table(
        record_table(scenes, bands), enrich_cog=True, band_codes=bands, backend=backend
    )


def _read(col: Any, task: dict[str, Any], backend: Any, variant: str = "") -> Any:
    """The read call of each workload kind; returns arrays / values for the checksum
    (variant ``"xarray"``: the window workloads through ``get_xarray``, one step per record)."""
    import pyarrow as pa

    kind = task["kind"]
    if kind == "window" and variant == "xarray":
        cube = col.get_xarray(
            geometries=tuple(task["bounds"]),
            bands=task["bands"],
            geometry_crs=task["epsg"],
            backend=backend,
            groupby="id",
        )
        return [cube[b].values for b in task["bands"]]
    if kind == "window":
        return col.get_numpy(
            geometries=tuple(task["bounds"]),
            bands=task["bands"],
            geometry_crs=task["epsg"],
            backend=backend,
        )
    if kind == "chips":
        scenes = task["scenes"]
        return [
            col.read_window(
                record_ids=[scenes[c["scene"]]["id"]],
                bounds=tuple(c["bounds"]),
                res=(task["res"], task["res"]),
                bands=task["bands"],
                backend=backend,
            )
            for c in task["chips"]
        ]
    if kind == "points":
        pts = pa.table({"x": task["xs"], "y": task["ys"]})
        out = col.sample_points(
            points=pts,
            bands=task["bands"],
            x_column="x",
            y_column="y",
            geometry_crs=task["epsg"],
            backend=backend,
        )
        return out.column("value").to_pylist()
    raise ValueError(kind)


def run(state: dict[str, Any]) -> dict[str, Any]:
    import rasteret

    task, backend = state["task"], state["backend"]
    t0 = time.monotonic()
    if task["kind"] == "headers":
        name = "w4"
        rasteret.build_from_table(
            state["table"],
            name=name,
            workspace_dir=str(state["tmp"]),
            enrich_cog=True,
            band_codes=task["bands"],
            backend=backend,
        )
        build_s = time.monotonic() - t0

        def finish_build() -> dict[str, Any]:
            col = rasteret.load(str(state["tmp"] / f"{name}_records"))
            cs = header_checksum(col.dataset.to_table(), task["bands"])
            size = sum(p.stat().st_size for p in state["tmp"].rglob("*") if p.is_file())
            shutil.rmtree(state["tmp"], ignore_errors=True)
            return {**cs.result(), "index_bytes": size}

        return {"phases": {"build_s": build_s}, "_finish": finish_build}
    col = rasteret.load(state["path"])
    if task.get("date_range"):
        col = col.subset(date_range=tuple(task["date_range"]))
    t1 = time.monotonic()
    data = _read(col, task, backend, state["cfg"].get("variant", ""))
    t2 = time.monotonic()

    def finish() -> dict[str, Any]:
        cs = Checksum()
        if task["kind"] == "points":
            for v in data:
                cs.add_value(v)
        elif task["kind"] == "chips":
            for a in data:
                cs.add_array(a)
        else:
            cs.add_array(data)
        return {**cs.result(), "records_read": len(col)}

    return {"phases": {"load_s": t1 - t0, "read_s": t2 - t1}, "_finish": finish}
