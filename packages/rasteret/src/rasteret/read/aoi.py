"""AOI reads: the records the AOIs meet, the native-grid chips of ``get_gdf``, and how read
failures are reported.

The records whose lon/lat bbox meets the AOIs are read by :func:`rasteret_io.read_aois`
(masked like ``rasterio.mask(crop=True)``) under the read's limits: one deadline for all its
fetches, the memory budget checked before anything is fetched, the staleness check. Failures
then go through the error policy (:mod:`rasteret.read.failures`); nothing read at all raises
:class:`~rasteret_io.errors.NoDataError` (a ``ValueError``). Stacked reads (``get_numpy``,
``get_xarray``) are planned by :mod:`rasteret.read.plan` and run by
:func:`rasteret.read.arrays.execute` under the same limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from rasteret.query.filters import overlap
from rasteret.read._adapter import EngineRecords, engine_records, fetcher
from rasteret.read.failures import apply_policy, no_data_error
from rasteret.read.limits import budget_for
from rasteret.read.progress import progress_callback
from rasteret.read.refresh import read_fresh
from rasteret_catalog.schema import Col
from rasteret_io import read_aois, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import ReadOutcome

__all__ = ["aoi_records", "no_data_error", "read_chips"]


def aoi_records(
    source: RecordSource,
    request: AoiRequest,
    options: ReadOptions,
    *,
    extra: Sequence[str] = (),
) -> EngineRecords:
    """The records whose lon/lat bbox meets the box around every AOI (plus ``extra``
    columns)."""
    box = request.lonlat_bounds()
    idx = source.schema.get_field_index(Col.BBOX)
    where = None
    if box is not None and idx >= 0 and pa.types.is_struct(source.schema.field(idx).type):
        where = overlap(box)
    return engine_records(source, request.bands, options.band_map, where=where, extra=extra)


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

    outcome = read_fresh(records, request.bands, options, run)
    apply_policy(outcome.failures, method, produced=len(outcome.chips), policy=options.error_policy)
    return outcome, records
