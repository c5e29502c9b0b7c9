"""Record tables: Parquet / GeoParquet files or directories (local or remote) and Arrow objects.

:func:`read_record_table` reads with projection (``columns``) and predicate (``filter_expr``)
pushdown; :func:`build_record_table` then aliases columns, builds ``assets``, normalises and,
with ``enrich_cog=True``, indexes the COG headers. Unlike rasteret 0.4.1, ``cloud_config`` is
honoured: its URL patterns rewrite ``href_column`` URLs (unless ``url_rewrite_patterns`` is
given) and it configures the default backend (requester-pays, regions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret_catalog.cloud import CloudConfig
from rasteret_catalog.schema import Col
from rasteret_ingest.enrich import EnrichReport, enrich_table
from rasteret_ingest.errors import RecordTableError
from rasteret_ingest.normalize import normalize_table

__all__ = [
    "arrow_table",
    "build_record_table",
    "build_record_table_with_report",
    "is_arrow_object",
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


def build_record_table_with_report(
    source: Any,
    *,
    column_map: Mapping[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: Mapping[str, int] | None = None,
    url_rewrite_patterns: Mapping[str, str] | None = None,
    filesystem: Any = None,
    columns: Sequence[str] | None = None,
    filter_expr: Any = None,
    enrich_cog: bool = False,
    band_codes: Sequence[str] | None = None,
    cloud_config: CloudConfig | None = None,
    max_concurrent: int = 300,
    backend: Any = None,
    progress: bool | None = None,
    data_source: str | None = None,
) -> tuple[pa.Table, EnrichReport | None]:
    """:func:`build_record_table` returning ``(table, EnrichReport or None)``."""
    table = read_record_table(
        source, filesystem=filesystem, columns=columns, filter_expr=filter_expr
    )
    if cloud_config is None and data_source:
        cloud_config = CloudConfig.get_config(data_source)
    patterns = url_rewrite_patterns
    if patterns is None and cloud_config is not None:
        patterns = dict(cloud_config.url_patterns)
    table = normalize_table(
        table,
        column_map=column_map,
        href_column=href_column,
        band_index_map=band_index_map,
        url_rewrite_patterns=patterns or {},
    )
    if not enrich_cog:
        return table, None
    bands = list(band_codes) if band_codes else _asset_bands(table)
    if backend is None and cloud_config is not None:
        from rasteret_io import create_backend

        backend = create_backend(cloud_config=cloud_config)
    table, report = enrich_table(
        table, bands, backend=backend, max_concurrent=max_concurrent, progress=progress
    )
    return table, report


def _asset_bands(table: pa.Table) -> list[str]:
    t = table.schema.field(Col.ASSETS).type
    if pa.types.is_struct(t):
        return sorted(t.field(i).name for i in range(t.num_fields))
    keys: set[str] = set()
    for value in table.column(Col.ASSETS).to_pylist():
        if isinstance(value, list):
            keys.update(k for k, v in value if v is not None)
    return sorted(keys)


def build_record_table(
    source: Any,
    *,
    column_map: Mapping[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: Mapping[str, int] | None = None,
    url_rewrite_patterns: Mapping[str, str] | None = None,
    filesystem: Any = None,
    columns: Sequence[str] | None = None,
    filter_expr: Any = None,
    enrich_cog: bool = False,
    band_codes: Sequence[str] | None = None,
    cloud_config: CloudConfig | None = None,
    max_concurrent: int = 300,
    backend: Any = None,
    progress: bool | None = None,
) -> pa.Table:
    """Read, alias, normalise and optionally header-enrich a record table (not written).

    Args:
        source: Path / URI / Arrow object (see :func:`read_record_table`).
        column_map: ``{source column: canonical name}`` aliases (sources kept).
        href_column: URL column used with ``band_index_map`` to build ``assets``.
        band_index_map: ``{band: sample index}`` of the multi-band COG in ``href_column``.
        url_rewrite_patterns: Prefix rewrites of ``href_column`` URLs (default: the
            ``cloud_config``'s patterns).
        filesystem: pyarrow filesystem for paths.
        columns: Scan-time projection.
        filter_expr: Scan-time predicate (``pyarrow.compute.Expression``).
        enrich_cog: Read every asset's header and add ``{band}_metadata``.
        band_codes: Bands to enrich (default: every asset key, sorted).
        cloud_config: URL rewrites and backend settings.
        max_concurrent: Headers read at the same time.
        backend: ``rasteret_io`` backend for header reads.
        progress: ``False`` hides the progress bar.

    Raises:
        RecordTableError, TableNormalizationError, EnrichmentError.
    """
    table, _ = build_record_table_with_report(
        source,
        column_map=column_map,
        href_column=href_column,
        band_index_map=band_index_map,
        url_rewrite_patterns=url_rewrite_patterns,
        filesystem=filesystem,
        columns=columns,
        filter_expr=filter_expr,
        enrich_cog=enrich_cog,
        band_codes=band_codes,
        cloud_config=cloud_config,
        max_concurrent=max_concurrent,
        backend=backend,
        progress=progress,
    )
    return table
