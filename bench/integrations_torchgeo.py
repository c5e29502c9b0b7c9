"""TorchGeo DataLoader throughput: rasteret's GeoDataset vs TorchGeo's RasterDataset.

Both read the same GDAL-written COGs from the testkit object server (a subprocess, 40 ms
first-byte latency by default): RasterDataset through GDAL ``/vsicurl/`` (COG-tuned GDAL
settings), rasteret through its Parquet index. Same queries (one RandomGeoSampler draw,
materialised), ``DataLoader(batch_size=32, num_workers=2, collate_fn=stack_samples)``,
256 x 256 chips of 3 bands. Reports chips/s over the whole epoch (worker start included)
and in steady state (first batch excluded).

Run in the TorchGeo environment (``tools/ci/torchgeo_env.sh`` builds it)::

    ~/.cache/rasteret-ci/torchgeo-py312/bin/python -m bench.integrations_torchgeo [--chips 320] [--latency-ms 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

BANDS = ("B02", "B03", "B04")
DATES = ("20240501", "20240511", "20240521", "20240531")
SIZE = 2048
CORPUS = Path(__file__).parent / ".corpus" / "integrations_tg"


def ensure_corpus() -> Path:
    """4 dates x 3 bands of 2048 x 2048 uint16 COGs (512 px tiles, DEFLATE), written once."""
    from rasteret_testkit.cogs import sample_array, write_cog

    CORPUS.mkdir(parents=True, exist_ok=True)
    for i, date in enumerate(DATES):
        for j, band in enumerate(BANDS):
            path = CORPUS / f"T33_{date}_{band}.tif"
            if path.exists():
                continue
            data = sample_array("uint16", 1, SIZE, SIZE, seed=1000 + 10 * i + j)
            t = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
            write_cog(path, data, transform=t, nodata=0, blocksize=512)
    return CORPUS


_BUILD = textwrap.dedent(
    """
    import datetime as dt, json, sys
    import pyarrow as pa, shapely
    from pyproj import Transformer
    import rasteret
    base, dates, bands, ws = json.loads(sys.argv[1])
    tr = Transformer.from_crs(32633, 4326, always_xy=True)
    xs, ys = tr.transform([500000, 520480], [4979520, 5000000])
    box = shapely.to_wkb(shapely.box(min(xs), min(ys), max(xs), max(ys)))
    table = pa.table({
        "id": [f"T33_{d}" for d in dates],
        "datetime": pa.array([dt.datetime.strptime(d, "%Y%m%d") for d in dates],
                             pa.timestamp("us")),
        "geometry": [box] * len(dates),
        "assets": [{b: {"href": f"{base}/T33_{d}_{b}.tif"} for b in bands} for d in dates],
    })
    c = rasteret.build_from_table(table, name="tgbench", workspace_dir=ws, enrich_cog=True,
                                  force=True)
    """
)


try:  # this module runs in the TorchGeo environment; spawned workers re-import it
    from torchgeo.datasets import RasterDataset as _RasterDataset
except ImportError:  # pragma: no cover
    _RasterDataset = object  # type: ignore[assignment,misc]


class Remote(_RasterDataset):  # type: ignore[misc,valid-type]
    """TorchGeo's RasterDataset over explicit ``/vsicurl/`` URLs (module level: spawn pickles it)."""

    filename_glob = "T33_*_B02.tif"
    filename_regex = r"^T33_(?P<date>\d{8})_(?P<band>B\d\d)\.tif$"
    date_format = "%Y%m%d"
    separate_files = True
    all_bands = BANDS

    @property
    def files(self) -> list[str]:
        return list(self.paths)


def _remote_dataset(urls: list[str]) -> Any:
    return Remote(paths=urls, bands=list(BANDS))


def _ref_query(q: Any) -> Any:
    import pandas as pd

    x, y, t = q
    day = pd.Timestamp(t.start).normalize()
    return (x, y, slice(day, day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)))


def _epoch(ds: Any, queries: list[Any], batch: int) -> dict[str, float]:
    import torch
    from torchgeo.datasets import stack_samples

    loader = torch.utils.data.DataLoader(
        ds,
        sampler=queries,
        batch_size=batch,
        num_workers=2,
        collate_fn=stack_samples,
        # spawn for both: GDAL's curl state opened in the parent (RasterDataset opens every
        # file at construction) is corrupted by fork-started workers (206 / short reads).
        multiprocessing_context="spawn",
    )
    t0 = time.perf_counter()
    first = None
    n = 0
    for b in loader:
        n += b["image"].shape[0]
        if first is None:
            first = (time.perf_counter(), n)
    t1 = time.perf_counter()
    assert first is not None
    return {
        "chips": n,
        "seconds": t1 - t0,
        "chips_per_s": n / (t1 - t0),
        "steady_chips_per_s": (n - first[1]) / max(t1 - first[0], 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, default=320)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--latency-ms", type=float, default=40.0)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.server import start

    corpus = ensure_corpus()
    results: dict[str, Any] = {"latency_ms": args.latency_ms, "batch": args.batch, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        srv = start(corpus, Path(tmp) / "log.jsonl", latency_ms=args.latency_ms)
        try:
            ws = Path(tmp) / "ws"
            base = f"{srv.base_url}"
            spec = json.dumps([base, list(DATES), list(BANDS), str(ws)])
            subprocess.run([sys.executable, "-c", _BUILD, spec], check=True, timeout=300)
            # The parent only opens the Parquet index: fork-started workers are safe.
            import rasteret

            (path,) = [q for q in ws.iterdir() if q.name.startswith("tgbench")]
            coll = rasteret.load(path)
            ours = coll.to_torchgeo_dataset(bands=list(BANDS))

            # The suite's COG-tuned GDAL settings (bench/readers/rasterio_reader.py) minus HTTP/2
            # multiplexing: curl handles opened in the parent (RasterDataset opens every file
            # at construction) hang in fork-started DataLoader workers with it.
            os.environ.update(
                GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
                CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
                GDAL_INGESTED_BYTES_AT_OPEN="32768",
                GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
                VSI_CACHE="TRUE",
                GDAL_NUM_THREADS="ALL_CPUS",
            )
            from torchgeo.samplers import RandomGeoSampler

            theirs = _remote_dataset([f"/vsicurl/{base}/T33_{d}_B02.tif" for d in DATES])
            queries = list(RandomGeoSampler(ours, size=256, length=args.chips))
            ref_queries = [_ref_query(q) for q in queries]
            for name, ds, qs in (("rasteret", ours, queries), ("torchgeo", theirs, ref_queries)):
                runs = [_epoch(ds, qs, args.batch) for _ in range(args.runs)]
                results["runs"][name] = runs
                best = max(r["chips_per_s"] for r in runs)
                steady = max(r["steady_chips_per_s"] for r in runs)
                print(f"{name:9s} {best:7.1f} chips/s (epoch)  {steady:7.1f} chips/s (steady)")
        finally:
            srv.stop()
    results["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
