"""Record-index collections at scale (issue #14 item 4): index-backed vs the wide data alone.

``uv run python -m bench.record_index [--rows 1000000] [--shards 200] [--bands 64]
[--index-row-group 65536] [--runs 5] [--where local,s3] [--latency-ms 0]
[--out bench/.corpus/record-index] [--save FILE] [--report FILE]``

**Corpus.** ``rasteret_testkit.aef_scale.write_scale_record_index`` (the testkit's AEF-shaped
generator): a narrow ``index.parquet`` (``fid, geom, year, bbox, path, crs, utm_zone,
source_part``; sorted by year then latitude) beside ``data/part-NNNNN.parquet``, the wide
collection data (contract columns + ``bands`` ``{band}_metadata`` structs). It is written
under ``<out>/perf/aef/`` so that ``<out>`` is also the object server's root (bucket
``perf``), and rewritten only when the requested size changes.

**Benchmark.** Each run is a fresh process that opens one side through ``rasteret.load`` of a
registered descriptor (the ``aef/v1-annual`` descriptor with its URIs replaced):

- *index*: ``index_uri`` = the index, ``collection_uri`` = the wide data (a dual-surface
  collection, the descriptor's field roles, band map and filter capabilities);
- *wide*: index and collection both the wide data (a plain Parquet collection).

Steps, each timed: ``open`` (``rasteret.load``), ``len`` (whole collection),
``subset(bbox=one cell, date_range=one year)``, ``len(subset)``, ``head(5)`` of the subset;
then, outside the target, ``read``: ``to_table(["id", "A00_metadata"])`` of the subset (what a
pixel read fetches from the collection data). Bytes per step: ``rchar`` of ``/proc/self/io``
(every byte the process read through ``read``/``pread``, page cache or not; lazy imports are
done before the first step), and on loopback the bytes the object server sent in the step's
time window (its JSONL request log; ``rchar`` does not see socket reads).

*where*: ``local`` files, or ``s3``: the testkit object server
(``python -m rasteret_testkit.objserver``, path-style S3; ``--latency-ms`` delays every
response's first byte) with ``AWS_ENDPOINT_URL`` pointing the catalog's anonymous pyarrow S3
filesystem at it.

Target (issue #14): ``open`` + ``len`` + ``subset`` + ``head`` sub-second, reading < 1 % of
the wide bytes (the size of the wide data on disk).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import CORPUS_DIR

BUCKET = "perf"
PREFIX = "aef"
YEAR = 2021
#: Timed steps (``read`` is reported but not part of the issue's target).
STEPS = ("open", "len", "subset", "len_subset", "head", "read")
TARGET_STEPS = ("open", "len", "subset", "len_subset", "head")


def generate(
    out: Path, rows: int, shards: int, bands: int, index_row_group: int = 65_536
) -> dict[str, Any]:
    """Write the corpus under ``out/perf/aef`` (kept while its size stamp matches)."""
    from rasteret_testkit.aef_scale import write_scale_record_index

    root = out / BUCKET / PREFIX
    stamp = out / "generated.json"
    want = {
        "rows": rows,
        "shards": shards,
        "bands": bands,
        "index_row_group": index_row_group,
        "generator": "aef_scale/1",
    }
    if stamp.exists():
        have = json.loads(stamp.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
    t0 = time.monotonic()
    s = write_scale_record_index(
        root, rows=rows, shards=shards, bands=bands, index_row_group_size=index_row_group
    )
    info = {
        **want,
        "seconds": round(time.monotonic() - t0, 1),
        "index_bytes": s.index_path.stat().st_size,
        "wide_bytes": s.wide_bytes(),
        "small_bbox": list(s.small_bbox()),
        "cell_deg": list(s.cell),
        "years": list(s.years),
    }
    stamp.write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------------------ child

CHILD = r"""
import dataclasses, json, sys, time
job = json.loads(sys.argv[1])

def rchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])

# imports are not what is measured: everything the steps import lazily is imported here
import pyarrow.compute, pyarrow.dataset, pyarrow.fs, pyarrow.parquet
import rasteret, rasteret_ingest
from rasteret_catalog import DatasetRegistry

base = DatasetRegistry.get("aef/v1-annual")
index = job["index"] if job["side"] == "index" else job["data"]
rasteret.register(dataclasses.replace(
    base, id="bench/aef-" + job["side"], index_uri=index, record_table_uri=index,
    geoparquet_uri=None, collection_uri=job["data"],
    cloud_config={**(base.cloud_config or {}), "region": "us-east-1"},
))
out = {"steps": {}}

def step(name, fn):
    r0, t0 = rchar(), time.monotonic()
    v = fn()
    t1 = time.monotonic()
    rec = {"s": t1 - t0, "rchar": rchar() - r0, "t0": t0, "t1": t1}
    if isinstance(v, int):
        rec["value"] = v
    elif hasattr(v, "num_rows"):
        rec["value"] = v.num_rows
    out["steps"][name] = rec
    return v

try:
    col = step("open", lambda: rasteret.load("bench/aef-" + job["side"]))
    out["provider"] = type(col._provider).__name__ if hasattr(col, "_provider") else ""
    step("len", lambda: len(col))
    view = step("subset", lambda: col.subset(bbox=tuple(job["bbox"]), date_range=tuple(job["dates"])))
    step("len_subset", lambda: len(view))
    step("head", lambda: view.head(5))
    step("read", lambda: view.to_table(["id", "A00_metadata"]))
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"[:500]
print("RI-RESULT " + json.dumps(out))
"""


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _run_child(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RI-RESULT ")), "")
    if not line:
        return {"error": (p.stderr or p.stdout)[-800:], "steps": {}}
    return dict(json.loads(line.removeprefix("RI-RESULT ")))


def bench(
    out: Path, info: dict[str, Any], runs: int, where: list[str], latency_ms: float = 0.0
) -> dict[str, Any]:
    """``runs`` fresh processes per (side, where), the two sides alternating."""
    from bench import server as objserver

    root = out / BUCKET / PREFIX
    job = {"bbox": info["small_bbox"], "dates": [f"{YEAR}-01-01", f"{YEAR}-12-31"]}
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(AWS_EC2_METADATA_DISABLED="true", PYTHONDONTWRITEBYTECODE="1")
    res: dict[str, Any] = {}
    for w in where:
        srv = None
        wenv = dict(env)
        if w == "s3":
            srv = objserver.start(
                out,
                out.parent / "record-index-server.jsonl",
                latency_ms=latency_ms,
                lifetime_s=3600,
            )
            wenv["AWS_ENDPOINT_URL"] = srv.base_url
            paths = {
                "index": f"s3://{BUCKET}/{PREFIX}/index.parquet",
                "data": f"s3://{BUCKET}/{PREFIX}/data",
            }
        else:
            paths = {"index": str(root / "index.parquet"), "data": str(root / "data")}
        try:
            for i in range(runs):
                for side in ("index", "wide"):
                    load0 = _loadavg()
                    r = _run_child({**job, **paths, "side": side}, wenv)
                    r["load"] = [load0, _loadavg()]
                    if srv is not None:
                        for rec in r["steps"].values():
                            rec["server"] = srv.window(rec["t0"], rec["t1"], settle_s=0.05)
                    res.setdefault(f"{side}-{w}", []).append(r)
                    print(f"{side}-{w} run {i + 1}/{runs}: {_brief(r)}", flush=True)
        finally:
            if srv is not None:
                srv.stop()
    return res


def _brief(r: dict[str, Any]) -> str:
    if r.get("error"):
        return "ERROR " + r["error"]
    parts = []
    for name, s in r["steps"].items():
        srv = s.get("server", {}).get("bytes")
        got = f"{s['s'] * 1000:.0f}ms/{s['rchar'] / 1e6:.2f}MB"
        if srv is not None:
            got += f"/srv {srv / 1e6:.2f}MB"
        parts.append(f"{name}={got}")
    return " ".join(parts) + f" load={r['load'][0]:.1f}->{r['load'][1]:.1f}"


def summarize(res: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Medians per (side-where, step); totals over the target steps; ratios to the targets."""
    out: dict[str, Any] = {}
    for key, rs in res.items():
        ok = [r for r in rs if not r.get("error")]
        cell: dict[str, Any] = {"runs": len(rs), "ok": len(ok)}
        if not ok:
            cell["error"] = rs[-1].get("error")
            out[key] = cell
            continue
        for name in STEPS:
            got = [r["steps"][name] for r in ok if name in r["steps"]]
            if not got:
                continue
            m: dict[str, Any] = {
                "s": statistics.median(g["s"] for g in got),
                "rchar": statistics.median(g["rchar"] for g in got),
            }
            if "value" in got[0]:
                m["value"] = got[0]["value"]
            if "server" in got[0]:
                m["server_bytes"] = statistics.median(g["server"]["bytes"] for g in got)
                m["server_requests"] = statistics.median(g["server"]["requests"] for g in got)
            cell[name] = m
        tot = [
            (sum(r["steps"][n]["s"] for n in TARGET_STEPS), r)
            for r in ok
            if all(n in r["steps"] for n in TARGET_STEPS)
        ]
        if tot:
            cell["total_s"] = statistics.median(t for t, _ in tot)
            cell["total_rchar"] = statistics.median(
                sum(r["steps"][n]["rchar"] for n in TARGET_STEPS) for _, r in tot
            )
            if "server" in ok[0]["steps"]["open"]:
                cell["total_server_bytes"] = statistics.median(
                    sum(r["steps"][n]["server"]["bytes"] for n in TARGET_STEPS) for _, r in tot
                )
            moved = cell.get("total_server_bytes", cell["total_rchar"])
            cell["pct_of_wide_bytes"] = 100.0 * moved / info["wide_bytes"]
        cell["load"] = [
            min(r["load"][0] for r in rs),
            max(max(r["load"]) for r in rs),
        ]
        out[key] = cell
    return out


def _cell(m: dict[str, Any]) -> str:
    moved = m.get("server_bytes", m["rchar"])
    t = m["s"]
    when = f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"
    return f"{when} · {moved / 1e6:.2f} MB"


def markdown(doc: dict[str, Any]) -> list[str]:
    """The step table of a saved results document (medians; MB served on loopback)."""
    summary = doc["summary"]
    keys = [k for k in ("index-local", "wide-local", "index-s3", "wide-s3") if k in summary]
    names = {
        "index-local": "index-backed, local",
        "wide-local": "wide, local",
        "index-s3": "index-backed, loopback S3",
        "wide-s3": "wide, loopback S3",
    }
    labels = {
        "open": "`rasteret.load`",
        "len": "`len`",
        "subset": "`subset(bbox, one year)`",
        "len_subset": "`len(subset)`",
        "head": "`subset.head(5)`",
        "read": '*read, not in the target: `to_table(["id", "A00_metadata"])`*',
    }
    lines = [
        "| step (median time · MB read) | " + " | ".join(names[k] for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for step in TARGET_STEPS:
        lines.append(
            f"| {labels[step]} | " + " | ".join(_cell(summary[k][step]) for k in keys) + " |"
        )
    totals = []
    for k in keys:
        c = summary[k]
        moved = c.get("total_server_bytes", c["total_rchar"])
        totals.append(
            f"**{c['total_s']:.2f} s · {moved / 1e6:.2f} MB ({c['pct_of_wide_bytes']:.2f} %)**"
        )
    lines.append("| **total (median of per-run sums)** | " + " | ".join(totals) + " |")
    lines.append(
        f"| {labels['read']} | " + " | ".join(_cell(summary[k]["read"]) for k in keys) + " |"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.record_index", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--shards", type=int, default=200)
    p.add_argument("--bands", type=int, default=64, help="bands of the wide data (AEF: 64)")
    p.add_argument("--index-row-group", type=int, default=65_536, help="rows per index row group")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--where", default="local,s3", help="comma-separated: local, s3")
    p.add_argument("--latency-ms", type=float, default=0.0, help="object server first-byte delay")
    p.add_argument("--out", type=Path, default=CORPUS_DIR / "record-index")
    p.add_argument("--save", type=Path, default=None, help="results JSON (default bench/results)")
    p.add_argument("--generate-only", action="store_true")
    p.add_argument("--report", type=Path, default=None, help="print a saved result as Markdown")
    a = p.parse_args(argv)
    if a.report is not None:
        print("\n".join(markdown(json.loads(a.report.read_text()))))
        return 0
    load0 = _loadavg()
    info = generate(a.out, a.rows, a.shards, a.bands, a.index_row_group)
    print("corpus:", json.dumps(info), f"load {load0:.2f}->{_loadavg():.2f}", flush=True)
    if a.generate_only:
        return 0
    where = [w.strip() for w in a.where.split(",") if w.strip()]
    bad = set(where) - {"local", "s3"}
    if bad:
        p.error(f"unknown --where {sorted(bad)}")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = _loadavg()
    res = bench(a.out, info, a.runs, where, a.latency_ms)
    summary = summarize(res, info)
    doc = {
        "created": started,
        "argv": sys.argv[1:] if argv is None else argv,
        "latency_ms": a.latency_ms,
        "nproc": os.cpu_count(),
        "loadavg": [load0, _loadavg()],
        "corpus": info,
        "summary": summary,
        "runs": res,
    }
    dest = a.save or Path(__file__).resolve().parent / "results" / "record-index.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
