"""Time and peak RSS of an incremental update: N new rows appended to a large collection.

Not a test (tests never assert time). Hand-off for the benchmark suite:

    uv run python bench/update_append.py /tmp/upd --rows 200000
    uv run python bench/update_append.py /tmp/upd --rewrite

The first call builds ``ROOT/big_records`` (``--rows`` records over two years of monthly
partitions, one band whose struct holds a 64-tile table varied per row, all pointing at one
local 2048 x 2048 GDAL COG) when it does not exist. Each measurement runs in a fresh process:
``update_collection`` adds ``--new`` rows (their headers are read from the local COG) and the
script prints the wall time of that call and the process's peak RSS, next to the RSS after
imports. ``--rewrite`` forces the full-rewrite path (what every update did before appends).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import time
from pathlib import Path


def make_collection(root: Path, n: int) -> None:
    import numpy as np
    import pyarrow as pa
    import shapely

    from rasteret_ingest.normalize import normalize_table
    from rasteret_ingest.pipeline import enrich_records, write_records
    from rasteret_ingest.specs import EnrichOptions, Prepared, WriteTarget
    from rasteret_testkit.cogs import sample_array, write_cog

    root.mkdir(parents=True, exist_ok=True)
    cog = write_cog(
        root / "u16.tif",
        sample_array("uint16", 1, 2048, 2048, seed=1),
        nodata=0,
        blocksize=256,
        transform=(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
        crs="EPSG:32633",
    )
    days = (np.arange(n) * 730) // max(n, 1)
    when = np.datetime64("2020-01-01", "us") + days.astype("timedelta64[D]")
    table = normalize_table(
        pa.table(
            {
                "id": [f"rec-{i:07d}" for i in range(n)],
                "datetime": pa.array(when.astype("datetime64[us]")),
                "geometry": pa.array([shapely.box(15.0, 45.0, 15.1, 45.1).wkb] * n, pa.binary()),
                "url": [str(cog)] * n,
                "proj:epsg": pa.array([32633] * n, pa.int32()),
            }
        ),
        href_column="url",
        band_index_map={"B1": 0},
    )
    one, _ = enrich_records(Prepared(table.slice(0, 1), ("B1",)), EnrichOptions(progress=False))
    struct = one.column("B1_metadata").combine_chunks()
    rep = struct.take(pa.array(np.zeros(n, dtype=np.int64)))
    offsets = struct.field("tile_offsets")
    tiles = len(offsets[0])
    shift = np.random.default_rng(0).integers(0, 1 << 20, size=n, dtype=np.int64)
    values = (np.asarray(offsets.values, dtype=np.int64)[:tiles][None, :] + shift[:, None]).ravel()
    varied = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * tiles + 1, tiles, dtype=np.int32)), pa.array(values)
    )
    fields = [
        varied.cast(f.type) if f.name == "tile_offsets" else rep.field(i)
        for i, f in enumerate(rep.type)
    ]
    table = table.append_column(
        "B1_metadata", pa.StructArray.from_arrays(fields, fields=list(rep.type))
    )
    write_records(table, WriteTarget(str(root / "big_records"), "big", force=True))


def measure(root: Path, new_rows: int, rewrite: bool) -> None:
    import pyarrow as pa
    import shapely

    import rasteret_ingest.update as up

    if rewrite:
        up.append_rows = lambda *a, **k: None  # type: ignore[assignment]  # force the fallback
    new = pa.table(
        {
            "id": [f"new-{time.time_ns()}-{i}" for i in range(new_rows)],
            "datetime": pa.array([dt.datetime(2023, 6, 1)] * new_rows, pa.timestamp("us")),
            "geometry": [shapely.box(15.0, 45.0, 15.2, 45.2).wkb] * new_rows,
            "url": [str(root / "u16.tif")] * new_rows,
            "proj:epsg": pa.array([32633] * new_rows, pa.int32()),
        }
    )
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    res = up.update_collection(
        root / "big_records", new, href_column="url", band_index_map={"B1": 0}, progress=False
    )
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "rewrite" if rewrite else "append"
    print(
        f"{mode}: {new_rows} row(s) in {elapsed * 1000:.0f} ms, peak RSS {peak:.0f} MiB "
        f"(after imports {base:.0f} MiB), added={res.added}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--rows", type=int, default=200_000, help="collection size to build")
    ap.add_argument("--new", type=int, default=1, help="rows added per update")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rewrite", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        make_collection(args.root, args.rows)
        return
    if args.child:
        measure(args.root, args.new, args.rewrite)
        return
    if not (args.root / "big_records").exists():
        # in a child too: peak RSS is inherited across fork + exec on Linux
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, str(args.root), "--build", "--rows", str(args.rows)]
        subprocess.run(cmd, check=True)
        print(f"built {args.rows} rows in {time.perf_counter() - t0:.1f} s")
    for _ in range(args.runs):
        cmd = [sys.executable, __file__, str(args.root), "--child", "--new", str(args.new)]
        subprocess.run(cmd + (["--rewrite"] if args.rewrite else []), check=True)


if __name__ == "__main__":
    main()
