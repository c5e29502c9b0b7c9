"""What a :class:`~rasteret.Collection` is backed by: the record-provider protocol.

A collection holds descriptive values (name, dates...) and one immutable *provider* of its
records; every filtering method returns a view over a narrowed provider. Three providers exist:

- :class:`~rasteret.core.dataset_provider.DatasetProvider`: a ``pyarrow.dataset.Dataset``
  (a Parquet collection, or any Arrow table) and its filter;
- :class:`~rasteret.core.record_index.RecordIndexProvider`: a dual-surface collection, planned
  on its narrow record index and read from only the wide shards the index names;
- :class:`~rasteret.core.hf_provider.StreamingProvider`: Parquet files of a Hugging Face
  dataset repo, streamed batch by batch (``hf://``).

Readers, exporters and integrations never see a provider: they take the
:class:`~rasteret.records.RecordSource` that :meth:`RecordProvider.records` returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from rasteret.records import ArrowRecords, CollectionInfo

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.dataset as ds

    from rasteret.query.filters import Subset
    from rasteret.records import RecordSource

__all__ = ["ProviderRecords", "RecordProvider", "projected_schema"]


class RecordProvider(ArrowRecords, Protocol):
    """The records of a collection view and the questions a collection answers about them.

    Its :attr:`schema` is the full record schema (for a record index: the wide data's, which
    opens one file).
    """

    @property
    def kind(self) -> str:
        """``"dataset"``, ``"record-index"`` or ``"hf-streaming"``."""
        ...

    def narrowed(self, criteria: Subset) -> RecordProvider:
        """A provider of the records that also match ``criteria``.

        Raises:
            InvalidFilterError: A criterion needs a column the records lack.
        """
        ...

    def where(self, expr: ds.Expression) -> RecordProvider:
        """A provider of the records that also match a raw expression on record columns.

        Raises:
            NotImplementedError: The provider cannot evaluate raw expressions (streaming).
        """
        ...

    def count(self) -> int:
        """Number of records (``len``).

        Raises:
            TypeError: The records are streamed and cannot be counted up front.
        """
        ...

    def head(self, n: int, columns: Sequence[str] | None) -> pa.Table:
        """The first ``n`` records (``n >= 0``)."""
        ...

    def to_reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """The records as a ``RecordBatchReader`` (no geometry tagging)."""
        ...

    def bands(self) -> list[str]:
        """Band codes of the records, in schema (or band-map) order."""
        ...

    def inspect(self, columns: Sequence[str]) -> pa.RecordBatchReader:
        """Those of the contract ``columns`` the provider can give cheaply, for inspection.

        Only the columns that exist are in the reader's schema (a record index answers from
        its own columns through its field roles, without opening the wide data).
        """
        ...

    def metadata(self) -> dict[str, str]:
        """Schema key-value metadata of the cheapest surface, as text."""
        ...

    def filtered_dataset(self) -> ds.Dataset | None:
        """The records as a filtered ``pyarrow.dataset.Dataset`` (None when streamed)."""
        ...

    def records(self, info: CollectionInfo) -> RecordSource:
        """The record source handed to readers, exporters and integrations."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class ProviderRecords:
    """The :class:`~rasteret.records.RecordSource` of a view whose provider reads the records
    itself (a dataset and its filter, a streamed ``hf://`` dataset).

    Attributes:
        provider: The view's records.
        info: Name, description, data source and date range of the view.
    """

    provider: RecordProvider
    info: CollectionInfo

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the records."""
        return self.provider.schema

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """The filtered records (only ``columns``), narrowed by ``where`` when given."""
        return self.provider.to_table(columns, where=where)

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same records as :meth:`to_table`, batch by batch."""
        return self.provider.to_batches(columns, where=where)


def projected_schema(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Schema:
    """``schema`` restricted to ``columns`` (in that order; all of it when None).

    Raises:
        KeyError: A column is not in ``schema``.
    """
    if columns is None:
        return schema
    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
