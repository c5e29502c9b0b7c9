"""``Collection.export``: a view's records written as a collection (ingest's *write* step)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from rasteret.records import CollectionInfo
from rasteret_ingest import WriteTarget, datetime_span, write_records

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.records import RecordSource

__all__ = ["export_records"]


def _date_range(
    info: CollectionInfo, table: pa.Table, from_records: bool
) -> tuple[str, str] | None:
    """The view's date range (unless ``from_records``), else the min / max of the records'
    ``datetime`` column (None without records or datetimes)."""
    if not from_records and info.start_date is not None and info.end_date is not None:
        return info.start_date.isoformat(), info.end_date.isoformat()
    span = datetime_span([table])
    return None if span is None else (span[0].isoformat(), span[1].isoformat())


def export_records(
    source: RecordSource,
    path: str | os.PathLike[str],
    partition_by: Sequence[str],
    *,
    dates_from_records: bool = False,
) -> str:
    """Write ``source``'s records to ``path`` (replacing what is there, atomically).

    Metadata keys rasteret owns (name, description, data_source, date_range, created,
    versions, geo) are rewritten from the view's current values; other keys carried by the
    source are kept. The date range is the view's, or (``dates_from_records``, or when the
    view has none) the first and last ``datetime`` of the records written. ``bbox`` and
    ``year`` / ``month`` are derived when missing; the contract is not re-checked (a view
    may hold any user columns).

    Returns:
        The path written.

    Raises:
        BuildSpecError: A partition column is missing (a ``ValueError``).
    """
    parts = (partition_by,) if isinstance(partition_by, str) else tuple(partition_by)
    table = source.to_table()
    info = source.info
    written, _ = write_records(
        table,
        WriteTarget(
            os.fspath(path),
            info.name,
            info.description,
            info.data_source,
            date_range=_date_range(info, table, dates_from_records),
            force=True,
            partition_by=parts,
            require_band_metadata=None,
        ),
    )
    assert written is not None  # a path was given
    return written
