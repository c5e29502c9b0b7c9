"""Dask: lazy ``get_xarray(chunks=...)`` compute time vs the eager read, 100-scene cube.

100 single-band 1024 x 1024 uint16 COGs (256 px tiles, DEFLATE) on one grid, one per date,
served by the testkit object server (subprocess, 40 ms first-byte latency by default). The
AOI covers 900 x 900 px of every scene. Timed: the eager ``get_xarray``, the lazy graph
build (no I/O), and ``.compute()`` with dask's threaded scheduler and with a
``LocalCluster(n_workers=2, threads_per_worker=1)`` for a few chunkings.

    uv run python -m bench.integrations_dask [--scenes 100] [--latency-ms 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

SIZE = 1024
CORPUS = Path(__file__).parent / ".corpus" / "integrations_dask"


def ensure_corpus(n: int) -> Path:
    from rasteret_testkit.cogs import sample_array, write_cog

    CORPUS.mkdir(parents=True, exist_ok=True)
    t = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    for i in range(n):
        path = CORPUS / f"s{i:03d}.tif"
        if not path.exists():
            data = sample_array("uint16", 1, SIZE, SIZE, seed=5000 + i)
            write_cog(path, data, transform=t, nodata=0, blocksize=256)
    return CORPUS


def _table(base: str, n: int) -> Any:
    import pyarrow as pa
    import shapely
    import shapely.ops
    from pyproj import Transformer

    tr = Transformer.from_crs(32633, 4326, always_xy=True)
    xs, ys = tr.transform([500_000, 510_240], [4_989_760, 5_000_000])
    box = shapely.to_wkb(shapely.box(min(xs), min(ys), max(xs), max(ys)))
    t0 = dt.datetime(2024, 1, 1)
    return pa.table(
        {
            "id": [f"s{i:03d}" for i in range(n)],
            "datetime": pa.array(
                [t0 + dt.timedelta(days=3 * i) for i in range(n)], pa.timestamp("us")
            ),
            "geometry": [box] * n,
            "assets": [{"B04": {"href": f"{base}/s{i:03d}.tif"}} for i in range(n)],
        }
    )


def _best(fn: Any, runs: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=100)
    p.add_argument("--latency-ms", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import shapely
    import shapely.ops
    from distributed import Client, LocalCluster
    from pyproj import Transformer

    import rasteret
    from bench.server import start

    corpus = ensure_corpus(args.scenes)
    tr = Transformer.from_crs(32633, 4326, always_xy=True)
    aoi = shapely.ops.transform(
        lambda x, y, z=None: tr.transform(x, y),
        shapely.box(500_500.0, 4_990_500.0, 509_500.0, 4_999_500.0),
    )
    res: dict[str, Any] = {"scenes": args.scenes, "latency_ms": args.latency_ms, "timings_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        srv = start(corpus, Path(tmp) / "log.jsonl", latency_ms=args.latency_ms)
        try:
            coll = rasteret.build_from_table(
                _table(srv.base_url, args.scenes),
                name="daskbench",
                workspace_dir=Path(tmp) / "ws",
                enrich_cog=True,
            )
            eager_t, eager = _best(lambda: coll.get_xarray([aoi], ["B04"]), args.runs)
            res["timings_s"]["eager"] = eager_t
            res["cube"] = dict(eager.sizes)
            print(f"cube {dict(eager.sizes)}; eager get_xarray: {eager_t:.2f} s")
            chunkings = {
                "time=1": {"time": 1},
                "time=10": {"time": 10},
                "time=25,yx=512": {"time": 25, "y": 512, "x": 512},
            }
            cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            client = Client(cluster)
            try:
                for label, chunks in chunkings.items():
                    t = time.perf_counter()
                    lazy = coll.get_xarray([aoi], ["B04"], chunks=chunks)
                    build = time.perf_counter() - t
                    tasks = lazy.B04.data.npartitions
                    thr, out = _best(lambda lz=lazy: lz.compute(scheduler="threads"), args.runs)
                    assert np.array_equal(out.B04.values, eager.B04.values)
                    clu, out = _best(lambda lz=lazy: client.compute(lz).result(), args.runs)
                    assert np.array_equal(out.B04.values, eager.B04.values)
                    res["timings_s"][label] = {
                        "graph_build": build,
                        "tasks": tasks,
                        "threads": thr,
                        "local_cluster_2proc": clu,
                    }
                    print(
                        f"{label:15s} tasks {tasks:4d}  graph {build * 1000:6.1f} ms  "
                        f"threads {thr:6.2f} s  LocalCluster(2) {clu:6.2f} s"
                    )
            finally:
                client.close()
                cluster.close()
        finally:
            srv.stop()
    res["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.out:
        args.out.write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
