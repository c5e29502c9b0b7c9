"""Records held in a ``pyarrow.dataset.Dataset`` (a Parquet collection or an Arrow table)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.core.provider import ProviderRecords
from rasteret.core.source import schema_metadata
from rasteret.query.filters import Subset, combine
from rasteret.records import CollectionInfo
from rasteret_catalog.schema import band_of_metadata_column

__all__ = ["DatasetProvider"]


def _columns(columns: Sequence[str] | None) -> list[str] | None:
    return list(columns) if columns is not None else None


@dataclass(frozen=True, slots=True, eq=False)
class DatasetProvider:
    """A dataset and the filter of one view (the dataset is shared, never modified).

    Attributes:
        dataset: The records.
        filter: The view's filter (None: every record).
    """

    dataset: ds.Dataset
    filter: ds.Expression | None = None

    kind = "dataset"

    def __reduce__(self) -> tuple[Any, ...]:
        if isinstance(self.dataset, ds.InMemoryDataset):
            # in-memory datasets do not pickle; their table does (file datasets pickle their
            # file list, format, partitioning and filesystem, not their contents)
            return (_from_table, (self.dataset.to_table(), self.filter))
        return (DatasetProvider, (self.dataset, self.filter))

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the records."""
        return self.dataset.schema

    def narrowed(self, criteria: Subset) -> DatasetProvider:
        """The records that also match ``criteria``."""
        return replace(self, filter=combine(self.filter, criteria.expression(self.schema)))

    def where(self, expr: ds.Expression) -> DatasetProvider:
        """The records that also match ``expr``."""
        return replace(self, filter=combine(self.filter, expr))

    def count(self) -> int:
        """Number of records."""
        return self.dataset.count_rows(filter=self.filter)

    def head(self, n: int, columns: Sequence[str] | None) -> pa.Table:
        """The first ``n`` records."""
        if n == 0:
            return self.to_table(columns).slice(0, 0)
        return self.dataset.head(n, columns=_columns(columns), filter=self.filter)

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """The records (only ``columns``), narrowed by ``where`` when given."""
        return self.dataset.to_table(columns=_columns(columns), filter=combine(self.filter, where))

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same records as :meth:`to_table`, batch by batch."""
        return iter(
            self.dataset.to_batches(columns=_columns(columns), filter=combine(self.filter, where))
        )

    def to_reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """The records as a ``RecordBatchReader``."""
        return self.dataset.scanner(columns=_columns(columns), filter=self.filter).to_reader()

    def bands(self) -> list[str]:
        """Band codes of the ``{band}_metadata`` columns, in schema order."""
        return [b for n in self.dataset.schema.names if (b := band_of_metadata_column(n))]

    def inspect(self, columns: Sequence[str]) -> pa.RecordBatchReader:
        """The existing ones of ``columns``."""
        present = [c for c in columns if self.dataset.schema.get_field_index(c) >= 0]
        if not present:  # nothing to scan: opening a scanner would still touch every file
            return pa.RecordBatchReader.from_batches(pa.schema([]), [])
        return self.to_reader(present)

    def metadata(self) -> dict[str, str]:
        """Schema metadata as text."""
        return schema_metadata(self.dataset.schema)

    def filtered_dataset(self) -> ds.Dataset:
        """The dataset with this view's filter applied."""
        return self.dataset if self.filter is None else self.dataset.filter(self.filter)

    def records(self, info: CollectionInfo) -> ProviderRecords:
        """The record source of this view."""
        return ProviderRecords(self, info)


def _from_table(table: pa.Table, flt: ds.Expression | None) -> DatasetProvider:
    return DatasetProvider(ds.dataset(table), flt)
