"""The record-source protocol: what readers, exporters and integrations need of a collection.

A :class:`~rasteret.Collection` holds records and filters; the components that read pixels
(:mod:`rasteret.read`), write collections (:mod:`rasteret.build`) or feed other libraries
(:mod:`rasteret.integrations`) never see it. They take a :class:`RecordSource`: the filtered
records as Arrow (only the columns asked for, optionally narrowed by one more expression), the
schema, and the collection's descriptive values (:class:`CollectionInfo`). A collection backed
by a narrow record index (dual-surface collections, streamed Hugging Face datasets) is another
implementation of the same protocol.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    import pyarrow.dataset as ds

__all__ = ["ArrowRecords", "CollectionInfo", "RecordSource"]


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """Descriptive values of a collection view.

    Attributes:
        name: Collection name.
        description: Free text.
        data_source: Data source / dataset id as set on the collection (may be empty; reads
            resolve it into their :class:`~rasteret.read.requests.ReadOptions`).
        start_date: First acquisition date covered, if known.
        end_date: Last acquisition date covered, if known.
    """

    name: str = ""
    description: str = ""
    data_source: str = ""
    start_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None


class ArrowRecords(Protocol):
    """Records as Arrow: their schema, a table, batches."""

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the records."""
        ...

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """The filtered records (only ``columns``), narrowed by ``where`` when given."""
        ...

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same records as :meth:`to_table`, batch by batch."""
        ...


@runtime_checkable
class RecordSource(ArrowRecords, Protocol):
    """The filtered records of a collection view, as Arrow, and its descriptive values."""

    @property
    def info(self) -> CollectionInfo:
        """Name, description, data source and date range of the view."""
        ...
