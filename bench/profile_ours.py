"""Profile one benchmark run of a reader with py-spy (sampling, all threads, native frames off).

``uv run python -m bench.profile_ours W1 --latency 40 [--reader ours] [--py-spy PATH]``

Runs the worker exactly as the suite does, under ``py-spy record --format raw``, keeps only the
samples taken inside the timed ``run`` (main-thread stacks through ``bench/worker.py:main`` ->
``run``) and those of the library's own threads (event loop, decode pool; their share of the
untimed one-record warm-up in ``setup`` is small),
and prints the hottest leaf functions and the hottest inclusive frames, in percent of samples
(a sample per thread per tick: a busy 2-thread decode pool counts twice).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import corpus, server, workloads
from bench.runner import READERS, ROOT_DIR, code_key


def _summarise(raws: list[Path], top: int) -> str:
    leaf: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    lines = [ln for raw in raws if raw.exists() for ln in raw.read_text().splitlines()]
    for line in lines:
        stack, _, n = line.rpartition(" ")
        # "thread (1234): rasteret-decode_0" -> "thread: rasteret-decode_0" (ids differ per run)
        frames = [re.sub(r"^thread \(\w+\)", "thread", f) for f in stack.split(";")]
        if not any(
            f.startswith("run (bench/readers/")
            or f.startswith("_worker (")
            or (f.startswith("thread") and "rasteret" in f)
            for f in frames
        ):
            continue  # setup and imports of the main thread, other idle threads
        k = int(n)
        total += k
        leaf[frames[-1]] += k
        for f in set(frames):
            incl[f] += k
    out = [f"{total} samples in the timed regions of {len(raws)} runs", "", "hottest leaves:"]
    out += [f"  {100 * v / total:5.1f}%  {f}" for f, v in leaf.most_common(top)]
    out += ["", "hottest inclusive frames:"]
    out += [f"  {100 * v / total:5.1f}%  {f}" for f, v in incl.most_common(top * 2)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_ours")
    p.add_argument("workload", choices=workloads.ALL)
    p.add_argument("--latency", type=float, default=40.0)
    p.add_argument("--reader", default="ours")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rate", type=int, default=250)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    p.add_argument("--save", default=None, help="also write the summary to this file")
    p.add_argument("--repeat", type=int, default=5, help="profiled runs summed (fresh processes)")
    a = p.parse_args(argv)
    spec = corpus.QUICK if a.quick else corpus.FULL
    root = corpus.ensure(spec)
    reader = READERS[a.reader]
    if reader.venv is not None:
        p.error("profiles the workspace interpreter's readers only")
    tmp = Path(tempfile.mkdtemp(prefix="bench-prof-"))
    task = workloads.write_tasks(workloads.make_tasks(spec, a.quick), tmp)[a.workload]
    with server.start(root, tmp / "srv.jsonl", latency_ms=a.latency, lifetime_s=600) as srv:
        cfg = tmp / "cfg.json"
        cfg.write_text(
            json.dumps(
                {
                    "base_url": srv.base_url,
                    "variant": reader.variant,
                    "cache_dir": str(root.parent),
                    "code_key": code_key(),
                }
            )
        )
        raws: list[Path] = []
        results: list[dict[str, Any]] = []
        for i in range(a.repeat):
            raw = tmp / f"prof-{i}.txt"
            raws.append(raw)
            env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            proc = subprocess.run(
                [
                    a.py_spy,
                    "record",
                    "--format",
                    "raw",
                    "--threads",
                    "-r",
                    str(a.rate),
                    "-o",
                    str(raw),
                    "--",
                    sys.executable,
                    "-m",
                    "bench.worker",
                    reader.family,
                    str(task),
                    str(cfg),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
                cwd=str(ROOT_DIR),
            )
            line = next(
                (ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT")), ""
            )
            print(line[:400] or proc.stderr[-2000:])
            if line:
                results.append(json.loads(line.removeprefix("BENCH-RESULT ")))
    if raws:
        text = _summarise(raws, a.top)
        walls = sorted(float(r["wall_s"]) for r in results if "wall_s" in r)
        head = (
            f"{a.workload} at {a.latency:g} ms, reader {a.reader}, py-spy {a.rate} Hz, all "
            f"threads, {a.repeat} runs; timed region "
            + (f"{walls[len(walls) // 2]:.3f} s (median)" if walls else "?")
            + "\n\n"
        )
        print(text)
        if a.save:
            Path(a.save).parent.mkdir(parents=True, exist_ok=True)
            Path(a.save).write_text(head + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
