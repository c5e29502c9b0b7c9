"""``get_numpy``: a planned stacked read, stacked into one NumPy array.

Each AOI has one grid for all its records (:mod:`rasteret.read.plan`): the AOI's window
clipped to the extents of the records it meets, at the chosen CRS / resolution / anchor, in
the chosen dtype. ``[N, H, W]`` (one band) or ``[N, C, H, W]``, N = the (record, AOI) pairs
with every band read, records in scan order then AOIs in input order.

:func:`execute` runs a plan (``get_numpy`` and the eager ``get_xarray``) under the read's
limits: one deadline for all its fetches, the staleness check (``staleness="warn"``: the
changed COGs' headers are read again and the read re-planned once), the error policy
(:mod:`rasteret.read.failures`). The memory budget is checked by the callers right after
planning (:func:`rasteret.read.plan.check_plan_budget`), before any fetch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rasteret.read._adapter import fetcher
from rasteret.read.failures import apply_policy, no_data_error
from rasteret.read.limits import budget_for
from rasteret.read.plan import CubePlan, check_plan_budget, plan_cube, ragged_error, replan
from rasteret.read.progress import progress_callback
from rasteret.read.refresh import refreshed_rows
from rasteret_catalog.schema import Col
from rasteret_io import BandResolutionError, read_tasks, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read._adapter import EngineRecords
    from rasteret.read.requests import AoiRequest, ReadOptions, XarrayOptions
    from rasteret.records import RecordSource
    from rasteret_io import Deadline, ReadOutcome

__all__ = ["execute", "get_numpy", "returned_ids"]


def _read(
    plan: CubePlan, options: ReadOptions, deadline: Deadline | None, method: str
) -> ReadOutcome:
    """Read every task of ``plan`` in one wave (planning failures that are not unresolved
    bands raise first under ``error_policy="raise"``: nothing is fetched).

    The engine checks the budget once more after planning tiles, before any fetch: the
    per-task arrays plus the decode working set (whole tiles or strips decoded however
    little of them a window needs), which :func:`check_plan_budget` cannot see."""
    if options.error_policy == "raise":
        for f in plan.outcome.failures:
            if not isinstance(f.error, BandResolutionError):
                raise f.error
    with progress_callback(options.progress, "rasteret read") as on_progress:
        return run_sync(
            read_tasks(
                plan.tasks,
                plan.request.bands,
                fetcher(options),
                all_touched=plan.request.all_touched,
                progress=on_progress,
                outcome=plan.outcome,
                deadline=deadline,
                budget=budget_for(options.memory_budget, method),
            )
        )


def execute(
    plan: CubePlan, options: ReadOptions, *, method: str, xarray: XarrayOptions | None = None
) -> tuple[CubePlan, ReadOutcome]:
    """Read every task of ``plan``; failures go through the error policy once.

    Args:
        plan: The planned read (its budget already checked).
        options: How the read runs (error policy, fetch limits, memory budget).
        method: The public read (named in messages and budget advice).
        xarray: ``get_xarray``'s output options (None for ``get_numpy``): a re-planned read
            is checked against the budget for that output.

    Returns:
        ``(plan, outcome)``: the plan that was read (a new one when ``staleness="warn"``
        re-planned the read over fresh headers) and its chips and tolerated failures.

    Raises:
        MemoryBudgetError: A re-planned read does not fit the memory budget.
        FetchError, ReadError: Under ``error_policy="raise"``, the first failed record/band.
    """
    deadline = options.fetch_options().start_deadline()  # one clock for the whole read
    outcome = _read(plan, options, deadline, method)
    rows = refreshed_rows(plan.records, outcome.failures, plan.request.bands, options)
    if rows is not None:  # staleness="warn": objects changed; plan and read again
        plan = replan(plan, rows, options)
        check_plan_budget(plan, options, method, xarray)
        outcome = _read(plan, options, deadline, method)
    apply_policy(outcome.failures, method, produced=len(outcome.chips), policy=options.error_policy)
    return plan, outcome


def returned_ids(
    keys: list[tuple[int, int]], outcome: ReadOutcome, records: EngineRecords
) -> pa.Table:
    """One row per output entry ``(record index, AOI index)``: ``record_id``, ``datetime``,
    ``geometry_id`` (1-based, as in ``get_xarray`` / ``get_gdf``)."""
    ids = {(c.record_index, c.aoi_index): c.record_id for c in outcome.chips}
    rows = pa.array([r for r, _ in keys], pa.int64())
    table = records.table
    times = (
        table.column(Col.DATETIME).take(rows)
        if Col.DATETIME in table.column_names
        else pa.nulls(len(keys), pa.timestamp("us"))
    )
    return pa.table(
        {
            "record_id": pa.array([str(ids[k]) for k in keys], pa.string()),
            "datetime": times,
            "geometry_id": pa.array([a + 1 for _, a in keys], pa.int64()),
        }
    )


def get_numpy(
    source: RecordSource, request: AoiRequest, options: ReadOptions, *, return_ids: bool = False
) -> np.ndarray | tuple[np.ndarray, pa.Table]:
    """``[N, H, W]`` (one band) or ``[N, C, H, W]``; N = (record, AOI) pairs with data.

    With ``return_ids`` returns ``(array, ids)``: ``ids`` is an Arrow table with one row per
    entry of the first axis (``record_id``, ``datetime``, ``geometry_id``).

    Raises:
        NoDataError: Nothing could be read.
        InvalidInputError: AOIs of different shapes cannot be stacked.
        MemoryBudgetError: The read does not fit the memory budget (nothing was fetched).
    """
    plan = plan_cube(source, request, options, shared=False)
    check_plan_budget(plan, options, "get_numpy")
    plan, outcome = execute(plan, options, method="get_numpy")
    bands = request.bands
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for chip in outcome.chips:
        pairs.setdefault((chip.record_index, chip.aoi_index), {})[chip.band] = chip
    complete = [(k, v) for k, v in sorted(pairs.items()) if all(b in v for b in bands)]
    if not complete:
        raise no_data_error(outcome.failures)
    shapes = {v[b].data.shape for _, v in complete for b in bands}
    if len(shapes) > 1:
        raise ragged_error(shapes)
    dtype = np.result_type(*[v[b].data.dtype for _, v in complete for b in bands])
    (shape,) = shapes
    out = np.empty((len(complete), len(bands), *shape), dtype=dtype)  # one copy per chip
    for n, (_, v) in enumerate(complete):
        for k, b in enumerate(bands):
            out[n, k] = v[b].data
    arr = out[:, 0] if len(bands) == 1 else out
    if return_ids:
        return arr, returned_ids([k for k, _ in complete], outcome, plan.records)
    return arr
