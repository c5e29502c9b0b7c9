"""Planning a stacked AOI read (``get_numpy`` / ``get_xarray``) from the index alone.

:func:`plan_cube` scans the records the AOIs meet and plans every (record, band, AOI) read
with :func:`rasteret_io.plan_tasks` — output grids, copies or GDAL warps, output dtypes — with
no pixel or header request. The plan then tells the shape and dtype of the output before
anything is allocated (:meth:`CubePlan.output`, :func:`plan_output`): the memory budget is
checked on it right after planning (:func:`check_plan_budget`), before any fetch, and the
eager and lazy readers execute the same plan.

Grids: ``get_numpy`` gives each AOI its own grid (the AOI's window clipped to the records'
extents); ``get_xarray`` puts every AOI on one lattice (one CRS, resolution and anchor) and
places them in one regular grid covering all of them (:meth:`CubePlan.covering_grid`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rasteret.errors import InvalidInputError
from rasteret.read.aoi import aoi_records
from rasteret.read.limits import budget_for
from rasteret.read.steps import Member, Step, group_steps, naive_time
from rasteret.read.xr_conventions import property_columns
from rasteret_io import Grid, ReadOutcome, as_records, plan_tasks, transformer

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read._adapter import EngineRecords
    from rasteret.read.requests import AoiRequest, ReadOptions, XarrayOptions
    from rasteret.records import RecordSource
    from rasteret_io import AoiTask, RecordSources

__all__ = [
    "CubePlan",
    "OutputPlan",
    "check_plan_budget",
    "placement",
    "plan_cube",
    "plan_output",
    "replan",
]


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """Shape and dtype of a read's output, known before any pixel is fetched.

    Unpacks as ``shape, dtype = plan``.

    Attributes:
        shape: ``get_numpy``: ``(N, H, W)`` / ``(N, C, H, W)``; ``get_xarray``:
            ``(time, geometry, y, x)`` of every band variable.
        dtype: The array's dtype (``get_xarray``: the widest band dtype).
        nbytes: Bytes of the output (``get_xarray``: every band variable).
        work_nbytes: Bytes of the per-(record, band, AOI) arrays the engine fills while
            reading (before they are stacked).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int
    work_nbytes: int

    def __iter__(self) -> Iterator[Any]:
        return iter((self.shape, self.dtype))


def placement(grid: Grid, cover: Grid) -> tuple[int, int]:
    """``(row, col)`` of ``grid``'s first pixel in ``cover`` (both on one lattice)."""
    a, _b, c, _d, e, f = cover.transform
    return (round((grid.transform[5] - f) / e), round((grid.transform[2] - c) / a))


@dataclass(slots=True)
class CubePlan:
    """A planned stacked read.

    Attributes:
        request: The AOI request.
        records: The records scanned (chips and tasks index into them).
        tasks: Every (record, band, AOI) read, in record, AOI, band order.
        outcome: Failures found while planning (unresolvable bands); reads append to it.
        shared: One lattice for every AOI (``get_xarray``).
        properties: Record columns shown as coordinates on ``time``.
    """

    request: AoiRequest
    records: EngineRecords
    tasks: list[AoiTask]
    outcome: ReadOutcome
    shared: bool
    properties: list[str] = field(default_factory=list)

    def band_tasks(self, band: str) -> list[AoiTask]:
        """The tasks of ``band``."""
        return [t for t in self.tasks if t.source.band == band]

    def aoi_ids(self) -> list[int]:
        """0-based indices of the AOIs with something to read."""
        return sorted({t.aoi_index for t in self.tasks})

    def covering_grid(self) -> Grid | None:
        """The regular grid covering every AOI's grid (shared lattice only)."""
        grids = {t.out_grid for t in self.tasks if t.out_grid is not None}
        if not grids:
            return None
        first = next(iter(grids))
        places = [(g, placement(g, first)) for g in grids]
        r0 = min(r for _, (r, _c) in places)
        c0 = min(c for _, (_r, c) in places)
        r1 = max(r + g.height for g, (r, _c) in places)
        c1 = max(c + g.width for g, (_r, c) in places)
        a, b, c, d, e, f = first.transform
        return Grid(first.crs, (a, b, c + a * c0, d, e, f + e * r0), c1 - c0, r1 - r0)

    def members(self) -> list[Member]:
        """The records with something to read."""
        seen: dict[int, Member] = {}
        for t in self.tasks:
            r = t.record
            if r.index not in seen:
                seen[r.index] = Member(r.index, str(r.record_id), naive_time(r.datetime))
        return list(seen.values())

    def centre_lon(self) -> float | None:
        """Longitude of the covering grid's centre (for ``groupby="solar_day"``)."""
        cover = self.covering_grid()
        if cover is None:
            return None
        minx, miny, maxx, maxy = cover.bounds
        lon, _lat = transformer(cover.crs, 4326).transform((minx + maxx) / 2, (miny + maxy) / 2)
        return float(lon) if np.isfinite(lon) else None

    def steps(self, groupby: Any, members: Sequence[Member] | None = None) -> list[Step]:
        """Time steps of ``members`` (default: every planned record)."""
        chosen = self.members() if members is None else members
        return group_steps(chosen, groupby, lon=self.centre_lon())

    def _work_nbytes(self) -> int:
        total = 0
        for t in self.tasks:
            h, w = (t.window.height, t.window.width)
            itemsize = np.dtype(t.source.spec.dtype).itemsize
            total += h * w * itemsize
            if t.out_grid is not None and t.output is not None:
                total += t.out_grid.width * t.out_grid.height * np.dtype(t.output.dtype).itemsize
        return total

    def output(self, xarray: XarrayOptions | None = None) -> OutputPlan:
        """Shape and dtype of the ``get_numpy`` array (``xarray`` None) or of every band
        variable of the ``get_xarray`` Dataset.

        Raises:
            InvalidInputError: ``get_numpy`` AOIs of different shapes (they cannot stack).
        """
        bands = self.request.bands
        dtypes = {
            b: np.dtype(t.output.dtype if t.output is not None else t.source.spec.dtype)
            for b in bands
            for t in self.band_tasks(b)[:1]
        }
        dtype = np.result_type(*dtypes.values()) if dtypes else np.dtype("uint8")
        work = self._work_nbytes()
        if xarray is not None:
            cover = self.covering_grid()
            h, w = cover.shape if cover is not None else (0, 0)
            shape: tuple[int, ...] = (
                len(self.steps(xarray.groupby)),
                len(self.aoi_ids()),
                h,
                w,
            )
            n = int(np.prod(shape))
            return OutputPlan(shape, dtype, sum(n * d.itemsize for d in dtypes.values()), work)
        pairs: dict[tuple[int, int], dict[str, AoiTask]] = {}
        for t in self.tasks:
            pairs.setdefault((t.record.index, t.aoi_index), {})[t.source.band] = t
        complete = [v for v in pairs.values() if all(b in v for b in bands)]
        shapes = {g.shape for v in complete for b in bands if (g := v[b].out_grid) is not None}
        if len(shapes) > 1:
            raise ragged_error(shapes)
        hw = next(iter(shapes)) if shapes else (0, 0)
        shape = (len(complete), *hw) if len(bands) == 1 else (len(complete), len(bands), *hw)
        return OutputPlan(shape, dtype, int(np.prod(shape)) * dtype.itemsize, work)


def ragged_error(shapes: Any) -> InvalidInputError:
    """The error of ``get_numpy`` AOIs that cannot be stacked."""
    return InvalidInputError(
        f"Ragged shapes across AOIs {sorted(shapes)}: AOIs of different sizes cannot be "
        "stacked into one array; read them separately, or use get_xarray / get_gdf"
    )


def _plan(
    records: EngineRecords,
    sources: list[RecordSources],
    request: AoiRequest,
    *,
    shared: bool,
    properties: list[str],
) -> CubePlan:
    outcome = ReadOutcome()
    tasks = plan_tasks(
        sources,
        list(request.bands),
        request.aoi_input(),
        layout="stack",
        target_crs=request.target_crs,
        outcome=outcome,
        shared=shared,
        **request.cube.engine_options(),
    )
    return CubePlan(request, records, tasks, outcome, shared, properties)


def plan_cube(
    source: RecordSource,
    request: AoiRequest,
    options: ReadOptions,
    *,
    shared: bool,
    with_properties: bool = False,
) -> CubePlan:
    """Plan a stacked read of ``request`` over ``source`` (see module docs)."""
    props = property_columns(source.schema) if with_properties else []
    records = aoi_records(source, request, options, extra=props)
    sources = records.sources(list(request.bands), options.band_map)
    return _plan(records, sources, request, shared=shared, properties=props)


def replan(plan: CubePlan, rows: Sequence[Mapping[str, Any]], options: ReadOptions) -> CubePlan:
    """``plan`` again over ``rows`` (the same records, in order, with fresh headers for the
    COGs that changed since the build: ``staleness="warn"``)."""
    sources = list(as_records(list(rows), list(plan.request.bands), options.band_map))
    return _plan(
        plan.records, sources, plan.request, shared=plan.shared, properties=plan.properties
    )


def check_plan_budget(
    plan: CubePlan, options: ReadOptions, method: str, xarray: XarrayOptions | None = None
) -> OutputPlan | None:
    """Refuse a planned read whose arrays would not fit the memory budget, before any fetch.

    The read holds the per-(record, band, AOI) arrays the engine fills
    (:attr:`OutputPlan.work_nbytes`) and the output assembled from them
    (:attr:`OutputPlan.nbytes`: ``get_numpy``'s stacked array, or every band variable of
    ``get_xarray``'s Dataset).

    Returns:
        The output plan (None when no budget applies).

    Raises:
        MemoryBudgetError: The read does not fit (its advice names ``method``'s way to read
            less).
        InvalidInputError: ``get_numpy`` AOIs of different shapes.
    """
    budget = budget_for(options.memory_budget, method)
    if budget is None or not plan.tasks:
        return None
    out = plan.output(xarray)
    shape = " x ".join(str(int(n)) for n in out.shape)
    budget.check(
        out.work_nbytes + out.nbytes,
        f"{method} ({len(plan.tasks)} (record, band, AOI) read(s) into {shape} {out.dtype})",
    )
    return out


def plan_output(
    source: RecordSource,
    request: AoiRequest,
    options: ReadOptions,
    xarray: XarrayOptions | None = None,
) -> OutputPlan:
    """Shape and dtype of ``get_numpy`` (``xarray`` None) or ``get_xarray``'s output, from the
    index alone (no pixel or header request): what a memory budget checks before a read.

    Raises:
        InvalidInputError: ``get_numpy`` AOIs of different shapes.
    """
    return plan_cube(source, request, options, shared=xarray is not None).output(xarray)
