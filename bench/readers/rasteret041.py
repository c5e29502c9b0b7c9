"""rasteret 0.4.1 from PyPI, run in its own Python 3.12 venv (``bench/.venvs/rasteret041``).

The same module, run in the workspace interpreter (reader ``ours-api``), exercises *our* meta
package through the identical public calls: the drop-in-replacement path a 0.4.1 user takes.

Its obstore backend reads the loopback server as S3 path-style (``s3://perf/...`` hrefs with
``create_backend(default_s3_config={"endpoint": ..., "skip_signature": "true", ...})``).

- W4 times ``build_from_table(table, enrich_cog=True)`` (nothing persisted).
- W1/W2/W3/W5 read a collection built once by the same call and cached in the corpus
  directory (its own workspace cache); ``setup`` loads it (not timed, like ours).
"""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path
from typing import Any

from bench.readers._common import Checksum, header_checksum


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("rasteret", "rasterio", "obstore")}


def _wkb_box(b: list[float]) -> bytes:
    x0, y0, x1, y1 = b
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)


def _record_table(task: dict[str, Any]) -> Any:
    import pyarrow as pa

    scenes = task["scenes"]
    return pa.table(
        {
            "id": [s["id"] for s in scenes],
            "datetime": pa.array(
                [dt.datetime.fromisoformat(s["datetime"]) for s in scenes], pa.timestamp("us")
            ),
            "geometry": pa.array([_wkb_box(s["bbox"]) for s in scenes], pa.binary()),
            "assets": [
                {b: {"href": f"s3://{s['keys'][b]}"} for b in task["bands"]} for s in scenes
            ],
        }
    )


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    import rasteret

    backend = rasteret.create_backend(
        default_s3_config={
            "endpoint": cfg["base_url"],
            "skip_signature": "true",
            "allow_http": "true",
            "region": "us-east-1",
        }
    )
    state: dict[str, Any] = {"task": task, "backend": backend, "table": _record_table(task)}
    if task["kind"] != "headers":
        # variant "api": the same calls against *our* meta package (drop-in API), own cache
        ws = Path(cfg["cache_dir"]) / ("ours-api" if cfg.get("variant") == "api" else "rasteret041")
        col = rasteret.build_from_table(
            state["table"],
            name=f"ts{len(task['scenes'])}",
            workspace_dir=str(ws),
            enrich_cog=True,
            band_codes=task["bands"],
            backend=backend,
        )
        state["collection"] = col
    return state


def run(state: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    import rasteret

    task, backend = state["task"], state["backend"]
    cs = Checksum()
    kind = task["kind"]
    if kind == "headers":
        col = rasteret.build_from_table(
            state["table"], enrich_cog=True, band_codes=task["bands"], backend=backend
        )
        return header_checksum(col.dataset.to_table(), task["bands"]).result()
    col = state["collection"]
    if kind == "window":
        ids = [s["id"] for s in task["scenes"]]
        view = col.where(pc.field("id").isin(ids))
        arr = view.get_numpy(
            geometries=tuple(task["bounds"]),
            bands=task["bands"],
            geometry_crs=task["epsg"],
            backend=backend,
        )
        cs.add_array(arr)
    elif kind == "chips":
        scenes = task["scenes"]
        for c in task["chips"]:
            arr = col.read_window(
                record_ids=[scenes[c["scene"]]["id"]],
                bounds=tuple(c["bounds"]),
                res=(task["res"], task["res"]),
                bands=task["bands"],
                backend=backend,
            )
            cs.add_array(arr)
    elif kind == "points":
        ids = [s["id"] for s in task["scenes"]]
        view = col.where(pc.field("id").isin(ids))
        pts = pa.table({"x": task["xs"], "y": task["ys"]})
        out = view.sample_points(
            points=pts,
            bands=task["bands"],
            x_column="x",
            y_column="y",
            geometry_crs=task["epsg"],
            backend=backend,
        )
        for v in out.column("value").to_pylist():
            cs.add_value(v)
    else:
        raise ValueError(kind)
    _ = np
    return cs.result()
