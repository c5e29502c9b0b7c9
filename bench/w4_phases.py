"""W4 in one process, phase by phase: where a persisted build of 400 big-header COGs spends time.

``uv run --group bench python -m bench.w4_phases --latency 40 --runs 3``

Runs W4's ``build_from_table(..., enrich_cog=True, workspace_dir=tmp)`` against the object
server (its own process) exactly as the suite's *ours* reader does, with timers wrapped
around the build's steps: each step's wall time (for steps on the event-loop thread, summed
over calls: CPU of that single thread) and the process CPU time of the whole build. The
parse / record / column figures are sums over every header, so they are comparable at 0 ms
(nothing overlaps with waiting) and at 40 ms.
"""

from __future__ import annotations

import argparse
import collections
import functools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import corpus, server, workloads
from bench.readers import api

_T: collections.Counter[str] = collections.Counter()


def _timed(
    name: str,
    fn: Callable[..., Any],
    cpu: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[..., Any]:
    if getattr(fn, "_w4_timed", False):
        return fn

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = clock(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _T[name] += clock() - t0
            if cpu:
                _T[name + " [process CPU]"] += time.process_time() - c0

    call._w4_timed = True  # type: ignore[attr-defined]
    return call


def _atimed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(fn, "_w4_timed", False):
        return fn

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return await fn(*args, **kwargs)
        finally:
            _T[name] += time.perf_counter() - t0
            _T[name + " [loop thread CPU]"] += time.thread_time() - c0

    call._w4_timed = True  # type: ignore[attr-defined]
    return call


def _instrument() -> None:
    import rasteret_cog
    import rasteret_ingest.builders as builders
    import rasteret_ingest.enrich as enrich
    import rasteret_ingest.pipeline as pipeline

    hp = rasteret_cog.HeaderParser
    hp.parse = _timed("parse (loop thread CPU)", hp.parse, clock=time.thread_time)
    enrich._enrich = _atimed("enrich coroutine (wall)", enrich._enrich)  # type: ignore[attr-defined]
    enrich.header_to_band_record = _timed(  # type: ignore[attr-defined]
        "header -> record (loop thread CPU)", enrich.header_to_band_record, clock=time.thread_time
    )
    enrich.band_metadata_column_array = _timed(  # type: ignore[attr-defined]
        "records -> Arrow column", enrich.band_metadata_column_array
    )
    enrich._read_all = _atimed("fetch + parse (wall)", enrich._read_all)  # type: ignore[attr-defined]
    pipeline.enrich_table = _timed("enrich step (wall)", pipeline.enrich_table)  # type: ignore[attr-defined]
    pipeline.finalise_records = _timed("finalise + contract check", pipeline.finalise_records)  # type: ignore[attr-defined]
    pipeline.write_collection = _timed("parquet write", pipeline.write_collection, cpu=True)  # type: ignore[attr-defined]
    builders.build_record_table = _timed("prepare + enrich", builders.build_record_table)  # type: ignore[attr-defined]
    builders.write_records = _timed("write step (wall)", builders.write_records)  # type: ignore[attr-defined]
    import rasteret.builds.functions as functions

    functions._collection_of = _timed("open result", functions._collection_of)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.w4_phases")
    p.add_argument("--latency", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    spec = corpus.QUICK if a.quick else corpus.FULL
    root = corpus.ensure(spec)
    task = workloads.make_tasks(spec, a.quick)["W4"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-w4p-"))
    with server.start(root, tmp / "srv.jsonl", latency_ms=a.latency, lifetime_s=900) as srv:
        cfg = {"base_url": srv.base_url, "cache_dir": str(root.parent)}
        state = api.setup(task, cfg)
        _instrument()
        rows: list[dict[str, float]] = []
        import rasteret

        for i in range(a.runs):
            _T.clear()
            c0, w0 = time.process_time(), time.perf_counter()
            t0 = time.monotonic()
            rasteret.build_from_table(
                state["table"],
                name=f"w4p{i}",
                workspace_dir=str(tmp / f"ws{i}"),
                enrich_cog=True,
                band_codes=task["bands"],
                backend=state["backend"],
            )
            t1 = time.monotonic()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            got = srv.window(t0, t1)
            rows.append({"build (wall)": wall, "build (process CPU)": cpu, **_T})
            print(
                f"run {i}: wall {wall:.3f} s, cpu {cpu:.3f} s, "
                f"{got['requests'] / max(1, got['files']):.2f} req/file"
            )
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(state["tmp"], ignore_errors=True)
    names = list(dict.fromkeys(k for r in rows for k in r))
    print(f"\nW4 phases at {a.latency:g} ms, median of {a.runs} (seconds):")
    for k in names:
        print(f"  {statistics.median(r.get(k, 0.0) for r in rows):7.3f}  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
