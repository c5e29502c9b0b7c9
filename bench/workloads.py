"""Workload definitions W1-W5 as JSON tasks every reader executes identically.

A task names scenes (id, datetime, URL keys per band, local physical paths for building our
index), and what to read. Readers compute a checksum (sum and count of the values read) that
must be identical for all of them.

- **W1** time-series AOI (issue #12): one 1.2 km AOI (120x120 px inside one 512-px tile) x
  60 scenes x 2 bands: 120 files, 1 tile per file.
- **W2** random chips (TorchGeo-like): N chips of 256x256 px at seeded random pixel-aligned
  places and scenes, all bands, processed in batches of 32.
- **W3** point sampling: K uniform random points x the first 50 scenes, one band.
- **W4** header indexing (build): 200 big-header URLs (10980² px, 256-px tiles, 4 overviews) x
  2 bands = 400 COGs.
- **W5** wide-area read: the full 2048² image x 24 scenes x all bands.
- **W6** a read of 250 records (a date range) out of a 1,000-record collection of big-header
  COGs: the W1 AOI (1 tile per file) x 2 bands. Index readers load the whole collection and
  ``subset`` it inside the timed region.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from bench import corpus
from bench.corpus import EPSG, ORIGIN, RES, CorpusSpec

ALL = ("W1", "W2", "W3", "W4", "W5", "W6")

DESCRIPTIONS = {
    "W1": "time-series AOI: 120x120 px (1.2 km, 1 tile/file) x 60 scenes x 2 bands",
    "W2": "random 256x256 chips at random scenes, all bands, batches of 32",
    "W3": "point sampling: K random points x 50 scenes x 1 band",
    "W4": "build: index 400 COGs of 10980² px, 256-px tiles, 4 overviews",
    "W5": "wide-area read: full 2048² images x 24 scenes x bands",
    "W6": "250 of 1,000 records (date subset) of 10980² COGs: W1 AOI x 2 bands",
}


def _bounds(window: list[int]) -> list[float]:
    col, row, w, h = window
    x0 = ORIGIN[0] + col * RES
    y1 = ORIGIN[1] - row * RES
    return [x0, y1 - h * RES, x0 + w * RES, y1]


def _lonlat_bbox(size: int) -> list[float]:
    from pyproj import Transformer

    tr = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + size * RES, y1 - size * RES
    xs, ys = tr.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return [min(xs), min(ys), max(xs), max(ys)]


def _scene(spec: CorpusSpec, i: int, big: bool, bbox: list[float]) -> dict[str, Any]:
    keys = {b: (corpus.big_key(i, b) if big else corpus.ts_key(i, b)) for b in spec.bands}
    phys = {
        b: str(corpus.big_physical(spec)) if big else str(corpus.ts_physical(spec, i, b))
        for b in spec.bands
    }
    return {
        "id": corpus.scene_id(i),
        "datetime": corpus.scene_datetime(i).isoformat(),
        "keys": keys,
        "physical": phys,
        "bbox": bbox,
    }


def make_tasks(spec: CorpusSpec, quick: bool) -> dict[str, dict[str, Any]]:
    """All tasks for ``spec``."""
    rng = random.Random(42)
    bands = list(spec.bands)
    ts_bbox = _lonlat_bbox(spec.size)
    big_bbox = _lonlat_bbox(spec.big_size)
    ts = [_scene(spec, i, False, ts_bbox) for i in range(max(spec.scenes, spec.w1_scenes))]
    common = {"epsg": EPSG, "res": RES, "origin": list(ORIGIN), "size": spec.size}
    t = spec.tile
    w1_win = [100, 300, 120, 120]  # cols 100-220, rows 300-420: inside tile (0, 0)
    assert w1_win[0] + w1_win[2] <= min(t, spec.big_tile) and w1_win[1] + w1_win[3] <= t
    n_chips = 8 if quick else 256
    chips = []
    for _ in range(n_chips):
        col = rng.randrange(0, spec.size - 256)
        row = rng.randrange(0, spec.size - 256)
        win = [col, row, 256, 256]
        chips.append({"scene": rng.randrange(spec.scenes), "window": win, "bounds": _bounds(win)})
    n_pts = 50 if quick else 1000
    x0, y1 = ORIGIN
    # points at pixel centres plus a sub-pixel offset (never on a pixel edge)
    pts = [
        (
            rng.randrange(spec.size) + rng.uniform(0.1, 0.9),
            rng.randrange(spec.size) + rng.uniform(0.1, 0.9),
        )
        for _ in range(n_pts)
    ]
    xs = [x0 + c * RES for c, _ in pts]
    ys = [y1 - r * RES for _, r in pts]
    n_w3 = min(spec.scenes, 50)
    n_w5 = min(spec.scenes, 4 if quick else 24)
    full = [0, 0, spec.size, spec.size]
    big = [_scene(spec, i, True, big_bbox) for i in range(corpus.big_records(spec))]
    # W6: the middle w6_read records of a w6_records collection, chosen by a date range whose
    # ends fall between two records (scenes are 5 days apart)
    w6_first = (spec.w6_records - spec.w6_read) // 2
    w6_range = [
        (corpus.scene_datetime(w6_first) - dt.timedelta(days=2)).date().isoformat(),
        (corpus.scene_datetime(w6_first + spec.w6_read - 1) + dt.timedelta(days=2))
        .date()
        .isoformat(),
    ]
    return {
        "W1": {
            **common,
            "workload": "W1",
            "kind": "window",
            "scenes": ts[: spec.w1_scenes],
            "bands": bands,
            "window": w1_win,
            "bounds": _bounds(w1_win),
        },
        "W2": {
            **common,
            "workload": "W2",
            "kind": "chips",
            "scenes": ts,
            "bands": bands,
            "chips": chips,
            "batch": 32,
        },
        "W3": {
            **common,
            "workload": "W3",
            "kind": "points",
            "scenes": ts[:n_w3],
            "bands": bands[:1],
            "xs": xs,
            "ys": ys,
        },
        "W4": {
            **common,
            "workload": "W4",
            "kind": "headers",
            "size": spec.big_size,
            "scenes": big[: spec.big_scenes],
            "bands": bands,
        },
        "W6": {
            **common,
            "workload": "W6",
            "kind": "window",
            "size": spec.big_size,
            "scenes": big[w6_first : w6_first + spec.w6_read],
            "collection": big[: spec.w6_records],
            "date_range": w6_range,
            "bands": bands,
            "window": w1_win,
            "bounds": _bounds(w1_win),
        },
        "W5": {
            **common,
            "workload": "W5",
            "kind": "window",
            "scenes": ts[:n_w5],
            "bands": bands,
            "window": full,
            "bounds": _bounds(full),
        },
    }


def write_tasks(tasks: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, task in tasks.items():
        p = out_dir / f"{name}.json"
        p.write_text(json.dumps(task))
        paths[name] = p
    return paths
