"""Decode throughput per codec: rasteret_cog.decode_tile vs calling imagecodecs directly.

Writes one 3072 x 3072 COG per codec with GDAL (512 x 512 tiles, imagery-like data), reads the raw
tiles of the full-resolution level, then times decoding all of them, 1 and 2 threads, best of
several repeats. "direct" is the minimal imagecodecs call sequence a hand-written reader would
use for the same tile (codec with a preallocated ``out`` + frombuffer + predictor), so the ratio is
our overhead. Repeats alternate between the two so machine load affects both alike.

Run: ``uv run python bench/cog_decode.py [--quick]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imagecodecs
import numpy as np

from rasteret_cog import decode_tile, open_header
from rasteret_testkit.fixtures_cogs import make_cog_factory

CASES = [
    ("none u16", dict(dtype="uint16", compress="NONE")),
    ("deflate u16", dict(dtype="uint16", compress="DEFLATE")),
    ("deflate+pred2 u16", dict(dtype="uint16", compress="DEFLATE", predictor=2)),
    ("deflate+pred3 f32", dict(dtype="float32", compress="DEFLATE", predictor=3)),
    ("lzw+pred2 u16", dict(dtype="uint16", compress="LZW", predictor=2)),
    ("zstd+pred2 u16", dict(dtype="uint16", compress="ZSTD", predictor=2)),
    ("lzma u16", dict(dtype="uint16", compress="LZMA")),
    ("packbits u8", dict(dtype="uint8", compress="PACKBITS")),
    ("lerc u16", dict(dtype="uint16", compress="LERC")),
    ("lerc_zstd f32", dict(dtype="float32", compress="LERC_ZSTD")),
    ("jpeg ycbcr 3xu8", dict(dtype="uint8", bands=3, compress="JPEG")),
    ("webp 3xu8", dict(dtype="uint8", bands=3, compress="WEBP")),
]


def direct_decoder(lv):
    """The minimal hand-written imagecodecs path for this level (no checks, no byte order)."""
    dt = np.dtype(lv.dtype)
    shape = (lv.tile_height, lv.tile_width, lv.samples_per_pixel)
    c, p = lv.compression, lv.predictor
    codec = {1: None, 5: imagecodecs.lzw_decode, 8: imagecodecs.deflate_decode,
             50000: imagecodecs.zstd_decode, 34925: imagecodecs.lzma_decode,
             32773: imagecodecs.packbits_decode}.get(c)  # fmt: skip
    if c == 7:
        return lambda raw: imagecodecs.jpeg8_decode(
            raw, tables=lv.jpeg_tables, colorspace=3, outcolorspace=2
        )
    if c == 50001:
        return imagecodecs.webp_decode
    if c == 34887:
        extra = lv.lerc_parameters[1] if lv.lerc_parameters else 0
        pre = {0: lambda b: b, 1: imagecodecs.zlib_decode, 2: imagecodecs.zstd_decode}[extra]
        return lambda raw: imagecodecs.lerc_decode(pre(raw))

    expected = shape[0] * shape[1] * shape[2] * dt.itemsize

    def dec(raw):
        buf = raw if codec is None else codec(raw, out=expected)
        a = np.frombuffer(buf, dt).reshape(shape)
        if p == 2:
            return imagecodecs.delta_decode(a, axis=1)
        if p == 3:
            return imagecodecs.floatpred_decode(a.copy(), axis=-2)
        return a

    return dec


def bench(fns, tiles, threads, repeats, pool):
    """Best time of each function; repeats alternate between them so load affects both alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            if threads == 1:
                for t in tiles:
                    fn(t)
            else:
                list(pool.map(fn, tiles))
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    size = 1024 if args.quick else 3072
    pool = ThreadPoolExecutor(2)
    repeats = 3 if args.quick else 9
    make = make_cog_factory(Path(tempfile.mkdtemp(prefix="cog-bench-")))
    print(f"{size}x{size}, 512x512 tiles, best of {repeats}; MB/s of decoded output")
    print(
        "| codec | ratio | direct 1T | ours 1T | ours/direct 1T | direct 2T | ours 2T | ours/direct 2T | 2T speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, opts in CASES:
        path = make(height=size, width=size, blocksize=512, overviews=False, **opts)
        header = open_header(path)
        lv = header.levels[0]
        data = path.read_bytes()
        tiles = [data[o : o + n] for o, n in zip(lv.tile_offsets, lv.tile_byte_counts)]
        spec = lv.tile_spec
        out_bytes = (
            len(tiles)
            * lv.tile_width
            * lv.tile_height
            * lv.samples_per_pixel
            * np.dtype(lv.dtype).itemsize
        )
        raw_bytes = sum(len(t) for t in tiles)
        direct = direct_decoder(lv)
        np.testing.assert_allclose(
            np.asarray(direct(tiles[0]), dtype=np.float64).reshape(-1),
            np.asarray(decode_tile(tiles[0], spec), dtype=np.float64).reshape(-1),
        )
        ours = lambda raw, spec=spec: decode_tile(raw, spec)  # noqa: E731
        res = {}
        for threads in (1, 2):
            td, to = bench([direct, ours], tiles, threads, repeats, pool)
            res[("d", threads)] = out_bytes / td / 1e6
            res[("o", threads)] = out_bytes / to / 1e6
            if name.startswith("none"):
                res[("us", threads)] = (to - td) / len(tiles) * 1e6
        if name.startswith("none"):
            print(
                f"| {name} | 1.00 | (no codec: our per-tile overhead is {res['us', 1]:.1f} µs) | | | | | | |"
            )
            continue
        print(
            f"| {name} | {out_bytes / raw_bytes:.2f} | {res['d', 1]:.0f} | {res['o', 1]:.0f} | "
            f"{res['o', 1] / res['d', 1]:.2f} | {res['d', 2]:.0f} | {res['o', 2]:.0f} | "
            f"{res['o', 2] / res['d', 2]:.2f} | {res['o', 2] / res['o', 1]:.2f}x |"
        )


if __name__ == "__main__":
    main()
