"""Results -> the suite region of ``docs/benchmarks.md`` and ``docs/benchmarks/*.png``.

Only the text between ``<!-- bench:suite:start -->`` and ``<!-- bench:suite:end -->`` is
rewritten; every other section of the file (owned by other packages) is kept verbatim. When the
markers are missing the region is appended at the end.

Inputs (all under ``bench/results/``): the suite runs ``<prefix>*/results.json`` (default
prefix ``full-``; runs of distinct workloads/latencies are merged, a later run replacing the
cells it measured again, so every ratio in a table comes from one run), ``cold/cold.json``
(``bench.cold``), ``scale/scale.json`` (``bench.scale``), ``profiles/*.txt``
(``bench.profile_ours``). ``bench/baseline-before.json`` (committed, written by ``python -m
bench --save-baseline``) adds a before -> after table. ``bench/ANALYSIS.md`` (hand-written) is
included as is.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench import floor, report_sections
from bench.corpus import BENCH_DIR

DOCS = BENCH_DIR.parent / "docs"
DOC = DOCS / "benchmarks.md"
PNG_DIR = DOCS / "benchmarks"
RESULTS = BENCH_DIR / "results"
START, END = "<!-- bench:suite:start -->", "<!-- bench:suite:end -->"
ORDER = [
    "ours",
    "ours-engine",
    "ours-xarray",
    "floor",
    "rasterio-seq",
    "rasterio-t16",
    "async-tiff-cold",
    "async-tiff-warm",
    "async-geotiff",
    "virtualizarr",
    "odc-stac",
    "rasteret-0.4.1",
    # names of earlier suite versions (old result files)
    "ours-api",
    "ours-grid",
]
LABEL = {
    "ours": "**ours** (`rasteret.load` + `get_numpy` / `build_from_table`)",
    "ours-engine": "ours, engine direct (rasteret-io / -ingest, no meta package)",
    "ours-xarray": "ours, `get_xarray(..., groupby='id')` (the cube path)",
    "floor": "**floor reader** (obstore + imagecodecs, ranges known in advance)",
    "rasterio-seq": "rasterio 1.5 / GDAL 3.12, sequential",
    "rasterio-t16": "rasterio 1.5 / GDAL 3.12, 16 threads",
    "async-tiff-cold": "async-tiff 0.7, cold",
    "async-tiff-warm": "async-tiff 0.7, headers parsed in advance",
    "async-geotiff": "async-geotiff 0.5 (open + read)",
    "virtualizarr": "VirtualiZarr 2.8 + virtual-tiff -> icechunk 2.3",
    "odc-stac": "odc-stac 0.5 (`odc.stac.load`, pool=16, rasterio / GDAL 3.12)",
    "rasteret-0.4.1": "rasteret 0.4.1 (PyPI, Python 3.12)",
    "ours-api": "ours via the 0.4.1 API (earlier suite)",
    "ours-grid": "ours, read_grid (earlier suite)",
}


def checksum_mismatches(doc: dict[str, Any]) -> list[str]:
    """Cells whose checksum differs from ours (or from the first reader's) on that workload."""
    out = []
    by_w: dict[str, dict[str, set[str]]] = {}
    for r in doc["records"]:
        if r.get("ok"):
            by_w.setdefault(r["workload"], {}).setdefault(r["reader"], set()).add(r["checksum"])
    for w, per in sorted(by_w.items()):
        ref = per.get("ours") or per.get("floor") or next(iter(per.values()))
        for reader, sums in sorted(per.items()):
            if sums != ref:
                out.append(f"{w} {reader}: {sorted(sums)} != {sorted(ref)}")
    return out


def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


Cell = tuple[str, str, float]


def aggregate(doc: dict[str, Any]) -> dict[Cell, dict[str, Any]]:
    """Per (workload, reader, latency): medians over the runs of the cell."""
    cells: dict[Cell, list[dict[str, Any]]] = {}
    for r in doc["records"]:
        cells.setdefault((r["workload"], r["reader"], float(r["latency_ms"])), []).append(r)
    out = {}
    for key, rs in cells.items():
        ok = [r for r in rs if r.get("ok")]
        agg: dict[str, Any] = {"n": len(ok), "failed": len(rs) - len(ok)}
        if not ok:
            agg["error"] = rs[-1].get("error", "")
            out[key] = agg
            continue
        walls = [r["wall_s"] for r in ok]
        phases: dict[str, float] = {}
        for k in sorted({k for r in ok for k in r.get("phases", {})}):
            vals = [r["phases"][k] for r in ok if k in r.get("phases", {})]
            phases[k] = statistics.median(vals)
        agg.update(
            median=statistics.median(walls),
            p25=_q(walls, 0.25),
            p75=_q(walls, 0.75),
            min=min(walls),
            requests=statistics.median(r.get("srv_requests", 0) for r in ok),
            bytes=statistics.median(r.get("srv_bytes", 0) for r in ok),
            rss=statistics.median(r["maxrss_mb"] for r in ok),
            cpu=statistics.median(r["cpu_s"] for r in ok),
            setup=statistics.median(r.get("setup_s", 0.0) for r in ok),
            imp=statistics.median(r.get("import_s", 0.0) for r in ok),
            checksum=sorted({r["checksum"] for r in ok}),
            load=statistics.median(r.get("loadavg", 0.0) for r in ok),
            phases=phases,
            index_bytes=statistics.median(r["index_bytes"] for r in ok)
            if all("index_bytes" in r for r in ok)
            else None,
        )
        out[key] = agg
    return out


def merge_docs(paths: list[Path]) -> dict[str, Any]:
    """Merge suite runs (oldest first); a later run replaces the cells it measured again."""
    docs = [json.loads(p.read_text()) for p in paths if p.exists()]
    docs.sort(key=lambda d: d.get("created", ""))  # run order, not file times
    if not docs:
        raise FileNotFoundError("no results.json found")
    base = dict(docs[-1])
    keyed: dict[Cell, list[dict[str, Any]]] = {}
    for d in docs:
        cells: dict[Cell, list[dict[str, Any]]] = {}
        for r in d["records"]:
            r = {**r, "run": d.get("created")}
            cells.setdefault((r["workload"], r["reader"], float(r["latency_ms"])), []).append(r)
        keyed.update(cells)
    base["records"] = [r for rs in keyed.values() for r in rs]
    for k in ("plans", "descriptions", "task_sizes", "versions"):
        merged: dict[str, Any] = {}
        for d in docs:
            merged.update(d.get(k, {}))
        base[k] = merged
    kept = {r["run"] for r in base["records"]}
    used = [d for d in docs if d.get("created") in kept]
    # the model floor uses the best rates seen at the start of any merged run (the machine is
    # shared; a loaded moment must not make the floor easier to reach)
    rates = [d["rates"] for d in used]
    base["rates"] = {
        "t_tile_s": min(r["t_tile_s"] for r in rates),
        "t_tile_big_s": min(r["t_tile_big_s"] for r in rates),
        "bandwidth_Bps": max(r["bandwidth_Bps"] for r in rates),
        "cores": rates[-1]["cores"],
    }
    base["latencies"] = sorted({float(r["latency_ms"]) for r in base["records"]})
    base["readers"] = [r for r in ORDER if any(x["reader"] == r for x in base["records"])]
    base["notes"] = sorted({n for d in used for n in d.get("notes", [])})
    base["sources"] = [
        {"argv": d.get("argv"), "created": d.get("created"), "machine": d.get("machine")}
        for d in used
    ]
    base["machine"] = {
        **base["machine"],
        "loadavg_start": max(s["machine"]["loadavg_start"] for s in base["sources"]),
        "loadavg_end": max(s["machine"]["loadavg_end"] for s in base["sources"]),
    }
    base["code"] = sorted(
        {r.get("code", "?") for r in base["records"] if r["reader"].startswith("ours")}
    )
    return base


def _fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def model_floor(doc: dict[str, Any], w: str, lat: float) -> dict[str, float]:
    rates = floor.Rates(**doc["rates"])
    return floor.floor_s(doc["plans"][w], rates, lat, big=(w in ("W4", "W6")))


def _phases(a: dict[str, Any]) -> str:
    ph = a.get("phases") or {}
    names = {
        "load_s": "load",
        "read_s": "read",
        "open_s": "open",
        "build_s": "build",
        "index_build_s": "index (untimed)",
    }
    return ", ".join(f"{names.get(k, k)} {v:.3f}" for k, v in ph.items())


def table(doc: dict[str, Any], agg: dict[Cell, dict[str, Any]], w: str, lat: float) -> list[str]:
    """The results table of one workload at one latency."""
    fl = model_floor(doc, w, lat)
    files = doc["task_sizes"][w]["files"]
    need = doc["plans"][w]["bytes"]
    ours = agg.get((w, "ours", lat), {}).get("median")
    fr = agg.get((w, "floor", lat), {}).get("median")
    ref = (agg.get((w, "ours", lat)) or agg.get((w, "floor", lat)) or {}).get("checksum")
    rows = [
        f"**{w} at {lat:g} ms** — {doc['descriptions'].get(w, '')}; {files} files, "
        f"{need / 1e6:.1f} MB needed; model floor {_fmt_s(fl['floor'])} s (latency "
        f"{fl['t_lat']:.3f} + max(transfer {fl['t_xfer']:.3f}, decode {fl['t_cpu']:.3f}))",
        "",
        "| reader | median s | p25–p75 s | × floor reader | × ours | × model floor | requests "
        "| req/file | MB served | peak RSS MB | CPU s | phases (median s) | load | checksum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in ORDER:
        a = agg.get((w, r, lat))
        if a is None:
            continue
        if not a.get("n"):
            rows.append(f"| {LABEL[r]} | failed: {a.get('error', '')[:160]} |" + " |" * 12)
            continue
        ck = "ok" if ref is None or a["checksum"] == ref else "**MISMATCH**"
        x_fr = f"{a['median'] / fr:.2f}" if fr else "–"
        x_ours = f"{a['median'] / ours:.2f}" if ours else "–"
        # W4's model floor ignores header parsing: not a meaningful ratio
        x_model = "–" if w == "W4" else f"{a['median'] / fl['floor']:.1f}"
        rows.append(
            f"| {LABEL[r]} | {_fmt_s(a['median'])} | {_fmt_s(a['p25'])}–{_fmt_s(a['p75'])} "
            f"| {x_fr} | {x_ours} | {x_model} | {a['requests']:.0f} "
            f"| {a['requests'] / files:.2f} | {a['bytes'] / 1e6:.1f} | {a['rss']:.0f} "
            f"| {a['cpu']:.2f} | {_phases(a)} | {a['load']:.1f} | {ck} |"
        )
    return rows


def render(doc: dict[str, Any]) -> str:
    agg = aggregate(doc)
    extras = report_sections.load_extras(RESULTS, BENCH_DIR)
    lines = [
        START,
        "## Benchmark suite: ours vs peers vs the floor reader (issue #12)",
        "",
        f"_Generated by `bench/report.py` on {doc['created']} from `bench/results/`; do not "
        "edit this section by hand (hand-written findings: `bench/ANALYSIS.md`)._",
        "",
        *report_sections.how_to_run(),
        *report_sections.machine(doc),
        *report_sections.setup_text(doc),
        "### Targets",
        "",
        *report_sections.targets(doc, agg, extras),
        "",
        "### Results",
        "",
        "Medians over the runs of one cell; all ratios are ratios of medians of the same run "
        "(*× floor reader*: this reader ÷ the floor reader; *× ours*: ÷ ours). *requests* and "
        "*MB served* per run, counted by the server inside the timed region; *peak RSS* is the "
        "worker's VmHWM (imports, setup and run); *CPU s* the worker's user+system time "
        "(imports and setup included); *load* the 1-min load average during the cell (2 cores: "
        "above 2, other jobs competed).",
        "",
    ]
    for w in sorted(doc["plans"]):
        for lat in doc["latencies"]:
            if any((w, r, lat) in agg for r in ORDER):
                lines += [*table(doc, agg, w, lat), ""]
    lines += report_sections.cold(extras.get("cold"))
    lines += report_sections.scale(extras.get("scale"))
    lines += report_sections.before_after(extras.get("baseline"), summarize(doc, extras))
    lines += report_sections.profiles(extras.get("profiles", {}))
    pngs = report_sections.plots(doc, agg, PNG_DIR, ORDER, model_floor)
    if pngs:
        lines += ["### Plots", ""] + [f"![{p[:-4]}](benchmarks/{p})" for p in pngs] + [""]
    if doc.get("notes"):
        lines += ["### Readers not run", ""] + [f"- {n}" for n in doc["notes"]] + [""]
    mism = checksum_mismatches(doc)
    lines += ["### Checksums", ""]
    lines += (
        ["Mismatches:", ""] + [f"- {x}" for x in mism]
        if mism
        else [
            "Every reader's checksum (sum and count of the values read) equals ours in every "
            "cell above."
        ]
    ) + [""]
    analysis = BENCH_DIR / "ANALYSIS.md"
    if analysis.exists():
        lines += [analysis.read_text().strip(), ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def summarize(doc: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (medians) kept as a baseline and compared by the next report."""
    agg = aggregate(doc)
    cells = {
        f"{w} {r} {lat:g}ms": {"median_s": a["median"], "rss_mb": a["rss"], "phases": a["phases"]}
        for (w, r, lat), a in sorted(agg.items())
        if a.get("n")
    }
    out: dict[str, Any] = {"created": doc["created"], "code": doc.get("code"), "cells": cells}
    if extras.get("cold"):
        out["cold"] = {
            s: {k: v["wall_s"] for k, v in d.items()} for s, d in extras["cold"]["summary"].items()
        }
    if extras.get("scale"):
        out["scale"] = report_sections.scale_summary(extras["scale"])
    return out


def splice(existing: str, region: str) -> str:
    """Replace the marked region of ``existing`` (append it when there are no markers)."""
    if START in existing and END in existing:
        head, rest = existing.split(START, 1)
        _, tail = rest.split(END, 1)
        return head + region.rstrip("\n") + tail
    sep = "" if existing.endswith("\n\n") or not existing else "\n"
    return existing + sep + region


def suite_paths(prefix: str = "full-") -> list[Path]:
    return sorted(RESULTS.glob(f"{prefix}*/results.json"), key=lambda p: p.stat().st_mtime)


def write(prefix: str = "full-") -> None:
    """Merge the saved suite runs named ``<prefix>*`` and rewrite the suite region + plots."""
    merged = merge_docs(suite_paths(prefix))
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    DOC.write_text(splice(text, render(merged)))
    print(f"wrote {DOC}")


def save_baseline(prefix: str = "full-") -> Path:
    """Write ``bench/baseline-before.json`` (headline medians of the saved runs)."""
    merged = merge_docs(suite_paths(prefix))
    extras = report_sections.load_extras(RESULTS, BENCH_DIR)
    path = BENCH_DIR / "baseline-before.json"
    path.write_text(json.dumps(summarize(merged, extras), indent=1) + "\n")
    print(f"wrote {path}")
    return path
