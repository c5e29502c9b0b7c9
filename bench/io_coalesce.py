"""Benchmark: range coalescing settings for tile-like reads (rasteret-io).

Writes a synthetic object laid out like a COG's tile data (N tiles of 60-200 KB, packed
with small gaps), starts the loopback object server as a subprocess with a fixed
first-byte latency, and reads three access patterns through
``rasteret_io.fetch_ranges`` for several ``(max_gap, max_size)`` settings, plus
obstore's own ``get_ranges`` (1 MiB coalescing, 10 parallel requests) as a baseline.

Usage::

    uv run python bench/io_coalesce.py [--latency-ms 40] [--bandwidth-mbps N] [--reps 3]

Prints a Markdown table (requests, bytes over-read, median wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rasteret_io import IOMetrics, RangeRequest, create_backend, fetch_ranges, run_sync
from rasteret_io.retry import RetryPolicy

KiB = 1024
MiB = 1024 * KiB
GRID_W, GRID_H = 32, 16  # 512 tiles, row-major like a COG's tile offsets


def make_layout(seed: int = 0) -> tuple[list[int], list[int], int]:
    """Tile offsets/byte counts: 60-200 KB tiles separated by 0-2 KB gaps."""
    rng = random.Random(seed)
    starts, ends, pos = [], [], 16 * KiB  # header area first
    for _ in range(GRID_W * GRID_H):
        size = rng.randint(60_000, 200_000)
        starts.append(pos)
        ends.append(pos + size)
        pos += size + rng.choice([0, 0, 0, 512, 2048])
    return starts, ends, pos


def patterns(starts: list[int], ends: list[int]) -> dict[str, list[int]]:
    """Tile indices read by each access pattern."""
    window = [r * GRID_W + c for r in range(4, 12) for c in range(10, 18)]  # 8x8 window
    rng = random.Random(1)
    sparse = sorted(rng.sample(range(len(starts)), 64))
    return {
        "full (512 tiles)": list(range(len(starts))),
        "window 8x8 (64 tiles)": window,
        "sparse (64 random tiles)": sparse,
    }


SETTINGS: list[tuple[str, int, int]] = [
    ("no coalescing", -1, 1 << 40),
    ("gap 1 KiB, unbounded (original)", 1 * KiB, 1 << 40),
    ("gap 64 KiB, 1 MiB", 64 * KiB, 1 * MiB),
    ("gap 64 KiB, 2 MiB", 64 * KiB, 2 * MiB),
    ("gap 64 KiB, 4 MiB (default)", 64 * KiB, 4 * MiB),
    ("gap 64 KiB, 8 MiB", 64 * KiB, 8 * MiB),
    ("gap 64 KiB, 16 MiB", 64 * KiB, 16 * MiB),
    ("gap 64 KiB, unbounded", 64 * KiB, 1 << 40),
    ("gap 1 MiB, 4 MiB", 1 * MiB, 4 * MiB),
]


def start_server(
    root: Path, latency_ms: float, bandwidth_mbps: float | None
) -> tuple[subprocess.Popen[str], int]:
    cmd = [
        sys.executable,
        "-m",
        "rasteret_testkit.objserver",
        "--root",
        str(root),
        "--latency-ms",
        str(latency_ms),
        "--lifetime-s",
        "900",
    ]
    if bandwidth_mbps:
        cmd += ["--bandwidth-mbps", str(bandwidth_mbps)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "PORT":
        proc.kill()
        raise RuntimeError(f"object server did not start: {line}")
    return proc, int(line[1])


async def _obstore_baseline(url: str, starts: list[int], ends: list[int]) -> int:
    import obstore
    from obstore.store import HTTPStore

    base, _, path = url.rpartition("/")
    store = HTTPStore.from_url(base + "/", client_options={"allow_http": True})
    bufs = await obstore.get_ranges_async(store, path, starts=starts, ends=ends)
    return sum(len(b) for b in bufs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=40.0)
    ap.add_argument("--bandwidth-mbps", type=float, default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument(
        "--per-conn-mbps",
        type=float,
        default=None,
        help="put the latency proxy (no delay) in front, capping each connection",
    )
    a = ap.parse_args()

    starts, ends, total = make_layout()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cog.bin").write_bytes(random.Random(2).randbytes(total))
        proc, port = start_server(root, a.latency_ms, a.bandwidth_mbps)
        proxy = None
        if a.per_conn_mbps:
            proxy = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rasteret_testkit.latency_proxy",
                    "--upstream",
                    f"127.0.0.1:{port}",
                    "--delay-ms",
                    "0",
                    "--bandwidth-mbps",
                    str(a.per_conn_mbps),
                    "--lifetime-s",
                    "900",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proxy.stdout is not None
            port = int(proxy.stdout.readline().split()[1])
        try:
            url = f"http://127.0.0.1:{port}/cog.bin"
            backend = create_backend()
            retry = RetryPolicy(max_attempts=3, timeout=60)
            run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 10)]))  # warm pool
            print(
                f"latency {a.latency_ms} ms, bandwidth {a.bandwidth_mbps or 'unlimited'} MB/s, "
                f"per connection {a.per_conn_mbps or 'unlimited'} MB/s, "
                f"concurrency {a.concurrency}, object {total / MiB:.1f} MiB, reps {a.reps}\n"
            )
            print("| pattern | setting | requests | requested MB | over-read | median s |")
            print("|---|---|---:|---:|---:|---:|")
            for pname, idx in patterns(starts, ends).items():
                s_ = [starts[i] for i in idx]
                e_ = [ends[i] for i in idx]
                wanted = sum(e - s for s, e in zip(s_, e_))
                for label, gap, size in SETTINGS:
                    times, m = [], IOMetrics()
                    for _ in range(a.reps):
                        m.reset()
                        reqs = [RangeRequest(url, s, e) for s, e in zip(s_, e_)]
                        t0 = time.perf_counter()
                        run_sync(
                            fetch_ranges(
                                backend,
                                reqs,
                                max_gap=gap,
                                max_size=size,
                                concurrency=a.concurrency,
                                retry=retry,
                                metrics=m,
                            )
                        )
                        times.append(time.perf_counter() - t0)
                    snap = m.snapshot()
                    print(
                        f"| {pname} | {label} | {snap.requests} | {snap.bytes / 1e6:.1f} | "
                        f"{snap.bytes / wanted - 1:+.1%} | {statistics.median(times):.3f} |"
                    )
                times = []
                for _ in range(a.reps):
                    t0 = time.perf_counter()
                    run_sync(_obstore_baseline(url, s_, e_))
                    times.append(time.perf_counter() - t0)
                print(
                    f"| {pname} | obstore get_ranges (1 MiB, 10 parallel) | - | - | - | "
                    f"{statistics.median(times):.3f} |"
                )
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(10)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
