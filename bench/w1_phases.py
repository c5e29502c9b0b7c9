"""W1 in one process, phase by phase, next to the floor reader: where a read spends CPU.

``uv run --group bench python -m bench.w1_phases --latency 40 --runs 10 [--profile out.prof]``

Runs W1's ``rasteret.load`` + ``get_numpy`` against the object server (its own process)
exactly as the suite's *ours* reader does, alternating with the floor reader in the same
process (each run: ours then floor, or floor then ours, alternately). Per run it prints the
wall time and the process CPU time; the medians add the CPU of each thread group (main,
event loop, decode pool, and native threads by name: Arrow's pool shows as ``python``,
obstore's as ``tokio-rt-worker``; from ``/proc/self/task/*/schedstat``), the time in
garbage collection and, for ours, the wall stamps of the end of the record scan, of band
sources, of planning, of the first request and of the last response.

``--profile FILE`` writes a cProfile of the main thread over every run of ours (the serial
part: scan, planning, assembly). ``--no-identity`` (diagnosis only) reads without the
per-request object-identity check, i.e. one obstore future per request instead of two, to
price that check. ``--collection PATH`` (diagnosis only) reads another copy of W1's
collection, e.g. the same records in another file layout.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import gc
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import corpus, server, workloads
from bench.readers import api, floor_reader

_STAMP: dict[str, float] = {}


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per thread group, from /proc (schedstat: nanoseconds on the CPU)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = collections.defaultdict(float)
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                ns = int(fh.read().split()[0])
        except OSError:
            continue
        name = names.get(int(tid), "")
        if name == "MainThread":
            group = "main"
        elif "loop" in name:
            group = "loop"
        elif "decode" in name:
            group = "decode"
        elif name:
            group = "other py"
        else:
            try:
                with open(f"/proc/self/task/{tid}/comm") as fh:
                    comm = fh.read().strip()
            except OSError:
                comm = "?"
            group = "native " + re.sub(r"[-_ ]?\d+$", "", comm)
        out[group] += ns / 1e9
    return dict(out)


def _stamp_end(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            _STAMP.setdefault(name, time.perf_counter())

    return call


def _instrument() -> None:
    import rasteret.read.arrays as arrays_mod
    import rasteret.read.plan as plan_mod
    from rasteret.read._adapter import EngineRecords
    from rasteret_io import _attempts

    plan_mod.aoi_records = _stamp_end("scan", plan_mod.aoi_records)
    EngineRecords.sources = _stamp_end("sources", EngineRecords.sources)  # type: ignore[method-assign]
    arrays_mod.plan_cube = _stamp_end("plan", arrays_mod.plan_cube)
    request = _attempts.GroupFetch._request

    async def first(self: Any, job: Any) -> Any:
        _STAMP.setdefault("first request", time.perf_counter())
        try:
            return await request(self, job)
        finally:
            _STAMP["last response"] = time.perf_counter()

    _attempts.GroupFetch._request = first  # type: ignore[method-assign]


_GC: dict[str, float] = collections.defaultdict(float)
_GC_T0: list[float] = [0.0]


def _gc_cb(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _GC_T0[0] = time.perf_counter()
    else:
        _GC[f"gc gen{info['generation']}"] += time.perf_counter() - _GC_T0[0]


def _no_identity() -> None:
    from rasteret_io.fetch import Fetcher

    init = Fetcher.__init__

    def no_checks(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._checks = False

    Fetcher.__init__ = no_checks  # type: ignore[method-assign]


def _diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: b.get(k, 0.0) - a.get(k, 0.0) for k in b}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.w1_phases")
    p.add_argument("--latency", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--profile", default=None, help="cProfile of ours' main thread to this file")
    p.add_argument("--no-floor", action="store_true")
    p.add_argument(
        "--collection",
        default=None,
        help="diagnosis only: read this copy of W1's collection instead (e.g. another layout)",
    )
    p.add_argument(
        "--no-identity",
        action="store_true",
        help="diagnosis only: ours without the per-request identity check (one obstore future "
        "per request instead of two), to price that check",
    )
    a = p.parse_args(argv)
    spec = corpus.QUICK if a.quick else corpus.FULL
    root = corpus.ensure(spec)
    task = workloads.make_tasks(spec, a.quick)["W1"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-w1p-"))
    prof = cProfile.Profile() if a.profile else None
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "floor": []}
    with server.start(root, tmp / "srv.jsonl", latency_ms=a.latency, lifetime_s=900) as srv:
        cfg = {"base_url": srv.base_url, "cache_dir": str(root.parent)}
        state = api.setup(task, cfg)
        if a.collection:
            state["path"] = a.collection
        _instrument()
        if a.no_identity:
            _no_identity()
        import rasteret

        gc.callbacks.append(_gc_cb)

        def ours() -> dict[str, float]:
            _STAMP.clear()
            _GC.clear()
            th0, c0, w0 = _thread_cpu(), time.process_time(), time.perf_counter()
            if prof is not None:
                prof.enable()
            col = rasteret.load(state["path"])
            api._read(col, task, state["backend"])
            if prof is not None:
                prof.disable()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            th = _diff(th0, _thread_cpu())
            stamps = {f"@{k}": v - w0 for k, v in _STAMP.items()}
            return {
                "wall": wall,
                "cpu": cpu,
                **{f"cpu {k}": v for k, v in th.items()},
                **stamps,
                **_GC,
            }

        def floor() -> dict[str, float]:
            fs = floor_reader.setup(task, cfg)
            th0, c0, w0 = _thread_cpu(), time.process_time(), time.perf_counter()
            out = floor_reader.run(fs)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            th = _diff(th0, _thread_cpu())
            out["_finish"]()
            return {"wall": wall, "cpu": cpu, **{f"cpu {k}": v for k, v in th.items()}}

        for i in range(a.runs):
            order = [("ours", ours), ("floor", floor)]
            if i % 2:
                order.reverse()
            for name, fn in order:
                if name == "floor" and a.no_floor:
                    continue
                rows[name].append(fn())
            o = rows["ours"][-1]
            f = rows["floor"][-1] if rows["floor"] else {"wall": float("nan"), "cpu": 0.0}
            print(
                f"run {i}: ours {o['wall'] * 1e3:6.1f} ms (cpu {o['cpu'] * 1e3:5.1f}), "
                f"floor {f['wall'] * 1e3:6.1f} ms (cpu {f['cpu'] * 1e3:5.1f}), "
                f"ratio {o['wall'] / f['wall']:.2f}"
            )
    shutil.rmtree(tmp, ignore_errors=True)
    if prof is not None:
        prof.dump_stats(a.profile)
    print(f"\nW1 at {a.latency:g} ms, median of {a.runs} (ms); load {os.getloadavg()[0]:.2f}")
    for name, rs in rows.items():
        if not rs:
            continue
        print(f" {name}:")
        for k in sorted({k for r in rs for k in r}):
            print(f"  {1e3 * statistics.median(r.get(k, 0.0) for r in rs):8.1f}  {k}")
    if rows["floor"]:
        ratios = [o["wall"] / f["wall"] for o, f in zip(rows["ours"], rows["floor"], strict=True)]
        print(f" paired wall ratio ours/floor: median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
