"""Records streamed from a Hugging Face dataset repo (``hf://``), never downloaded whole.

As in rasteret 0.4.1, a streaming collection has no ``len()`` (rows are streamed, not counted;
``TypeError``) and no ``where()`` (``NotImplementedError``: arbitrary expressions cannot prune
row groups); ``subset`` criteria prune row groups by their statistics and filter rows exactly.
Everything else (``head``, ``bands``, ``bounds``, ``epsg``, ``crs``, ``describe``, iteration,
Arrow export and every read) runs over streamed batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.core.hf_scan import scan
from rasteret.core.hf_source import HfStreamingSource
from rasteret.core.provider import ProviderRecords, projected_schema
from rasteret.core.source import schema_metadata
from rasteret.query.filters import Subset
from rasteret.records import CollectionInfo
from rasteret_catalog.schema import band_of_metadata_column

__all__ = ["StreamingProvider"]


@dataclass(frozen=True, slots=True, eq=False)
class StreamingProvider:
    """A view of a streamed Hub dataset.

    Attributes:
        source: Files, schema and the view's criteria.
    """

    source: HfStreamingSource

    kind = "hf-streaming"

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema (from the first file)."""
        return self.source.schema

    def narrowed(self, criteria: Subset) -> StreamingProvider:
        """The records that also match ``criteria`` (checked against the schema now)."""
        criteria.expression(self.schema)  # raises InvalidFilterError for missing columns
        return replace(
            self, source=replace(self.source, criteria=(*self.source.criteria, criteria))
        )

    def where(self, expr: ds.Expression) -> StreamingProvider:
        """Not available on streaming collections.

        Raises:
            NotImplementedError: Always; use ``subset`` (it prunes row groups).
        """
        raise NotImplementedError(
            f"where() is not supported on HF streaming collections ({self.source.uri}): a raw "
            "expression cannot prune the streamed row groups. Use subset(...), or materialise "
            "the records first (rasteret.build_from_table(uri, ...) or as_collection(coll.to_table()))"
        )

    def count(self) -> int:
        """Not available on streaming collections.

        Raises:
            TypeError: Always (the message mentions ``len()``).
        """
        raise TypeError(
            f"len() is not available on an HF streaming collection ({self.source.uri}): its "
            "rows are streamed, not counted. Count them with "
            "sum(b.num_rows for b in coll.to_batches(['id']))"
        )

    def head(self, n: int, columns: Sequence[str] | None) -> pa.Table:
        """The first ``n`` records (stops streaming once it has them)."""
        cols = None if columns is None else list(columns)
        target = projected_schema(self.schema, cols)
        if n == 0:
            return target.empty_table()
        taken: list[pa.RecordBatch] = []
        rows = 0
        for batch in scan(self.source, cols):
            taken.append(batch.slice(0, n - rows))
            rows += taken[-1].num_rows
            if rows >= n:
                break
        return pa.Table.from_batches(taken, schema=target)

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """Every matching record (downloads the needed row groups)."""
        cols = None if columns is None else list(columns)
        return pa.Table.from_batches(
            list(scan(self.source, cols, where=where)), schema=projected_schema(self.schema, cols)
        )

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The matching records, batch by batch, as they are streamed."""
        return scan(self.source, columns, where=where)

    def to_reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """The matching records as a streaming ``RecordBatchReader``."""
        cols = None if columns is None else list(columns)
        return pa.RecordBatchReader.from_batches(
            projected_schema(self.schema, cols), scan(self.source, cols)
        )

    def bands(self) -> list[str]:
        """Band codes of the ``{band}_metadata`` columns, in schema order."""
        return [b for n in self.schema.names if (b := band_of_metadata_column(n))]

    def inspect(self, columns: Sequence[str]) -> pa.RecordBatchReader:
        """The existing ones of ``columns``, streamed."""
        present = [c for c in columns if self.schema.get_field_index(c) >= 0]
        if not present:  # nothing to stream: do not open a file
            return pa.RecordBatchReader.from_batches(pa.schema([]), [])
        return self.to_reader(present)

    def metadata(self) -> dict[str, str]:
        """Schema metadata of the first file."""
        return schema_metadata(self.schema)

    def filtered_dataset(self) -> None:
        """Streamed records have no dataset."""
        return None

    def records(self, info: CollectionInfo) -> ProviderRecords:
        """The record source of this view."""
        return ProviderRecords(self, info)
