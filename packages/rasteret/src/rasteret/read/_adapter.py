"""The one place where a record source becomes the read engine's input.

Every read (AOI chips, point samples, fixed grids, lazy chunks, TorchGeo chips, raster
accessors) gets its records through :func:`engine_records`, which scans only the columns the
read needs, and hands :meth:`EngineRecords.engine_input` to :mod:`rasteret_io`: the Arrow
table itself (the engine plans over its list columns with numpy; no tile table becomes Python
objects). Outputs read per-record values through :meth:`EngineRecords.value`, which converts
only the scalar columns, never the ``{band}_metadata`` tile tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret._options import get_options
from rasteret.read.backends import read_backend
from rasteret_catalog.schema import Col, band_of_metadata_column
from rasteret_io import BatchReader, as_records
from rasteret_io import read_columns as _engine_columns

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.dataset as ds

    from rasteret.read.requests import ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import Fetcher, MemoryBudget, RecordSources

__all__ = [
    "ENGINE_COLUMNS",
    "EngineRecords",
    "batch_reader",
    "engine_records",
    "fetcher",
    "iter_engine_records",
    "read_columns",
    "reader_fetcher",
]

ENGINE_COLUMNS: tuple[str, ...] = (
    Col.ID,
    Col.DATETIME,
    Col.ASSETS,
    Col.BBOX,
    Col.PROJ_EPSG,
    Col.CRS,
    Col.CLOUD_COVER,
    Col.COLLECTION,
)
"""Record columns every read needs (besides the requested bands' ``{band}_metadata``)."""


def read_columns(
    schema: pa.Schema,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The columns of ``schema`` a read of ``bands`` needs, plus ``extra`` ones."""
    return _engine_columns(schema, bands, band_map, extra=(*ENGINE_COLUMNS, *extra))


class EngineRecords:
    """The records of one read: the engine's input, plus per-record values for outputs.

    Args:
        table: The records (only the columns the read needs).
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __len__(self) -> int:
        return self.table.num_rows

    @cached_property
    def _rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    @cached_property
    def _values(self) -> list[dict[str, Any]]:
        scalars = [n for n in self.table.column_names if not band_of_metadata_column(n)]
        return self.table.select(scalars).to_pylist()

    def engine_input(self) -> pa.Table:
        """What :mod:`rasteret_io`'s read functions take as ``rows``: the Arrow table."""
        return self.table

    def value(self, index: int, column: str) -> Any:
        """The value of ``column`` for record ``index`` (None when the column is absent)."""
        return self._values[index].get(column)

    def row(self, index: int) -> dict[str, Any]:
        """Record ``index`` as a dict, tile tables included (per-record objects only)."""
        return self._rows[index]

    def record(self, index: int) -> EngineRecords:
        """Record ``index`` alone."""
        return EngineRecords(self.table.slice(index, 1))

    def take(self, indices: Sequence[int]) -> EngineRecords:
        """The records at ``indices``, in that order."""
        return EngineRecords(self.table.take(pa.array(indices, pa.int64())))

    def sources(
        self, bands: Sequence[str], band_map: Mapping[str, str] | None
    ) -> list[RecordSources]:
        """Band sources of every record from the Arrow table (the engine's fast path)."""
        return list(as_records(self.table, bands, band_map))

    def __getstate__(self) -> dict[str, Any]:
        return {"table": self.table}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.table = state["table"]


def engine_records(
    source: RecordSource,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None,
    *,
    where: ds.Expression | None = None,
    extra: Sequence[str] = (),
) -> EngineRecords:
    """The records of ``source`` a read of ``bands`` needs (narrowed by ``where``)."""
    cols = read_columns(source.schema, bands, band_map, extra)
    return EngineRecords(source.to_table(cols, where=where))


def iter_engine_records(
    source: RecordSource, columns: Sequence[str] | None = None
) -> Iterator[EngineRecords]:
    """The records of ``source``, one :class:`EngineRecords` per Arrow batch."""
    for batch in source.to_batches(columns):
        yield EngineRecords(pa.Table.from_batches([batch]))


def in_flight() -> int:
    """Range requests one read keeps in flight (``rasteret.options(max_requests_in_flight=)``);
    a read's ``max_concurrent`` bounds each record's requests within it."""
    return get_options().max_requests_in_flight


def fetcher(options: ReadOptions) -> Fetcher:
    """A fetcher over the read's backend, with its concurrency bounds, error policy, retries,
    timeouts, deadline and staleness policy (``options.fetch``)."""
    return batch_reader((), options).fetcher()


def reader_fetcher(reader: BatchReader) -> Fetcher:
    """A fetcher over ``reader``'s backend, in the calling process (its loop and pool)."""
    return reader.fetcher()


def batch_reader(
    bands: Sequence[str], options: ReadOptions, *, budget: MemoryBudget | None = None
) -> BatchReader:
    """A picklable reader (one event loop and connection pool per process) for ``bands``;
    ``budget`` bounds each of its calls (default: none)."""
    return BatchReader(
        tuple(bands),
        backend=read_backend(options),
        band_map=options.band_map,
        max_concurrent=in_flight(),
        record_concurrency=options.max_concurrent,
        error_policy=options.error_policy,
        fetch_options=options.fetch_options(),
        memory_budget=budget,
    )
