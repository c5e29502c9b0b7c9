"""``rasteret demo``: the whole index-first workflow, offline, in a few seconds.

1. Generate a Sentinel-2-like COG time series (red + NIR, 11 dates, clouds) without GDAL.
2. Serve it, and a static STAC catalog pointing at it, from a loopback HTTP server.
3. ``build_from_stac(static_catalog=True)``: walk the catalog, read each COG header once.
4. ``subset(cloud_cover_lt=30)``: a pure table filter, no request.
5. ``get_xarray(farm polygon in lon/lat)``: fetch only the tiles under the AOI.
6. NDVI per date, a timings/requests table and a small-multiples PNG.

Everything lives in a temporary directory removed at the end (``--keep`` keeps it); the
server is stopped even on error or Ctrl-C. The CLI entry point is :func:`main`. The figure
needs matplotlib: ``pip install 'rasteret[demo]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import rasteret.builds.functions as builds
from rasteret._options import options
from rasteret.demo import _data
from rasteret.demo._data import BANDS, EPSG, SIZE
from rasteret.demo._report import DemoResult, Phases, analyse, format_report
from rasteret.demo._server import DemoServer
from rasteret.demo._stac import COLLECTION_ID, write_catalog
from rasteret.errors import InvalidInputError, missing_dependency

__all__ = ["DemoResult", "format_report", "main", "run_demo"]

CLOUD_COVER_LT = 30.0


def _aoi_lonlat(ring_utm: Any, epsg: int) -> Any:
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs(epsg, 4326, always_xy=True)
    lon, lat = tr.transform([p[0] for p in ring_utm], [p[1] for p in ring_utm])
    return shapely.Polygon([(round(x, 6), round(y, 6)) for x, y in zip(lon, lat)])


@contextmanager
def _loopback_bypasses_proxies() -> Iterator[None]:
    """Add ``127.0.0.1`` to ``NO_PROXY`` while the demo runs, when a proxy is configured.

    urllib (pystac) and obstore honour ``HTTP_PROXY`` / ``ALL_PROXY`` and would send the
    loopback requests to the proxy; the previous values are restored afterwards.
    """
    proxies = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy")
    if not any(os.environ.get(k) for k in proxies):
        yield
        return
    saved = {k: os.environ.get(k) for k in ("NO_PROXY", "no_proxy")}
    try:
        for key, value in saved.items():
            os.environ[key] = ",".join(v for v in (value, "127.0.0.1") if v)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_output(path: Path) -> Path:
    """Resolve the PNG path and fail before any work when it cannot be written."""
    out = path.expanduser().resolve()
    if out.is_dir():
        raise InvalidInputError(f"--output {out} is a directory; give a .png file path")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InvalidInputError(f"cannot write the figure to {out}: {parent} is not writable")
    return out


def _plotting() -> Any:
    """``plot_series``; the demo's figure needs matplotlib (the ``rasteret[demo]`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise missing_dependency("matplotlib", "demo", "rasteret demo") from None
    from rasteret.demo._plot import plot_series

    return plot_series


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
    plot_series = _plotting()
    say = echo or (lambda _line: None)
    out = _check_output(Path(output))
    work = Path(tempfile.mkdtemp(prefix="rasteret-demo-"))
    result = DemoResult(output=str(out), workdir=str(work) if keep else None)
    phase = Phases(result)
    try:
        served = work / "www"
        with phase("generate COGs (no GDAL)"):
            files, marks = _data.generate_series(served / "cogs")
        result.bytes_on_server = sum(f.path.stat().st_size for f in files)
        result.cogs = len(files)
        say(
            f"Wrote {len(files)} COGs ({len({f.item_id for f in files})} dates x "
            f"{len(BANDS)} bands, {result.bytes_on_server / 1e6:.1f} MB) to {served / 'cogs'}"
        )
        with _loopback_bypasses_proxies(), DemoServer(served, max_lifetime=600) as server:
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
            with options(progress=False), phase("build collection (index headers)"):
                coll = builds.build_from_stac(
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
            with options(progress=False), phase("read AOI time series (get_xarray)"):
                ds = view.get_xarray(aoi, list(BANDS))
            phase.server = None

        with phase("NDVI + plot"):
            dates = [d.date() for d in kept.column("datetime").to_pylist()]
            cover = dict(zip(dates, kept.column("eo:cloud_cover").to_pylist()))
            a = analyse(ds, cover, marks.fields)
            result.dates = a.rows
            plot_series(
                out,
                a.ndvi,
                a.dates,
                [f"{cover.get(d, float('nan')):.0f}% scene cloud" for d in a.dates],
                a.extent,
                a.fields,
                a.aoi_mean,
                title=(
                    f"rasteret demo: NDVI of a {(a.extent[1] - a.extent[0]) / 1000:.1f} km farm "
                    f"AOI, {len(a.dates)} clear dates of {result.records_total} "
                    "(clouds masked grey)"
                ),
            )
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


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
