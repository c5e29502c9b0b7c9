"""Sections of the generated benchmark report (see ``bench/report.py``): how to run, targets,
cold process, scale, before -> after, profiles, plots."""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cell = tuple[str, str, float]


def load_extras(results: Path, bench_dir: Path) -> dict[str, Any]:
    """Cold-process, scale, profile results and the committed baseline, where present."""
    out: dict[str, Any] = {}
    for key, rel in (("cold", "cold/cold.json"), ("scale", "scale/scale.json")):
        p = results / rel
        if p.exists():
            out[key] = json.loads(p.read_text())
    base = bench_dir / "baseline-before.json"
    if base.exists():
        out["baseline"] = json.loads(base.read_text())
    prof = results / "profiles"
    out["profiles"] = {p.stem: p.read_text() for p in sorted(prof.glob("*.txt"))}
    return out


def how_to_run() -> list[str]:
    return [
        "### How to run",
        "",
        "From the workspace root, with `UV_PYTHON_DOWNLOADS=never "
        "PYENV_VERSION=3.11.7:3.12.1:3.13.0` exported. First use writes the corpus "
        "(`bench/.corpus/`, ≈ 2 min: one 10980² COG with 4 overviews, 16 time-series COGs, "
        "symlinks) and the peers' venvs (`bench/.venvs/`, Python 3.12, ≈ 30 s from the uv cache). "
        "Durations measured on the 2 shared cores at load 3–6.",
        "",
        "```",
        "# smoke (CI runs a variant of it in tests/integration/test_bench_smoke.py): ~30 s",
        "uv run --group bench python -m bench --quick",
        "# W1 at 0/40/100 ms, every reader, 5 runs: ~15 min",
        "uv run --group bench python -m bench --workloads W1 --latencies 0,40,100 --runs 5 --out full-w1 --no-report",
        "# W4 and W6 at 40 ms, every reader, 5 runs: ~8 min",
        "uv run --group bench python -m bench --workloads W4,W6 --latencies 40 --runs 5 --out full-w4w6 --no-report",
        "# cold process (imports + load + read, ours vs 0.4.1, 7 alternating pairs): ~1 min",
        "uv run --group bench python -m bench.cold --latency 40 --runs 7",
        "# cost growth 60/600/6,000 records + a 4,000-COG build, ours and 0.4.1: ~10 min",
        "uv run --group bench python -m bench.scale --latency 40 --runs 5",
        "# py-spy profiles (`pip install py-spy` in a scratch venv; --py-spy PATH): ~10 s each",
        "uv run python -m bench.profile_ours W1 --latency 40 --save bench/results/profiles/W1.txt",
        "uv run python -m bench.profile_ours W4 --latency 40 --save bench/results/profiles/W4.txt",
        "# issue #14: 1,000,000-record index in 200 shards vs the wide data alone, local and on",
        "# the object server; load/len/subset/head time and bytes, 5 runs: ~2 min (+20 s corpus)",
        "uv run python -m bench.record_index --runs 5",
        "# regenerate this section from the saved results (merges bench/results/full-*)",
        "uv run --group bench python -m bench --report-only",
        "# keep the current headline numbers as the baseline of the next report",
        "uv run --group bench python -m bench --save-baseline",
        "```",
        "",
        "W2 (random chips), W3 (points) and W5 (wide area) are still in the suite "
        "(`--workloads W2,W3,W5`) but not part of issue #12's targets.",
        "",
    ]


def machine(doc: dict[str, Any]) -> list[str]:
    m = doc["machine"]
    readers = {r["reader"] for r in doc["records"]}
    lines = [
        "### Machine and versions",
        "",
        f"- {m.get('nproc')} cores ({m.get('cpu')}), {m.get('mem')} RAM, Linux "
        f"{m.get('kernel')}, Python {m.get('python')} (ours); **shared with other agents' "
        f"jobs** (1-min load average up to {m['loadavg_start'][0]:.1f} at the start and "
        f"{m['loadavg_end'][0]:.1f} at the end of a run; per-cell medians in the *load* "
        "column), so absolute times carry ±20–30 % noise; ratios within a run hold better.",
        "- Runs merged here: "
        + "; ".join(
            f"`python -m bench {' '.join(s.get('argv') or [])}` ({s.get('created')})"
            for s in doc.get("sources", [])
        )
        + ".",
    ]
    if doc.get("code"):
        lines.append(
            "- Our code: workspace commit(s) " + ", ".join(f"`{c}`" for c in doc["code"]) + "."
        )
    for name, v in sorted(doc.get("versions", {}).items()):
        if name not in readers:
            continue  # the venvs' package lists (the readers' own lines say what they import)
        lines.append(f"- {name}: " + ", ".join(f"{k} {x}" for k, x in sorted(v.items())))
    lines += [
        "- Object server: `python -m rasteret_testkit.objserver` in its own process on "
        "127.0.0.1, constant first-byte latency per request, no bandwidth cap; requests, bytes "
        "counted server-side, only within each run's timed region.",
        "",
    ]
    return lines


def setup_text(doc: dict[str, Any]) -> list[str]:
    rates = doc["rates"]
    lines = [
        "### Corpus, workloads, readers",
        "",
        "- Time-series COGs: uint16, DEFLATE + predictor 2, 512-px tiles, 2048² px, "
        "EPSG:32633 at 10 m (GDAL COG driver); 8 physical files per band behind 100 scenes × "
        "2 bands of URLs (symlinks: every URL distinct to the readers).",
        "- Big-header COGs: 10980² px, 256-px tiles (1,849 per band at full resolution), "
        "4 overviews; one physical file behind every `perf/big/...` URL.",
        "- Pixels are synthetic (smooth field + noise, DEFLATE ratio ≈ 2): request counts, "
        "header sizes and decode costs are realistic, content is not.",
        "",
        "| id | workload | size |",
        "|---|---|---|",
    ]
    for w, d in sorted(doc["descriptions"].items()):
        ts = doc["task_sizes"][w]
        lines.append(
            f"| {w} | {d} | {ts['scenes']} scenes × {ts['bands']} bands = {ts['files']} files |"
        )
    lines += [
        "",
        "Readers (each run is a fresh process, `python -m bench.worker`; cells alternate ABBA "
        "per repetition; wall time excludes imports and setup, reported apart by `bench.cold`):",
        "",
        "- **ours**: the public API as a user calls it. Reads: `rasteret.load(path)` of a "
        "persisted collection (built once per code version with `build_from_table(..., "
        "enrich_cog=True, workspace_dir=...)`), W6 also `subset(date_range=...)`, then "
        "`get_numpy(geometries=AOI, bands, geometry_crs)`; W4: the persisted "
        "`build_from_table(table, name, workspace_dir, enrich_cog=True)`. A one-record load + "
        "read (W4: a one-record build) before the clock does the lazy imports.",
        "- **rasteret 0.4.1**: the very same module and calls against PyPI 0.4.1 in its venv.",
        "- *ours, engine direct*: rasteret-io's `read_aois` on rows parsed in setup; its W4 is "
        "the header indexing alone (`rasteret_ingest.enrich.enrich_table_async`: fetch + parse "
        "+ Arrow columns, nothing written) — the issue's *header indexing* figure.",
        "- **floor reader** (`bench/readers/floor_reader.py`): byte ranges of the needed tiles "
        "known in advance (a perfect index), output preallocated, one `obstore.get_range_async` "
        "per file, one decode task per file on a pool of one thread per core "
        "(`imagecodecs.deflate_decode` into a scratch tile, `delta_decode` in place, copy of "
        "the window). Every other reader is reported as × floor reader.",
        "- **async-geotiff**: `GeoTIFF.open` of every file, then `read(window=...)`, each under "
        "one `gather` (phases *open* and *read*); W4 is the open phase alone.",
        "- **VirtualiZarr → icechunk**: `open_virtual_mfdataset(parser=VirtualTIFF(ifd=0), "
        "parallel=ThreadPoolExecutor(64))` per band, merged, `to_icechunk` + commit in a local "
        "repository (W4 = this build); W1 builds in setup (phase *index*, untimed) and times "
        "open + `isel(...).values` of both bands on two threads, zarr async concurrency 128.",
        "- **odc-stac**: `odc.stac.load(items, bands, x, y, crs, resolution, groupby='id', "
        "pool=16)` on in-memory STAC items with the projection extension (no file opened to "
        "plan), rasterio / GDAL underneath with the rasterio reader's settings.",
        "- rasterio (`/vsicurl/`, COG-tuned GDAL settings; sequential and 16 threads, one "
        "dataset per file) and async-tiff (cold: open + fetch + decode; warm: opened in setup).",
        "",
        "The model floor (kept from the earlier suite): `d × L + max(B ÷ BW, n_tiles × t_tile "
        "÷ cores)` with d = 1 round trip, L = latency, B = bytes needed, BW = loopback "
        f"throughput ({rates['bandwidth_Bps'] / 1e6:.0f} MB/s best measured), t_tile = one "
        f"tile's single-thread decode ({rates['t_tile_s'] * 1e3:.2f} ms for 512², "
        f"{rates['t_tile_big_s'] * 1e3:.2f} ms for 256²), cores = {rates['cores']}. The floor "
        "*reader* is the measured version of the same idea, in Python.",
        "",
    ]
    return lines


def _status(value: float | None, goal: float, higher_is_better: bool) -> tuple[str, str]:
    if value is None:
        return "not measured", "—"
    ok = value >= goal if higher_is_better else value <= goal
    gap = goal / value if higher_is_better else value / goal
    return f"{value:.2f}", "met" if ok else f"**missed** (by {gap:.2f}×)"


def targets(
    doc: dict[str, Any], agg: dict[Cell, dict[str, Any]], extras: dict[str, Any]
) -> list[str]:
    def med(w: str, r: str, lat: float, phase: str | None = None) -> float | None:
        a = agg.get((w, r, lat))
        if not a or not a.get("n"):
            return None
        return a["phases"].get(phase) if phase else a["median"]

    def ratio(x: float | None, y: float | None) -> float | None:
        return x / y if (x is not None and y) else None

    def paired(w: str, a: str, b: str, lat: float, phase: str | None = None) -> float | None:
        """Median over repetitions of a ÷ b measured in the same repetition of one run (the
        two ran back to back, ABBA order): robust to the shared machine's drift. Falls back
        to the ratio of medians."""
        runs: dict[tuple[Any, int], dict[str, float]] = {}
        for r in doc["records"]:
            if r.get("ok") and r["workload"] == w and float(r["latency_ms"]) == lat:
                v = r["phases"].get(phase) if phase and r["reader"] == b else r["wall_s"]
                if v is not None:
                    runs.setdefault((r.get("run"), r["rep"]), {})[r["reader"]] = v
        rs = sorted(d[a] / d[b] for d in runs.values() if a in d and b in d and d[b])
        if not rs:
            return ratio(med(w, a, lat), med(w, b, lat, phase))
        return statistics.median(rs)

    rows = [
        "Ratios are medians of per-repetition ratios (the two readers ran back to back in each "
        "repetition of the same run).",
        "",
        "| target | measured | goal | status |",
        "|---|---:|---|---|",
    ]

    def add(name: str, value: float | None, goal: float, hib: bool) -> None:
        v, st = _status(value, goal, hib)
        rows.append(f"| {name} | {v} | {'≥' if hib else '≤'} {goal:g} | {st} |")

    for lat in (0.0, 40.0, 100.0):
        add(
            f"W1 at {lat:g} ms: ours ÷ floor reader",
            paired("W1", "ours", "floor", lat),
            1.2,
            False,
        )
    add(
        "W1 at 40 ms: rasteret 0.4.1 ÷ ours",
        paired("W1", "rasteret-0.4.1", "ours", 40),
        3,
        True,
    )
    add(
        "W1 at 40 ms: ours (load + read) ÷ async-geotiff read",
        paired("W1", "ours", "async-geotiff", 40, "read_s"),
        1,
        False,
    )
    peers = [
        "rasterio-t16",
        "async-tiff-cold",
        "async-tiff-warm",
        "async-geotiff",
        "virtualizarr",
        "odc-stac",
    ]
    best = [(med("W1", p, 40), p) for p in peers if med("W1", p, 40) is not None]
    if best:
        _, p = min(best)
        add(
            f"W1 at 40 ms: ours ÷ fastest peer ({p}, whole timed region)",
            paired("W1", "ours", p, 40),
            1,
            False,
        )
    add(
        "W4 at 40 ms: rasteret 0.4.1 ÷ ours (persisted build)",
        paired("W4", "rasteret-0.4.1", "ours", 40),
        5,
        True,
    )
    a4 = agg.get(("W4", "ours", 40.0))
    files = doc["task_sizes"].get("W4", {}).get("files")
    add(
        "W4 at 40 ms: ours requests per file",
        a4["requests"] / files if a4 and a4.get("n") and files else None,
        1.0,
        False,
    )
    add(
        "W4 at 40 ms: header indexing (engine) ÷ async-geotiff open",
        paired("W4", "ours-engine", "async-geotiff", 40),
        1.5,
        False,
    )
    add(
        "W4 at 40 ms: ours persisted build ÷ VirtualiZarr → icechunk build",
        paired("W4", "ours", "virtualizarr", 40),
        1,
        False,
    )
    a6o, a6r = agg.get(("W6", "ours", 40.0)), agg.get(("W6", "rasteret-0.4.1", 40.0))
    if a6o and a6r and a6o.get("n") and a6r.get("n"):
        rows.append(
            f"| W6 at 40 ms: ours ÷ 0.4.1, time / peak RSS | {a6o['median'] / a6r['median']:.2f} / "
            f"{a6o['rss'] / a6r['rss']:.2f} | reported | ours {a6o['median']:.3f} s, "
            f"{a6o['rss']:.0f} MB; 0.4.1 {a6r['median']:.3f} s, {a6r['rss']:.0f} MB |"
        )
    cold = extras.get("cold")
    if cold and "ratio_ours_over_041" in cold:
        s = cold["summary"]
        imp = s["ours"]["import rasteret"]["wall_s"] - s["ours"]["python -c pass"]["wall_s"]
        r = cold["ratio_ours_over_041"]
        rows.append(
            f"| cold process (imports + load + W1 read at {cold['latency_ms']:g} ms): ours ÷ "
            f"0.4.1 | {r['median']:.2f} | reported | ours {s['ours']['script']['wall_s']:.2f} s, "
            f"0.4.1 {s['rasteret-0.4.1']['script']['wall_s']:.2f} s |"
        )
        add("`import rasteret` (ms, over an empty interpreter)", imp * 1e3, 10, False)
    sc = extras.get("scale")
    if sc:
        summ = scale_summary(sc)
        ours = summ.get("ours", {})
        sizes = [k for k in ours if k.isdigit()]
        big = max(sizes, key=int) if sizes else None
        if big:
            add(f"load at {big} records (s)", ours[big].get("load_s"), 1, False)
            add(f"subset + len at {big} records (s)", ours[big].get("subset_s"), 1, False)
            g = ours.get("growth", {})
            if g:
                worst = max(g.values())
                add(
                    "cost growth per 10× records, worst of build/index/load/subset/read (×)",
                    worst,
                    10,
                    False,
                )
    return rows


def cold(doc: dict[str, Any] | None) -> list[str]:
    if not doc:
        return []
    s = doc["summary"]
    sides = list(s)
    lines = [
        f"### Cold process (imports + `load` + W1 `get_numpy`, {doc['latency_ms']:g} ms)",
        "",
        f"`python -m bench.cold` ({doc['created']}, load {doc['loadavg'][0]:.1f}): each command "
        f"a fresh interpreter, {doc['runs']} alternating runs after a warm-up (byte-code cached), "
        "wall from spawn to exit, peak RSS = the child's VmHWM. Checksums "
        + ("agree." if doc.get("checksums_agree") else "**differ**."),
        "",
        "| command | "
        + " | ".join(f"{x} median (min–max) s" for x in sides)
        + " | "
        + " | ".join(f"{x} peak RSS MB" for x in sides)
        + " |",
        "|---|" + "---:|" * (2 * len(sides)),
    ]
    for what in s[sides[0]]:
        cells = [
            f"{s[x][what]['wall_s']:.3f} ({s[x][what]['wall_min_s']:.3f}–{s[x][what]['wall_max_s']:.3f})"
            for x in sides
        ]
        rss = [f"{s[x][what]['maxrss_mb']:.0f}" for x in sides]
        lines.append(f"| `{what}` | " + " | ".join(cells) + " | " + " | ".join(rss) + " |")
    if "ratio_ours_over_041" in doc:
        r = doc["ratio_ours_over_041"]
        lines += [
            "",
            f"Pairwise ratio ours ÷ 0.4.1 of the whole script: median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f}).",
        ]
    return [*lines, ""]


def scale_summary(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in doc.get("growth", []):
        b, m = row["build"], row.get("median") or {}
        if not b.get("ok"):
            continue
        out.setdefault(row["reader"], {})[str(row["records"])] = {
            "build_s": b["build_s"],
            "index_bytes": b["index_bytes"],
            "index_files": b.get("index_files"),
            "arrow_bytes": b.get("arrow_bytes"),
            "build_rss_mb": b.get("build_peak_mb", b["maxrss_mb"]),
            "requests_per_file": row["requests"] / (2 * row["records"]),
            **{
                k: m.get(k)
                for k in (
                    "first_load_s",
                    "load_s",
                    "subset_s",
                    "read_s",
                    "maxrss_mb",
                    "subset_rows",
                )
            },
        }
    for _who, per in out.items():
        sizes = sorted(per, key=int)
        growth: dict[str, float] = {}
        for a, b in itertools.pairwise(sizes):
            f = int(b) / int(a)
            for k in ("build_s", "arrow_bytes", "load_s", "subset_s", "read_s"):
                # steps that stay below 0.1 s are fixed costs and noise, not growth
                if per[a].get(k) and per[b].get(k) and (k == "arrow_bytes" or per[b][k] >= 0.1):
                    # growth normalised to 10x records: 10 = linear
                    g = (per[b][k] / per[a][k]) * (10 / f)
                    growth[f"{k} {a}->{b}"] = g
        per["growth"] = growth
    big = {}
    for row in doc.get("big", []):
        b = row["build"]
        if b.get("ok"):
            big[row["reader"]] = {
                "cogs": row["cogs"],
                "build_s": b["build_s"],
                "maxrss_mb": b.get("build_peak_mb", b["maxrss_mb"]),
                "index_bytes": b["index_bytes"],
                "arrow_bytes": b.get("arrow_bytes"),
                "requests_per_file": row["requests"] / row["cogs"],
            }
    return {**out, "big": big}


def scale(doc: dict[str, Any] | None) -> list[str]:
    if not doc:
        return []
    summ = scale_summary(doc)
    lines = [
        f"### Scale ({doc['latency_ms']:g} ms; `python -m bench.scale`, {doc['created']}, load "
        f"{doc['loadavg_start'][0]:.1f}–{doc['loadavg_end'][0]:.1f})",
        "",
        "Cost growth: N records × 2 bands of time-series COGs spread over the same two years "
        "(24 year/month partitions at every N); "
        + (
            f"builds: median of {doc['build_runs']} fresh builds"
            if doc.get("build_runs", 1) > 1
            else "build once"
        )
        + "; then fresh processes "
        f"(median of {doc['runs']}): *first load* (includes the library's lazy imports), *load* "
        "(a second `rasteret.load`), *subset* (`subset(bbox=AOI, date_range=first 73 days)` + "
        "`len`), *read* (`get_numpy` of the W1 AOI over that 10 %, after a one-record warm-up).",
        "",
        "| records | reader | build s | req/file | build peak RSS MB | index Parquet MB (files) | index Arrow MB | first load s | load s | subset s | rows read | read s | query peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for who, per in summ.items():
        if who == "big":
            continue
        for n in sorted((k for k in per if k != "growth"), key=int):
            v = per[n]

            def f(k: str, fmt: str = "{:.3f}", v: dict[str, Any] = v) -> str:
                return fmt.format(v[k]) if v.get(k) is not None else "–"

            lines.append(
                f"| {n} | {who} | {f('build_s')} | {f('requests_per_file', '{:.2f}')} | "
                f"{f('build_rss_mb', '{:.0f}')} | {v['index_bytes'] / 1e6:.2f} ({f('index_files', '{:d}')}) | "
                f"{(v['arrow_bytes'] or 0) / 1e6:.1f} | {f('first_load_s')} | "
                f"{f('load_s')} | {f('subset_s')} | {f('subset_rows', '{:d}')} | {f('read_s')} | "
                f"{f('maxrss_mb', '{:.0f}')} |"
            )
    lines += [
        "",
        "Every URL aliases one of 16 physical files, so the records' tile tables repeat and "
        "Parquet compresses them away: the *Parquet* size understates what distinct headers "
        "cost; the *Arrow* size (the whole index in memory) does not.",
        "",
        "Growth per 10× records (10 = linear; the read grows with the rows it reads, which "
        "grow 10× too; steps whose larger value stays under 0.1 s are left out as fixed costs; "
        "the builds are single runs):",
        "",
        "| reader | step | build | index Arrow bytes | load | subset | read |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for who, per in summ.items():
        if who == "big":
            continue
        g = per.get("growth", {})
        steps = sorted({k.split(" ", 1)[1] for k in g}, key=lambda s: int(s.split("->")[0]))
        for st in steps:
            vals = [
                g.get(f"{k} {st}")
                for k in ("build_s", "arrow_bytes", "load_s", "subset_s", "read_s")
            ]
            lines.append(
                f"| {who} | {st} | " + " | ".join(f"{x:.1f}" if x else "–" for x in vals) + " |"
            )
    if summ.get("big"):
        lines += [
            "",
            "Big build: COGs of 10980² px, 256-px tiles, 4 overviews (one physical file behind "
            "every URL), persisted `build_from_table`:",
            "",
            "| reader | COGs | build s | req/file | peak RSS MB | index Parquet MB | index Arrow MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for who, v in summ["big"].items():
            lines.append(
                f"| {who} | {v['cogs']} | {v['build_s']:.2f} | {v['requests_per_file']:.2f} | "
                f"{v['maxrss_mb']:.0f} | {v['index_bytes'] / 1e6:.1f} | "
                f"{(v['arrow_bytes'] or 0) / 1e6:.1f} |"
            )
    return [*lines, ""]


def before_after(baseline: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    if not baseline:
        return []
    if baseline.get("created") == now.get("created"):
        return [
            "### Before → after",
            "",
            f"The committed baseline (`bench/baseline-before.json`) is this very run "
            f"({baseline['created']}): the next report compares against it.",
            "",
        ]
    lines = [
        "### Before → after",
        "",
        f"Baseline `bench/baseline-before.json` ({baseline['created']}, code "
        f"{', '.join(baseline.get('code') or [])}) against this report. Different runs on a "
        "shared machine: compare the ratios of the tables above, and read this as a trend.",
        "",
        "| cell | before s | after s | after ÷ before |",
        "|---|---:|---:|---:|",
    ]
    for k, b in baseline.get("cells", {}).items():
        a = now["cells"].get(k)
        if a and (
            k.split()[1] in ("ours", "floor", "rasteret-0.4.1", "async-geotiff", "virtualizarr")
        ):
            lines.append(
                f"| {k} | {b['median_s']:.3f} | {a['median_s']:.3f} | {a['median_s'] / b['median_s']:.2f} |"
            )
    for side, d in (baseline.get("cold") or {}).items():
        for what, v in d.items():
            a = (now.get("cold") or {}).get(side, {}).get(what)
            if a:
                lines.append(f"| cold `{what}` {side} | {v:.3f} | {a:.3f} | {a / v:.2f} |")
    return [*lines, ""]


def profiles(profs: dict[str, str]) -> list[str]:
    if not profs:
        return []
    lines = ["### Profiles (py-spy, top frames of the timed region)", ""]
    for name, text in profs.items():
        body = [ln for ln in text.strip().splitlines() if not ln.startswith("BENCH-RESULT")]
        lines += [f"**{name}**", "", "```", *body[:40], "```", ""]
    return lines


def plots(
    doc: dict[str, Any],
    agg: dict[Cell, dict[str, Any]],
    png_dir: Path,
    order: list[str],
    model_floor: Callable[[dict[str, Any], str, float], dict[str, float]],
) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: plots skipped (use `uv run --group bench python -m bench`)")
        return []
    png_dir.mkdir(parents=True, exist_ok=True)
    names = []
    lats = doc["latencies"]
    for w in sorted(doc["plans"]):
        readers = [
            r
            for r in order
            if any((w, r, lat) in agg and agg[(w, r, lat)].get("n") for lat in lats)
        ]
        wl = [lat for lat in lats if any((w, r, lat) in agg for r in readers)]
        if not readers or not wl:
            continue
        fig, ax = plt.subplots(figsize=(9, 4.2))
        width = 0.8 / (len(readers) + 1)
        for i, r in enumerate(readers):
            xs, ys, lo, hi = [], [], [], []
            for j, lat in enumerate(wl):
                a = agg.get((w, r, lat))
                if a and a.get("n"):
                    xs.append(j + i * width)
                    ys.append(a["median"])
                    lo.append(a["median"] - a["p25"])
                    hi.append(a["p75"] - a["median"])
            ax.bar(xs, ys, width, yerr=[lo, hi], label=r, capsize=2)
        fx = [j + len(readers) * width for j in range(len(wl))]
        ax.bar(
            fx,
            [model_floor(doc, w, lat)["floor"] for lat in wl],
            width,
            label="model floor",
            color="black",
            alpha=0.35,
        )
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(wl))], [f"{lat:g} ms" for lat in wl])
        ax.set_yscale("log")
        ax.set_ylabel("median wall s (log)")
        ax.set_title(f"{w}: {doc['descriptions'].get(w, '')}", fontsize=9)
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        fig.savefig(png_dir / f"{w}.png", dpi=110)
        plt.close(fig)
        names.append(f"{w}.png")
    for stale in png_dir.glob("*.png"):
        if stale.name not in names:
            stale.unlink()  # a plot of a workload this report no longer shows
    return names
