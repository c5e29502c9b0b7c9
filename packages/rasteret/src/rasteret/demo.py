"""``rasteret demo``: the whole index-first workflow, offline, in a few seconds.

1. Generate a Sentinel-2-like COG time series (red + NIR, 11 dates, clouds) with tifffile.
2. Serve it, and a static STAC catalog pointing at it, from a loopback HTTP server.
3. ``build_from_stac(static_catalog=True)``: walk the catalog, read each COG header once.
4. ``subset(cloud_cover_lt=30)``: a pure table filter, no request.
5. ``get_xarray(farm polygon in lon/lat)``: fetch only the tiles under the AOI.
6. NDVI per date, a timings/requests table and a small-multiples PNG.

Everything lives in a temporary directory removed at the end (``--keep`` keeps it); the
server is stopped even on error or Ctrl-C. The CLI entry point is :func:`main`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "main", "run_demo"]

CLOUD_COVER_LT = 30.0
_CLOUD_RED = 2500  # B04 above 0.25 reflectance: a (simple) cloud test


@dataclass(slots=True)
class DemoResult:
    """What a demo run did: per-phase costs, per-date NDVI and where the figure went."""

    output: str
    workdir: str | None
    phases: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    records_total: int = 0
    records_kept: int = 0
    bytes_on_server: int = 0
    cogs: int = 0


class _Phases:
    """Times each phase and takes the server's request / byte counts around it."""

    def __init__(self, result: DemoResult, server: Any = None) -> None:
        self.result = result
        self.server = server

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        before = self.server.traffic() if self.server is not None else None
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        d = (self.server.traffic() - before) if before is not None else None
        self.result.phases.append(
            {
                "phase": name,
                "seconds": round(seconds, 3),
                "requests": d.requests if d else 0,
                "range_requests": d.range_requests if d else 0,
                "bytes": d.bytes_sent if d else 0,
            }
        )


def _aoi_lonlat(ring_utm: Any, epsg: int) -> Any:
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs(epsg, 4326, always_xy=True)
    lon, lat = tr.transform([p[0] for p in ring_utm], [p[1] for p in ring_utm])
    return shapely.Polygon([(round(x, 6), round(y, 6)) for x, y in zip(lon, lat)])


def _window_mean(arr: Any, xs: Any, ys: Any, x: float, y: float, half: int = 1) -> float:
    import numpy as np

    i = int(np.abs(ys - y).argmin())
    j = int(np.abs(xs - x).argmin())
    win = arr[max(i - half, 0) : i + half + 1, max(j - half, 0) : j + half + 1]
    return float(np.nanmean(win)) if np.isfinite(win).any() else float("nan")


def _check_output(path: Path) -> Path:
    """Resolve the PNG path and fail before any work when it cannot be written."""
    import os

    from rasteret.errors import InvalidInputError

    out = path.expanduser().resolve()
    if out.is_dir():
        raise InvalidInputError(f"--output {out} is a directory; give a .png file path")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InvalidInputError(f"cannot write the figure to {out}: {parent} is not writable")
    return out


def run_demo(
    output: str | Path = "rasteret-demo.png",
    *,
    keep: bool = False,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo end to end and return what it measured.

    Args:
        output: Where to save the PNG.
        keep: Keep the temporary directory (COGs, catalog, collection) for inspection.
        echo: Called with progress lines (None: silent).

    Returns:
        The :class:`DemoResult`.
    """
    import numpy as np

    import rasteret
    from rasteret._demo_data import BANDS, EPSG, SIZE, generate_series
    from rasteret._demo_plot import plot_series
    from rasteret._demo_server import DemoServer
    from rasteret._demo_stac import COLLECTION_ID, write_catalog

    say = echo or (lambda _line: None)
    out = _check_output(Path(output))
    work = Path(tempfile.mkdtemp(prefix="rasteret-demo-"))
    result = DemoResult(output=str(out), workdir=str(work) if keep else None)
    phase = _Phases(result)
    try:
        served = work / "www"
        with phase("generate COGs (no GDAL)"):
            files, marks = generate_series(served / "cogs")
        result.bytes_on_server = sum(f.path.stat().st_size for f in files)
        result.cogs = len(files)
        say(
            f"Wrote {len(files)} COGs ({len({f.item_id for f in files})} dates x "
            f"{len(BANDS)} bands, {result.bytes_on_server / 1e6:.1f} MB) to {served / 'cogs'}"
        )
        with DemoServer(served, max_lifetime=600) as server:
            phase.server = server
            with phase("write static STAC catalog"):
                catalog = write_catalog(
                    served / "stac",
                    files,
                    lambda p: server.url(p.relative_to(served)),
                    marks.transform,
                    (SIZE, SIZE),
                )
            catalog_url = server.url(catalog.relative_to(served))
            say(f"Serving them on {server.base_url} (catalog: {catalog_url})")
            with rasteret.options(progress=False), phase("build collection (index headers)"):
                coll = rasteret.build_from_stac(
                    name="demo",
                    stac_api=catalog_url,
                    collection=COLLECTION_ID,
                    static_catalog=True,
                    band_map={b: b for b in BANDS},
                    workspace_dir=work / "workspace",
                    max_concurrent=8,
                )
            result.records_total = len(coll)
            with phase(f"filter eo:cloud_cover < {CLOUD_COVER_LT:g}"):
                view = coll.subset(cloud_cover_lt=CLOUD_COVER_LT)
                kept = view.to_table(["id", "datetime", "eo:cloud_cover"]).sort_by("datetime")
            result.records_kept = kept.num_rows
            aoi = _aoi_lonlat(marks.farm, EPSG)
            with rasteret.options(progress=False), phase("read AOI time series (get_xarray)"):
                ds = view.get_xarray(aoi, list(BANDS))
            phase.server = None

        with phase("NDVI + plot"):
            red = ds["B04"].isel(geometry=0).astype("float64")
            nir = ds["B08"].isel(geometry=0).astype("float64")
            red = red.where(red != 0)
            nir = nir.where(nir != 0)
            ndvi = ((nir - red) / (nir + red)).values
            cloudy = (red >= _CLOUD_RED).values
            valid = np.isfinite(ndvi)
            xs, ys = ds["x"].values, ds["y"].values
            times = [dt.date.fromisoformat(str(t)[:10]) for t in ds["time"].values]
            cover = dict(
                zip(
                    [d.date() for d in kept.column("datetime").to_pylist()],
                    kept.column("eo:cloud_cover").to_pylist(),
                )
            )
            clear_ndvi = np.where(cloudy, np.nan, ndvi)
            fields = {
                name: (x, y, [_window_mean(clear_ndvi[i], xs, ys, x, y) for i in range(len(times))])
                for name, x, y in marks.fields
            }
            aoi_mean = []
            for i, day in enumerate(times):
                n_valid = int(valid[i].sum())
                n_clear = int((valid[i] & ~cloudy[i]).sum())
                mean = float(np.nanmean(clear_ndvi[i])) if n_clear else float("nan")
                aoi_mean.append(mean)
                row = {
                    "date": day.isoformat(),
                    "cloud_cover": cover.get(day),
                    "clear_pct": round(100 * n_clear / max(n_valid, 1), 1),
                    "ndvi_aoi": _rounded(mean),
                }
                row.update({name: _rounded(v[2][i]) for name, v in fields.items()})
                result.dates.append(row)
            half = abs(float(xs[1] - xs[0])) / 2 if len(xs) > 1 else 5.0
            extent = (xs[0] - half, xs[-1] + half, ys[-1] - half, ys[0] + half)
            plot_series(
                out,
                np.where(cloudy, np.nan, ndvi),
                times,
                [f"{cover.get(d, float('nan')):.0f}% scene cloud" for d in times],
                extent,
                fields,
                aoi_mean,
                title=(
                    f"rasteret demo: NDVI of a {ndvi.shape[2] * 10 / 1000:.1f} km farm AOI, "
                    f"{len(times)} clear dates of {result.records_total} "
                    f"(clouds masked grey)"
                ),
            )
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _rounded(value: float) -> float | None:
    """Three decimals, None for NaN (JSON has no NaN)."""
    return None if value != value else round(value, 3)


def _fmt_ndvi(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def _fmt_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} MB"
    if n >= 1_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n} B"


def format_report(r: DemoResult) -> str:
    """The human-readable summary printed by ``rasteret demo``."""
    lines = [
        "",
        f"{'phase':<36} {'seconds':>8} {'requests':>9} {'ranged':>7} {'bytes':>10}",
    ]
    for p in r.phases:
        lines.append(
            f"{p['phase']:<36} {p['seconds']:>8.2f} {p['requests']:>9} "
            f"{p['range_requests']:>7} {_fmt_bytes(p['bytes']):>10}"
        )
    build = next((p for p in r.phases if p["phase"].startswith("build")), None)
    read = next((p for p in r.phases if p["phase"].startswith("read")), None)
    lines.append("")
    if build and r.cogs:
        lines.append(
            f"Indexing: {build['range_requests']} ranged header reads for {r.cogs} COGs, plus "
            f"{build['requests'] - build['range_requests']} STAC JSON documents."
        )
    if read and r.bytes_on_server:
        lines.append(
            f"Kept {r.records_kept} of {r.records_total} records (a table filter, no request); "
            f"the AOI read made {read['range_requests']} range requests for "
            f"{_fmt_bytes(read['bytes'])}, {100 * read['bytes'] / r.bytes_on_server:.0f}% of the "
            f"{_fmt_bytes(r.bytes_on_server)} served: only tiles under the AOI, no header re-read."
        )
    if r.dates:
        names = [k for k in r.dates[0] if k not in ("date", "cloud_cover", "clear_pct", "ndvi_aoi")]
        head = f"{'date':<11} {'cloud%':>6} {'clear%':>6} {'NDVI AOI':>8}"
        head += "".join(f" {n:>12}" for n in names)
        lines += ["", "NDVI per date (clear pixels):", head]
        for d in r.dates:
            row = (
                f"{d['date']:<11} {d['cloud_cover'] or 0:>6.1f} {d['clear_pct']:>6.1f} "
                f"{_fmt_ndvi(d['ndvi_aoi'], 8)}"
            )
            row += "".join(f" {_fmt_ndvi(d[n], 12)}" for n in names)
            lines.append(row)
    lines.append("")
    lines.append(f"Figure: {r.output}")
    if r.workdir:
        lines.append(f"Kept the working directory: {r.workdir}")
    return "\n".join(lines)


def main(args: argparse.Namespace | None = None) -> int:
    """Entry point of ``rasteret demo``; returns the exit code.

    Args:
        args: Parsed CLI arguments (``output``, ``keep``, ``json``, ``quiet``); None runs
            with the defaults.
    """
    output = getattr(args, "output", None) or "rasteret-demo.png"
    keep = bool(getattr(args, "keep", False))
    as_json = bool(getattr(args, "json", False))
    quiet = bool(getattr(args, "quiet", False))
    verbose = not (as_json or quiet)

    def echo(line: str) -> None:
        print(line, flush=True)

    result = run_demo(output, keep=keep, echo=echo if verbose else None)
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    elif quiet:
        print(result.output)
    else:
        print(format_report(result))
    sys.stdout.flush()
    return 0
