"""Measuring and reporting for ``rasteret demo``: phases, NDVI per date, the printed table.

:class:`Phases` times each phase and takes the demo server's request / byte counters around
it; :func:`analyse` turns the AOI time series into NDVI (clouds masked by a brightness test)
and per-date numbers; :func:`format_report` is the text the command prints.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Analysis", "DemoResult", "Phases", "analyse", "format_report"]

CLOUD_RED = 2500  # B04 above 0.25 reflectance: a (simple) cloud test


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


class Phases:
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


@dataclass(frozen=True, slots=True)
class Analysis:
    """NDVI of the AOI series and what the figure and the table show."""

    ndvi: np.ndarray  # [T, H, W], NaN outside the AOI, on no data and under clouds
    dates: list[dt.date]
    fields: dict[str, tuple[float, float, list[float]]]
    aoi_mean: list[float]
    extent: tuple[float, float, float, float]
    rows: list[dict[str, Any]]


def _window_mean(arr: Any, xs: Any, ys: Any, x: float, y: float, half: int = 1) -> float:
    i = int(np.abs(ys - y).argmin())
    j = int(np.abs(xs - x).argmin())
    win = arr[max(i - half, 0) : i + half + 1, max(j - half, 0) : j + half + 1]
    return float(np.nanmean(win)) if np.isfinite(win).any() else float("nan")


def analyse(
    ds: Any, cloud_cover: Mapping[dt.date, float], fields: Sequence[tuple[str, float, float]]
) -> Analysis:
    """NDVI per date of a ``get_xarray`` result with ``B04`` / ``B08`` and one AOI.

    Args:
        ds: Dataset with dims ``(time, geometry, y, x)``; nodata is 0.
        cloud_cover: Scene cloud cover (percent) per date.
        fields: ``(name, x, y)`` points (raster CRS) whose 3 x 3 px NDVI is reported.
    """
    red = ds["B04"].isel(geometry=0).astype("float64")
    nir = ds["B08"].isel(geometry=0).astype("float64")
    red = red.where(red != 0)
    nir = nir.where(nir != 0)
    ndvi = ((nir - red) / (nir + red)).values
    cloudy = (red >= CLOUD_RED).values
    valid = np.isfinite(ndvi)
    clear = np.where(cloudy, np.nan, ndvi)
    xs, ys = ds["x"].values, ds["y"].values
    dates = [dt.date.fromisoformat(str(t)[:10]) for t in ds["time"].values]
    curves = {
        name: (x, y, [_window_mean(clear[i], xs, ys, x, y) for i in range(len(dates))])
        for name, x, y in fields
    }
    aoi_mean: list[float] = []
    rows: list[dict[str, Any]] = []
    for i, day in enumerate(dates):
        n_valid = int(valid[i].sum())
        n_clear = int((valid[i] & ~cloudy[i]).sum())
        mean = float(np.nanmean(clear[i])) if n_clear else float("nan")
        aoi_mean.append(mean)
        row = {
            "date": day.isoformat(),
            "cloud_cover": cloud_cover.get(day),
            "clear_pct": round(100 * n_clear / max(n_valid, 1), 1),
            "ndvi_aoi": _rounded(mean),
        }
        row.update({name: _rounded(v[2][i]) for name, v in curves.items()})
        rows.append(row)
    half = abs(float(xs[1] - xs[0])) / 2 if len(xs) > 1 else 5.0
    extent = (xs[0] - half, xs[-1] + half, ys[-1] - half, ys[0] + half)
    return Analysis(clear, dates, curves, aoi_mean, extent, rows)


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
