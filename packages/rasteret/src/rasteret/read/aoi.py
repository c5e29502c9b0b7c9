"""AOI reads: the records the AOIs meet, the native-grid chips of ``get_gdf``, and how read
failures are reported.

The records whose lon/lat bbox meets the AOIs are read by :func:`rasteret_io.read_aois`
(masked like ``rasterio.mask(crop=True)``); failures are reported once, and nothing read at
all raises :class:`~rasteret_io.errors.NoDataError` (a ``ValueError``). Stacked reads
(``get_numpy``, ``get_xarray``) are planned by :mod:`rasteret.read.plan`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from rasteret.errors import NoDataError
from rasteret.query.filters import overlap
from rasteret.read._adapter import EngineRecords, engine_records, fetcher
from rasteret.read.progress import progress_callback
from rasteret_catalog.schema import Col
from rasteret_io import BandResolutionError, read_aois, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import ReadFailure, ReadOutcome

__all__ = ["aoi_records", "no_data_error", "raise_or_warn", "read_chips"]


def raise_or_warn(failures: Sequence[ReadFailure], what: str, *, produced: int) -> None:
    """Warn about records/bands that could not be read; raise when nothing was produced.

    A band that cannot be resolved for any record (no asset, no indexed header) raises its
    :class:`~rasteret_io.errors.BandResolutionError`; when other records did produce data the
    skipped ones are reported in one ``RuntimeWarning`` naming them.
    """
    if not failures:
        return
    if not produced:
        for f in failures:
            if isinstance(f.error, BandResolutionError):
                raise f.error
        return
    shown = "; ".join(f"record_id={f.record_id!r} band={f.band!r}: {f.error}" for f in failures[:3])
    more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
    warnings.warn(
        f"Some records failed to load in {what}: {shown}{more}", RuntimeWarning, stacklevel=4
    )


def no_data_error(failures: Sequence[ReadFailure]) -> NoDataError:
    """``NoDataError("No valid data found ...")`` chained to the first failure."""
    if failures:
        err = NoDataError(
            f"No valid data found. {len(failures)} record/band read(s) failed; "
            f"first: {failures[0].error}"
        )
        err.__cause__ = failures[0].error
        return err
    return NoDataError("No valid data found: no record intersects the geometries")


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
) -> tuple[ReadOutcome, EngineRecords]:
    """Run the AOI engine; returns ``(outcome, records)`` (chips index into ``records``)."""
    records = aoi_records(source, request, options)
    stacked = layout == "stack" or request.target_crs is not None
    with progress_callback(options.progress, "rasteret read") as on_progress:
        outcome = run_sync(
            read_aois(
                records.engine_input(),
                request.bands,
                request.aoi_input(),
                fetcher(options),
                band_map=options.band_map,
                layout="stack" if stacked else "native",
                all_touched=request.all_touched,
                target_crs=request.target_crs,
                progress=on_progress,
            )
        )
    raise_or_warn(outcome.failures, "the read", produced=len(outcome.chips))
    return outcome, records
