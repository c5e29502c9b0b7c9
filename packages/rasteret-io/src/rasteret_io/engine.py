"""The AOI read engine: records x bands x AOIs -> masked arrays, in one concurrent wave.

Two output layouts:

* ``layout="native"``: every (record, AOI, band) on the record's own grid, cropped and
  masked exactly as ``rasterio.mask.mask(src, [aoi], crop=True, filled=True)`` (window
  clipped to the raster; outside the polygon = nodata, else 0; native dtype).
* ``layout="stack"``: every record of one AOI on one shared grid, so results stack even when
  the AOI crosses a scene edge or records differ in CRS or resolution. The grid is chosen by
  :mod:`rasteret_io.output_grid`: ``target_crs`` (default: the most common record CRS),
  ``resolution`` (default: the finest native one), ``anchor`` (default: the native grid) and
  the AOI's window clipped to the records' extents — for one record on its own grid exactly
  ``rasterio.mask.mask(crop=True)``'s window. Bands on that grid are copied; others are
  resampled with GDAL's warper (:mod:`rasteret_io.resampling`), from overviews when the
  resolution is coarse enough. Output dtype, nodata and fill per band:
  :mod:`rasteret_io.band_output`.

Planning (no I/O) is :func:`rasteret_io.aoi_plan.plan_tasks`; :func:`read_aois` plans and
reads, :func:`read_tasks` reads tasks planned beforehand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rasteret_io.aoi import AoiInput
from rasteret_io.aoi_plan import (
    AoiTask,
    Layout,
    ReadFailure,
    ReadOutcome,
    plan_tasks,
    source_window,
)
from rasteret_io.arrow_sources import as_records
from rasteret_io.band_output import convert_values
from rasteret_io.budget import Estimate, MemoryBudget
from rasteret_io.errors import BandResolutionError
from rasteret_io.fetch import ErrorPolicy, Fetcher
from rasteret_io.grid import Transform, window_transform
from rasteret_io.options import Deadline, FetchOptions
from rasteret_io.rasterize import geometry_mask
from rasteret_io.resampling import warp_into
from rasteret_io.tiles import WindowRequest, WindowResult, read_windows

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Chip",
    "ReadFailure",
    "ReadOutcome",
    "aoi_read_bytes",
    "plan_tasks",
    "read_aois",
    "read_tasks",
    "source_window",
]


@dataclass(frozen=True, slots=True)
class Chip:
    """One masked array: a band of a record over an AOI.

    Attributes:
        record_index: Row position in the input rows.
        record_id: Record id.
        datetime: Record datetime.
        aoi_index: 0-based AOI position.
        band: Band code.
        data: ``(height, width)`` array in the output dtype (see
            :mod:`rasteret_io.band_output`; the band's own for nearest reads by default).
        valid_mask: True where data is real (inside the AOI, the raster and a present tile);
            None when every pixel is (see :attr:`valid`).
        transform: Geotransform of ``data``.
        crs: CRS of ``data``.
        fill: Value of invalid pixels (the output nodata, else 0).
        nodata: Nodata of ``data`` (the band's own unless an output dtype / fill value
            changed it; None when there is none).
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


def aoi_read_bytes(tasks: Sequence[AoiTask]) -> Estimate:
    """The arrays an AOI read of ``tasks`` holds at its peak, from the plan alone.

    Every task's decoded source window (plus its internal-mask window and validity mask); a
    task on an output grid also that grid in its output dtype (resampled: GDAL's working
    dtype, the wider of source and output, then converted). The chips handed back are marked
    as output.
    """
    import numpy as np

    est = Estimate()
    for t in tasks:
        src = t.source
        dtype = src.level_spec(t.level).dtype
        shape = (t.window.height, t.window.width)
        direct = t.out_grid is None or (t.plan is None and not (t.output and t.output.converted))
        est.add(shape, dtype, mask=True, output=direct)
        if t.level == 0 and src.mask is not None:
            est.add(shape, "uint8")
        if direct or t.out_grid is None or t.output is None:
            continue
        out = np.dtype(t.output.dtype)
        work = out if t.plan is None else np.promote_types(np.dtype(dtype), out)
        est.add(t.out_grid.shape, work, mask=True, output=work == out)
        if work != out:
            est.add(t.out_grid.shape, out, output=True)
    return est


class _Finish:
    """Per-window finishing of an AOI read, run in the decode threads (see ``read_windows``).

    Converts or resamples onto the output grid when there is one, then applies the AOI mask
    (shared by every window on the same grid) — the event-loop thread never touches pixels.
    """

    def __init__(self, tasks: Sequence[AoiTask], all_touched: bool) -> None:
        self.tasks = tasks
        self.all_touched = all_touched
        self.geo: list[tuple[Transform, Any] | None] = [None] * len(tasks)
        self.masks: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def _inside(self, task: AoiTask, transform: Transform, shape: Any, crs: Any) -> tuple[Any, Any]:
        key = (task.aoi_index, transform, shape, str(crs))
        got = self.masks.get(key)
        if got is None:  # computed at most a few times per grid, whichever thread gets there
            inside = geometry_mask(task.geom, transform, shape, all_touched=self.all_touched)
            got = self.masks[key] = (inside, None if inside.all() else ~inside)
        return got

    def _on_grid(self, task: AoiTask, res: WindowResult) -> tuple[Any, Any, Any]:
        """``(data, valid, fill)`` of a stacked task on its output grid."""
        import numpy as np

        src, grid, out = task.source, task.out_grid, task.output
        assert grid is not None and out is not None and res.data is not None
        if task.plan is None:  # on the grid: a copy, converted when asked to
            data, valid = res.data, res.valid_mask
            if out.converted:
                data, ok = out.convert(data, valid, src.nodata)
                valid = None if ok.all() else ok
            return data, valid, out.fill
        # GDAL warps in its working type (the wider of source and target), then converts
        work = np.promote_types(res.data.dtype, np.dtype(out.dtype))
        data, valid = warp_into(
            res.data,
            src.grid(task.level),
            grid,
            out.resampling,
            src_window=task.window,
            src_valid=res.valid_mask,
            nodata=src.nodata,
            dst_nodata=out.nodata,
            src_has_mask=src.mask is not None and task.level == 0,
            out=np.empty(grid.shape, dtype=work),
            plan=task.plan,
        )
        if work != np.dtype(out.dtype):
            data = convert_values(data, out.dtype)
            data[~valid] = out.fill
        return data, (None if valid.all() else valid), out.fill

    def __call__(self, res: WindowResult) -> WindowResult:
        k = res.request.key
        task = self.tasks[k]
        src = task.source
        if res.data is None:
            return res
        if task.out_grid is None:
            data, valid, fill = res.data, res.valid_mask, res.fill
            transform = window_transform(src.levels[task.level].transform, task.window)
            crs = src.crs
        else:
            data, valid, fill = self._on_grid(task, res)
            transform, crs = task.out_grid.transform, task.out_grid.crs
        self.geo[k] = (transform, crs)
        inside, outside = self._inside(task, transform, data.shape, crs)
        if outside is not None:
            data = data if data.flags.writeable else data.copy()
            data[outside] = fill
            valid = inside.copy() if valid is None else valid & inside
        return WindowResult(res.request, data, valid, fill, res.error)


async def read_tasks(
    tasks: Sequence[AoiTask],
    bands: Sequence[str],
    fetcher: Fetcher,
    *,
    all_touched: bool = False,
    progress: Callable[[int, int], None] | None = None,
    outcome: ReadOutcome | None = None,
    deadline: Deadline | None = None,
    budget: MemoryBudget | None = None,
) -> ReadOutcome:
    """Read tasks from :func:`~rasteret_io.aoi_plan.plan_tasks` (one concurrent wave).

    Args:
        tasks: The planned tasks.
        bands: Band codes (the chips' band order).
        fetcher: Fetch settings (reader, concurrency, retries, error policy).
        all_touched: Include every pixel touched by the AOI boundary.
        progress: ``progress(done, total)`` callback per COG read (see ``read_windows``).
        outcome: Receives the chips and failures (a new one when None).
        deadline: The read's running deadline, shared by all its fetches (default: one
            started now from ``fetcher.options.deadline``).
        budget: Refuse the read before any fetch when :func:`aoi_read_bytes` exceeds it
            (checked before the tiles are planned), or that plus the decode working set
            (the largest tiles or strips decoded at once, the fetched bytes) once they are
            (None: not checked).

    Returns:
        ``outcome`` (a new one when None) with the chips appended in record order, then AOI
        order, then band order, and the read failures the fetcher's error policy tolerated.

    Raises:
        MemoryBudgetError: The read does not fit ``budget`` (nothing was fetched).
    """
    what = f"reading {len(tasks)} (record, band, AOI) window(s)"
    counted = None
    if budget is not None:  # the windows alone first: planning the tiles of a huge read is slow
        counted = aoi_read_bytes(tasks)
        counted.check(budget, what)
    outcome = outcome if outcome is not None else ReadOutcome()
    reqs = [WindowRequest(t.source, t.window, t.level, k) for k, t in enumerate(tasks)]
    finish = _Finish(tasks, all_touched)
    if deadline is None:
        deadline = fetcher.options.start_deadline()
    results = await read_windows(
        reqs,
        fetcher,
        progress=progress,
        finish=finish,
        deadline=deadline,
        budget=budget,
        counted=counted,
        counted_what=what,
    )
    order = {b: j for j, b in enumerate(bands)}
    for k, (task, res) in enumerate(zip(tasks, results, strict=True)):
        src = task.source
        if res.error is not None:
            outcome.failures.append(ReadFailure(src.record_id, src.band, task.aoi_index, res.error))
        geo = finish.geo[k]
        if res.data is None or geo is None:
            continue
        rec = task.record
        nodata = src.nodata if task.output is None else task.output.nodata
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
                nodata,
            )
        )
    outcome.chips.sort(key=lambda c: (c.record_index, c.aoi_index, order[c.band]))
    return outcome


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
    resampling: Any = "nearest",
    progress: Callable[[int, int], None] | None = None,
    anchor: Any = None,
    dtype: Any = None,
    fill_value: Any = None,
    shared_grid: bool = False,
    deadline: Deadline | None = None,
    budget: MemoryBudget | None = None,
    skip_unresolved: bool = False,
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
        resolution: Output pixel size ``(x, y)`` (or one number) in the output CRS.
        resampling: A :class:`~rasteret_io.resampling.Resampling` kernel name (``"nearest"``,
            ``"bilinear"``, ``"cubic"``, ``"average"``, ``"mode"``, ``"min"``, ``"max"``,
            ``"med"``, ``"q1"``, ``"q3"``), or ``{band: kernel}`` with ``"*"`` for the other
            bands, used when records are resampled; GDAL's warper semantics
            (``rasterio.warp.reproject``) on the level that is read.
        progress: ``progress(done, total)`` callback per COG read (see ``read_windows``).
        anchor: Pixel anchor of the stacked grid (see :mod:`rasteret_io.output_grid`).
        dtype: Output dtype of stacked reads (or ``{band: dtype}``); ``"native"`` keeps each
            band's own. Default: the band's own for nearest, float64 for the other kernels.
        fill_value: Output nodata / fill of stacked reads (or ``{band: value}``).
        shared_grid: One CRS / resolution / anchor for every AOI.
        deadline: The read's running deadline, shared by all its fetches (default: one
            started now from ``fetcher.options.deadline``).
        budget: Refuse the read, before any fetch, when the arrays it would hold
            (:func:`aoi_read_bytes`) exceed it (None: not checked).
        skip_unresolved: Report bands the index cannot resolve for a record (no asset, no
            indexed header: :class:`~rasteret_io.errors.BandResolutionError`) as failures
            even under ``error_policy="raise"``, which then applies to reading pixels only.

    Returns:
        Chips in record order, then AOI order, then band order; failures tolerated by the
        fetcher's error policy (under ``"raise"`` the first failure raises instead).

    Raises:
        MemoryBudgetError: The read does not fit ``budget`` (nothing was fetched).
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
        anchor=anchor,
        shared=shared_grid,
        resampling=resampling,
        dtype=dtype,
        fill_value=fill_value,
    )
    if fetcher.error_policy == "raise":
        for f in outcome.failures:
            if not (skip_unresolved and isinstance(f.error, BandResolutionError)):
                raise f.error
    return await read_tasks(
        tasks,
        bands,
        fetcher,
        all_touched=all_touched,
        progress=progress,
        outcome=outcome,
        deadline=deadline,
        budget=budget,
    )


def default_fetcher(
    backend: Any = None,
    *,
    max_concurrent: int = 64,
    error_policy: str = "raise",
    options: FetchOptions | None = None,
    record_concurrency: int | None = None,
) -> Fetcher:
    """A :class:`Fetcher` over ``backend`` (the process default routing backend when None).

    Args:
        backend: The backend (None: the process default).
        max_concurrent: Range requests in flight for the whole read (overrides
            ``options.concurrency``).
        error_policy: ``"raise"``, ``"skip"`` or ``"nodata"``.
        options: Retries, per-attempt timeout, total deadline and staleness policy
            (default :class:`FetchOptions()`).
        record_concurrency: Range requests in flight per record (None: no such bound).
    """
    from rasteret_io.backend import as_range_reader

    policy = cast("ErrorPolicy", error_policy)  # Fetcher validates the value
    return Fetcher(
        as_range_reader(backend),
        options,
        concurrency=max(1, int(max_concurrent)),
        error_policy=policy,
        record_concurrency=record_concurrency,
    )
