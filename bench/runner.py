"""Run the matrix: latencies x repetitions x workloads x readers, each cell in a fresh process.

Order within a repetition alternates (ABBA) so slow drifts of the shared machine hit every
reader alike. Every run is bounded by a timeout; the server has a bounded lifetime.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import corpus, floor, server, venvs, workloads
from bench.corpus import BENCH_DIR, CorpusSpec

ROOT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# package versions recorded for each venv in the report
VERSIONED = (
    "rasterio",
    "async-tiff",
    "async-geotiff",
    "virtualizarr",
    "virtual-tiff",
    "icechunk",
    "odc-stac",
    "zarr",
    "xarray",
    "obstore",
    "rasteret",
    "numpy",
    "imagecodecs",
)


@dataclass(frozen=True)
class Reader:
    name: str
    family: str  # key of bench.worker.MODULES
    variant: str
    venv: str | None  # None: this (workspace) interpreter
    workloads: tuple[str, ...] = workloads.ALL


READERS = {
    r.name: r
    for r in (
        Reader("ours", "api", "", None),
        Reader("ours-engine", "engine", "", None, ("W1", "W2", "W3", "W4", "W5")),
        Reader("ours-xarray", "api", "xarray", None, ("W1",)),
        Reader("floor", "floor", "", None, ("W1", "W5", "W6")),
        Reader("rasterio-seq", "rasterio", "seq", "peers", ("W1",)),
        Reader("rasterio-t16", "rasterio", "t16", "peers"),
        Reader("async-tiff-cold", "async-tiff", "cold", "peers"),
        Reader("async-tiff-warm", "async-tiff", "warm", "peers", ("W1", "W2", "W3", "W5", "W6")),
        Reader("async-geotiff", "async-geotiff", "", "peers", ("W1", "W4", "W5", "W6")),
        Reader("virtualizarr", "virtual", "", "virtual", ("W1", "W4")),
        Reader("odc-stac", "odc-stac", "", "odc", ("W1", "W5", "W6")),
        Reader("rasteret-0.4.1", "api", "041", "rasteret041"),
    )
}
# what `--quick` runs unless --readers is given: this interpreter only (no venv to build)
QUICK_READERS = ("ours", "floor")


def expand_readers(names: list[str]) -> list[str]:
    """``rasterio`` -> both rasterio variants, ``async-tiff`` -> both, else exact names."""
    out: list[str] = []
    for n in names:
        matches = [
            k
            for k in READERS
            if k == n or (n in ("rasterio", "async-tiff") and k.startswith(n + "-"))
        ]
        if not matches:
            raise SystemExit(f"unknown reader {n!r}; known: {', '.join(READERS)}")
        out += [m for m in matches if m not in out]
    return out


def _python_for(reader: Reader, notes: list[str], log: Any) -> str | None:
    if reader.venv is None:
        return sys.executable
    py, why = venvs.ensure(reader.venv, log)
    if py is None:
        notes.append(f"{reader.name}: skipped, {why}")
        return None
    return str(py)


def run_worker(
    python: str, reader: Reader, task_path: Path, cfg: dict[str, Any], tmp: Path, timeout: float
) -> dict[str, Any]:
    cfg_path = tmp / f"cfg-{reader.name}.json"
    cfg_path.write_text(json.dumps({**cfg, "variant": reader.variant}))
    args = ["bench.worker", reader.family, str(task_path), str(cfg_path)]
    return run_child(python, args, "BENCH-RESULT ", timeout)


def run_child(python: str, module_args: list[str], marker: str, timeout: float) -> dict[str, Any]:
    """Run ``python -m *module_args`` from the workspace root and return the JSON of its last
    stdout line starting with ``marker`` (plus ``process_s``), or ``{"ok": False, "error"}``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR), "PYTHONHASHSEED": "0"}
    # byte-code caching on, as users have it (this machine's shell sets it off)
    for k in ("VIRTUAL_ENV", "UV_PYTHON", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    t = time.monotonic()
    try:
        p = subprocess.run(
            [python, "-m", *module_args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(ROOT_DIR),
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(marker)]
    if not lines:
        return {"ok": False, "error": f"exit {p.returncode}: {p.stderr.strip()[-800:]}"}
    out: dict[str, Any] = json.loads(lines[-1].removeprefix(marker))
    out["process_s"] = time.monotonic() - t
    return out


def code_key() -> str:
    """A short key of the workspace packages' content (committed tree + uncommitted diff):
    persisted collections built by our code are cached under it, so a code change that alters
    the index format never reads a stale index."""
    import hashlib

    try:
        tree = subprocess.run(
            ["git", "rev-parse", "HEAD:packages"],
            cwd=ROOT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "packages"],
            cwd=ROOT_DIR,
            capture_output=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return hashlib.sha1(tree.encode() + diff).hexdigest()[:12]


def code_version() -> str:
    """Last commit touching packages/ plus a marker when packages/ has uncommitted edits (the
    code a fresh worker imports is whatever is on disk when it starts)."""
    try:
        # the last commit that changed the packages (benchmark-only commits do not count)
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", "packages"],
            cwd=ROOT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "packages"],
            cwd=ROOT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head + ("+dirty-packages" if dirty else "")


def machine_info() -> dict[str, Any]:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    except OSError:
        cpu = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def run_suite(
    spec: CorpusSpec,
    *,
    quick: bool,
    workload_names: list[str],
    reader_names: list[str],
    latencies: list[float],
    runs: int,
    out_dir: Path,
    timeout: float = 300.0,
    local_rasterio: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Run everything; return the results document (also written to ``out_dir/results.json``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    root = corpus.ensure(spec, log)
    tasks = workloads.make_tasks(spec, quick)
    task_paths = workloads.write_tasks(tasks, out_dir / "tasks")
    notes: list[str] = []
    pythons: dict[str, str] = {}
    for name in reader_names:
        reader = READERS[name]
        if local_rasterio and reader.family == "rasterio":
            reader = READERS[name] = replace(reader, venv=None)
        py = _python_for(reader, notes, log)
        if py is not None:
            pythons[name] = py
    cells = [
        (w, r)
        for w in workload_names
        for r in reader_names
        if r in pythons and w in READERS[r].workloads
    ]
    corpus.warm_page_cache(spec)
    # rates for the floor, with a 0-latency server
    with server.start(root, out_dir / "server-rates.jsonl", lifetime_s=300) as srv:
        pool = [
            f"{corpus.BUCKET}/pool/{p.name}"
            for p in corpus.physical_files(spec)
            if p.name.startswith("ts_")
        ]
        rates = floor.measure(
            srv.base_url,
            str(corpus.ts_physical(spec, 0, spec.bands[0])),
            str(corpus.big_physical(spec)),
            pool,
        )
    log(
        f"rates: tile decode {rates.t_tile_s * 1e3:.2f} ms (512²), "
        f"{rates.t_tile_big_s * 1e3:.2f} ms (256²), loopback {rates.bandwidth_Bps / 1e6:.0f} MB/s"
    )
    plans = {w: floor.plan(tasks[w]) for w in workload_names}
    records: list[dict[str, Any]] = []
    runs_path = out_dir / "runs.jsonl"
    runs_path.write_text("")
    versions: dict[str, Any] = {}
    cfg_base = {"cache_dir": str(root.parent), "code_key": code_key()}
    # persisted indexes (built once per library and code version) before any timed run
    with server.start(root, out_dir / "server-prepare.jsonl", lifetime_s=1800) as srv:
        cfg = {**cfg_base, "base_url": srv.base_url, "latency_ms": 0.0, "prepare_only": True}
        from bench.readers.api import index_path

        seen: set[Path] = set()
        for w, rname in cells:
            reader = READERS[rname]
            if reader.family == "api" and tasks[w]["kind"] != "headers":
                path = index_path(tasks[w], {**cfg, "variant": reader.variant})
                if path in seen or path.exists():
                    continue
                seen.add(path)
                res = run_worker(pythons[rname], reader, task_paths[w], cfg, out_dir, 1800)
                if not res.get("ok"):
                    log(f"  prepare {w} {rname}: FAILED {res.get('error', '')[:300]}")
    for lat in latencies:
        budget = max(600.0, len(cells) * runs * timeout)
        with server.start(
            root, out_dir / f"server-{lat:g}ms.jsonl", latency_ms=lat, lifetime_s=budget
        ) as srv:
            cfg = {**cfg_base, "base_url": srv.base_url, "latency_ms": lat}
            for rep in range(runs):
                order = cells if rep % 2 == 0 else list(reversed(cells))
                for w, rname in order:
                    reader = READERS[rname]
                    code = code_version()
                    cpu0 = server.server_cpu_s(srv.proc)
                    res = run_worker(pythons[rname], reader, task_paths[w], cfg, out_dir, timeout)
                    cpu1 = server.server_cpu_s(srv.proc)
                    counts = srv.window(res["t0"], res["t1"]) if res.get("ok") else {}
                    if "versions" in res:
                        versions[rname] = res.pop("versions")
                    res.pop("traceback", None) if res.get("ok") else None
                    rec = {
                        "workload": w,
                        "reader": rname,
                        "latency_ms": lat,
                        "rep": rep,
                        **res,
                        **{f"srv_{k}": v for k, v in counts.items()},
                        "srv_cpu_s": cpu1 - cpu0,
                        "loadavg": os.getloadavg()[0],
                        "code": code,
                    }
                    records.append(rec)
                    with runs_path.open("a") as fh:
                        fh.write(json.dumps(rec) + "\n")
                    status = (
                        f"{res['wall_s']:.3f} s  req={counts.get('requests')}  "
                        f"{res.get('checksum')}"
                        if res.get("ok")
                        else f"FAILED {res.get('error', '')[:300]}"
                    )
                    log(f"  {lat:>5g} ms  rep {rep}  {w}  {rname:<16} {status}")
    for name, py in pythons.items():
        if READERS[name].venv and READERS[name].venv not in versions:
            versions[READERS[name].venv] = {
                k: v for k, v in venvs.freeze(Path(py)).items() if k in VERSIONED
            }
    doc = {
        "spec": spec.name,
        "quick": quick,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {**machine_info(), "loadavg_end": os.getloadavg()},
        "rates": rates.as_json(),
        "plans": plans,
        "descriptions": {w: workloads.DESCRIPTIONS[w] for w in workload_names},
        "task_sizes": {w: _task_size(tasks[w]) for w in workload_names},
        "latencies": latencies,
        "runs": runs,
        "readers": [r for r in reader_names if r in pythons],
        "notes": notes,
        "versions": versions,
        "records": records,
        "argv": sys.argv[1:],
    }
    (out_dir / "results.json").write_text(json.dumps(doc, indent=1))
    return doc


def _task_size(task: dict[str, Any]) -> dict[str, Any]:
    n_files = len(task["scenes"]) * len(task["bands"])
    out = {"scenes": len(task["scenes"]), "bands": len(task["bands"]), "files": n_files}
    if task["kind"] == "chips":
        out["chips"] = len(task["chips"])
    if task["kind"] == "points":
        out["points"] = len(task["xs"])
    return out
