"""Turn parsed COG headers into ``{band}_metadata`` values and Arrow columns.

The mapping itself is ``rasteret_io.header_meta`` — the one place that both the indexer and the
read engine use — so what is written is exactly what readers expect. This module adds the
object's identity (``rasteret_io.ObjectIdentity``: ETag / size / Last-Modified, stored as
``etag`` / ``file_size`` / ``last_modified``, exactly what ``ObjectIdentity.from_band_metadata``
reads back) and translates errors. Enrichment keeps one record per
(row, band) with the parser's tile tables as int64 arrays and builds each column in one call
(:func:`band_metadata_column_array`), never a Python object per tile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from rasteret_cog import CogHeader
from rasteret_ingest.errors import UnusableHeaderError
from rasteret_io import ObjectIdentity
from rasteret_io.errors import ReadError
from rasteret_io.header_meta import (
    band_metadata_record,
    band_metadata_struct_array,
)

__all__ = ["band_metadata_column_array", "header_to_band_record"]


def header_to_band_record(
    header: CogHeader, band_index: int = 0, info: ObjectIdentity | None = None
) -> dict[str, Any]:
    """The ``{band}_metadata`` values of sample ``band_index``, tile tables as int64 arrays.

    Raises:
        UnusableHeaderError: no geotransform, unsupported sample type or a band index beyond
            the file's samples.
    """
    try:
        return band_metadata_record(
            header,
            band_index=band_index,
            etag=info.etag if info else None,
            file_size=info.size if info else None,
            last_modified=info.last_modified if info else None,
        )
    except ReadError as exc:
        raise UnusableHeaderError(str(exc)) from exc


def band_metadata_column_array(records: Sequence[Mapping[str, Any] | None]) -> pa.StructArray:
    """One ``{band}_metadata`` column from per-row records (None = null) in one pass."""
    return band_metadata_struct_array(records)
