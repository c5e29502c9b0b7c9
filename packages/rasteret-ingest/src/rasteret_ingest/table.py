"""Record tables: Parquet / GeoParquet files or directories (local or remote) and Arrow objects.

:func:`read_record_table` reads with projection (``columns``) and predicate (``filter_expr``)
pushdown; :func:`prepare_table` (the *prepare* step of a record-table build) then aliases
columns, builds ``assets`` and normalises. Unlike rasteret 0.4.1, ``cloud_config`` is honoured:
its URL patterns rewrite ``href_column`` URLs (unless ``url_rewrite_patterns`` is given) and it
configures the backend of the header enrichment (requester-pays, regions).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret_catalog.cloud import CloudConfig
from rasteret_catalog.schema import Col
from rasteret_ingest.errors import RecordTableError
from rasteret_ingest.normalize import normalize_table
from rasteret_ingest.specs import Prepared, TableSource

__all__ = [
    "arrow_table",
    "asset_bands",
    "is_arrow_object",
    "prepare_table",
    "read_record_table",
]

_TABLE_METHODS = ("to_arrow_table", "fetch_arrow_table", "to_arrow", "arrow")


def is_arrow_object(source: Any) -> bool:
    """Whether ``source`` is an in-memory Arrow object (not a path)."""
    if isinstance(source, str | os.PathLike):
        return False
    return (
        isinstance(source, pa.Table | pa.RecordBatch | pa.RecordBatchReader | ds.Dataset)
        or hasattr(source, "__arrow_c_stream__")
        or hasattr(source, "__arrow_c_array__")
        or any(callable(getattr(source, m, None)) for m in _TABLE_METHODS)
    )


def arrow_table(source: Any) -> pa.Table | ds.Dataset:
    """Convert an Arrow-like object to a ``pa.Table`` (datasets are returned as they are)."""
    if isinstance(source, pa.Table | ds.Dataset):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, pa.RecordBatchReader):
        return source.read_all()
    if hasattr(source, "__arrow_c_stream__"):
        return pa.table(source)
    if hasattr(source, "__arrow_c_array__"):
        batch = pa.record_batch(source)
        return pa.Table.from_batches([batch])
    for m in _TABLE_METHODS:
        fn = getattr(source, m, None)
        if callable(fn):
            return arrow_table(fn())
    raise RecordTableError(f"cannot read a record table from a {type(source).__name__}")


def _open_path(source: Any, filesystem: Any) -> ds.Dataset:
    path = str(source)
    if path.startswith("file://"):
        path = path[len("file://") :]
    local = filesystem is None and "://" not in path
    if local:
        path = os.path.expanduser(path)
        if not Path(path).exists():
            raise RecordTableError(f"record table not found: {path}")
    try:
        return ds.dataset(path, format="parquet", filesystem=filesystem, partitioning="hive")
    except (OSError, pa.ArrowInvalid) as exc:
        raise RecordTableError(f"cannot open record table {path}: {exc}") from None


def read_record_table(
    source: Any,
    *,
    filesystem: Any = None,
    columns: Sequence[str] | None = None,
    filter_expr: Any = None,
) -> pa.Table:
    """Read a record table with projection / predicate pushdown.

    Args:
        source: A Parquet / GeoParquet file or directory (local path, ``file://`` or any URI a
            pyarrow filesystem understands, e.g. ``s3://``), or an Arrow object: ``pa.Table``,
            ``RecordBatch``, ``RecordBatchReader``, ``pyarrow.dataset.Dataset``, anything with
            ``__arrow_c_stream__`` / ``__arrow_c_array__`` (DuckDB, Polars) or a
            ``to_arrow_table`` / ``fetch_arrow_table`` / ``to_arrow`` / ``arrow`` method.
        filesystem: pyarrow filesystem for ``source`` paths.
        columns: Columns to read.
        filter_expr: A ``pyarrow.compute.Expression`` evaluated during the scan.

    Raises:
        RecordTableError: missing path, unreadable source, unknown columns.
    """
    if is_arrow_object(source):
        obj = arrow_table(source)
        if columns is None and filter_expr is None and isinstance(obj, pa.Table):
            return obj
        dataset = obj if isinstance(obj, ds.Dataset) else ds.dataset(obj)
    else:
        dataset = _open_path(source, filesystem)
    if columns is not None:
        unknown = [c for c in columns if c not in dataset.schema.names]
        if unknown:
            raise RecordTableError(
                f"columns {unknown} are not in the record table (columns: {dataset.schema.names})"
            )
    try:
        table = dataset.to_table(
            columns=list(columns) if columns is not None else None, filter=filter_expr
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise RecordTableError(f"cannot scan the record table: {exc}") from None
    md = dataset.schema.metadata
    if md and not table.schema.metadata:
        table = table.replace_schema_metadata(md)
    return table


def prepare_table(source: TableSource) -> Prepared:
    """Read a record table and bring it to the collection contract (no header I/O).

    Reads with projection and predicate pushdown, aliases columns, builds ``assets`` from
    ``href_column`` (with the URL rewrites of ``url_rewrite_patterns``, else of the cloud
    config), and normalises ids, datetimes, footprints, bbox and partitions.

    Raises:
        RecordTableError, TableNormalizationError.
    """
    table = read_record_table(
        source.source,
        filesystem=source.filesystem,
        columns=source.columns,
        filter_expr=source.filter_expr,
    )
    cloud_config = source.cloud_config
    if cloud_config is None and source.data_source:
        cloud_config = CloudConfig.get_config(source.data_source)
    patterns = source.url_rewrite_patterns
    if patterns is None and cloud_config is not None:
        patterns = cloud_config.url_patterns
    table = normalize_table(
        table,
        column_map=source.column_map,
        href_column=source.href_column,
        band_index_map=source.band_index_map,
        url_rewrite_patterns=patterns or {},
    )
    return Prepared(
        table,
        tuple(asset_bands(table)),
        data_source=source.data_source,
        cloud_config=cloud_config,
    )


def asset_bands(table: pa.Table) -> list[str]:
    """The asset keys of a normalised table's ``assets`` column, sorted."""
    t = table.schema.field(Col.ASSETS).type
    if pa.types.is_struct(t):
        return sorted(t.field(i).name for i in range(t.num_fields))
    keys: set[str] = set()
    for value in table.column(Col.ASSETS).to_pylist():
        if isinstance(value, list):
            keys.update(k for k, v in value if v is not None)
    return sorted(keys)
