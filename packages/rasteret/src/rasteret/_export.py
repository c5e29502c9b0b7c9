"""``Collection.export``: write a view as a partitioned Parquet collection."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from rasteret_catalog.schema import Col, MetaKey

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.collection import Collection

__all__ = ["export_collection"]

_OWN_KEYS = {k.value.encode() for k in MetaKey}


def _date_range(collection: Collection, table: pa.Table) -> tuple[str, str] | None:
    if collection.start_date is not None and collection.end_date is not None:
        return collection.start_date.isoformat(), collection.end_date.isoformat()
    if Col.DATETIME in table.column_names and table.num_rows:
        col = table.column(Col.DATETIME)
        if pa.types.is_timestamp(col.type) and col.null_count < len(col):
            lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
            return lo.isoformat(), hi.isoformat()
    return None


def export_collection(
    collection: Collection, path: str | os.PathLike[str], partition_by: Sequence[str]
) -> str:
    """Write ``collection``'s filtered records to ``path`` (replacing what is there).

    Metadata keys rasteret owns (name, description, data_source, date_range, created,
    versions, geo) are rewritten from the collection's current values; other keys carried by
    the source are kept.

    Returns:
        The path written.
    """
    from rasteret_ingest import WriteTarget, write_records

    if isinstance(partition_by, str):
        partition_by = (partition_by,)
    table = collection.to_table()
    written, _ = write_records(
        table,
        WriteTarget(
            os.fspath(path),
            collection.name,
            collection.description,
            collection.data_source,
            date_range=_date_range(collection, table),
            force=True,
            partition_by=tuple(partition_by),
            require_band_metadata=None,
        ),
    )
    assert written is not None
    return written
