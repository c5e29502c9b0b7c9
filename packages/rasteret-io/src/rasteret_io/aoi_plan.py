"""Planning an AOI read: which window of which (record, band) lands on which output grid.

:func:`plan_tasks` turns records x bands x AOIs into :class:`AoiTask` values from the index
alone (no I/O). ``layout="native"`` keeps every record on its own grid, cropped like
``rasterio.mask.mask(crop=True)``; ``layout="stack"`` puts the records of an AOI on one grid
chosen by :mod:`rasteret_io.output_grid` (CRS, resolution, anchor, AOI ∩ data). A band whose
pixels lie on that grid is copied (``plan`` is None); any other is resampled with GDAL's
warper, reading the source window GDAL reads (:func:`rasteret_io.resampling.plan_warp`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rasteret_io.aoi import AoiInput, to_crs
from rasteret_io.band_output import BandOutput, band_output, nodata_key
from rasteret_io.errors import ReadError, UnsupportedGeometryError
from rasteret_io.grid import Grid, Window, geometry_window, union_windows
from rasteret_io.output_grid import (
    GridSpec,
    Lattice,
    choose_lattice,
    data_bounds,
    extent_window,
    finite_bounds,
    level_for,
    valid_area,
)
from rasteret_io.resampling import Resampling, WarpPlan, plan_warp
from rasteret_io.sources import BandSource, RecordSources
from rasteret_io.warp import same_crs, transformer

__all__ = [
    "AoiTask",
    "Layout",
    "ReadFailure",
    "ReadOutcome",
    "plan_tasks",
    "source_warp_plan",
    "source_window",
    "warp_plan",
]

Layout = Literal["native", "stack"]


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A (record, band[, AOI]) that could not be read, with the reason."""

    record_id: str
    band: str
    aoi_index: int | None
    error: Exception


@dataclass(slots=True)
class ReadOutcome:
    """Chips read plus the failures tolerated by the error policy."""

    chips: list[Any] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AoiTask:
    """One (record, band, AOI) read.

    Attributes:
        record: The record's sources.
        source: The band source.
        aoi_index: 0-based AOI position.
        geom: The AOI in the CRS of the output grid (native layout: the source's CRS).
        out_grid: The AOI's output grid (stack layout); None for the native layout.
        level: Pyramid level read.
        window: Window of that level to read (copies: the output grid in source pixels,
            boundless; resampled: the source window GDAL reads).
        plan: GDAL's warp plan when the band is resampled; None when copied.
        output: Output dtype / nodata / kernel of the band (stack layout).
    """

    record: RecordSources
    source: BandSource
    aoi_index: int
    geom: Any
    out_grid: Grid | None
    level: int
    window: Window
    plan: WarpPlan | None = None
    output: BandOutput | None = None


def _check_polygon(g: Any, i: int) -> None:
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        raise UnsupportedGeometryError(
            f"AOI {i} is a {g.geom_type}; masked reads need Polygon or MultiPolygon "
            "geometries (use sample_points for points)"
        )


def source_window(src: BandSource, level: int, grid: Grid) -> Window | None:
    """Window of ``src`` at ``level`` covering ``grid`` (1-pixel margin), clipped to the image."""
    lv = src.levels[level]
    minx, miny, maxx, maxy = grid.bounds
    if not same_crs(src.crs, grid.crs):
        import numpy as np

        n = 21
        t = np.linspace(0.0, 1.0, n)
        xs = np.concatenate([minx + (maxx - minx) * t, np.full(n, maxx),
                             maxx - (maxx - minx) * t, np.full(n, minx)])  # fmt: skip
        ys = np.concatenate([np.full(n, miny), miny + (maxy - miny) * t,
                             np.full(n, maxy), maxy - (maxy - miny) * t])  # fmt: skip
        tx, ty = transformer(grid.crs, src.crs).transform(xs, ys)
        finite = np.isfinite(tx) & np.isfinite(ty)
        if not finite.any():
            return None
        minx, maxx = float(np.min(tx[finite])), float(np.max(tx[finite]))
        miny, maxy = float(np.min(ty[finite])), float(np.max(ty[finite]))
    w = geometry_window((minx, miny, maxx, maxy), lv.transform)
    w = Window(w.col_off - 1, w.row_off - 1, w.width + 2, w.height + 2)
    return w.intersection(Window(0, 0, lv.width, lv.height))


def _faithful(geom: Any, projected: Any, src: Any, dst: Any) -> bool:
    """Whether ``projected`` (``geom`` moved vertex by vertex) is finite and maps back onto
    ``geom`` (a world box sent into a UTM zone gives infinite or wrapped, collapsed
    coordinates)."""
    import numpy as np
    import shapely

    if finite_bounds(projected) is None:
        return False
    if same_crs(src, dst):
        return True
    xy = shapely.get_coordinates(geom)
    pxy = shapely.get_coordinates(projected)
    bx, by = transformer(dst, src).transform(pxy[:, 0], pxy[:, 1])
    tol = 1e-6 * max(1.0, float(np.abs(xy).max()))
    return bool(np.all(np.abs(bx - xy[:, 0]) <= tol) and np.all(np.abs(by - xy[:, 1]) <= tol))


class _Aois:
    """The AOIs projected into each CRS a read needs, clipped to the data where needed.

    An AOI is projected vertex by vertex (``rasterio.warp.transform_geom``'s rule). When that
    is not faithful — a non-finite coordinate, or vertices that do not map back (a world box
    sent into a UTM zone wraps and collapses) — the AOI is first clipped in its own CRS to the
    area the records cover, then projected; if that fails too, the AOI has no geometry in
    that CRS and meets no record there.
    """

    def __init__(self, aois: AoiInput, srcs: Sequence[BandSource]) -> None:
        self.aois = aois
        self.srcs = srcs
        self._geoms: dict[str, list[Any]] = {}
        self._bounds: dict[str, list[tuple[float, float, float, float] | None]] = {}
        self._clipped: list[Any] | None = None

    def _clip(self, i: int) -> Any:
        if self._clipped is None:
            area = valid_area(self.srcs, self.aois.crs)
            self._clipped = [g.intersection(area) for g in self.aois.geometries]
        return self._clipped[i]

    def _project(self, crs: Any) -> None:
        key = str(crs)
        if key in self._geoms:
            return
        src = self.aois.geometries
        geoms = to_crs(src, self.aois.crs, crs)
        bounds = [finite_bounds(g) for g in geoms]
        for i, g in enumerate(geoms):
            if src[i].is_empty or _faithful(src[i], g, self.aois.crs, crs):
                continue
            clipped = self._clip(i)
            geoms[i] = to_crs([clipped], self.aois.crs, crs)[0] if not clipped.is_empty else None
            bounds[i] = finite_bounds(geoms[i])
        self._geoms[key], self._bounds[key] = geoms, bounds

    def geom(self, crs: Any, i: int) -> Any:
        self._project(crs)
        return self._geoms[str(crs)][i]

    def bounds(self, crs: Any, i: int) -> tuple[float, float, float, float] | None:
        self._project(crs)
        return self._bounds[str(crs)][i]


def _usable(
    records: Sequence[RecordSources], bands: Sequence[str], outcome: ReadOutcome
) -> list[tuple[RecordSources, BandSource]]:
    usable: list[tuple[RecordSources, BandSource]] = []
    for rec in records:
        for band in bands:
            src = rec.bands.get(band)
            if isinstance(src, Exception) or src is None:
                outcome.failures.append(
                    ReadFailure(rec.record_id, band, None, src or ReadError("missing"))
                )
                continue
            if src.crs is None:
                err = ReadError(
                    f"record {rec.record_id!r}: raster CRS could not be resolved (no proj:epsg / crs); "
                    "re-index the collection with header enrichment"
                )
                outcome.failures.append(ReadFailure(rec.record_id, band, None, err))
                continue
            usable.append((rec, src))
    return usable


def _hits(
    usable: Sequence[tuple[RecordSources, BandSource]], geo: _Aois, i: int
) -> list[tuple[RecordSources, BandSource]]:
    """The (record, band) pairs whose raster meets AOI ``i``'s bounding box."""
    hits = []
    for rec, src in usable:
        b = geo.bounds(src.crs, i)
        if b is None:
            continue
        lv = src.levels[0]
        if geometry_window(b, lv.transform).intersection(Window(0, 0, lv.width, lv.height)):
            hits.append((rec, src))
    return hits


def _region(
    geo: _Aois, i: int, srcs: Sequence[BandSource], crs: Any
) -> tuple[float, float, float, float] | None:
    """AOI ``i``'s bounds in ``crs`` clipped to the bounds of the sources' extents."""
    b = geo.bounds(crs, i)
    ext = [e for e in (data_bounds(s, crs) for s in srcs) if e is not None]
    if b is None or not ext:
        return None
    x0 = max(b[0], min(e[0] for e in ext))
    y0 = max(b[1], min(e[1] for e in ext))
    x1 = min(b[2], max(e[2] for e in ext))
    y1 = min(b[3], max(e[3] for e in ext))
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _window(
    lattice: Lattice, geo: _Aois, i: int, srcs: Sequence[BandSource], spec: GridSpec
) -> Window | None:
    """AOI ``i``'s output window on ``lattice``: its window clipped to the data."""
    if spec.anchor == "floating":
        region = _region(geo, i, srcs, lattice.crs)
        if region is None:
            return None
        xres, yres = lattice.res
        x0, y1 = lattice.transform[2], lattice.transform[5]
        c0 = math.floor((region[0] - x0) / xres + 0.01)
        r0 = math.floor((y1 - region[3]) / yres + 0.01)
        c1 = math.ceil((region[2] - x0) / xres - 0.01)
        r1 = math.ceil((y1 - region[1]) / yres - 0.01)
        return Window(c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))
    b = geo.bounds(lattice.crs, i)
    aoi_win = None if b is None else lattice.window(b)
    data = union_windows([w for w in (extent_window(s, lattice) for s in srcs) if w is not None])
    if aoi_win is None or data is None:
        return None
    return aoi_win.intersection(data)


def _lattice(
    geo: _Aois, aoi_ids: Sequence[int], srcs: Sequence[BandSource], spec: GridSpec
) -> Lattice:
    lattice = choose_lattice(srcs, spec, default_crs=geo.aois.crs)
    if spec.anchor != "floating":
        return lattice
    regions = [r for r in (_region(geo, i, srcs, lattice.crs) for i in aoi_ids) if r]
    if not regions:
        return lattice
    x0 = min(r[0] for r in regions)
    y1 = max(r[3] for r in regions)
    return choose_lattice(srcs, spec, default_crs=geo.aois.crs, region=(x0, 0.0, 0.0, y1))


def plan_tasks(
    records: Sequence[RecordSources],
    bands: Sequence[str],
    aois: AoiInput,
    *,
    layout: Layout,
    target_crs: Any = None,
    resolution: tuple[float, float] | None = None,
    outcome: ReadOutcome,
    anchor: Any = None,
    shared: bool = False,
    resampling: Any = "nearest",
    dtype: Any = None,
    fill_value: Any = None,
) -> list[AoiTask]:
    """Plan every (record, band, AOI) read; unresolvable bands become failures.

    Args:
        records: Band sources of every record.
        bands: Band codes.
        aois: The AOIs.
        layout: ``"native"`` or ``"stack"``.
        target_crs: Output CRS (implies the stack layout).
        resolution: Output ``(xres, yres)`` (implies the stack layout).
        outcome: Receives the failures.
        anchor: Pixel anchor (see :func:`rasteret_io.output_grid.normalize_anchor`).
        shared: One lattice for every AOI (see :class:`~rasteret_io.output_grid.GridSpec`).
        resampling: Kernel, or ``{band: kernel}`` (``"*"`` for the others).
        dtype: Output dtype (``"native"``: the band's own), or a per-band mapping.
        fill_value: Output nodata / fill, or a per-band mapping.
    """
    from rasteret_io.output_grid import normalize_anchor, normalize_resolution

    for i, g in enumerate(aois.geometries):
        _check_polygon(g, i)
    usable = _usable(records, bands, outcome)
    geo = _Aois(aois, [s for _, s in usable])
    tasks: list[AoiTask] = []
    n = len(aois.geometries)
    res = normalize_resolution(resolution)
    if layout == "native" and target_crs is None and res is None:
        for rec, src in usable:
            lv = src.levels[0]
            for i in range(n):
                b = geo.bounds(src.crs, i)
                if b is None:
                    continue
                win = geometry_window(b, lv.transform).intersection(
                    Window(0, 0, lv.width, lv.height)
                )
                if win is not None:
                    tasks.append(AoiTask(rec, src, i, geo.geom(src.crs, i), None, 0, win))
        return tasks

    spec = GridSpec(target_crs, res, normalize_anchor(anchor), shared)
    hits = [_hits(usable, geo, i) for i in range(n)]
    shared_lattice = None
    if shared:
        seen: dict[int, BandSource] = {}
        for h in hits:
            for _, s in h:
                seen.setdefault(id(s), s)
        if seen:
            shared_lattice = _lattice(geo, range(n), list(seen.values()), spec)
    outputs: dict[tuple[str, str, Any], BandOutput] = {}
    plans: dict[tuple[Any, ...], WarpPlan] = {}
    for i in range(n):
        if not hits[i]:
            continue
        srcs = [s for _, s in hits[i]]
        lattice = shared_lattice or _lattice(geo, [i], srcs, spec)
        win = _window(lattice, geo, i, srcs, spec)
        if win is None or win.empty:
            continue
        grid = lattice.grid(win)
        geom = geo.geom(lattice.crs, i)
        for rec, src in hits[i]:
            key = (src.band, src.spec.dtype, nodata_key(src.nodata))
            out = outputs.get(key)
            if out is None:
                out = outputs[key] = band_output(
                    src.band, src.spec.dtype, src.nodata,
                    resampling=resampling, dtype=dtype, fill_value=fill_value,
                )  # fmt: skip
            level = level_for(src, grid) if res is not None else 0
            off = lattice.offset(src, level)
            if off is not None:
                w = Window(win.col_off - off[0], win.row_off - off[1], win.width, win.height)
                tasks.append(AoiTask(rec, src, i, geom, grid, level, w, None, out))
                continue
            plan = warp_plan(src, level, grid, out, cache=plans)
            swin = plan.source_window
            if swin is None:
                continue
            tasks.append(AoiTask(rec, src, i, geom, grid, level, swin, plan, out))
    return tasks


def warp_plan(
    src: BandSource,
    level: int,
    grid: Grid,
    out: BandOutput,
    *,
    cache: dict[tuple[Any, ...], WarpPlan] | None = None,
) -> WarpPlan:
    """GDAL's warp plan of a band level onto ``grid`` for the output ``out`` (the plan every
    read of that band — eager or one lazy chunk — uses; ``cache`` shares it between records
    on the same grid)."""
    return source_warp_plan(
        src, level, grid, Resampling(out.resampling), out.dtype, out.nodata, cache=cache
    )


def source_warp_plan(
    src: BandSource,
    level: int,
    grid: Grid,
    kind: Resampling,
    dst_dtype: Any,
    dst_nodata: int | float | None,
    *,
    cache: dict[tuple[Any, ...], WarpPlan] | None = None,
) -> WarpPlan:
    """GDAL's warp plan of a band level onto ``grid`` with kernel ``kind`` into ``dst_dtype``
    / ``dst_nodata``, the source's nodata and mask excluded; ``cache`` shares it between
    records on the same source grid (NaN nodata is one key)."""
    lv = src.levels[level]
    has_mask = src.mask is not None and level == 0
    key = (str(src.crs), lv.transform, lv.width, lv.height, grid, kind, src.spec.dtype,
           str(dst_dtype), nodata_key(src.nodata), nodata_key(dst_nodata), has_mask)  # fmt: skip
    plan = None if cache is None else cache.get(key)
    if plan is None:
        plan = plan_warp(
            src.grid(level),
            grid,
            kind,
            src_dtype=src.spec.dtype,
            dst_dtype=dst_dtype,
            src_nodata=src.nodata,
            dst_nodata=dst_nodata,
            src_has_mask=has_mask,
        )
        if cache is not None:
            cache[key] = plan
    return plan
