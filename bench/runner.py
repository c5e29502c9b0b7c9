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
        Reader("ours", "ours", "", None),
        Reader("ours-grid", "ours", "grid", None, ("W1", "W5")),
        Reader("ours-api", "rasteret-0.4.1", "api", None),
        Reader("rasterio-seq", "rasterio", "seq", "peers", ("W1", "W4")),
        Reader("rasterio-t16", "rasterio", "t16", "peers"),
        Reader("async-tiff-cold", "async-tiff", "cold", "peers"),
        Reader("async-tiff-warm", "async-tiff", "warm", "peers", ("W1", "W2", "W3", "W5")),
        Reader("rasteret-0.4.1", "rasteret-0.4.1", "", "rasteret041"),
    )
}


def expand_readers(names: list[str]) -> list[str]:
    """``rasterio`` -> both rasterio variants, ``async-tiff`` -> both, else exact names."""
    out: list[str] = []
    for n in names:
        matches = [k for k in READERS if k == n or (n != "ours" and k.startswith(n + "-"))]
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
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR), "PYTHONHASHSEED": "0"}
    # byte-code caching on, as users have it (this machine's shell sets it off)
    for k in ("VIRTUAL_ENV", "UV_PYTHON", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    t = time.monotonic()
    try:
        p = subprocess.run(
            [python, "-m", "bench.worker", reader.family, str(task_path), str(cfg_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(ROOT_DIR),
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if not lines:
        return {"ok": False, "error": f"exit {p.returncode}: {p.stderr.strip()[-800:]}"}
    out = json.loads(lines[-1].removeprefix("BENCH-RESULT "))
    out["process_s"] = time.monotonic() - t
    return out


def code_version() -> str:
    """Workspace commit plus a marker when packages/ has uncommitted edits (the code a fresh
    worker imports is whatever is on disk when it starts)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
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
            str(root / corpus.BUCKET / "pool" / "big.tif"),
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
    cfg_base = {"cache_dir": str(root.parent)}
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
                k: v
                for k, v in venvs.freeze(Path(py)).items()
                if k in ("rasterio", "async-tiff", "obstore", "rasteret", "numpy", "imagecodecs")
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
