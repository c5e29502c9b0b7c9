"""AOI reads (``get_numpy``, and the chips behind ``get_xarray`` / ``get_gdf``).

The records whose lon/lat bbox meets the AOIs are read by :func:`rasteret_io.read_aois`
(masked like ``rasterio.mask(crop=True)``); failures are reported once, and nothing read at
all raises :class:`~rasteret_io.errors.NoDataError` (a ``ValueError``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from rasteret.errors import InvalidInputError, NoDataError, NoMatchingRecordsError
from rasteret.query.filters import overlap
from rasteret.read._adapter import EngineRecords, engine_records, fetcher
from rasteret.read.progress import progress_callback
from rasteret_catalog.schema import Col
from rasteret_io import BandResolutionError, read_aois, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import ReadFailure, ReadOutcome

__all__ = ["get_numpy", "no_data_error", "raise_or_warn", "read_chips"]


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
    """``NoDataError("No valid data found ...")`` chained to the first failure; with no
    failure, a :class:`~rasteret.errors.NoMatchingRecordsError` (the caller explains it)."""
    if failures:
        err = NoDataError(
            f"No valid data found. {len(failures)} record/band read(s) failed; "
            f"first: {failures[0].error}"
        )
        err.__cause__ = failures[0].error
        return err
    return NoMatchingRecordsError("No valid data found: no record intersects the geometries")


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


def get_numpy(source: RecordSource, request: AoiRequest, options: ReadOptions) -> np.ndarray:
    """``[N, H, W]`` (one band) or ``[N, C, H, W]``; N = (record, AOI) pairs with data.

    Raises:
        NoDataError: Nothing could be read.
        InvalidInputError: AOIs of different shapes cannot be stacked.
    """
    outcome, _ = read_chips(source, request, options, layout="stack")
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
    out = np.empty((len(complete), len(bands), *shape), dtype=dtype)  # one copy per chip
    for n, (_, v) in enumerate(complete):
        for k, b in enumerate(bands):
            out[n, k] = v[b].data
    return out[:, 0] if len(bands) == 1 else out
