"""Long fuzz of the header parser AND the tile decoder with mutated real GDAL files.

CI runs bounded hypothesis versions (``packages/rasteret-cog/tests/test_malformed.py`` for
parsing, ``test_limits.py`` for parse + decode under time and memory bounds). This script runs
as many inputs as asked with the **default** limits (``ParseLimits()``, ``decode_tile``'s
256 MiB tile cap), which is what users get: random byte/word mutations of header and tile bytes
and truncations of real files, parsed with and without a known file size; every level of every
successful parse has its first, middle and last tile decoded (from the mutated bytes, sometimes
mutated once more).

Reported: inputs, parses, decodes, typed errors by class (parse and decode), untyped failures
(each saved under the artifacts directory; they fail the run), the slowest input (wall and CPU
time of parse + decodes) and the process's peak RSS.

Run (long, low priority)::

    nice -n 19 uv run python bench/cog_fuzz.py --inputs 1000000 --json fuzz.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rasteret_cog import CogError, decode_tile, parse_header
from rasteret_testkit.cogs import sample_array, write_cog

SEEDS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("le-deflate-pred2", "uint8", 1, dict(compress="DEFLATE", predictor=2)),
    ("bigtiff-i16", "int16", 2, dict(compress="NONE", bigtiff=True)),
    (
        "be-planar-f32-pred3",
        "float32",
        2,
        dict(driver="GTiff", endianness="BIG", interleave="BAND", predictor=3),
    ),
    ("jpeg-mask", "uint8", 3, dict(compress="JPEG", mask=np.ones((40, 48), bool))),
    (
        "laea-zstd",
        "uint16",
        1,
        dict(compress="ZSTD", nodata=0, crs="+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80"),
    ),
    ("lerc", "float32", 1, dict(compress="LERC_ZSTD")),
    ("strips-lzw", "uint16", 1, dict(driver="GTiff", tiled=False, compress="LZW", overviews=False)),
    (
        "one-row-strips-planar",
        "uint16",
        3,
        dict(
            driver="GTiff",
            tiled=False,
            compress="DEFLATE",
            predictor=2,
            interleave="BAND",
            blockysize=1,
            overviews=False,
        ),
    ),
    ("nbits12", "uint16", 1, dict(compress="DEFLATE", nbits=12)),
    ("webp", "uint8", 3, dict(compress="WEBP", driver="GTiff", webp_lossless=True)),
    ("packbits-i8", "int8", 1, dict(compress="PACKBITS")),
    ("lzma-f64", "float64", 1, dict(compress="LZMA")),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """1-8 byte/word/bit mutations (mostly in the first 4 KiB), sometimes a truncation."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        span = min(len(b), 4096) if rng.random() < 0.8 else len(b)
        if span == 0:
            break
        pos = rng.randrange(span)
        kind = rng.random()
        if kind < 0.4:
            b[pos] = rng.randrange(256)
        elif kind < 0.8:
            w = rng.choice([2, 4, 8])
            v = rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, 2**63, rng.getrandbits(64)])
            b[pos : pos + w] = (v % (1 << (8 * w))).to_bytes(w, rng.choice(["little", "big"]))[
                : len(b) - pos
            ]
        else:
            b[pos] ^= 1 << rng.randrange(8)
    if rng.random() < 0.1:
        b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


class Stats:
    """Counters of one run."""

    def __init__(self) -> None:
        self.inputs = 0
        self.parsed = 0
        self.decodes = 0
        self.decoded = 0
        self.parse_errors: Counter[str] = Counter()
        self.decode_errors: Counter[str] = Counter()
        self.untyped = 0
        self.max_wall_ms = 0.0
        self.max_cpu_ms = 0.0
        self.slow_inputs = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "parsed": self.parsed,
            "decodes": self.decodes,
            "decoded": self.decoded,
            "typed_parse_errors": sum(self.parse_errors.values()),
            "typed_decode_errors": sum(self.decode_errors.values()),
            "parse_errors_by_class": dict(self.parse_errors.most_common()),
            "decode_errors_by_class": dict(self.decode_errors.most_common()),
            "untyped": self.untyped,
            "max_wall_ms_per_input": round(self.max_wall_ms, 2),
            "max_cpu_ms_per_input": round(self.max_cpu_ms, 2),
            "inputs_over_slow_ms": self.slow_inputs,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def one_input(rng: random.Random, seeds: list[bytes], st: Stats, root: Path) -> None:
    data = mutate(rng, rng.choice(seeds))
    known = rng.random() < 0.5
    st.inputs += 1
    try:
        header = parse_header(data, file_size=len(data) if known else None)
        st.parsed += 1
    except CogError as exc:
        if not isinstance(exc, ValueError):
            raise AssertionError(f"CogError that is not a ValueError: {exc!r}") from exc
        st.parse_errors[type(exc).__name__] += 1
        return
    for lv in header.ifds:
        n = len(lv.tile_offsets)
        if lv.dtype is None or n == 0:
            continue
        try:
            spec = lv.tile_spec
        except CogError as exc:
            st.decode_errors[type(exc).__name__] += 1
            continue
        for i in sorted({0, n // 2, n - 1}):
            o, c = lv.tile_offsets[i], lv.tile_byte_counts[i]
            raw = bytearray(data[o : o + c])
            if raw and rng.random() < 0.5:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            st.decodes += 1
            try:
                decode_tile(bytes(raw), spec)
                st.decoded += 1
            except CogError as exc:
                st.decode_errors[type(exc).__name__] += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=None, help="stop early after this long")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slow-ms", type=float, default=1000.0)
    ap.add_argument("--progress", type=int, default=50_000, help="print a line every N inputs")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cog-fuzz-"))
    seeds = []
    for name, dt, bands, opts in SEEDS:
        p = write_cog(root / f"{name}.tif", sample_array(dt, bands, 40, 48), blocksize=16, **opts)
        seeds.append(p.read_bytes())
    rng = random.Random(args.seed)
    st = Stats()
    t_start = time.monotonic()
    deadline = None if args.seconds is None else t_start + args.seconds
    while st.inputs < args.inputs and (deadline is None or time.monotonic() < deadline):
        state = rng.getstate()
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            one_input(rng, seeds, st, root)
        except Exception:
            st.untyped += 1
            print(f"UNTYPED FAILURE at input {st.inputs}:\n{traceback.format_exc()}", flush=True)
            (root / f"crash-{st.inputs}.rngstate").write_text(repr(state))
        wall = (time.perf_counter() - w0) * 1e3
        cpu = (time.process_time() - c0) * 1e3
        st.max_cpu_ms = max(st.max_cpu_ms, cpu)
        if wall > st.max_wall_ms:
            st.max_wall_ms = wall
        if cpu > args.slow_ms:
            st.slow_inputs += 1
            print(f"slow input {st.inputs}: {cpu:.0f} ms CPU", flush=True)
        if args.progress and st.inputs % args.progress == 0:
            d = st.as_dict()
            print(
                f"[{time.monotonic() - t_start:7.0f} s] {d['inputs']} inputs, {d['parsed']} "
                f"parsed, {d['decodes']} decodes, {d['untyped']} untyped, max CPU "
                f"{d['max_cpu_ms_per_input']} ms, peak RSS {d['peak_rss_mb']} MB",
                flush=True,
            )
    summary = st.as_dict()
    summary["elapsed_s"] = round(time.monotonic() - t_start, 1)
    summary["seed"] = args.seed
    summary["seeds"] = [name for name, *_ in SEEDS]
    summary["python"] = sys.version.split()[0]
    summary["artifacts"] = str(root)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    raise SystemExit(1 if st.untyped else 0)


if __name__ == "__main__":
    main()
