"""``read_window``: records mosaicked (or stacked) on one fixed grid, as a NumPy array."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.errors import InvalidInputError
from rasteret.read._adapter import engine_records, fetcher
from rasteret.read.failures import apply_policy
from rasteret.read.limits import budget_for
from rasteret.read.refresh import read_fresh, refreshed_rows
from rasteret_catalog.schema import Col
from rasteret_io import Grid, ReadError, ReadFailure, StaleObjectError, read_grid, run_sync

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from rasteret.read.requests import GridRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import GridRead

__all__ = ["read_window"]


def read_window(source: RecordSource, request: GridRequest, options: ReadOptions) -> np.ndarray:
    """``[C, H, W]`` mosaic of ``request.record_ids`` (first wins), or ``[T, C, H, W]``.

    Raises:
        InvalidInputError: None of the ids is in the collection (or, under
            ``error_policy="raise"``, some are not), or no CRS is known.
        MemoryBudgetError: The grid does not fit the memory budget (nothing was fetched).
        FetchError, ReadError: Under ``error_policy="raise"``, the first record/band that
            could not be read; a read that produced nothing names its first failure (URL,
            record, band, HTTP status).
    """
    ids = request.record_ids
    where = ds.field(Col.ID).isin(pa.array(ids, pa.string()))
    records = engine_records(source, request.bands, options.band_map, where=where)
    order = {rid: i for i, rid in enumerate(ids)}
    found = [str(v) for v in records.table.column(Col.ID).to_pylist()]
    records = records.take(sorted(range(len(found)), key=lambda i: order.get(found[i], len(order))))
    if not len(records):
        raise InvalidInputError(
            f"read_window: none of the record_ids {list(ids[:5])} is in the collection"
        )
    have = set(found)
    missing = [i for i in dict.fromkeys(ids) if i not in have]
    if missing:
        msg = f"read_window: record_ids not in the collection: {missing[:10]}" + (
            f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
        )
        if options.error_policy == "raise":
            raise InvalidInputError(f"{msg}; pass error_policy='skip' to read the others")
        warnings.warn(f"{msg}; they are left out", RuntimeWarning, stacklevel=3)
    crs = request.target_crs
    if crs is None:
        crs = records.value(0, Col.PROJ_EPSG) or records.value(0, Col.CRS)
    if crs is None:
        raise InvalidInputError("read_window: no target_crs given and the first record has no CRS")
    grid = Grid.from_bounds(crs, request.bounds, request.res, snap=False)
    deadline = options.fetch_options().start_deadline()  # one clock for the whole read
    budget = budget_for(options.memory_budget, "read_window")

    def run(rows: Any) -> GridRead:
        return run_sync(
            read_grid(
                rows,
                request.bands,
                grid,
                fetcher(options),
                band_map=options.band_map,
                group_by=request.group_by,
                deadline=deadline,
                budget=budget,
            )
        )

    try:
        res = read_fresh(records, request.bands, options, run)
    except ReadError as exc:  # nothing readable: stale objects may be why
        cause = exc.__cause__
        if not isinstance(cause, StaleObjectError) or options.staleness != "warn":
            raise
        failure = ReadFailure(cause.record_id or "", cause.band or "", None, cause)
        rows = refreshed_rows(records, [failure], request.bands, options)
        if rows is None:
            raise
        res = run(rows)
    apply_policy(res.failures, "read_window", produced=1, policy=options.error_policy)
    return res.data
