"""Scale benchmarks: cost growth with collection size, and a 4,000-COG build.

``uv run --group bench python -m bench.scale [--quick] [--sizes 60,600,6000] [--big 4000]
[--latency 40] [--runs 5] [--build-runs 5] [--readers ours,rasteret-0.4.1]``

- **Cost growth.** For N records (2 bands each, spread over the same two years: the
  collection's year/month partitions stay 24 whatever N) of the time-series COGs (2048², 512-px tiles;
  URLs ``perf/scale/S{i}_{band}.tif`` aliasing the 8 physical files per band by symlinks):
  the persisted build (``build_from_table(..., enrich_cog=True, workspace_dir=...)``), the
  index size on disk, then in fresh processes ``rasteret.load`` (the second of the process,
  after a first one, with the library's lazy imports, reported apart, and a one-record warm-up
  read), ``subset(bbox=AOI,
  date_range=first 10 % of the two years)`` + ``len`` (a lazy subset is not a cost), and
  ``get_numpy`` of the W1 AOI (1 tile per file) over that 10 %. Builds: the median of
  ``--build-runs`` fresh builds (every sample kept in ``build_samples_s``); load / subset /
  read: median of ``--runs`` processes.
- **Big build.** ``--big`` COGs of 10980² px, 256-px tiles, 4 overviews (``perf/bigscale/...``
  aliasing one physical file): persisted build time (median of ``--build-runs``), peak RSS of
  the process, index bytes.

Every step runs in its own process (``python -m bench.scale child SPEC.json``) against the
object server at ``--latency`` ms; peak RSS is the child's ``VmHWM``. Results:
``bench/results/scale[-quick]/scale.json`` (read by the report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import corpus, server, venvs
from bench.corpus import BUCKET, CorpusSpec
from bench.runner import RESULTS_DIR, code_key, run_child


def _link_many(spec: CorpusSpec, prefix: str, n: int, big: bool) -> None:
    for i in range(n):
        for b in spec.bands:
            target = corpus.big_physical(spec) if big else corpus.ts_physical(spec, i, b)
            corpus._link(spec.root / BUCKET / prefix / f"{corpus.scene_id(i)}_{b}.tif", target)


SPAN_DAYS = 730  # every collection covers two years, however many records it holds
T0 = dt.datetime(2024, 1, 1)


def _when(i: int, n: int) -> dt.datetime:
    """Record ``i`` of ``n``: evenly spread over SPAN_DAYS (many records per day at 6,000, like
    the tiles of a constellation), so the year/month partitions stay 24 at every size."""
    return T0 + dt.timedelta(seconds=int(i * SPAN_DAYS * 86400 / n))


def _scenes(spec: CorpusSpec, prefix: str, n: int, bbox: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "id": corpus.scene_id(i),
            "datetime": _when(i, n).isoformat(),
            "keys": {b: f"{BUCKET}/{prefix}/{corpus.scene_id(i)}_{b}.tif" for b in spec.bands},
            "bbox": bbox,
        }
        for i in range(n)
    ]


# ----------------------------------------------------------------------------------- child


def _child(spec_path: str) -> int:
    from bench.readers import api
    from bench.worker import peak_rss_mb

    job = json.loads(Path(spec_path).read_text())
    out: dict[str, Any] = {"ok": False}
    try:
        import numpy as np

        import rasteret

        backend = api.make_backend(job["base_url"])
        if job["op"] == "build":
            api.warm_build(job["scenes"][:1], job["bands"], backend)
            table = api.record_table(job["scenes"], job["bands"])
            ws = Path(job["workspace"])
            shutil.rmtree(ws, ignore_errors=True)
            t = time.monotonic()
            rasteret.build_from_table(
                table,
                name=job["name"],
                workspace_dir=str(ws),
                enrich_cog=True,
                band_codes=job["bands"],
                backend=backend,
            )
            out["build_s"] = time.monotonic() - t
            out["build_peak_mb"] = peak_rss_mb()  # before the index is read back below
            out["index_bytes"] = sum(p.stat().st_size for p in ws.rglob("*") if p.is_file())
            out["index_files"] = sum(1 for p in ws.rglob("*.parquet"))
            # in-memory Arrow size of the whole index: aliased URLs share identical headers,
            # which Parquet compresses away; the Arrow size is what real (distinct) headers cost
            col = rasteret.load(str(ws / f"{job['name']}_records"))
            out["arrow_bytes"] = col.dataset.to_table().nbytes
            out["rows"] = len(table)
        else:
            path = str(Path(job["workspace"]) / f"{job['name']}_records")
            t = time.monotonic()
            rasteret.load(path)  # first load of the process: includes lazy imports
            out["first_load_s"] = time.monotonic() - t
            api.warm_read(path, {**job, "scenes": job["first"]}, job["base_url"])
            t0 = time.monotonic()
            col = rasteret.load(path)
            t1 = time.monotonic()
            view = col.subset(bbox=tuple(job["lonlat_bbox"]), date_range=tuple(job["date_range"]))
            n = len(view)
            t2 = time.monotonic()
            arr = view.get_numpy(
                geometries=tuple(job["bounds"]),
                bands=job["bands"],
                geometry_crs=job["epsg"],
                backend=backend,
            )
            t3 = time.monotonic()
            out.update(
                load_s=t1 - t0,
                subset_s=t2 - t1,
                read_s=t3 - t2,
                subset_rows=n,
                checksum=f"{int(arr.sum(dtype=np.uint64))}/{arr.size}",
            )
        out["ok"] = True
    except Exception as exc:
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}"[:1500]
        out["traceback"] = traceback.format_exc()[-3000:]
    out["maxrss_mb"] = peak_rss_mb()
    sys.stdout.write("SCALE-RESULT " + json.dumps(out) + "\n")
    return 0


# ---------------------------------------------------------------------------------- parent


def _run_child(python: str, job: dict[str, Any], tmp: Path, timeout: float) -> dict[str, Any]:
    p = tmp / "job.json"
    p.write_text(json.dumps(job))
    return run_child(python, ["bench.scale", "child", str(p)], "SCALE-RESULT ", timeout)


def _pythons(names: list[str]) -> dict[str, str]:
    out = {}
    for n in names:
        if n == "ours":
            out[n] = sys.executable
        elif n == "rasteret-0.4.1":
            py, why = venvs.ensure("rasteret041")
            if py is None:
                print("rasteret 0.4.1 skipped:", why)
            else:
                out[n] = str(py)
        else:
            raise SystemExit(f"unknown reader {n!r} (ours, rasteret-0.4.1)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="sizes 6,60 and a 40-COG big build")
    p.add_argument("--sizes", default=None, help="records per collection, default 60,600,6000")
    p.add_argument("--big", type=int, default=None, help="COGs in the big build (default 4000)")
    p.add_argument("--latency", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument(
        "--build-runs",
        type=int,
        default=5,
        help="fresh builds per collection, the median reported",
    )
    p.add_argument("--readers", default="ours,rasteret-0.4.1")
    p.add_argument("--timeout", type=float, default=1800.0)
    a = p.parse_args(argv)
    if a.quick and a.runs == 5:
        a.runs = 2
    spec = corpus.QUICK if a.quick else corpus.FULL
    sizes = [int(x) for x in (a.sizes or ("6,60" if a.quick else "60,600,6000")).split(",")]
    n_big = a.big if a.big is not None else (40 if a.quick else 4000)
    pythons = _pythons([x.strip() for x in a.readers.split(",") if x.strip()])
    root = corpus.ensure(spec)
    _link_many(spec, "scale", max(sizes), big=False)
    _link_many(spec, "bigscale", -(-n_big // len(spec.bands)), big=True)
    from bench.workloads import _bounds, _lonlat_bbox

    w1_win = [100, 300, 120, 120]
    bounds = _bounds(w1_win)
    ts_bbox = _lonlat_bbox(spec.size)
    aoi_lonlat = _aoi_lonlat(bounds)
    out_dir = RESULTS_DIR / ("scale-quick" if a.quick else "scale")
    out_dir.mkdir(parents=True, exist_ok=True)
    ws_root = root.parent / "scale-collections" / code_key()
    doc: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "latency_ms": a.latency,
        "runs": a.runs,
        "build_runs": a.build_runs,
        "loadavg_start": os.getloadavg(),
        "growth": [],
        "big": [],
    }
    with server.start(
        root, out_dir / "server.jsonl", latency_ms=a.latency, lifetime_s=a.timeout * 4
    ) as srv:
        common = {
            "base_url": srv.base_url,
            "bands": list(spec.bands),
            "epsg": corpus.EPSG,
            "bounds": bounds,
            "lonlat_bbox": aoi_lonlat,
        }
        for n in sizes:
            scenes = _scenes(spec, "scale", n, ts_bbox)
            # the first 10 % of the span: 73 days, both ends inclusive
            date_range = [
                T0.date().isoformat(),
                (T0 + dt.timedelta(days=SPAN_DAYS // 10 - 1)).date().isoformat(),
            ]
            for who, py in pythons.items():
                ws = ws_root / who / f"ts{n}"
                job = {**common, "op": "build", "scenes": scenes, "name": f"ts{n}"}
                job["workspace"] = str(ws)
                b, reqs = _builds(py, job, out_dir, a, srv)
                print(f"  growth {n:>6} {who:<15} build {_fmt(b, 'build_s')}  req={reqs}")
                row: dict[str, Any] = {"records": n, "reader": who, "build": b, "requests": reqs}
                qs = []
                if b.get("ok"):
                    q = {**common, "op": "query", "name": f"ts{n}", "workspace": str(ws)}
                    q["date_range"] = date_range
                    q["first"] = scenes[:1]
                    for _ in range(a.runs):
                        qs.append(_run_child(py, q, out_dir, a.timeout))
                        print(
                            f"  growth {n:>6} {who:<15} load {_fmt(qs[-1], 'load_s')} "
                            f"subset {_fmt(qs[-1], 'subset_s')} read {_fmt(qs[-1], 'read_s')} "
                            f"rows {qs[-1].get('subset_rows')}"
                        )
                row["queries"] = qs
                row["median"] = _medians(qs)
                doc["growth"].append(row)
        big_scenes = _scenes(spec, "bigscale", -(-n_big // len(spec.bands)), ts_bbox)
        for who, py in pythons.items():
            ws = ws_root / who / f"big{n_big}"
            job = {**common, "op": "build", "scenes": big_scenes, "name": f"big{n_big}"}
            job["workspace"] = str(ws)
            b, reqs = _builds(py, job, out_dir, a, srv)
            print(f"  big build {n_big} COGs {who:<15} {_fmt(b, 'build_s')}  req={reqs}")
            doc["big"].append({"cogs": n_big, "reader": who, "build": b, "requests": reqs})
            shutil.rmtree(ws, ignore_errors=True)
    doc["loadavg_end"] = os.getloadavg()
    (out_dir / "scale.json").write_text(json.dumps(doc, indent=1))
    print(f"-> {out_dir / 'scale.json'}")
    return 0


def _builds(
    python: str, job: dict[str, Any], tmp: Path, a: argparse.Namespace, srv: Any
) -> tuple[dict[str, Any], float]:
    """``a.build_runs`` fresh builds of ``job`` (each child starts from an empty workspace):
    the median sample (its peak RSS and index sizes with it, every build time in
    ``build_samples_s``) and the requests of one build (the mean over the builds)."""
    samples = []
    t0 = time.monotonic()
    for _ in range(max(1, a.build_runs)):
        samples.append(_run_child(python, job, tmp, a.timeout))
        if not samples[-1].get("ok"):
            return samples[-1], srv.window(t0, time.monotonic())["requests"] / len(samples)
    reqs = srv.window(t0, time.monotonic())["requests"] / len(samples)
    ranked = sorted(samples, key=lambda s: s["build_s"])
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["build_samples_s"] = [s["build_s"] for s in samples]
    return median, reqs


def _aoi_lonlat(bounds: list[float]) -> list[float]:
    from pyproj import Transformer

    tr = Transformer.from_crs(corpus.EPSG, 4326, always_xy=True)
    x0, y0, x1, y1 = bounds
    xs, ys = tr.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return [min(xs), min(ys), max(xs), max(ys)]


def _fmt(r: dict[str, Any], k: str) -> str:
    return f"{r[k]:.3f} s" if r.get("ok") else f"FAILED {r.get('error', '')[:200]}"


def _medians(qs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [q for q in qs if q.get("ok")]
    if not ok:
        return {}
    return {
        k: statistics.median(q[k] for q in ok)
        for k in ("first_load_s", "load_s", "subset_s", "read_s", "maxrss_mb")
    } | {"subset_rows": ok[0]["subset_rows"], "checksums": sorted({q["checksum"] for q in ok})}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        raise SystemExit(_child(sys.argv[2]))
    raise SystemExit(main())
