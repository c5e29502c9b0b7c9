"""``uv run --group bench python -m bench [--quick] [--workloads W1,W4] [--latencies 0,40]
[--runs 5] [--readers ours,floor,...] [--out NAME] [--no-report] [--report-only]
[--save-baseline]``

Runs the benchmark suite on this machine (results in ``bench/results/NAME``) and regenerates
the suite section of ``docs/benchmarks.md`` plus ``docs/benchmarks/*.png`` from every saved
``bench/results/full-*`` run (see ``bench/report.py``). ``--quick`` is a smoke run: tiny corpus,
one run, 0 ms, the readers of this interpreter, no report.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import corpus, runner, workloads
from bench.runner import QUICK_READERS, READERS, RESULTS_DIR


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="smoke: tiny corpus, 1 run, 0 ms")
    p.add_argument("--workloads", type=_csv, default=list(workloads.ALL))
    p.add_argument("--latencies", type=_csv, default=None, help="ms, default 0,10,40,100")
    p.add_argument("--runs", type=int, default=None, help="runs per cell (default 5)")
    p.add_argument(
        "--readers",
        type=_csv,
        default=None,
        help="default: all (--quick: ours, floor)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    p.add_argument("--out", default=None, help="results directory (default bench/results/<spec>)")
    p.add_argument(
        "--local-rasterio",
        action="store_true",
        help="run the rasterio readers in this interpreter, not the 3.12 venv",
    )
    p.add_argument("--no-report", action="store_true", help="do not write docs/benchmarks*")
    p.add_argument("--report-only", action="store_true", help="rewrite docs from saved results")
    p.add_argument(
        "--save-baseline",
        action="store_true",
        help="write bench/baseline-before.json from the saved results (the next report's 'before')",
    )
    p.add_argument(
        "--prefix", default="full-", help="saved runs merged by the report (bench/results/PREFIX*)"
    )
    a = p.parse_args(argv)
    spec = corpus.QUICK if a.quick else corpus.FULL
    out = RESULTS_DIR / (a.out or ("quick" if a.quick else "full-" + time.strftime("%Y%m%d-%H%M")))
    if a.report_only or a.save_baseline:
        from bench import report

        if a.save_baseline:
            report.save_baseline(a.prefix)
        if a.report_only:
            report.write(a.prefix)
        return 0
    latencies = [
        float(x) for x in (a.latencies or (["0"] if a.quick else ["0", "10", "40", "100"]))
    ]
    runs = a.runs or (1 if a.quick else 5)
    bad = [w for w in a.workloads if w not in workloads.ALL]
    if bad:
        p.error(f"unknown workloads {bad}")
    t = time.monotonic()
    doc = runner.run_suite(
        spec,
        quick=a.quick,
        workload_names=a.workloads,
        reader_names=runner.expand_readers(
            a.readers or list(QUICK_READERS if a.quick else READERS)
        ),
        latencies=latencies,
        runs=runs,
        out_dir=out,
        timeout=a.timeout,
        local_rasterio=a.local_rasterio,
    )
    print(f"suite done in {time.monotonic() - t:.0f} s -> {out / 'results.json'}")
    failed = [r for r in doc["records"] if not r.get("ok")]
    from bench import report

    mismatches = report.checksum_mismatches(doc)
    for m in mismatches:
        print("CHECKSUM MISMATCH:", m, file=sys.stderr)
    if not a.no_report and not a.quick:
        report.write(a.prefix)
    return 1 if (failed or mismatches) and a.quick else 0


if __name__ == "__main__":
    raise SystemExit(main())
