"""Header indexing throughput: rasteret-ingest vs rasteret 0.4.1 ``build_from_table(enrich_cog=True)``.

Both index the same record table of ``s3://perf/...`` COG URLs served by the testkit object
server (a separate process, S3 path-style, first-byte latency ``--latency-ms``), with their
default concurrency for table builds (300) and nothing persisted. Reported per run: wall time
of the build call (imports excluded), headers indexed per second and server-side requests per
file (from the server's JSONL log). Runs alternate between the two; the median is reported.

Workloads (from ``bench/.corpus/full``, built by ``bench/corpus.py``):

- ``ts``: 100 scenes x 2 bands = 200 distinct URLs of 2048² COGs with 512-px tiles.
- ``big``: 100 x 2 = 200 distinct URLs of a 10980² COG with 256-px tiles (1849 tiles +
  overviews: a large tile table).

Usage::

    uv run python -m bench.ingest_headers --latency-ms 40 --reps 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import corpus, server, venvs

_OLD_SCRIPT = r"""
import json, sys, time, datetime as dt, struct
cfg = json.loads(sys.stdin.read())
import pyarrow as pa
import rasteret

def box(b):
    x0, y0, x1, y1 = b
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)

rows = cfg["rows"]
table = pa.table({
    "id": [r["id"] for r in rows],
    "datetime": pa.array([dt.datetime.fromisoformat(r["datetime"]) for r in rows], pa.timestamp("us")),
    "geometry": pa.array([box(r["bbox"]) for r in rows], pa.binary()),
    "assets": [{b: {"href": h} for b, h in r["hrefs"].items()} for r in rows],
})
backend = rasteret.create_backend(default_s3_config={
    "endpoint": cfg["base_url"], "skip_signature": "true", "allow_http": "true", "region": "us-east-1"})
t0 = time.monotonic()
col = rasteret.build_from_table(table, enrich_cog=True, band_codes=cfg["bands"], backend=backend)
t1 = time.monotonic()
n = sum(col.dataset.to_table().column(f"{b}_metadata").null_count == 0 for b in cfg["bands"])
print(json.dumps({"t0": t0, "t1": t1, "ok_bands": int(n)}))
"""

BANDS = ("B02", "B03")


def _rows(kind: str, scenes: int) -> list[dict[str, Any]]:
    key = corpus.ts_key if kind == "ts" else corpus.big_key
    return [
        {
            "id": corpus.scene_id(i),
            "datetime": corpus.scene_datetime(i).isoformat(),
            "bbox": [14.9, 45.0, 15.0, 45.1],
            "hrefs": {b: f"s3://{key(i, b)}" for b in BANDS},
        }
        for i in range(scenes)
    ]


def _table(rows: list[dict[str, Any]]) -> Any:
    import datetime as dt

    import pyarrow as pa
    import shapely

    return pa.table(
        {
            "id": [r["id"] for r in rows],
            "datetime": pa.array(
                [dt.datetime.fromisoformat(r["datetime"]) for r in rows], pa.timestamp("us")
            ),
            "geometry": pa.array([shapely.box(*r["bbox"]).wkb for r in rows], pa.binary()),
            "assets": [
                {b: {"href": h, "band_index": 0} for b, h in r["hrefs"].items()} for r in rows
            ],
        }
    )


def run_ours(rows: list[dict[str, Any]], base_url: str) -> tuple[float, float, int]:
    from rasteret_ingest import EnrichOptions, TableSource, build_record_table
    from rasteret_io import create_backend

    backend = create_backend(
        default_s3_config={
            "endpoint": base_url,
            "skip_signature": "true",
            "allow_http": "true",
            "region": "us-east-1",
        }
    )
    table = _table(rows)
    t0 = time.monotonic()
    _out, report = build_record_table(
        TableSource.of(table),
        EnrichOptions(bands=tuple(BANDS), backend=backend, progress=False),
    )
    t1 = time.monotonic()
    assert report is not None and report.failed == 0, report and report.summary()
    return t0, t1, report.succeeded


def run_old(py: Path, rows: list[dict[str, Any]], base_url: str) -> tuple[float, float, int]:
    cfg = {"rows": rows, "bands": list(BANDS), "base_url": base_url}
    proc = subprocess.run(
        [str(py), "-c", _OLD_SCRIPT],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"rasteret 0.4.1 failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["t0"], out["t1"], out["ok_bands"] * len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--latency-ms", type=float, default=40.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--workloads", default="ts,big")
    ap.add_argument("--json", type=Path, default=None, help="write raw results here")
    a = ap.parse_args(argv)

    import pyarrow as pa

    pa.array([{"warm": [1]}])  # pyarrow's one-time conversion init (~1 s) stays out of the timings
    spec = corpus.FULL
    corpus.ensure(spec)
    corpus.warm_page_cache(spec)
    py, why = venvs.ensure("rasteret041")
    if py is None:
        print(f"rasteret 0.4.1 unavailable: {why}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        server.start(spec.root, Path(tmp) / "requests.jsonl", latency_ms=a.latency_ms) as srv,
    ):
        for kind in a.workloads.split(","):
            rows = _rows(kind, a.scenes)
            n_files = len(rows) * len(BANDS)
            for rep in range(a.reps):
                impls = [("rasteret-ingest", lambda r=rows: run_ours(r, srv.base_url))]
                if py is not None:
                    impls.append(("rasteret 0.4.1", lambda r=rows: run_old(py, r, srv.base_url)))
                for name, fn in impls:
                    t0, t1, indexed = fn()
                    w = srv.window(t0, t1)
                    res = {
                        "workload": kind,
                        "impl": name,
                        "rep": rep,
                        "files": n_files,
                        "indexed": indexed,
                        "wall_s": t1 - t0,
                        "headers_per_s": indexed / (t1 - t0),
                        "requests": w["requests"],
                        "requests_per_file": w["requests"] / n_files,
                        "bytes": w["bytes"],
                    }
                    results.append(res)
                    print(json.dumps(res), file=sys.stderr, flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    print(f"\nlatency {a.latency_ms:g} ms, {a.reps} reps, median\n")
    print("| workload | implementation | files | wall s | headers/s | requests/file | MB read |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind in a.workloads.split(","):
        for name in ("rasteret-ingest", "rasteret 0.4.1"):
            rs = [r for r in results if r["workload"] == kind and r["impl"] == name]
            if not rs:
                continue
            wall = statistics.median(r["wall_s"] for r in rs)
            hps = statistics.median(r["headers_per_s"] for r in rs)
            rpf = statistics.median(r["requests_per_file"] for r in rs)
            mb = statistics.median(r["bytes"] for r in rs) / 1e6
            print(
                f"| {kind} | {name} | {rs[0]['files']} | {wall:.2f} | {hps:.0f} | {rpf:.2f} | {mb:.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
