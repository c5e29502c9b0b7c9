"""Fixed-grid reads (``read_window``): records x bands onto one caller-chosen grid, mosaicked.

Each record is placed on the query grid: a straight copy when the record's grid (or one of
its overviews) is pixel-aligned with the query grid at the same resolution, otherwise a
resampled read (nearest for integers, bilinear for floats unless told otherwise) with GDAL's
warper in the band's own dtype: the source window GDAL reads, the source nodata excluded from
every kernel, values identical to ``rasterio.warp.reproject(..., src_nodata=nodata,
dst_nodata=nodata)``. Records are mosaicked first-valid-wins in the given order (valid = read,
not nodata, finite), within the groups that ``group_by`` defines; pixels no record supplies
hold the nodata every record shares (NaN included), else 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rasteret_io.aoi_plan import source_warp_plan
from rasteret_io.arrow_sources import as_records
from rasteret_io.band_output import nodata_key
from rasteret_io.budget import Estimate, MemoryBudget
from rasteret_io.engine import ReadFailure
from rasteret_io.errors import ReadError
from rasteret_io.fetch import Fetcher
from rasteret_io.grid import Grid, Window
from rasteret_io.options import Deadline
from rasteret_io.output_grid import lattice_offset, level_for
from rasteret_io.resampling import Resampling, WarpPlan, warp_into
from rasteret_io.sources import BandSource
from rasteret_io.tiles import WindowRequest, WindowResult, decode_executor, read_windows

if TYPE_CHECKING:
    import numpy as np

__all__ = ["GridRead", "aligned_window", "grid_read_bytes", "nothing_readable", "read_grid"]

GroupBy = Literal["id", "datetime"] | None


@dataclass(slots=True)
class GridRead:
    """Result of :func:`read_grid`.

    Attributes:
        data: ``[C, H, W]`` (no grouping) or ``[T, C, H, W]``.
        valid: Boolean, same shape: True where some record supplied the pixel.
        groups: One key per time step (record id or datetime); ``[None]`` without grouping.
        fill: Value of pixels no record supplied.
        failures: Records / bands skipped, with the reason.
    """

    data: np.ndarray
    valid: np.ndarray
    groups: list[Any]
    fill: int | float
    failures: list[ReadFailure] = field(default_factory=list)


def aligned_window(src: BandSource, level: int, grid: Grid) -> Window | None:
    """The level's window equal to ``grid`` when pixel-aligned at the same size, else None."""
    off = lattice_offset(grid.transform, grid.crs, src.levels[level].transform, src.crs)
    return None if off is None else Window(off[0], off[1], grid.width, grid.height)


def _is_valid(np: Any, data: Any, valid: Any, nodata: Any) -> Any:
    ok = np.ones(data.shape, dtype=bool) if valid is None else valid.copy()
    if data.dtype.kind == "f":
        ok &= np.isfinite(data)
    if nodata is not None and not (isinstance(nodata, float) and nodata != nodata):
        ok &= data != nodata
    return ok


async def read_grid(
    rows: Any,
    bands: Sequence[str],
    grid: Grid,
    fetcher: Fetcher,
    *,
    band_map: Mapping[str, str] | None = None,
    group_by: GroupBy = None,
    resampling: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    deadline: Deadline | None = None,
    budget: MemoryBudget | None = None,
) -> GridRead:
    """Read ``bands`` of ``rows`` onto ``grid`` and mosaic them.

    Args:
        rows: Collection rows in mosaic priority order (first wins): a ``pyarrow.Table`` /
            ``RecordBatch`` (fast path) or a sequence of row dicts.
        bands: Band codes (output channels, in order).
        grid: The query grid.
        fetcher: Fetch settings.
        band_map: Band code -> asset key map.
        group_by: None (one mosaic), ``"id"`` (one step per record) or ``"datetime"`` (one
            mosaic per distinct datetime, sorted).
        resampling: A :class:`~rasteret_io.resampling.Resampling` kernel name (``"nearest"``,
            ``"bilinear"``...) for records not aligned with ``grid``; default nearest for
            integer bands and bilinear for float bands. Warps keep the band's dtype and
            exclude its nodata, as GDAL does.
        deadline: The read's running deadline, shared by all its fetches (default: one
            started now from ``fetcher.options.deadline``).
        budget: Refuse the read, before any fetch, when its arrays (windows, resampled
            grids, the mosaic) exceed it (None: not checked).

    Raises:
        ReadError: nothing readable; the message names the first failure (URL, record,
            band, HTTP status) and the error is chained to it.
        ValueError: An unknown ``resampling`` or ``group_by``.
        MemoryBudgetError: The read does not fit ``budget`` (nothing was fetched).
    """
    import numpy as np

    records = as_records(rows, bands, band_map)
    failures: list[ReadFailure] = []
    reqs: list[WindowRequest] = []
    meta: list[_Placed] = []
    plans: dict[tuple[Any, ...], WarpPlan] = {}
    if group_by == "id":
        keys: list[Any] = [rec.record_id for rec in records]
        group_of = {rec.index: i for i, rec in enumerate(records)}
    elif group_by == "datetime":
        keys = sorted({rec.datetime for rec in records}, key=lambda v: (v is None, v))
        pos = {k: i for i, k in enumerate(keys)}
        group_of = {rec.index: pos[rec.datetime] for rec in records}
    elif group_by is None:
        keys = [None]
        group_of = {rec.index: 0 for rec in records}
    else:
        raise ValueError(f"group_by must be None, 'id' or 'datetime', got {group_by!r}")
    what = f"reading a {grid.height} x {grid.width} grid"
    # before any warp is planned: planning onto a huge grid is itself slow
    _output_floor(records, bands, grid, len(keys)).check(budget, what)
    for rec in records:
        for bi, band in enumerate(bands):
            src = rec.bands.get(band)
            if not isinstance(src, BandSource):
                failures.append(ReadFailure(rec.record_id, band, None, src or ReadError("missing")))
                continue
            if src.crs is None:
                failures.append(
                    ReadFailure(
                        rec.record_id, band, None, ReadError(f"record {rec.record_id!r} has no CRS")
                    )
                )
                continue
            level = level_for(src, grid)  # the grid's pixel size in the source's units
            win = aligned_window(src, level, grid)
            plan = None
            if win is None:  # resampled: read exactly the source window GDAL's warp reads
                plan = _warp_plan(src, level, grid, resampling, plans)
                win = plan.source_window
                if win is None:
                    continue
            reqs.append(WindowRequest(src, win, level, len(meta)))
            meta.append(_Placed(rec.index, bi, src, plan, level))
    est = grid_read_bytes(reqs, meta, grid, len(keys), len(bands), resampling)
    est.check(budget, what)
    finish = _OnGrid(meta, grid)
    results = await read_windows(
        reqs,
        fetcher,
        progress=progress,
        finish=finish,
        deadline=deadline,
        budget=budget,  # checked again with the decode working set once tiles are planned
        counted=est,
        counted_what=what,
    )

    # skipped, or filled with nodata: reported either way
    failures += [
        ReadFailure(m.source.record_id, m.source.band, None, res.error)
        for m, res in zip(meta, results, strict=True)
        if res.error is not None
    ]
    # each window's source dtype (the engine allocates windows in their level's dtype)
    dtypes = [
        np.dtype(m.source.level_spec(m.level).dtype)
        for m, res in zip(meta, results, strict=True)
        if res.data is not None
    ]
    if not dtypes:
        raise nothing_readable(failures, len(records), list(bands))
    fill = _shared_fill([m.source.nodata for m in meta])
    shape = (len(keys), len(bands), grid.height, grid.width)

    def mosaic() -> tuple[np.ndarray, np.ndarray]:
        """First valid pixel wins, in row order (in the decode pool, off the event loop)."""
        data = np.full(shape, fill, dtype=np.result_type(*dtypes))
        filled = np.zeros(shape, dtype=bool)
        for m, res in zip(meta, results, strict=True):
            if res.data is None:
                continue
            g = group_of[m.record]
            ok = res.valid
            take = ok & ~filled[g, m.band]
            data[g, m.band][take] = res.data[take]
            filled[g, m.band] |= take
        return data, filled

    loop = asyncio.get_running_loop()
    data, filled = await loop.run_in_executor(decode_executor(), mosaic)
    if group_by is None:
        return GridRead(data[0], filled[0], keys, fill, failures)
    return GridRead(data, filled, keys, fill, failures)


def _output_floor(records: Sequence[Any], bands: Sequence[str], grid: Grid, steps: int) -> Estimate:
    """A lower bound of :func:`grid_read_bytes` known before any planning: the mosaic and its
    coverage mask in the narrowest dtype of the bands read."""
    import numpy as np

    sizes = [
        np.dtype(src.spec.dtype).itemsize
        for rec in records
        for band in bands
        if isinstance(src := rec.bands.get(band), BandSource)
    ]
    est = Estimate()
    if sizes:
        narrow = {1: "uint8", 2: "uint16", 4: "uint32"}.get(min(sizes), "uint64")
        est.add((steps, len(bands), grid.height, grid.width), narrow, mask=True, output=True)
    return est


def _shared_fill(nodatas: Sequence[int | float | None]) -> int | float:
    """The value of mosaic pixels no record supplies: the nodata every record shares (NaN
    included: NaN-nodata records share NaN), else 0."""
    if not nodatas or len({nodata_key(v) for v in nodatas}) != 1 or nodatas[0] is None:
        return 0
    return nodatas[0]


def _warp_plan(
    src: BandSource,
    level: int,
    grid: Grid,
    resampling: str | None,
    cache: dict[tuple[Any, ...], WarpPlan],
) -> WarpPlan:
    """GDAL's warp plan of a band level onto ``grid`` in the band's own dtype with its nodata
    (shared by every record on the same source grid)."""
    import numpy as np

    dtype = np.dtype(src.level_spec(level).dtype)
    kind = Resampling(resampling or ("bilinear" if dtype.kind == "f" else "nearest"))
    return source_warp_plan(src, level, grid, kind, dtype, src.nodata, cache=cache)


def nothing_readable(
    failures: Sequence[ReadFailure], n_records: int, bands: list[str]
) -> ReadError:
    """The error of a grid read that produced nothing, naming why (chained to the first
    failure: its message carries the URL, record, band and HTTP status)."""
    if not failures:
        err = ReadError(
            f"read_window: nothing readable for {n_records} record(s) and bands {bands}: "
            "no record overlaps the requested bounds"
        )
        return err
    first = failures[0]
    more = f" (+{len(failures) - 1} more failure(s))" if len(failures) > 1 else ""
    err = ReadError(
        f"read_window: nothing readable for {n_records} record(s) and bands {bands}; "
        f"record {first.record_id!r} band {first.band!r}: {first.error}{more}"
    )
    err.__cause__ = first.error
    return err


def grid_read_bytes(
    reqs: Sequence[WindowRequest],
    meta: Sequence[_Placed],
    grid: Grid,
    steps: int,
    channels: int,
    resampling: str | None,
) -> Estimate:
    """The arrays a grid read holds at its peak: every source window (data and mask), every
    resampled grid (in the band's dtype), the per-window validity on the grid, and the mosaic
    (output) with its coverage mask."""
    import numpy as np

    est = Estimate()
    dtypes = []
    for req, m in zip(reqs, meta, strict=True):
        dtype = np.dtype(m.source.level_spec(m.level).dtype)
        dtypes.append(dtype)
        est.add((req.window.height, req.window.width), dtype, mask=True)
        if m.plan is not None:
            est.add(grid.shape, dtype, mask=True)
        else:
            est.add(grid.shape, "bool")
    if dtypes:
        out = np.result_type(*dtypes)
        est.add((steps, channels, grid.height, grid.width), out, mask=True, output=True)
    return est


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where a window lands: record, channel, source, level, and GDAL's warp plan onto the
    grid (None: the window is a straight copy)."""

    record: int
    band: int
    source: BandSource
    plan: WarpPlan | None
    level: int


class _OnGrid:
    """Per-window step of a grid read, in the decode threads: warp onto the grid when not
    aligned (as the AOI read does: the whole level's grid, the window's place in it, the
    source nodata and mask, the band's dtype), then mark valid only real, non-nodata, finite
    pixels."""

    def __init__(self, meta: list[_Placed], grid: Grid) -> None:
        self.meta = meta
        self.grid = grid

    def __call__(self, res: WindowResult) -> WindowResult:
        import numpy as np

        if res.data is None:
            return res
        m = self.meta[res.request.key]
        src = m.source
        arr, ok = res.data, res.valid_mask
        if m.plan is not None:
            arr, ok = warp_into(
                arr,
                m.plan.src_grid,
                self.grid,
                m.plan.resampling,
                src_window=res.request.window,
                src_valid=ok,
                nodata=src.nodata,
                src_has_mask=src.mask is not None and m.level == 0,
                out=np.empty(self.grid.shape, dtype=arr.dtype),
                plan=m.plan,
            )
        return WindowResult(
            res.request, arr, _is_valid(np, arr, ok, src.nodata), res.fill, res.error
        )
