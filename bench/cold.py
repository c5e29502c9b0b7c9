"""The cold process: a user's whole script, timed from outside as one process.

``uv run --group bench python -m bench.cold [--quick] [--latency 40] [--runs 7]``

For ours (workspace interpreter) and rasteret 0.4.1 (its venv) the same script runs in a fresh
interpreter: ``import rasteret``, ``rasteret.load(<persisted W1 collection>)``, ``get_numpy``
of the W1 AOI, print a checksum. Also timed: ``python -c "import rasteret"`` and an empty
interpreter (``python -c pass``) of each environment. Runs alternate A B A B ... after one
warm-up each (byte-code caches written, page cache warm, as on a user's second run); wall time
from ``Popen`` to exit, CPU and peak RSS from the child's own rusage (``os.wait4``). Medians
and the per-pair ratio ours / 0.4.1 go to ``bench/results/cold[-quick]/cold.json`` and the
report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import corpus, server, venvs, workloads
from bench.runner import RESULTS_DIR, ROOT_DIR, code_key

SCRIPT = """\
import rasteret
backend = rasteret.create_backend(default_s3_config={{"endpoint": {base!r},
    "skip_signature": "true", "allow_http": "true", "region": "us-east-1"}})
col = rasteret.load({path!r})
arr = col.get_numpy(geometries={bounds!r}, bands={bands!r}, geometry_crs={epsg!r},
    backend=backend)
print(int(arr.sum(dtype="uint64")), arr.size)
"""
# appended to every timed command: the child's own peak RSS (VmHWM; ru_maxrss would carry the
# parent's high-water mark across fork + exec)
PEAK = """
for _l in open("/proc/self/status"):
    if _l.startswith("VmHWM:"):
        import sys; print("PEAK", int(_l.split()[1]) / 1024, file=sys.stderr)
"""


def _timed(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    t = time.monotonic()
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT_DIR)
    )
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    assert p.stdout is not None and p.stderr is not None
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {p.returncode}: {err[-1500:]}")
    peak = [float(ln.split()[1]) for ln in err.splitlines() if ln.startswith("PEAK ")]
    return {
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mb": peak[-1] if peak else float("nan"),
        "stdout": out.strip(),
    }


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for k in ("VIRTUAL_ENV", "UV_PYTHON", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
        env.pop(k, None)
    return env


def _summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "n": len(rs),
        "wall_s": statistics.median(r["wall_s"] for r in rs),
        "wall_min_s": min(r["wall_s"] for r in rs),
        "wall_max_s": max(r["wall_s"] for r in rs),
        "cpu_s": statistics.median(r["cpu_s"] for r in rs),
        "maxrss_mb": statistics.median(r["maxrss_mb"] for r in rs),
        "stdout": sorted({r["stdout"] for r in rs}),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--latency", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args(argv)
    from bench.readers import api

    spec = corpus.QUICK if a.quick else corpus.FULL
    root = corpus.ensure(spec)
    task = workloads.make_tasks(spec, a.quick)["W1"]
    out_dir = RESULTS_DIR / ("cold-quick" if a.quick else "cold")
    out_dir.mkdir(parents=True, exist_ok=True)
    sides: dict[str, str] = {"ours": sys.executable}
    py041, why = venvs.ensure("rasteret041")
    if py041 is not None:
        sides["rasteret-0.4.1"] = str(py041)
    else:
        print("rasteret 0.4.1 skipped:", why)
    key = code_key()
    env = _env()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {} for s in sides}
    with server.start(root, out_dir / "server.jsonl", latency_ms=a.latency, lifetime_s=1800) as srv:
        scripts = {}
        for side, py in sides.items():
            cfg = {
                "cache_dir": str(root.parent),
                "code_key": key,
                "base_url": srv.base_url,
                "variant": "041" if side != "ours" else "",
                "prepare_only": True,
            }
            cfg_path = out_dir / f"cfg-{side}.json"
            cfg_path.write_text(json.dumps(cfg))
            task_path = out_dir / "W1.json"
            task_path.write_text(json.dumps(task))
            subprocess.run(
                [py, "-m", "bench.worker", "api", str(task_path), str(cfg_path)],
                check=True,
                capture_output=True,
                env={**env, "PYTHONPATH": str(ROOT_DIR)},
                cwd=str(ROOT_DIR),
                timeout=1800,
            )
            path = api.index_path(task, cfg)
            script = SCRIPT.format(
                base=srv.base_url,
                path=str(path),
                bounds=tuple(task["bounds"]),
                bands=task["bands"],
                epsg=task["epsg"],
            )
            scripts[side] = script
        commands = {
            "script": lambda py, side: [py, "-c", scripts[side] + PEAK],
            "import rasteret": lambda py, side: [py, "-c", "import rasteret\n" + PEAK],
            "python -c pass": lambda py, side: [py, "-c", "pass\n" + PEAK],
        }
        for what, cmd in commands.items():
            for side, py in sides.items():
                _timed(cmd(py, side), env)  # warm-up
                results[side][what] = []
            for rep in range(a.runs):
                order = list(sides) if rep % 2 == 0 else list(reversed(sides))
                for side in order:
                    r = _timed(commands[what](sides[side], side), env)
                    results[side][what].append(r)
                    print(
                        f"  {what:<16} {side:<15} {r['wall_s']:.3f} s  rss {r['maxrss_mb']:.0f} MB"
                    )
    doc: dict[str, Any] = {
        "latency_ms": a.latency,
        "runs": a.runs,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": os.getloadavg(),
        "files": len(task["scenes"]) * len(task["bands"]),
        "summary": {s: {w: _summary(rs) for w, rs in per.items()} for s, per in results.items()},
        "raw": results,
    }
    if "rasteret-0.4.1" in results:
        a_rs, b_rs = results["ours"]["script"], results["rasteret-0.4.1"]["script"]
        ratios = sorted(x["wall_s"] / y["wall_s"] for x, y in zip(a_rs, b_rs))
        doc["ratio_ours_over_041"] = {
            "median": statistics.median(ratios),
            "min": ratios[0],
            "max": ratios[-1],
        }
    sums = {s: doc["summary"][s]["script"]["stdout"] for s in sides}
    doc["checksums_agree"] = len({tuple(v) for v in sums.values()}) == 1
    (out_dir / "cold.json").write_text(json.dumps(doc, indent=1))
    print(
        json.dumps(
            {s: {w: round(v["wall_s"], 3) for w, v in d.items()} for s, d in doc["summary"].items()}
        )
    )
    print("checksums agree:", doc["checksums_agree"], sums)
    return 0 if doc["checksums_agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
