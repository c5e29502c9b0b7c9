"""Planet-scale record-index benchmark (issue #14 item 4): generator + timings.

``uv run python -m bench.record_index [--rows 1000000] [--shards 200] [--bands 2]
[--out bench/.corpus/record-index]``

**Generator.** A synthetic collection shaped like the AlphaEarth Foundations one: a narrow
``index.parquet`` (one row per record: ``fid``, ``geom`` (WKB CRS84 square), ``year``,
``bbox`` struct, ``path``, ``crs`` (EPSG int), ``utm_zone``, ``source_part``), sorted by
shard, beside a wide ``data/part-NNNNN.parquet`` dataset (the rasteret schema contract's
columns plus ``{band}_metadata`` structs with 16-tile tables). Records tile the globe on a
0.1° grid by year (2018–2023); ``source_part`` names the data shard holding a record. Written
with vectorised pyarrow (no per-row Python objects); 1,000,000 rows take ≈ 1–2 min and ≈ 0.5 GB.

**Benchmark.** In fresh processes: open the index-backed collection (``rasteret.load`` of a
descriptor / ``Collection.from_parquet(data, record_index_path=index.parquet, ...)``),
``len``, ``subset(bbox=small, date_range=one year)``, ``head``; and the same on the wide data
alone. Time per step and bytes read (``rchar`` of ``/proc/self/io``: every byte the process
read, page cache or not). Target (issue #14): sub-second, and < 1 % of the wide bytes. Until
the record-index surface exists the index-backed side reports the error it raises.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import CORPUS_DIR

YEARS = (2018, 2019, 2020, 2021, 2022, 2023)
STEP = 0.1  # degrees between record footprints
TILES = 16  # tile-table length of each band's metadata (a 4x4-tile COG)


def _grid(rows: int) -> tuple[Any, Any, Any]:
    """Lower-left lon/lat and year of ``rows`` records: 0.1° cells, years innermost."""
    import numpy as np

    i = np.arange(rows, dtype=np.int64)
    cell = i // len(YEARS)
    year = np.asarray(YEARS, dtype=np.int32)[i % len(YEARS)]
    n_lon = int(360 / STEP)
    lon = -180.0 + (cell % n_lon) * STEP
    lat = -60.0 + (cell // n_lon) * STEP
    return lon, lat, year


def _wkb_squares(lon: Any, lat: Any) -> Any:
    """WKB polygons (one 5-point ring) for squares of side STEP, built as one buffer."""
    import numpy as np
    import pyarrow as pa

    n = len(lon)
    head = np.frombuffer(
        np.array([1], "<u1").tobytes() + np.array([3, 1, 5], "<u4").tobytes(), "u1"
    )
    xs = np.stack([lon, lon + STEP, lon + STEP, lon, lon], axis=1)
    ys = np.stack([lat, lat, lat + STEP, lat + STEP, lat], axis=1)
    coords = np.stack([xs, ys], axis=2).astype("<f8").reshape(n, -1).view("u1")
    body = np.concatenate([np.broadcast_to(head, (n, head.size)), coords], axis=1)
    size = body.shape[1]
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * size)
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, offsets.buffers()[1], pa.py_buffer(body.tobytes())]
    )


def _bbox(lon: Any, lat: Any) -> Any:
    import pyarrow as pa

    return pa.StructArray.from_arrays(
        [pa.array(lon), pa.array(lat), pa.array(lon + STEP), pa.array(lat + STEP)],
        names=["xmin", "ymin", "xmax", "ymax"],
    )


def _band_metadata(n: int, seed: int) -> Any:
    """``{band}_metadata`` structs with TILES-long tile tables (flat buffers -> list arrays)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    counts = rng.integers(20_000, 60_000, size=(n, TILES), dtype=np.int64)
    offs = 4096 + np.cumsum(counts, axis=1) - counts
    list_offsets = pa.array(np.arange(n + 1, dtype=np.int32) * TILES)
    tile_offsets = pa.ListArray.from_arrays(list_offsets, pa.array(offs.reshape(-1)))
    tile_counts = pa.ListArray.from_arrays(list_offsets, pa.array(counts.reshape(-1)))
    full = lambda v, t: pa.array(np.full(n, v), t)  # noqa: E731
    return pa.StructArray.from_arrays(
        [
            full(2048, pa.int32()),
            full(2048, pa.int32()),
            full(512, pa.int32()),
            full(512, pa.int32()),
            pa.array(["int8"] * n),
            full(8, pa.int32()),
            full(1, pa.int32()),
            full(-128.0, pa.float64()),
            tile_offsets,
            tile_counts,
        ],
        names=[
            "image_width",
            "image_height",
            "tile_width",
            "tile_height",
            "dtype",
            "compression",
            "predictor",
            "nodata",
            "tile_offsets",
            "tile_byte_counts",
        ],
    )


def generate(out: Path, rows: int, shards: int, bands: int) -> dict[str, Any]:
    """Write ``out/index.parquet`` and ``out/data/part-*.parquet`` (idempotent by stamp)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = out / "generated.json"
    want = {"rows": rows, "shards": shards, "bands": bands, "tiles": TILES, "format": 2}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return want
    t0 = time.monotonic()
    (out / "data").mkdir(parents=True, exist_ok=True)
    lon, lat, year = _grid(rows)
    fid = pa.array(np.char.add("r", np.arange(rows).astype(str)))
    zone = ((lon + 180) // 6 + 1).astype(np.int32)
    epsg = np.where(lat >= 0, 32600, 32700).astype(np.int32) + zone
    per = -(-rows // shards)
    part = (np.arange(rows) // per).astype(np.int32)
    part_names = np.char.add(
        np.char.add("data/part-", np.char.zfill(part.astype(str), 5)), ".parquet"
    )
    paths = np.char.add(np.char.add("s3://bucket/aef/", fid.to_numpy(zero_copy_only=False)), ".tif")
    geom = _wkb_squares(lon, lat)
    bbox = _bbox(lon, lat)
    index = pa.table(
        {
            "fid": fid,
            "geom": geom,
            "year": pa.array(year),
            "bbox": bbox,
            "path": pa.array(paths),
            "crs": pa.array(epsg),
            "utm_zone": pa.array(zone),
            "source_part": pa.array(part_names),
        }
    )
    pq.write_table(index, out / "index.parquet", row_group_size=65_536, compression="zstd")
    dts = pa.array(
        (year - 1970).astype("datetime64[Y]").astype("datetime64[us]").astype("int64"),
        pa.timestamp("us"),
    )
    for k in range(shards):
        lo, hi = k * per, min(rows, (k + 1) * per)
        if lo >= hi:
            break
        n = hi - lo
        cols: dict[str, Any] = {
            "id": fid.slice(lo, n),
            "datetime": dts.slice(lo, n),
            "geometry": geom.slice(lo, n),
            "bbox": bbox.slice(lo, n),
            "proj:epsg": pa.array(epsg[lo:hi]),
            "year": pa.array(year[lo:hi]),
            "utm_zone": pa.array(zone[lo:hi]),
            "assets": pa.StructArray.from_arrays(
                [
                    pa.StructArray.from_arrays(
                        [pa.array(paths[lo:hi]), pa.array(np.full(n, b, np.int32))],
                        names=["href", "band_index"],
                    )
                    for b in range(bands)
                ],
                names=[f"A{b:02d}" for b in range(bands)],
            ),
        }
        for b in range(bands):
            cols[f"A{b:02d}_metadata"] = _band_metadata(n, seed=1000 * k + b)
        pq.write_table(pa.table(cols), out / "data" / f"part-{k:05d}.parquet", compression="zstd")
    info = {**want, "seconds": time.monotonic() - t0}
    info["index_bytes"] = (out / "index.parquet").stat().st_size
    info["data_bytes"] = sum(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    stamp.write_text(json.dumps(want))
    (out / "sizes.json").write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------------------ timings

CHILD = r"""
import json, sys, time
def rchar():
    for line in open("/proc/self/io"):
        if line.startswith("rchar:"):
            return int(line.split()[1])
job = json.loads(sys.argv[1])
import pyarrow.compute, pyarrow.dataset, pyarrow.parquet  # imports are not what is measured
import rasteret
out = {}
def step(name, fn):
    r0, t0 = rchar(), time.monotonic()
    try:
        v = fn()
        out[name] = {"s": time.monotonic() - t0, "bytes": rchar() - r0}
        if hasattr(v, "num_rows") or isinstance(v, int):
            out[name]["rows"] = v if isinstance(v, int) else v.num_rows
        return v
    except Exception as exc:
        out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        raise
try:
    if job["mode"] == "index":
        from rasteret import Collection
        col = step("load", lambda: Collection.from_parquet(job["data"], record_index_path=job["index"],
            record_index_field_roles={"id": "fid", "geometry": "geom", "datetime": "year",
                                      "bbox": "bbox", "href": "path", "proj:epsg": "crs"}))
    else:
        col = step("load", lambda: rasteret.load(job["data"]))
    step("len", lambda: len(col))
    view = step("subset", lambda: col.subset(bbox=tuple(job["bbox"]), date_range=tuple(job["dates"])))
    step("head", lambda: view.head(5))
except Exception:
    pass
print("RI-RESULT " + json.dumps(out))
"""


def bench(out: Path, runs: int) -> dict[str, Any]:
    job = {
        "data": str(out / "data"),
        "index": str(out / "index.parquet"),
        "bbox": [-100.0, -58.0, -99.65, -57.65],  # inside the populated band (lat -60 to -55)
        "dates": ["2021-01-01", "2021-12-31"],
    }
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    res: dict[str, Any] = {}
    for mode in ("index", "wide"):
        rs = []
        for _ in range(runs):
            p = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps({**job, "mode": mode})],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RI-RESULT ")), "")
            rs.append(
                json.loads(line.removeprefix("RI-RESULT ")) if line else {"error": p.stderr[-500:]}
            )
        res[mode] = rs
        print(mode, json.dumps(rs[-1]))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.record_index", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--shards", type=int, default=200)
    p.add_argument("--bands", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=CORPUS_DIR / "record-index")
    p.add_argument("--generate-only", action="store_true")
    a = p.parse_args(argv)
    info = generate(a.out, a.rows, a.shards, a.bands)
    print("generated:", json.dumps(info))
    if a.generate_only:
        return 0
    res = bench(a.out, a.runs)
    dest = Path(__file__).resolve().parent / "results" / "record-index.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"sizes": info, "runs": res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
