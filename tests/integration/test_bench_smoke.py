"""Smoke run of the benchmark suite: every workload once, tiny corpus, 0 ms.

Not a benchmark: it only checks that the suite runs end to end and that the readers agree
(identical checksums). Readers needing the Python 3.12 venvs are left out: rasterio runs in this interpreter
(``--local-rasterio``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("rasterio")


@pytest.mark.slow
def test_bench_quick_checksums_agree() -> None:
    out = "smoke-test"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--readers",
            "ours,rasterio",
            "--local-rasterio",
            "--workloads",
            "W1,W2,W3,W5",
            "--out",
            out,
            "--no-report",
            "--timeout",
            "45",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((ROOT / "bench" / "results" / out / "results.json").read_text())
    records = doc["records"]
    assert {r["workload"] for r in records} == {"W1", "W2", "W3", "W5"}
    assert all(r["ok"] for r in records), [r.get("error") for r in records]
    for w in ("W1", "W2", "W3", "W5"):
        sums = {r["reader"]: r["checksum"] for r in records if r["workload"] == w}
        assert all(r["srv_requests"] > 0 for r in records if r["workload"] == w)
        assert {"ours", "rasterio-t16"} <= set(sums)
        assert len(set(sums.values())) == 1, (w, sums)
