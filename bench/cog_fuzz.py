"""Long-running fuzz of the header parser (and tile decoder) with mutated real GDAL files.

CI runs a 3,000-example hypothesis test (tests/test_malformed.py). This script runs as long as you
like: random byte/word mutations and truncations of real headers, parsed with and without a
known file size; optionally decodes the first tile of each successfully parsed level with
mutated bytes. Any exception that is not a ``CogError`` (a ``ValueError``), any parse slower than
``--slow-ms`` and a peak RSS above ``--max-rss-mb`` are reported (and fail the run).

Run: ``uv run python bench/cog_fuzz.py --seconds 600 [--decode]``
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from rasteret_cog import CogError, decode_tile, parse_header
from rasteret_testkit.cogs import sample_array, write_cog

SEEDS = [
    ("le-deflate", "uint8", 1, dict(compress="DEFLATE")),
    ("bigtiff-i16", "int16", 2, dict(compress="NONE", bigtiff=True)),
    (
        "be-planar-f32",
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
    ("strips", "uint16", 1, dict(driver="GTiff", tiled=False, compress="LZW", overviews=False)),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    hl = min(len(b), 4096)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(hl)
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
    if rng.random() < 0.2:
        b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decode", action="store_true", help="also decode mutated tiles")
    ap.add_argument("--slow-ms", type=float, default=250)
    ap.add_argument("--max-rss-mb", type=float, default=1500)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cog-fuzz-"))
    seeds = []
    for name, dt, bands, opts in SEEDS:
        p = write_cog(root / f"{name}.tif", sample_array(dt, bands, 40, 48), blocksize=16, **opts)
        seeds.append(p.read_bytes())
    rng = random.Random(args.seed)
    n = ok = typed = 0
    failures = 0
    big_decodes = 0
    slowest = 0.0
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        data = mutate(rng, rng.choice(seeds))
        known = rng.random() < 0.5
        n += 1
        t0 = time.perf_counter()
        try:
            header = parse_header(data, file_size=len(data) if known else None)
            ok += 1
        except CogError as exc:
            assert isinstance(exc, ValueError)
            typed += 1
            header = None
        except Exception:
            failures += 1
            print("UNTYPED FAILURE:", traceback.format_exc())
            (root / f"crash-{n}.tif").write_bytes(data)
            header = None
        dt_ms = (time.perf_counter() - t0) * 1e3
        slowest = max(slowest, dt_ms)
        if dt_ms > args.slow_ms:
            print(f"slow parse: {dt_ms:.0f} ms (saved)")
            (root / f"slow-{n}.tif").write_bytes(data)
        if args.decode and header is not None and known:
            for lv in header.levels:
                if lv.dtype is None or not lv.tile_byte_counts or not lv.tile_byte_counts[0]:
                    continue
                raw = bytearray(
                    data[lv.tile_offsets[0] : lv.tile_offsets[0] + lv.tile_byte_counts[0]]
                )
                if raw:
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
                try:
                    decode_tile(bytes(raw), lv.tile_spec)
                except CogError:
                    pass
                except Exception:
                    failures += 1
                    print("UNTYPED DECODE FAILURE:", traceback.format_exc())
                rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                if rss_mb > args.max_rss_mb and not big_decodes:
                    big_decodes += 1
                    print(f"peak RSS reached {rss_mb:.0f} MB after decoding: {lv.tile_spec}")
    print(
        f"{n} inputs: {ok} parsed, {typed} typed errors, {failures} untyped failures, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
        f"slowest parse {slowest:.1f} ms; "
        f"artifacts in {root}"
    )
    raise SystemExit(1 if failures or big_decodes else 0)


if __name__ == "__main__":
    main()
