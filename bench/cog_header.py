"""Header parse time and requests per file: local, and over HTTP with 40 ms latency per request.

The HTTP server is a tiny aiohttp Range server on 127.0.0.1 that sleeps 40 ms before answering
each request (a same-region object store is ~10-40 ms per request). For comparison, a
"one request per structure" reader in the style of the original library (header, IFD count,
IFD entries, then one request per out-of-line tag value of the first IFD, in sequence) is timed
against the same server.

Run: ``uv run python bench/cog_header.py``

``--memory`` instead times the in-memory header work of a build on one large header: a 10980²
COG with 256-px tiles and 4 overviews (5 levels, 1,849 tiles at full resolution, 2,499 in all),
written once by GDAL and cached under the temp directory. Stages, in µs per header (median of
``--batches`` batches of ``--per-batch`` calls, after a warm-up):

- ``parse``: ``parse_header`` of the header bytes (everything before the first tile) with the
  file size known, as the indexer calls it;
- ``parse + contract row``: plus ``rasteret_io.header_meta.band_metadata`` (one band struct as a
  dict, what tests and single-row callers use);
- ``batch -> Arrow``: turning ``--rows`` parsed headers into one ``{band}_metadata`` Arrow
  column, as the indexer does (header -> contract values -> column), divided by ``--rows``.

Timings are the median CPU time of this process (stable on a shared machine) and the best wall
time of the batches. ``PYTHONPATH`` pointing at another checkout's ``src`` folders times that
version with the same script (how the before/after figures in ``docs/cog.md`` were taken).

Run: ``uv run python bench/cog_header.py --memory``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import struct
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from rasteret_cog import open_header, read_header_async
from rasteret_testkit.fixtures_cogs import make_cog_factory

LATENCY_S = 0.040

FILES = [
    ("1024² u16 deflate, 512 tiles", dict(dtype="uint16", height=1024, width=1024, blocksize=512)),
    (
        "4096² u16 zstd, 256 tiles + mask",
        dict(dtype="uint16", height=4096, width=4096, blocksize=256, compress="ZSTD", mask=True),
    ),
    (
        "4096² 3xu8 JPEG, 256 tiles",
        dict(dtype="uint8", bands=3, height=4096, width=4096, blocksize=256, compress="JPEG"),
    ),
    (
        "4096² u16 BigTIFF planar BE (GTiff)",
        dict(
            dtype="uint16",
            bands=3,
            height=4096,
            width=4096,
            blocksize=256,
            driver="GTiff",
            interleave="BAND",
            endianness="BIG",
            bigtiff=True,
        ),
    ),
    (
        "8192² u8, 128 tiles (large header)",
        dict(dtype="uint8", height=8192, width=8192, blocksize=128, compress="ZSTD"),
    ),
]


async def serve(root: Path) -> tuple[web.AppRunner, str]:
    files = {p.name: p.read_bytes() for p in root.glob("*.tif")}

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(LATENCY_S)
        data = files[request.match_info["name"]]
        rng = request.headers.get("Range")
        if not rng:
            return web.Response(body=data)
        s, e = rng.removeprefix("bytes=").split("-")
        start, end = int(s), min(int(e), len(data) - 1)
        if start >= len(data):
            return web.Response(status=416)
        return web.Response(
            status=206,
            body=data[start : end + 1],
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def make_get_range(session: aiohttp.ClientSession, url: str):
    async def get_range(start: int, length: int) -> bytes:
        async with session.get(url, headers={"Range": f"bytes={start}-{start + length - 1}"}) as r:
            if r.status == 416:
                return b""
            return await r.read()

    return get_range


async def naive_header(get_range) -> int:
    """Request pattern of the original parser: returns the number of requests."""
    n = 0

    async def rd(s, ln):
        nonlocal n
        n += 1
        return await get_range(s, ln)

    head = await rd(0, 16)
    bo = "<" if head[:2] == b"II" else ">"
    big = struct.unpack(bo + "H", head[2:4])[0] == 43
    off = struct.unpack(bo + "Q", head[8:16])[0] if big else struct.unpack(bo + "I", head[4:8])[0]
    cnt_size, esize = (8, 20) if big else (2, 12)
    count = struct.unpack(bo + ("Q" if big else "H"), await rd(off, cnt_size))[0]
    entries = await rd(off + cnt_size, count * esize)
    sizes = {
        1: 1,
        2: 1,
        3: 2,
        4: 4,
        5: 8,
        6: 1,
        7: 1,
        8: 2,
        9: 4,
        10: 8,
        11: 4,
        12: 8,
        16: 8,
        17: 8,
        18: 8,
    }
    for i in range(count):
        e = entries[i * esize : (i + 1) * esize]
        _tag, typ = struct.unpack(bo + "HH", e[:4])
        c = struct.unpack(bo + ("Q" if big else "I"), e[4:12] if big else e[4:8])[0]
        nbytes = sizes.get(typ, 1) * c
        if nbytes > (8 if big else 4):
            voff = struct.unpack(bo + ("Q" if big else "I"), e[12:20] if big else e[8:12])[0]
            await rd(voff, nbytes)
    return n


async def remote(root: Path, names: list[str]) -> list[tuple[int, float, int, float]]:
    runner, base = await serve(root)
    out = []
    try:
        async with aiohttp.ClientSession() as session:
            for name in names:
                gr = make_get_range(session, f"{base}/{name}")
                await gr(0, 1)  # warm the connection
                times, ntimes = [], []
                for _ in range(5):
                    t0 = time.perf_counter()
                    _, n = await read_header_async(gr)
                    times.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    nn = await naive_header(gr)
                    ntimes.append(time.perf_counter() - t0)
                out.append((n, statistics.median(times), nn, statistics.median(ntimes)))
    finally:
        await runner.cleanup()
    return out


BIG = dict(size=10980, tile=256, overviews=4)


def big_cog() -> Path:
    """The 10980² / 256-px / 4-overview COG (written once, reused from the temp directory)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    root = Path(tempfile.gettempdir()) / "rasteret-bench-cog-header"
    path = root / "big-10980-256-ov4.tif"
    if path.exists():
        return path
    root.mkdir(parents=True, exist_ok=True)
    n, tmp = BIG["size"], path.with_suffix(".tmp.tif")
    # A gentle ramp: realistic tile byte counts vary, and it compresses quickly.
    row = (np.arange(n, dtype=np.uint32) % 4096).astype(np.uint16)
    data = np.broadcast_to(row, (n, n)) + (np.arange(n, dtype=np.uint16)[:, None] % 7)
    profile = {
        "driver": "COG",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(300_000.0, 5_000_040.0, 10.0, 10.0),
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": BIG["tile"],
        "overview_count": BIG["overviews"],
        "num_threads": "ALL_CPUS",
    }
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data.astype(np.uint16), 1)
    tmp.replace(path)
    return path


def _per_call_us(fn, per_batch: int, batches: int) -> tuple[float, float]:
    """``(median CPU µs, best wall µs)`` per call.

    CPU time of this process is the stable figure on a shared machine (other processes' load
    does not count); the best wall time of the batches is shown beside it.
    """
    fn()
    cpu, wall = [], []
    for _ in range(batches):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(per_batch):
            fn()
        wall.append((time.perf_counter() - t0) / per_batch)
        cpu.append((time.process_time() - c0) / per_batch)
    return statistics.median(cpu) * 1e6, min(wall) * 1e6


def memory(per_batch: int, batches: int, rows: int) -> None:
    from rasteret_cog import parse_header
    from rasteret_io import header_meta

    path = big_cog()
    data = path.read_bytes()
    h = parse_header(data, file_size=len(data))
    first_tile = min(o for lv in h.ifds for o, c in zip(lv.tile_offsets, lv.tile_byte_counts) if c)
    head = data[:first_tile]
    size = len(data)
    print(
        f"file: {path.name}, {len(h.levels)} levels, "
        f"{sum(len(lv.tile_offsets) for lv in h.ifds)} tiles "
        f"({len(h.full.tile_offsets)} at full resolution), header {len(head) / 1024:.0f} KiB"
    )
    parse = _per_call_us(lambda: parse_header(head, file_size=size), per_batch, batches)
    row = _per_call_us(
        lambda: header_meta.band_metadata(parse_header(head, file_size=size)), per_batch, batches
    )
    headers = [parse_header(head, file_size=size) for _ in range(rows)]
    batch = getattr(header_meta, "band_metadata_struct_array", None)
    if batch is not None:  # the columnar builder: records with array tables, one call per batch

        def to_arrow():
            return batch([header_meta.band_metadata_record(hd) for hd in headers])
    else:  # per-row dicts, then pyarrow's converter (rasteret before the columnar builder)
        import pyarrow as pa

        from rasteret_catalog.arrow import band_metadata_type

        mtype = band_metadata_type()

        def to_arrow():
            return pa.array([header_meta.band_metadata(hd) for hd in headers], type=mtype)

    arrow = tuple(x / rows for x in _per_call_us(to_arrow, 1, batches))
    print("| stage | µs per header (median CPU) | µs per header (best wall) |")
    print("|---|---|---|")
    print(f"| parse | {parse[0]:.0f} | {parse[1]:.0f} |")
    print(f"| parse + contract row (dict) | {row[0]:.0f} | {row[1]:.0f} |")
    print(f"| batch of {rows} headers -> Arrow column | {arrow[0]:.0f} | {arrow[1]:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", action="store_true", help="in-memory parse of a large header")
    ap.add_argument("--per-batch", type=int, default=50)
    ap.add_argument("--batches", type=int, default=9)
    ap.add_argument("--rows", type=int, default=200)
    args = ap.parse_args()
    if args.memory:
        memory(args.per_batch, args.batches, args.rows)
        return
    root = Path(tempfile.mkdtemp(prefix="cog-hdr-"))
    make = make_cog_factory(root)
    paths = [make(**opts) for _, opts in FILES]
    print(f"latency per request: {LATENCY_S * 1000:.0f} ms; medians")
    rows = asyncio.run(remote(root, [p.name for p in paths]))
    print(
        "| file | header bytes | local parse | requests | over HTTP | original-style requests | original-style over HTTP |"
    )
    print("|---|---|---|---|---|---|---|")
    for (label, _), p, (n, t, nn, nt) in zip(FILES, paths, rows):
        h = open_header(p)
        first_data = min(
            o for lv in h.ifds for o, c in zip(lv.tile_offsets, lv.tile_byte_counts) if c
        )
        loc = []
        for _ in range(20):
            t0 = time.perf_counter()
            open_header(p)
            loc.append(time.perf_counter() - t0)
        print(
            f"| {label} | {first_data / 1024:.0f} KiB | {statistics.median(loc) * 1e3:.2f} ms | {n} | "
            f"{t * 1e3:.0f} ms | {nn} | {nt * 1e3:.0f} ms |"
        )


if __name__ == "__main__":
    main()
