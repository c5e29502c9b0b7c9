"""Build collections into the workspace: STAC and record-table builders with caching.

A build resolves its workspace directory with the 0.4.1 naming rules
(:mod:`rasteret_ingest.naming`). When that directory exists and ``force`` is False the
collection is read back from disk with no network access (``reused=True``); otherwise the table
is built, validated against the schema contract (every problem reported at once) and written
atomically (:func:`rasteret_ingest.writer.write_collection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rasteret_catalog.arrow import ensure_valid
from rasteret_catalog.schema import MetaKey
from rasteret_ingest.enrich import EnrichReport
from rasteret_ingest.metadata import collection_metadata
from rasteret_ingest.naming import (
    RECORDS_SUFFIX,
    STAC_SUFFIX,
    records_collection_dir,
    stac_collection_dir,
)
from rasteret_ingest.stac import build_stac_table_with_report
from rasteret_ingest.table import build_record_table_with_report, is_arrow_object
from rasteret_ingest.writer import collection_exists, read_collection, write_collection

__all__ = [
    "BuildResult",
    "build_stac_collection",
    "build_table_collection",
    "finalize_collection",
    "load_cached",
]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Outcome of a build.

    Attributes:
        path: Directory the collection lives in (None when nothing was persisted).
        table: The collection table.
        name: Collection name (metadata ``name``).
        data_source: Data source id.
        reused: True when an existing collection was read back instead of built.
        report: Header-enrichment report (None when reused or not enriched).
    """

    path: str | None
    table: pa.Table
    name: str
    data_source: str
    reused: bool
    report: EnrichReport | None


def _stem(path: Any) -> str:
    last = str(path).rstrip("/").rsplit("/", 1)[-1]
    for suffix in (STAC_SUFFIX, RECORDS_SUFFIX):
        if last.endswith(suffix):
            return last[: -len(suffix)]
    return last


def _meta(table: pa.Table, key: MetaKey) -> str:
    md = table.schema.metadata or {}
    raw = md.get(key.value.encode())
    return raw.decode() if raw else ""


def load_cached(path: Any, *, filesystem: Any = None) -> BuildResult:
    """Read an existing collection back as a reused :class:`BuildResult` (no network)."""
    table = read_collection(path, filesystem=filesystem)
    name = _meta(table, MetaKey.NAME) or _stem(path)
    source = _meta(table, MetaKey.DATA_SOURCE)
    return BuildResult(str(path), table, name, source, True, None)


def finalize_collection(
    table: pa.Table,
    path: Any,
    *,
    name: str,
    description: str = "",
    data_source: str = "",
    date_range: Sequence[Any] | None = None,
    force: bool = False,
    require_band_metadata: bool = True,
    filesystem: Any = None,
) -> tuple[str | None, pa.Table]:
    """Validate ``table`` against the contract, attach metadata and write it (when ``path``).

    Returns:
        ``(path written or None, table with the collection metadata)``.

    Raises:
        rasteret_catalog.SchemaError: every contract problem, listed at once.
        CollectionExistsError / WriteError: see :func:`write_collection`.
    """
    ensure_valid(table, require_band_metadata=require_band_metadata)
    md = collection_metadata(
        name=name, description=description, data_source=data_source, date_range=date_range
    )
    merged = dict(table.schema.metadata or {})
    merged.update({k.encode(): v.encode() for k, v in md.items()})
    table = table.replace_schema_metadata(merged)
    if path is None:
        return None, table
    written = write_collection(table, path, metadata=md, force=force, filesystem=filesystem)
    return written, table


def build_stac_collection(
    *,
    name: str,
    stac_api: str,
    collection: str,
    workspace_dir: Any = None,
    force: bool = False,
    data_source: str | None = None,
    date_range: Sequence[Any] | None = None,
    **kwargs: Any,
) -> BuildResult:
    """Build (or reuse) a STAC collection in ``{workspace}/{cache name}_stac``.

    Args:
        name: Custom collection name (see :func:`~rasteret_ingest.naming.create_name`).
        stac_api: STAC API root or static catalog.
        collection: STAC collection id.
        workspace_dir: Workspace root (default ``~/rasteret_workspace``).
        force: Rebuild even when the directory exists (atomic replacement).
        data_source: Source id (default: ``collection``).
        date_range: ``(start, end)`` of the search.
        **kwargs: Passed to :func:`~rasteret_ingest.stac.build_stac_table` (``band_map``,
            ``band_index_map``, ``bbox``, ``query``, ``static_catalog``, ``max_concurrent``,
            ``cloud_config``, ``backend``, ``progress``).

    Returns:
        The :class:`BuildResult`.
    """
    source = data_source or collection
    path = stac_collection_dir(workspace_dir, name, date_range, source)
    if not force and collection_exists(path):
        return load_cached(path)
    table, report = build_stac_table_with_report(
        stac_api=stac_api,
        collection=collection,
        data_source=source,
        date_range=date_range,
        **kwargs,
    )
    coll_name = _stem(path)
    written, table = finalize_collection(
        table,
        path,
        name=coll_name,
        description=f"STAC collection indexed from {source}",
        data_source=source,
        date_range=date_range,
        force=force,
    )
    return BuildResult(written, table, coll_name, source, False, report)


def _default_name(source: Any) -> str:
    if is_arrow_object(source):
        return "record_table"
    p = str(source).rstrip("/")
    return Path(p.rsplit("/", 1)[-1]).stem or "record_table"


def build_table_collection(
    path_or_arrow: Any,
    *,
    name: str = "",
    data_source: str = "",
    workspace_dir: Any = None,
    force: bool = False,
    description: str = "",
    date_range: Sequence[Any] | None = None,
    workspace_filesystem: Any = None,
    **kwargs: Any,
) -> BuildResult:
    """Build (or reuse) a record-table collection in ``{workspace}/{name}_records``.

    Without ``name`` and ``workspace_dir`` nothing is written (``path`` is None).

    Args:
        path_or_arrow: Parquet path / URI or Arrow object.
        name: Collection name; default ``"record_table"`` for Arrow input, the file stem else.
        data_source: Source id (also selects the registered ``CloudConfig`` when none is given).
        workspace_dir: Workspace root or a ``*_records`` / ``*_stac`` directory.
        force: Rebuild even when the directory exists.
        description: Collection description.
        date_range: Date range recorded in the metadata.
        workspace_filesystem: pyarrow filesystem for a remote workspace.
        **kwargs: Passed to :func:`~rasteret_ingest.table.build_record_table`.

    Returns:
        The :class:`BuildResult`.
    """
    persist = bool(name) or workspace_dir is not None
    coll_name = name or _default_name(path_or_arrow)
    path = records_collection_dir(workspace_dir, name) if persist else None
    if path is not None and not force and collection_exists(path, workspace_filesystem):
        return load_cached(path, filesystem=workspace_filesystem)
    table, report = build_record_table_with_report(
        path_or_arrow, data_source=data_source or None, **kwargs
    )
    written, table = finalize_collection(
        table,
        path,
        name=coll_name,
        description=description,
        data_source=data_source,
        date_range=date_range,
        force=force,
        require_band_metadata=bool(kwargs.get("enrich_cog")),
        filesystem=workspace_filesystem,
    )
    return BuildResult(written, table, coll_name, data_source, False, report)
