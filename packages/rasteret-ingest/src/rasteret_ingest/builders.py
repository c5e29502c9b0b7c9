"""Build collections into the workspace: STAC and record-table builders with caching.

A build resolves its workspace directory with the 0.4.1 naming rules
(:mod:`rasteret_ingest.naming`). When that directory exists and ``force`` is False the
collection is read back from disk with no network access (``reused=True``); otherwise the
pipeline runs (:mod:`rasteret_ingest.pipeline`: prepare → enrich → write; the write step
validates against the schema contract, every problem reported at once, and replaces the
directory atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from rasteret_catalog.schema import MetaKey
from rasteret_ingest.enrich import EnrichReport
from rasteret_ingest.naming import (
    RECORDS_SUFFIX,
    STAC_SUFFIX,
    records_collection_dir,
    stac_collection_dir,
)
from rasteret_ingest.pipeline import build_record_table, build_stac_table, write_records
from rasteret_ingest.specs import Destination, EnrichOptions, StacSource, TableSource, WriteTarget
from rasteret_ingest.table import is_arrow_object
from rasteret_ingest.writer import (
    collection_exists,
    read_collection,
    read_schema,
    remove_stale_temps,
)

__all__ = [
    "BuildResult",
    "build_stac_collection",
    "build_table_collection",
    "load_cached",
]


class BuildResult:
    """Outcome of a build or an update (immutable).

    Args / attributes:
        path: Directory the collection lives in (None when nothing was persisted).
        table: The collection table. When None is passed, it is read from ``path`` on first
            access (updates and reused builds do not load the collection unless asked).
        name: Collection name (metadata ``name``).
        data_source: Data source id.
        reused: True when an existing collection was read back instead of built (for
            updates: nothing new was written).
        report: Header-enrichment report (None when reused or not enriched); its
            ``failures`` list every (record, band) that could not be indexed.
        added: Rows written by an update (None for builds).
        skipped: Rows of an update not written because their id is already in the
            collection (the old row is kept; None for builds).
        repeated: Rows of an update not written because an earlier row of the same batch
            has their id (the first is kept; None for builds).
    """

    __slots__ = (
        "_table",
        "added",
        "data_source",
        "name",
        "path",
        "repeated",
        "report",
        "reused",
        "skipped",
    )

    _table: pa.Table | None
    path: str | None
    name: str
    data_source: str
    reused: bool
    report: EnrichReport | None
    added: int | None
    skipped: int | None
    repeated: int | None

    def __init__(
        self,
        path: str | None,
        table: pa.Table | None,
        name: str,
        data_source: str,
        reused: bool,
        report: EnrichReport | None,
        *,
        added: int | None = None,
        skipped: int | None = None,
        repeated: int | None = None,
    ) -> None:
        if table is None and path is None:
            raise ValueError("BuildResult needs a table or a path")
        for key, value in (
            ("path", path),
            ("_table", table),
            ("name", name),
            ("data_source", data_source),
            ("reused", reused),
            ("report", report),
            ("added", added),
            ("skipped", skipped),
            ("repeated", repeated),
        ):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"BuildResult is immutable (cannot set {key!r})")

    @property
    def table(self) -> pa.Table:
        """The collection table (read from ``path`` on first access when not given)."""
        table: pa.Table | None = self._table
        if table is None:
            table = read_collection(self.path)
            object.__setattr__(self, "_table", table)
        return table

    def __repr__(self) -> str:
        return (
            f"BuildResult(path={self.path!r}, name={self.name!r}, "
            f"data_source={self.data_source!r}, reused={self.reused}, added={self.added}, "
            f"skipped={self.skipped}, repeated={self.repeated}, report={self.report!r})"
        )


def _stem(path: Any) -> str:
    last = str(path).rstrip("/").rsplit("/", 1)[-1]
    for suffix in (STAC_SUFFIX, RECORDS_SUFFIX):
        if last.endswith(suffix):
            return last[: -len(suffix)]
    return last


def _meta(schema: pa.Schema, key: MetaKey) -> str:
    md = schema.metadata or {}
    raw = md.get(key.value.encode())
    return raw.decode() if raw else ""


def load_cached(path: Any, *, filesystem: Any = None) -> BuildResult:
    """Read an existing collection back as a reused :class:`BuildResult` (no network).

    Leftovers of killed writers of a local collection are removed on the way (when no
    writer is active: see :func:`~rasteret_ingest.writer.remove_stale_temps`).
    """
    table: pa.Table | None = None
    if filesystem is None:
        remove_stale_temps(path)
        schema = read_schema(path)  # the table is read only if asked for
    else:
        table = read_collection(path, filesystem=filesystem)
        schema = table.schema
    name = _meta(schema, MetaKey.NAME) or _stem(path)
    source = _meta(schema, MetaKey.DATA_SOURCE)
    return BuildResult(str(path), table, name, source, True, None)


def build_stac_collection(
    source: StacSource, options: EnrichOptions, destination: Destination
) -> BuildResult:
    """Build (or reuse) a STAC collection in ``{workspace}/{cache name}_stac``.

    The cache name is :func:`~rasteret_ingest.naming.create_name` of ``destination.name``,
    the source's date range and its data source id.

    Returns:
        The :class:`BuildResult`.
    """
    src = source.source_id
    path = stac_collection_dir(destination.workspace_dir, destination.name, source.date_range, src)
    if not destination.force and collection_exists(path):
        return load_cached(path)
    table, report = build_stac_table(source, options)
    coll_name = _stem(path)
    written, table = write_records(
        table,
        WriteTarget(
            path,
            coll_name,
            description=f"STAC collection indexed from {src}",
            data_source=src,
            date_range=source.date_range,
            force=destination.force,
        ),
    )
    return BuildResult(written, table, coll_name, src, False, report)


def _default_name(source: Any) -> str:
    if is_arrow_object(source):
        return "record_table"
    p = str(source).rstrip("/")
    return Path(p.rsplit("/", 1)[-1]).stem or "record_table"


def build_table_collection(
    source: TableSource, options: EnrichOptions | None, destination: Destination
) -> BuildResult:
    """Build (or reuse) a record-table collection in ``{workspace}/{name}_records``.

    Without ``destination.name`` and ``workspace_dir`` nothing is written (``path`` is None);
    the name then defaults to ``"record_table"`` for Arrow input, the file stem else.
    ``options`` None skips header enrichment (the contract is then checked without band
    metadata).

    Returns:
        The :class:`BuildResult`.
    """
    persist = bool(destination.name) or destination.workspace_dir is not None
    coll_name = destination.name or _default_name(source.source)
    path = records_collection_dir(destination.workspace_dir, destination.name) if persist else None
    fs = destination.filesystem
    if path is not None and not destination.force and collection_exists(path, fs):
        return load_cached(path, filesystem=fs)
    table, report = build_record_table(source, options)
    written, table = write_records(
        table,
        WriteTarget(
            path,
            coll_name,
            description=destination.description,
            data_source=source.data_source,
            force=destination.force,
            require_band_metadata=options is not None,
            filesystem=fs,
        ),
    )
    return BuildResult(written, table, coll_name, source.data_source, False, report)
