"""Point sampling: values of records x bands at points, each tile fetched once.

Pixel choice follows ``rasterio``'s ``sample()``: ``floor`` of the point's pixel coordinates;
points outside a raster yield no sample. With ``max_distance_pixels = r > 0`` a nodata / NaN
centre falls back to the nearest valid pixel within Chebyshev rings ``1..r`` (rings scanned
top row, bottom row, left column, right column; the winner is the candidate whose pixel
rectangle is closest to the point, ties keep scan order — PostGIS ``ST_NearestValue``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from rasteret_catalog.schema import BboxField
from rasteret_io.arrow_sources import as_records, bboxes, is_arrow
from rasteret_io.budget import Estimate, MemoryBudget
from rasteret_io.engine import ReadFailure
from rasteret_io.errors import ReadError
from rasteret_io.fetch import Fetcher
from rasteret_io.grid import Window, inverse_gdal
from rasteret_io.options import Deadline
from rasteret_io.sources import BandSource
from rasteret_io.tiles import WindowRequest, WindowResult, decode_executor, read_windows
from rasteret_io.warp import transformer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["PointSample", "PointSamples", "ring_cells", "sample_points"]

Neighbourhood = Literal["off", "always", "if_center_nodata"]
_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class PointSample:
    """One sampled value."""

    point_index: int
    record_index: int
    band: str
    value: float
    neighbourhood: tuple[float, ...] | None = None


@dataclass(slots=True)
class PointSamples:
    """Samples plus tolerated failures."""

    samples: list[PointSample] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)


def ring_cells(r: int) -> list[tuple[int, int]]:
    """``(drow, dcol)`` offsets of Chebyshev ring ``r`` in scan order (top, bottom, left, right)."""
    top = [(-r, dc) for dc in range(-r, r + 1)]
    bottom = [(r, dc) for dc in range(-r, r + 1)]
    left = [(dr, -r) for dr in range(-r + 1, r)]
    right = [(dr, r) for dr in range(-r + 1, r)]
    return top + bottom + left + right


def _is_nodata(v: float, nodata: Any) -> bool:
    if math.isnan(v):
        return True
    return nodata is not None and not math.isnan(nodata) and v == nodata


async def sample_points(
    rows: Any,
    bands: Sequence[str],
    xs: Sequence[float],
    ys: Sequence[float],
    points_crs: Any,
    fetcher: Fetcher,
    *,
    band_map: Mapping[str, str] | None = None,
    match: Literal["all", "latest"] = "all",
    max_distance_pixels: int = 0,
    return_neighbourhood: Neighbourhood = "off",
    progress: Callable[[int, int], None] | None = None,
    deadline: Deadline | None = None,
    budget: MemoryBudget | None = None,
) -> PointSamples:
    """Sample ``bands`` of ``rows`` at points.

    Args:
        rows: Collection rows (a ``pyarrow.Table`` / ``RecordBatch`` / ``RecordBatchReader``,
            or row dicts); with ``match="latest"`` they must be sorted newest first.
        bands: Band codes.
        xs: Point x coordinates in ``points_crs``.
        ys: Point y coordinates.
        points_crs: CRS of the points.
        fetcher: Fetch settings.
        band_map: Band code -> asset key map.
        match: ``"all"`` samples every record whose lon/lat bbox and raster hold the point;
            ``"latest"`` only the first such record per (point, band) whose value there is
            data (not nodata, NaN or masked), else the first one's value.
        max_distance_pixels: Nodata fallback radius in pixels (0: none).
        return_neighbourhood: ``"off"``, ``"always"`` or ``"if_center_nodata"``.
        progress: ``progress(done, total)`` callback per COG read.
        deadline: The read's running deadline, shared by all its fetches (default: one
            started now from ``fetcher.options.deadline``).
        budget: Refuse the read, before any fetch, when the windows it decodes (and the
            neighbourhood values it returns) exceed it (None: not checked).

    Returns:
        Samples ordered by record, band, point.

    Raises:
        MemoryBudgetError: The read does not fit ``budget`` (nothing was fetched).
    """
    import numpy as np

    r = int(max_distance_pixels)
    if r < 0:
        raise ValueError("max_distance_pixels must be >= 0")
    if return_neighbourhood not in ("off", "always", "if_center_nodata"):
        raise ValueError(f"invalid return_neighbourhood {return_neighbourhood!r}")
    if return_neighbourhood != "off" and r <= 0:
        raise ValueError("max_distance_pixels must be > 0 when return_neighbourhood is enabled")
    xs_a = np.asarray(xs, dtype=np.float64)
    ys_a = np.asarray(ys, dtype=np.float64)
    lon, lat = transformer(points_crs, 4326).transform(xs_a, ys_a)
    lon, lat = np.asarray(lon), np.asarray(lat)
    out = PointSamples()
    rows = _replayable(rows)
    records = as_records(rows, bands, band_map)
    hits: list[_Hit] = []  # every in-raster (record, band, points), records in input order
    for rec, bb in zip(records, bboxes(rows), strict=True):
        cand = np.nonzero(_in_bbox_mask(bb, lon, lat))[0]
        if not len(cand):
            continue
        for bi, band in enumerate(bands):
            src = rec.bands.get(band)
            if not isinstance(src, BandSource):
                if match == "all":
                    out.failures.append(
                        ReadFailure(rec.record_id, band, None, src or ReadError("missing"))
                    )
                continue
            if src.crs is None:
                fail = ReadFailure(rec.record_id, band, None, ReadError("record has no CRS"))
                if match == "latest":  # a failure only if a point falls back to this record
                    nowhere = np.zeros(len(cand))  # no pixel coordinates without a CRS
                    hits.append(_Hit(cand, rec.index, bi, src, nowhere, nowhere, fail))
                else:
                    out.failures.append(fail)
                continue
            px, py = transformer(points_crs, src.crs).transform(xs_a[cand], ys_a[cand])
            inv = inverse_gdal(src.transform)
            col = inv[0] * np.asarray(px) + inv[1] * np.asarray(py) + inv[2]
            rowf = inv[3] * np.asarray(px) + inv[4] * np.asarray(py) + inv[5]
            lv = src.levels[0]
            ok = (col >= 0) & (col < lv.width) & (rowf >= 0) & (rowf < lv.height)
            if ok.any():
                hits.append(_Hit(cand[ok], rec.index, bi, src, col[ok], rowf[ok]))
    if deadline is None:
        deadline = fetcher.options.start_deadline()
    rounds = _RoundProgress(progress)
    io = _Io(fetcher, None if progress is None else rounds, deadline, budget)

    async def sample(batch: list[_Hit]) -> list[tuple[_Hit, PointSample]]:
        try:
            if r == 0:
                return await _sample_centres(batch, io, out)
            return await _sample_windows(batch, io, out, r, return_neighbourhood)
        finally:
            rounds.close_round()

    if match == "latest":
        out.samples.extend(await _latest(hits, sample, (len(xs_a), len(bands)), out))
    else:
        out.samples.extend(s for _, s in await sample(hits))
    order = {b: j for j, b in enumerate(bands)}
    out.samples.sort(key=lambda s: (s.record_index, order[s.band], s.point_index))
    return out


def _replayable(rows: Any) -> Any:
    """``rows`` in a form that can be walked twice (records, then bboxes): a
    ``RecordBatchReader`` is read into a table, any other one-shot iterable into a list."""
    if is_arrow(rows):
        return rows.read_all() if hasattr(rows, "read_all") else rows
    return rows if isinstance(rows, Sequence) else list(rows)


def _in_bbox_mask(bb: Mapping[str, Any] | None, lon: Any, lat: Any) -> Any:
    """Points inside a lon/lat bbox; ``xmin > xmax`` is a box crossing the antimeridian
    (STAC / GeoJSON form): it holds ``[xmin, 180]`` and ``[-180, xmax]``."""
    import numpy as np

    if not bb:
        return np.ones(len(lon), dtype=bool)
    xmin, xmax = bb[BboxField.XMIN], bb[BboxField.XMAX]
    in_x = (lon >= xmin) | (lon <= xmax) if xmin > xmax else (lon >= xmin) & (lon <= xmax)
    return in_x & (lat >= bb[BboxField.YMIN]) & (lat <= bb[BboxField.YMAX])


@dataclass(frozen=True, slots=True)
class _Hit:
    """Points of one (record, band) that fall inside its raster, with their fractional
    pixel coordinates."""

    points: np.ndarray
    record_index: int
    band_index: int
    source: BandSource
    col: np.ndarray
    row: np.ndarray
    failure: ReadFailure | None = None  # the band cannot be sampled (its points fall through)

    def take(self, sel: np.ndarray) -> _Hit:
        """The hit restricted to the points ``sel`` selects."""
        return _Hit(
            self.points[sel], self.record_index, self.band_index, self.source,
            self.col[sel], self.row[sel], self.failure,
        )  # fmt: skip


def _has_data(value: float, src: BandSource) -> bool:
    """Whether a sampled value is data (not NaN, masked or the band's nodata)."""
    return not _is_nodata(value, None if src.nodata is None else float(src.nodata))


async def _latest(
    hits: list[_Hit],
    sample: Callable[[list[_Hit]], Awaitable[list[tuple[_Hit, PointSample]]]],
    shape: tuple[int, int],
    out: PointSamples,
) -> list[PointSample]:
    """``match="latest"``: each (point, band) takes the first record (in ``hits`` order,
    newest first) whose value there is data.

    Round 0 reads, for every (point, band), the newest record whose raster holds it; each
    later round reads, for every (point, band) still without data, its next records — twice
    as many as the round before (1, 2, 4, ...) — so the rounds, each one wave of concurrent
    reads, stay logarithmic in the fallback depth (a point that only the oldest of a thousand
    records serves takes 11 rounds, not a thousand). A (point, band, record) is read at most
    once, and only after every newer record failed it but for the last round's batch, which
    may read up to twice the records needed. The newest record with data wins. A (point,
    band) no record has data for keeps the newest in-raster record's value (its nodata or
    NaN), as without the fallback. A record that cannot be sampled (no CRS) is reported in
    ``out.failures`` once, when a point first falls back to it.
    """
    import numpy as np

    served = np.zeros(shape, dtype=bool)
    tried = np.full(shape, -1, dtype=np.int64)  # position in ``hits`` of the last record tried
    best: dict[tuple[int, int], tuple[int, PointSample]] = {}  # (point, band) -> newest data
    fallback: dict[tuple[int, int], tuple[int, PointSample]] = {}  # -> newest no-data value
    reported: set[int] = set()  # positions in ``hits`` whose failure is in ``out.failures``
    width = 1
    for _ in range(len(hits) + 1):  # bounded: every round moves each pending pair a hit on
        taken = np.zeros(shape, dtype=np.int64)
        batch: list[_Hit] = []
        position: dict[int, int] = {}  # id of a batch hit -> its position in ``hits``
        for k, h in enumerate(hits):
            p, bi = h.points, h.band_index
            sel = ~served[p, bi] & (taken[p, bi] < width) & (tried[p, bi] < k)
            if sel.any():
                taken[p[sel], bi] += 1
                tried[p[sel], bi] = k
                if h.failure is None:
                    part = h.take(sel)
                    position[id(part)] = k
                    batch.append(part)
                elif k not in reported:
                    reported.add(k)
                    out.failures.append(h.failure)
        if not taken.any():
            break
        for h, s in await sample(batch) if batch else ():
            key, k = (s.point_index, h.band_index), position[id(h)]
            into = best if _has_data(s.value, h.source) else fallback
            if key not in into or k < into[key][0]:
                into[key] = (k, s)
        for key in best:
            served[key] = True
        width *= 2
    got = [s for _, s in best.values()]
    got.extend(s for key, (_, s) in fallback.items() if key not in best)
    return got


class _RoundProgress:
    """``progress(done, total)`` counted on across the :func:`read_windows` calls of one
    sampling read (``match="latest"`` makes one per fallback round)."""

    __slots__ = ("base", "callback", "total")

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self.callback = callback
        self.base = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        if self.callback is not None:
            self.callback(self.base + done, self.base + total)

    def close_round(self) -> None:
        """The current call is over: the next one counts on from its total."""
        self.base += self.total
        self.total = 0


@dataclass(frozen=True, slots=True)
class _Io:
    """How the windows of one sampling read are fetched."""

    fetcher: Fetcher
    progress: Callable[[int, int], None] | None
    deadline: Deadline | None
    budget: MemoryBudget | None


def _with_data(
    items: Sequence[_Item], results: Sequence[WindowResult], out: PointSamples
) -> Iterator[tuple[_Item, np.ndarray, np.ndarray | None]]:
    """Each item with its window's pixels and valid mask when the window has pixels; a
    window that could not be read (skipped, or filled with nodata) is recorded in
    ``out.failures``."""
    for item, res in zip(items, results, strict=True):
        if res.error is not None or res.data is None:
            src = res.request.source
            err = res.error or ReadError("read failed")
            out.failures.append(ReadFailure(src.record_id, src.band, None, err))
        if res.data is not None:
            yield item, res.data, res.valid_mask


async def _sample_centres(
    hits: list[_Hit], io: _Io, out: PointSamples
) -> list[tuple[_Hit, PointSample]]:
    """Nearest-pixel values: one window per distinct tile, values gathered per tile."""
    import numpy as np

    reqs: list[WindowRequest] = []
    groups: list[tuple[_Hit, Any, Any, Any]] = []  # hit, points, rows, cols
    got: list[tuple[_Hit, PointSample]] = []
    for h in hits:
        c = np.floor(h.col).astype(np.int64)
        rr = np.floor(h.row).astype(np.int64)
        src = h.source
        spec = src.spec
        tile = (rr // spec.tile_height) * spec.tiles_across + (c // spec.tile_width)
        for t in np.unique(tile):
            sel = tile == t
            trow, tcol = divmod(int(t), spec.tiles_across)
            c0, r0 = tcol * spec.tile_width, trow * spec.tile_height
            win = Window(
                c0,
                r0,
                min(spec.tile_width, spec.width - c0),
                min(spec.tile_height, spec.height - r0),
            )
            reqs.append(WindowRequest(src, win, 0, len(groups)))
            groups.append((h, h.points[sel], rr[sel] - r0, c[sel] - c0))
    results = await read_windows(
        reqs, io.fetcher, progress=io.progress, deadline=io.deadline, budget=io.budget
    )

    def gather() -> None:  # in the decode pool: the event loop only schedules I/O
        for (h, pts, rows_in, cols_in), data, valid in _with_data(groups, results, out):
            vals = data[rows_in, cols_in].astype(np.float64)
            if valid is not None:
                vals[~valid[rows_in, cols_in]] = np.nan
            ri, band = h.record_index, h.source.band
            got.extend(
                (h, PointSample(int(p), ri, band, float(v)))
                for p, v in zip(pts.tolist(), vals.tolist(), strict=True)
            )

    await asyncio.get_running_loop().run_in_executor(decode_executor(), gather)
    return got


async def _sample_windows(
    hits: list[_Hit], io: _Io, out: PointSamples, r: int, neighbourhood: str
) -> list[tuple[_Hit, PointSample]]:
    """Values with a nodata fallback / neighbourhood: a (2r+1)² window per point."""
    import numpy as np

    reqs: list[WindowRequest] = []
    info: list[tuple[int, _Hit, float, float]] = []
    got: list[tuple[_Hit, PointSample]] = []
    for h in hits:
        for p, cf, rf in zip(h.points, h.col, h.row, strict=True):
            win = Window(math.floor(cf) - r, math.floor(rf) - r, 2 * r + 1, 2 * r + 1)
            reqs.append(WindowRequest(h.source, win, 0, len(info)))
            info.append((int(p), h, float(cf), float(rf)))
    est = Estimate()
    side = 2 * r + 1
    for req in reqs:
        est.add((side, side), req.source.spec.dtype, mask=True)
    if reqs:
        est.add((side, side), "float64")  # one window at a time as float64
        if neighbourhood != "off":  # the returned values: Python floats (~32 bytes each)
            est.add((len(reqs), side * side, 4), "float64", output=True)
    est.check(io.budget, f"sampling {len(reqs)} neighbourhood(s) of {side} x {side} px")
    results = await read_windows(reqs, io.fetcher, progress=io.progress, deadline=io.deadline)

    def gather() -> None:  # in the decode pool: the event loop only schedules I/O
        for (pi, h, col, rowf), data, valid in _with_data(info, results, out):
            src = h.source
            win = data.astype(np.float64)
            if valid is not None:
                win[~valid] = np.nan
            centre = float(win[r, r])
            nodata = None if src.nodata is None else float(src.nodata)
            centre_nd = _is_nodata(centre, nodata)
            value = centre
            if centre_nd:
                value = _nearest_valid(
                    win, r, col - math.floor(col), rowf - math.floor(rowf), src, nodata, centre
                )
            neigh = None
            if neighbourhood == "always" or (neighbourhood == "if_center_nodata" and centre_nd):
                neigh = tuple(float(v) for v in win.ravel())
            got.append((h, PointSample(pi, h.record_index, src.band, value, neigh)))

    await asyncio.get_running_loop().run_in_executor(decode_executor(), gather)
    return got


def _nearest_valid(
    win: Any, r: int, fx: float, fy: float, src: BandSource, nodata: float | None, centre: float
) -> float:
    """Nearest valid value around the centre within ``r`` rings (see module docs)."""
    sx, sy = abs(src.transform[0]), abs(src.transform[4])
    for ring in range(1, r + 1):
        best: tuple[float, float] | None = None
        for dr, dc in ring_cells(ring):
            v = float(win[r + dr, r + dc])
            if _is_nodata(v, nodata):
                continue
            # distance from the point (fx, fy inside the centre pixel) to the candidate rectangle
            dx = max(dc - fx, 0.0, fx - (dc + 1)) * sx
            dy = max(dr - fy, 0.0, fy - (dr + 1)) * sy
            dist = math.hypot(dx, dy)
            if best is None or dist < best[0]:
                best = (dist, v)
        if best is not None:
            return best[1]
    return centre
