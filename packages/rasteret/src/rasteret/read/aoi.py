"""AOI reads (``get_numpy``, and the chips behind ``get_xarray`` / ``get_gdf``).

The records whose lon/lat bbox meets the AOIs are read by :func:`rasteret_io.read_aois`
(masked like ``rasterio.mask(crop=True)``) under the read's limits: one deadline for all its
fetches, the memory budget checked before anything is fetched, the staleness check. Failures
then go through the error policy (:mod:`rasteret.read.failures`); nothing read at all raises
:class:`~rasteret_io.errors.NoDataError` (a ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from rasteret.errors import InvalidInputError
from rasteret.query.filters import overlap
from rasteret.read._adapter import EngineRecords, engine_records, fetcher
from rasteret.read.failures import apply_policy, no_data_error
from rasteret.read.limits import budget_for
from rasteret.read.progress import progress_callback
from rasteret.read.refresh import refreshed_rows
from rasteret_catalog.schema import Col
from rasteret_io import check_budget, read_aois, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import ReadFailure, ReadOutcome

__all__ = ["get_numpy", "no_data_error", "raise_or_warn", "read_chips", "returned_ids"]


def raise_or_warn(
    failures: Sequence[ReadFailure], what: str, *, produced: int, policy: str = "skip"
) -> None:
    """The error policy of :mod:`rasteret.read.failures` (kept under its former name)."""
    apply_policy(failures, what, produced=produced, policy=policy)


def aoi_records(source: RecordSource, request: AoiRequest, options: ReadOptions) -> EngineRecords:
    """The records whose lon/lat bbox meets the box around every AOI."""
    box = request.lonlat_bounds()
    idx = source.schema.get_field_index(Col.BBOX)
    where = None
    if box is not None and idx >= 0 and pa.types.is_struct(source.schema.field(idx).type):
        where = overlap(box)
    return engine_records(source, request.bands, options.band_map, where=where)


def read_chips(
    source: RecordSource,
    request: AoiRequest,
    options: ReadOptions,
    *,
    layout: Literal["native", "stack"],
    method: str,
    copies: int = 0,
) -> tuple[ReadOutcome, EngineRecords]:
    """Run the AOI engine; returns ``(outcome, records)`` (chips index into ``records``).

    Args:
        source: The filtered records.
        request: The AOIs and bands.
        options: How the read runs (error policy, fetch limits, memory budget).
        layout: The engine's output layout.
        method: The public read (named in messages and budget advice).
        copies: Copies of the chips the caller assembles afterwards (for the budget).

    Raises:
        MemoryBudgetError: The read does not fit the memory budget (nothing was fetched).
        FetchError, ReadError: Under ``error_policy="raise"``, the first failed record/band.
    """
    records = aoi_records(source, request, options)
    stacked = layout == "stack" or request.target_crs is not None
    deadline = options.fetch_options().start_deadline()  # one clock for the whole read
    budget = budget_for(options.memory_budget, method, copies=copies)

    def run(rows: Any) -> ReadOutcome:
        with progress_callback(options.progress, "rasteret read") as on_progress:
            return run_sync(
                read_aois(
                    rows,
                    request.bands,
                    request.aoi_input(),
                    fetcher(options),
                    band_map=options.band_map,
                    layout="stack" if stacked else "native",
                    all_touched=request.all_touched,
                    target_crs=request.target_crs,
                    progress=on_progress,
                    deadline=deadline,
                    budget=budget,
                    skip_unresolved=True,
                )
            )

    outcome = run(records.engine_input())
    rows = refreshed_rows(records, outcome.failures, request.bands, options)
    if rows is not None:  # staleness="warn": objects changed; read again with fresh headers
        outcome = run(rows)
    apply_policy(outcome.failures, method, produced=len(outcome.chips), policy=options.error_policy)
    return outcome, records


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
    outcome, records = read_chips(
        source, request, options, layout="stack", method="get_numpy", copies=1
    )
    bands = request.bands
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for chip in outcome.chips:
        pairs.setdefault((chip.record_index, chip.aoi_index), {})[chip.band] = chip
    complete = [(k, v) for k, v in sorted(pairs.items()) if all(b in v for b in bands)]
    if not complete:
        raise no_data_error(outcome.failures)
    shapes = {v[b].data.shape for _, v in complete for b in bands}
    if len(shapes) > 1:
        raise InvalidInputError(
            f"Ragged shapes across AOIs {sorted(shapes)}: AOIs of different sizes cannot be "
            "stacked into one array; read them separately, or use get_xarray / get_gdf"
        )
    dtype = np.result_type(*[v[b].data.dtype for _, v in complete for b in bands])
    (shape,) = shapes
    out_shape = (len(complete), len(bands), *shape)
    budget = budget_for(options.memory_budget, "get_numpy")
    check_budget(out_shape, dtype, what="get_numpy's stacked array", budget=budget)
    out = np.empty(out_shape, dtype=dtype)  # one copy per chip
    for n, (_, v) in enumerate(complete):
        for k, b in enumerate(bands):
            out[n, k] = v[b].data
    arr = out[:, 0] if len(bands) == 1 else out
    if return_ids:
        return arr, returned_ids([k for k, _ in complete], outcome, records)
    return arr
