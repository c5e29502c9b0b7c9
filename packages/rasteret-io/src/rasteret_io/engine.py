"""The AOI read engine: records x bands x AOIs -> masked arrays, in one concurrent wave.

Two output layouts:

* ``layout="native"``: every (record, AOI, band) on the record's own grid, cropped and
  masked exactly as ``rasterio.mask.mask(src, [aoi], crop=True, filled=True)`` (window
  clipped to the raster; outside the polygon = nodata, else 0; native dtype).
* ``layout="stack"``: every record of one AOI on one shared grid, so results stack even when
  the AOI crosses a scene edge or records differ in CRS or resolution. When all records
  share CRS, pixel size and grid phase the shared grid is the AOI's (boundless) window of that
  grid — identical to ``native`` wherever the AOI lies inside the raster; otherwise records are
  resampled (nearest by default, like GDAL) onto a grid in ``target_crs`` (default: the most
  common record CRS) at ``resolution`` (default: the finest native one), and overviews are used
  when the resolution is coarse enough.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from rasteret_io.aoi import AoiInput, to_crs
from rasteret_io.arrow_sources import as_records
from rasteret_io.errors import ReadError, UnsupportedGeometryError
from rasteret_io.fetch import ErrorPolicy, Fetcher
from rasteret_io.grid import Grid, Transform, Window, geometry_window, window_transform
from rasteret_io.rasterize import geometry_mask
from rasteret_io.sources import BandSource, RecordSources
from rasteret_io.tiles import WindowRequest, WindowResult, read_windows
from rasteret_io.warp import reproject_array, same_crs, transformer

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Chip", "ReadFailure", "ReadOutcome", "read_aois"]

Layout = Literal["native", "stack"]


@dataclass(frozen=True, slots=True)
class Chip:
    """One masked array: a band of a record over an AOI.

    Attributes:
        record_index: Row position in the input rows.
        record_id: Record id.
        datetime: Record datetime.
        aoi_index: 0-based AOI position.
        band: Band code.
        data: ``(height, width)`` array (native dtype for nearest reads).
        valid_mask: True where data is real (inside the AOI, the raster and a present tile);
            None when every pixel is (see :attr:`valid`).
        transform: Geotransform of ``data``.
        crs: CRS of ``data``.
        fill: Value of invalid pixels (nodata, else 0).
        nodata: The band's nodata (None when it has none).
    """

    record_index: int
    record_id: str
    datetime: Any
    aoi_index: int
    band: str
    data: np.ndarray
    valid_mask: np.ndarray | None
    transform: Transform
    crs: Any
    fill: int | float
    nodata: int | float | None

    @property
    def all_valid(self) -> bool:
        """True when every pixel of ``data`` is real."""
        return self.valid_mask is None

    @property
    def valid(self) -> np.ndarray:
        """Boolean validity of ``data`` (built on demand when every pixel is real)."""
        if self.valid_mask is not None:
            return self.valid_mask
        import numpy as np

        return np.ones(self.data.shape, dtype=bool)


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

    chips: list[Chip] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Task:
    record: RecordSources
    source: BandSource
    aoi_index: int
    geom: Any  # AOI in the output grid's CRS
    out_grid: Grid | None  # None: native cropped window
    level: int
    window: Window


def _check_polygon(g: Any, i: int) -> None:
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        raise UnsupportedGeometryError(
            f"AOI {i} is a {g.geom_type}; masked reads need Polygon or MultiPolygon "
            "geometries (use sample_points for points)"
        )


def _phase(t: Transform) -> tuple[float, float, float, float]:
    a, _b, c, _d, e, f = t
    return (a, e, round((c / a) % 1.0, 6) % 1.0, round((f / e) % 1.0, 6) % 1.0)


def _src_res_in(src: BandSource, crs: Any) -> tuple[float, float]:
    a, e = abs(src.transform[0]), abs(src.transform[4])
    if same_crs(src.crs, crs):
        return (a, e)
    minx, miny, maxx, maxy = src.grid().bounds
    xs, ys = transformer(src.crs, crs).transform([minx, maxx, minx, maxx], [miny, miny, maxy, maxy])
    w, h = src.levels[0].width, src.levels[0].height
    return ((max(xs) - min(xs)) / w, (max(ys) - min(ys)) / h)


def _plan_native(
    rec: RecordSources,
    src: BandSource,
    i: int,
    geom: Any,
    bounds: tuple[float, float, float, float],
) -> _Task | None:
    lv = src.levels[0]
    win = geometry_window(bounds, lv.transform).intersection(Window(0, 0, lv.width, lv.height))
    if win is None:
        return None
    return _Task(rec, src, i, geom, None, 0, win)


def source_window(src: BandSource, level: int, grid: Grid) -> Window | None:
    """Window of ``src`` at ``level`` covering ``grid`` (1-pixel margin), clipped to the image."""
    lv = src.levels[level]
    minx, miny, maxx, maxy = grid.bounds
    if not same_crs(src.crs, grid.crs):
        import numpy as np

        n = 21
        xs = np.concatenate(
            [
                np.linspace(minx, maxx, n),
                np.full(n, maxx),
                np.linspace(maxx, minx, n),
                np.full(n, minx),
            ]
        )
        ys = np.concatenate(
            [
                np.full(n, miny),
                np.linspace(miny, maxy, n),
                np.full(n, maxy),
                np.linspace(maxy, miny, n),
            ]
        )
        tx, ty = transformer(grid.crs, src.crs).transform(xs, ys)
        finite = np.isfinite(tx) & np.isfinite(ty)
        if not finite.any():
            return None
        minx, maxx = float(np.min(tx[finite])), float(np.max(tx[finite]))
        miny, maxy = float(np.min(ty[finite])), float(np.max(ty[finite]))
    w = geometry_window((minx, miny, maxx, maxy), lv.transform)
    w = Window(w.col_off - 1, w.row_off - 1, w.width + 2, w.height + 2)
    return w.intersection(Window(0, 0, lv.width, lv.height))


def _stack_grid(
    aoi_geom: Any,
    aoi_crs: Any,
    srcs: Sequence[BandSource],
    target_crs: Any,
    resolution: tuple[float, float] | None,
) -> tuple[Grid | None, Any]:
    """Shared output grid of one AOI, or ``(None, crs)`` for the aligned boundless case."""
    crss = [s.crs for s in srcs]
    if target_crs is None and resolution is None and srcs:
        ref = srcs[0]
        if all(
            same_crs(s.crs, ref.crs) and _phase(s.transform) == _phase(ref.transform) for s in srcs
        ):
            return None, ref.crs
    if target_crs is None:
        target_crs = Counter(crss).most_common(1)[0][0] if crss else aoi_crs  # the most common
    geom_t = to_crs([aoi_geom], aoi_crs, target_crs)[0]
    if resolution is None:
        ress = [_src_res_in(s, target_crs) for s in srcs]
        resolution = (min(r[0] for r in ress), min(r[1] for r in ress))
    return Grid.from_bounds(target_crs, geom_t.bounds, resolution, snap=True), target_crs


def plan_tasks(
    records: Sequence[RecordSources],
    bands: Sequence[str],
    aois: AoiInput,
    *,
    layout: Layout,
    target_crs: Any,
    resolution: tuple[float, float] | None,
    outcome: ReadOutcome,
) -> list[_Task]:
    """Plan every (record, band, AOI) window; unresolvable bands become failures."""
    for i, g in enumerate(aois.geometries):
        _check_polygon(g, i)
    tasks: list[_Task] = []
    geoms_by_crs: dict[str, list[Any]] = {}
    bounds_by_crs: dict[str, list[tuple[float, float, float, float]]] = {}

    def aois_in(crs: Any) -> list[Any]:
        key = str(crs)
        if key not in geoms_by_crs:
            geoms_by_crs[key] = to_crs(aois.geometries, aois.crs, crs)
            bounds_by_crs[key] = [g.bounds for g in geoms_by_crs[key]]
        return geoms_by_crs[key]

    def bounds_in(crs: Any) -> list[tuple[float, float, float, float]]:
        aois_in(crs)
        return bounds_by_crs[str(crs)]

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

    if layout == "native" and target_crs is None and resolution is None:
        for rec, src in usable:
            for i, (geom, bounds) in enumerate(zip(aois_in(src.crs), bounds_in(src.crs))):
                task = _plan_native(rec, src, i, geom, bounds)
                if task is not None:
                    tasks.append(task)
        return tasks

    for i, aoi in enumerate(aois.geometries):
        hits: list[tuple[RecordSources, BandSource]] = []
        for rec, src in usable:
            lv = src.levels[0]
            full = geometry_window(bounds_in(src.crs)[i], lv.transform)
            if full.intersection(Window(0, 0, lv.width, lv.height)) is not None:
                hits.append((rec, src))
        if not hits:
            continue
        grid, crs = _stack_grid(aoi, aois.crs, [s for _, s in hits], target_crs, resolution)
        for rec, src in hits:
            if grid is None:  # aligned: boundless window of the shared grid
                win = geometry_window(bounds_in(src.crs)[i], src.transform)
                tasks.append(_Task(rec, src, i, aois_in(src.crs)[i], None, 0, win))
                continue
            level = src.best_level(min(grid.res) if resolution is not None else None)
            swin = source_window(src, level, grid)
            if swin is None:
                continue
            tasks.append(_Task(rec, src, i, to_crs([aoi], aois.crs, crs)[0], grid, level, swin))
    return tasks


class _Finish:
    """Per-window finishing of an AOI read, run in the decode threads (see ``read_windows``).

    Resamples onto the output grid when there is one, then applies the AOI mask (shared by
    every window on the same grid) — the event-loop thread never touches the pixels.
    """

    def __init__(self, tasks: Sequence[_Task], all_touched: bool, resampling: str) -> None:
        self.tasks = tasks
        self.all_touched = all_touched
        self.resampling = resampling
        self.geo: list[tuple[Transform, Any] | None] = [None] * len(tasks)
        self.masks: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def _inside(self, task: _Task, transform: Transform, shape: Any, crs: Any) -> tuple[Any, Any]:
        key = (task.aoi_index, transform, shape, str(crs))
        got = self.masks.get(key)
        if got is None:  # computed at most a few times per grid, whichever thread gets there
            inside = geometry_mask(task.geom, transform, shape, all_touched=self.all_touched)
            got = self.masks[key] = (inside, None if inside.all() else ~inside)
        return got

    def __call__(self, res: WindowResult) -> WindowResult:
        import numpy as np

        k = res.request.key
        task = self.tasks[k]
        src = task.source
        if res.data is None:
            return res
        src_t = window_transform(src.levels[task.level].transform, task.window)
        if task.out_grid is None:
            data, valid, transform, crs = res.data, res.valid_mask, src_t, src.crs
        else:
            grid = task.out_grid
            ok = res.valid
            assert ok is not None  # data is not None
            data, valid = reproject_array(
                res.data,
                ok,
                src_t,
                src.crs,
                grid,
                fill=res.fill,
                resampling=self.resampling,
                nodata=src.nodata,
                src_grid=src.grid(task.level),
                src_window=task.window,
            )
            transform, crs = grid.transform, grid.crs
        self.geo[k] = (transform, crs)
        inside, outside = self._inside(task, transform, data.shape, crs)
        fill = res.fill if data.dtype == res.data.dtype else np.nan
        if outside is not None:
            data = data if data.flags.writeable else data.copy()
            data[outside] = fill
            valid = inside.copy() if valid is None else valid & inside
        return WindowResult(res.request, data, valid, fill, res.error)


async def read_aois(
    rows: Any,
    bands: Sequence[str],
    aois: AoiInput,
    fetcher: Fetcher,
    *,
    band_map: Mapping[str, str] | None = None,
    layout: Layout = "native",
    all_touched: bool = False,
    target_crs: Any = None,
    resolution: tuple[float, float] | None = None,
    resampling: str = "nearest",
    progress: Callable[[int, int], None] | None = None,
) -> ReadOutcome:
    """Read ``bands`` of every row over every AOI.

    Args:
        rows: Collection rows: a ``pyarrow.Table`` / ``RecordBatch`` holding (at least) the
            columns :func:`rasteret_io.arrow_sources.read_columns` names — the fast path —
            or a sequence of row dicts as ``pa.Table.to_pylist`` gives.
        bands: Band codes.
        aois: From :func:`rasteret_io.aoi.normalize_aois`.
        fetcher: Fetch settings (reader, concurrency, retries, error policy).
        band_map: Band code -> asset key map used to resolve bands.
        layout: ``"native"`` or ``"stack"`` (see module docs).
        all_touched: Include every pixel touched by the AOI boundary.
        target_crs: Output CRS (implies ``"stack"`` semantics for the grid).
        resolution: Output pixel size ``(x, y)`` in the output CRS.
        resampling: A :class:`~rasteret_io.resampling.Resampling` kernel name (``"nearest"``,
            ``"bilinear"``, ``"cubic"``, ``"average"``, ``"mode"``, ``"min"``, ``"max"``,
            ``"med"``, ``"q1"``, ``"q3"``) used when records are resampled; GDAL's warper
            semantics (``rasterio.warp.reproject``) on the level that is read.
        progress: ``progress(done, total)`` callback per COG read (see ``read_windows``).

    Returns:
        Chips in record order, then AOI order, then band order; failures tolerated by the
        fetcher's error policy (under ``"raise"`` the first failure raises instead).
    """
    outcome = ReadOutcome()
    records = as_records(rows, bands, band_map)
    tasks = plan_tasks(
        records,
        bands,
        aois,
        layout=layout,
        target_crs=target_crs,
        resolution=resolution,
        outcome=outcome,
    )
    if fetcher.error_policy == "raise" and outcome.failures:
        raise outcome.failures[0].error
    reqs = [WindowRequest(t.source, t.window, t.level, k) for k, t in enumerate(tasks)]
    finish = _Finish(tasks, all_touched, resampling)
    results = await read_windows(reqs, fetcher, progress=progress, finish=finish)
    order = {b: j for j, b in enumerate(bands)}
    for k, (task, res) in enumerate(zip(tasks, results, strict=True)):
        src = task.source
        if res.error is not None:
            outcome.failures.append(ReadFailure(src.record_id, src.band, task.aoi_index, res.error))
        geo = finish.geo[k]
        if res.data is None or geo is None:
            continue
        rec = task.record
        outcome.chips.append(
            Chip(
                rec.index,
                rec.record_id,
                rec.datetime,
                task.aoi_index,
                src.band,
                res.data,
                res.valid_mask,
                geo[0],
                geo[1],
                res.fill,
                src.nodata,
            )
        )
    outcome.chips.sort(key=lambda c: (c.record_index, c.aoi_index, order[c.band]))
    return outcome


def default_fetcher(
    backend: Any = None,
    *,
    max_concurrent: int = 64,
    error_policy: str = "raise",
    record_concurrency: int | None = None,
) -> Fetcher:
    """A :class:`Fetcher` over ``backend`` (the process default routing backend when None).

    Args:
        backend: The backend (None: the process default).
        max_concurrent: Range requests in flight for the whole read.
        error_policy: ``"raise"``, ``"skip"`` or ``"nodata"``.
        record_concurrency: Range requests in flight per record (None: no such bound).
    """
    from rasteret_io.backend import as_range_reader

    policy = cast("ErrorPolicy", error_policy)  # Fetcher validates the value
    return Fetcher(
        as_range_reader(backend),
        concurrency=max(1, int(max_concurrent)),
        error_policy=policy,
        record_concurrency=record_concurrency,
    )
