"""Benchmark corpus: a few physical COGs written with GDAL, fanned out to many URLs by symlinks.

Layout under ``bench/.corpus/<name>/root`` (the object server's root; bucket ``perf``)::

    perf/pool/ts_P{k}_{band}.tif     physical Sentinel-2-like scenes (2048², 512 tiles)
    perf/pool/big_{size}_t{tile}_ov{n}.tif  physical big-header file (10980², 256 tiles, 4 overviews)
    perf/ts/S{i:04d}_{band}.tif      -> ../pool/ts_P{i % pool}_{band}.tif
    perf/big/S{i:04d}_{band}.tif     -> ../pool/big_....tif

Every URL is distinct to a client (no cross-URL caching), while disk use stays small and the
page cache warm. Pixels are synthetic (smooth field + small noise, so DEFLATE + predictor 2
compresses about like real imagery); headers and request costs do not depend on pixel content.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
CORPUS_DIR = BENCH_DIR / ".corpus"
BUCKET = "perf"
EPSG = 32633
RES = 10.0
ORIGIN = (399960.0, 5000040.0)  # upper-left corner, like a Sentinel-2 MGRS tile


@dataclass(frozen=True)
class CorpusSpec:
    """Sizes of a corpus (``full`` for the suite, ``quick`` for the smoke run)."""

    name: str
    scenes: int = 100  # time-series URLs per band (W2, W3, W5)
    w1_scenes: int = 60  # W1: the 60-scene x 2-band time series
    bands: tuple[str, ...] = ("B02", "B03")
    pool: int = 8  # physical files per band
    size: int = 2048
    tile: int = 512
    big_size: int = 10980
    big_tile: int = 256
    big_overviews: int = 4
    big_scenes: int = 200  # W4 URLs = big_scenes x len(bands) = 400 COGs
    w6_records: int = 1000  # W6: a 1,000-record collection of big COGs ...
    w6_read: int = 250  # ... of which 250 records are read

    @property
    def root(self) -> Path:
        return CORPUS_DIR / self.name / "root"


FULL = CorpusSpec("full")
QUICK = CorpusSpec(
    "quick",
    scenes=6,
    w1_scenes=6,
    pool=2,
    size=1024,
    big_size=2048,
    big_overviews=2,
    big_scenes=6,
    w6_records=8,
    w6_read=2,
)


def scene_id(i: int) -> str:
    return f"S{i:04d}"


def scene_datetime(i: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=5 * i)


def ts_key(i: int, band: str) -> str:
    return f"{BUCKET}/ts/{scene_id(i)}_{band}.tif"


def big_key(i: int, band: str) -> str:
    return f"{BUCKET}/big/{scene_id(i)}_{band}.tif"


def ts_physical(spec: CorpusSpec, i: int, band: str) -> Path:
    return spec.root / BUCKET / "pool" / f"ts_P{i % spec.pool}_{band}.tif"


def big_physical(spec: CorpusSpec) -> Path:
    """The one physical big-header COG behind every ``perf/big/...`` URL."""
    name = f"big_{spec.big_size}_t{spec.big_tile}_ov{spec.big_overviews}.tif"
    return spec.root / BUCKET / "pool" / name


def big_records(spec: CorpusSpec) -> int:
    """Big-header URLs per band (W4's and W6's scenes share them)."""
    return max(spec.big_scenes, spec.w6_records)


def _field(n: int, seed: int) -> Any:
    """uint16 smooth field (a few sinusoids and blobs) plus Gaussian noise sigma=3."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, n, dtype=np.float32)[None, :]
    f = np.full((n, n), 1500.0, dtype=np.float32)
    for _ in range(6):
        fx, fy, ph = rng.uniform(1, 12), rng.uniform(1, 12), rng.uniform(0, 6.28)
        f += rng.uniform(50, 300) * np.sin(fx * 6.28 * x + ph) * np.cos(fy * 6.28 * y)
    f += rng.normal(0, 3, size=(n, n)).astype(np.float32)
    return np.clip(f, 1, 65535).astype(np.uint16)


def _write_cog(path: Path, data: Any, tile: int, overviews: int | None = None) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    h, w = data.shape
    profile = {
        "driver": "COG",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": "uint16",
        "crs": f"EPSG:{EPSG}",
        "transform": from_origin(ORIGIN[0], ORIGIN[1], RES, RES),
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": tile,
        "num_threads": "ALL_CPUS",
    }
    if overviews is not None:
        profile["overview_count"] = overviews
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
    tmp.replace(path)


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(target, link.parent)
    if link.is_symlink() and os.readlink(link) == rel:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(rel)


def ensure(spec: CorpusSpec, log: Any = print) -> Path:
    """Write the corpus if missing (idempotent; a stamp file records the spec)."""
    stamp = spec.root.parent / "corpus.json"
    want = asdict(spec)
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return spec.root
    t0 = time.perf_counter()
    pool = spec.root / BUCKET / "pool"
    for bi, band in enumerate(spec.bands):
        for k in range(spec.pool):
            p = pool / f"ts_P{k}_{band}.tif"
            if not p.exists():
                _write_cog(p, _field(spec.size, 1000 * bi + k), spec.tile)
    big = big_physical(spec)
    if not big.exists():
        log(
            f"writing big-header COG {spec.big_size}² / {spec.big_tile}-px tiles / "
            f"{spec.big_overviews} overviews ..."
        )
        _write_cog(big, _field(spec.big_size, 7), spec.big_tile, spec.big_overviews)
    for i in range(max(spec.scenes, spec.w1_scenes)):
        for band in spec.bands:
            _link(spec.root / ts_key(i, band), ts_physical(spec, i, band))
    for i in range(big_records(spec)):
        for band in spec.bands:
            _link(spec.root / big_key(i, band), big)
    stamp.write_text(json.dumps(want))
    log(f"corpus {spec.name} ready in {time.perf_counter() - t0:.1f} s at {spec.root}")
    return spec.root


def physical_files(spec: CorpusSpec) -> list[Path]:
    """The physical files (to pre-read into the page cache)."""
    return sorted(
        p
        for p in (spec.root / BUCKET / "pool").glob("*.tif")
        if p.name.startswith("ts_") or p == big_physical(spec)
    )


def warm_page_cache(spec: CorpusSpec) -> int:
    """Read every physical file once; return bytes read."""
    n = 0
    for p in physical_files(spec):
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                n += len(chunk)
    return n
