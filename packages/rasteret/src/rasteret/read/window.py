"""``read_window``: records mosaicked (or stacked) on one fixed grid, as a NumPy array."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.errors import InvalidInputError
from rasteret.read._adapter import engine_records, fetcher
from rasteret_catalog.schema import Col
from rasteret_io import Grid, read_grid, run_sync

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from rasteret.read.requests import GridRequest, ReadOptions
    from rasteret.records import RecordSource

__all__ = ["read_window"]


def read_window(source: RecordSource, request: GridRequest, options: ReadOptions) -> np.ndarray:
    """``[C, H, W]`` mosaic of ``request.record_ids`` (first wins), or ``[T, C, H, W]``.

    Raises:
        InvalidInputError: None of the ids is in the collection, or no CRS is known.
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
    crs = request.target_crs
    if crs is None:
        crs = records.value(0, Col.PROJ_EPSG) or records.value(0, Col.CRS)
    if crs is None:
        raise InvalidInputError("read_window: no target_crs given and the first record has no CRS")
    grid = Grid.from_bounds(crs, request.bounds, request.res, snap=False)
    res = run_sync(
        read_grid(
            records.engine_input(),
            request.bands,
            grid,
            fetcher(options),
            band_map=options.band_map,
            group_by=request.group_by,
        )
    )
    if res.failures:
        warnings.warn(
            f"read_window skipped unreadable records: {[f.record_id for f in res.failures][:5]}",
            RuntimeWarning,
            stacklevel=3,
        )
    return res.data
