"""Append rows to a local collection by writing only new files, swapped in atomically.

:func:`append_rows` adds rows to ``{path}`` without reading or rewriting its files:

1. under the collection's writer lock (:mod:`rasteret_ingest._swap`), leftovers of killed
   writers are removed and rows whose ``id`` is already in the collection are dropped
   (one pushed-down scan of the ``id`` column, ``id IN (new ids)``: memory follows the new
   rows, not the collection);
2. a snapshot directory ``.{name}.tmp-{uuid}`` is made of **hard links** to every file of the
   collection (no byte is copied; a copy only where the filesystem refuses links), the new
   rows are written next to them as ``part-{tag}-{i}.parquet`` in their Hive partitions,
   and one zero-row **header file** is written (see below);
3. the snapshot is swapped with the collection in one ``renameat2(RENAME_EXCHANGE)``, so
   readers see the old or the new collection, never a mix. Old files are never modified:
   a reader holding them open keeps reading the version it opened.

**Collection-level metadata.** Every file of a collection carries the collection's key-value
metadata, and pyarrow (hence rasteret 0.4.1 and our ``load``) takes a directory's schema
and metadata from its *first file in path order*. Appended files carry the updated values
(date range, merged GeoParquet ``geo``), but old files keep theirs, so the snapshot gets a
header file named :data:`HEADER_FILE` with no rows, the collection's unified schema and the
current metadata, placed in the partition directory that sorts first so that it is the first
file. Each append replaces it. No ``_metadata`` sidecar is written: rasteret 0.4.1 opens a
local ``_metadata`` as the *complete* list of row groups, so a partial one would hide rows
(an existing ``_metadata`` / ``_common_metadata`` is dropped from the snapshot, as it would
be stale).

**Schemas.** The collection's column types win: new rows are cast to them, losslessly (a
failing cast, or one that would drop a nested struct field, means no append); a column that
is null-typed in the old files takes the new type, and columns only the new rows have are
added (old rows read them as null).

**When an append is not possible** — new rows that do not cast to the collection's types
(e.g. band-metadata structs carrying the 1.1 identity fields into a collection written by
rasteret 0.4.1, whose structs lack them), or a first partition holding foreign files that
sort before the header — :func:`append_rows` returns None and the caller rewrites the
collection (still atomically; the rewritten schema is the permissive union).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rasteret_catalog.schema import Col, MetaKey
from rasteret_ingest._swap import WriterLock, remove_leftovers, staged
from rasteret_ingest.errors import TableNormalizationError
from rasteret_ingest.metadata import merge_geoparquet_metadata
from rasteret_ingest.writer import _write_dataset, open_dataset, replace_locked, schema_metadata

__all__ = ["HEADER_FILE", "AppendOutcome", "append_rows", "existing_ids", "open_collection_dataset"]

HEADER_FILE = "collection-metadata.parquet"
"""Name of the zero-row file carrying the unified schema and current metadata."""

_STALE_SIDECARS = frozenset({"_metadata", "_common_metadata"})
_NO_LINK = (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES)


def open_collection_dataset(path: str | os.PathLike[str]) -> ds.Dataset:
    """The Hive-partitioned dataset of a local collection (file list and first footer only)."""
    return open_dataset(os.fspath(path))


def existing_ids(dataset: ds.Dataset, ids: pa.Array | pa.ChunkedArray) -> set[str]:
    """Which of ``ids`` the collection already holds (one pushed-down scan of ``id``)."""
    if len(ids) == 0:
        return set()
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    values = pc.unique(ids.cast(pa.string()))
    found = dataset.to_table(columns=[Col.ID.value], filter=ds.field(Col.ID.value).isin(values))
    return {str(v) for v in found.column(0).to_pylist() if v is not None}


class AppendOutcome:
    """What :func:`append_rows` did.

    Attributes:
        appended: Rows written (0 when every row was already present).
        files: Data files written.
        linked: Files of the collection carried over as hard links (copies where links were
            refused).
    """

    __slots__ = ("appended", "files", "linked")

    def __init__(self, appended: int, files: int, linked: int) -> None:
        self.appended = appended
        self.files = files
        self.linked = linked

    def __repr__(self) -> str:
        return f"AppendOutcome(appended={self.appended}, files={self.files}, linked={self.linked})"


def _fields(schema: pa.Schema, drop: Sequence[str]) -> pa.Schema:
    keep = [f for f in schema if f.name not in drop]
    return pa.schema(keep)


def _keeps_fields(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether casting ``src`` to ``dst`` drops no nested struct field."""
    if pa.types.is_struct(src):
        if not pa.types.is_struct(dst):
            return False
        names = {dst.field(i).name: dst.field(i).type for i in range(dst.num_fields)}
        return all(
            src.field(i).name in names
            and _keeps_fields(src.field(i).type, names[src.field(i).name])
            for i in range(src.num_fields)
        )
    if pa.types.is_list(src) or pa.types.is_large_list(src) or pa.types.is_fixed_size_list(src):
        return hasattr(dst, "value_type") and _keeps_fields(src.value_type, dst.value_type)
    if pa.types.is_map(src):
        return pa.types.is_map(dst) and _keeps_fields(src.item_type, dst.item_type)
    return True


def _unified(old: pa.Schema, new: pa.Schema) -> pa.Schema | None:
    """The collection schema after the append, or None when the old files would not fit it.

    The collection's types win: new rows are cast to them (losslessly: a cast that fails or
    would drop a nested field means no append). A column that is null-typed in the old files
    takes the new rows' type; columns only the new rows have are added at the end.
    """
    fields = []
    for f in old:
        if f.name in new.names:
            nt = new.field(f.name).type
            if pa.types.is_null(f.type):
                fields.append(f.with_type(nt))
                continue
            if not _keeps_fields(nt, f.type):
                return None
        fields.append(f)
    fields += [f for f in new if f.name not in old.names]
    return pa.schema(fields)


def _conform(table: pa.Table, schema: pa.Schema, keep: Sequence[str]) -> pa.Table | None:
    """``table`` with ``schema``'s columns (nulls where missing, cast) plus ``keep``."""
    cols: list[pa.ChunkedArray | pa.Array] = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if not col.type.equals(f.type):
                try:
                    col = col.cast(f.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    return None
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    fields = list(schema)
    for name in keep:
        cols.append(table.column(name))
        fields.append(table.schema.field(name))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath, name)


def _link_tree(src: Path, dst: Path) -> int:
    """Hard-link every file of ``src`` into ``dst`` (same relative paths); copy if refused."""
    n = 0
    made: set[Path] = set()
    for f in _files(src):
        rel = f.relative_to(src)
        if rel.name == HEADER_FILE or rel.name in _STALE_SIDECARS:
            continue
        out = dst / rel
        if out.parent not in made:
            out.parent.mkdir(parents=True, exist_ok=True)
            made.add(out.parent)
        try:
            os.link(f, out, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            shutil.copy2(f, out, follow_symlinks=False)
        n += 1
    return n


def _first_dir(root: Path) -> Path | None:
    """Directory of the Parquet dataset file that sorts first (pyarrow's discovery order)."""
    files = [
        p
        for p in _files(root)
        if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    ]
    if not files:
        return None
    return min(files, key=lambda p: p.relative_to(root).as_posix()).parent


def append_rows(
    path: str | os.PathLike[str],
    rows: pa.Table,
    metadata: Mapping[str, str],
    *,
    partition_by: Sequence[str] = ("year", "month"),
) -> AppendOutcome | None:
    """Append ``rows`` to the local collection at ``path`` (see the module docstring).

    Args:
        path: An existing local collection directory.
        rows: New rows with the layout columns (``bbox``, partitions) already derived.
        metadata: The collection's key-value metadata after the append (``geo`` is merged
            from the collection's and ``rows``' own).
        partition_by: The collection's Hive partition columns.

    Returns:
        The outcome, or None when the rows cannot be appended (the caller rewrites; nothing
        was changed).

    Raises:
        WriteError: writing failed; the collection is left as it was.
    """
    target = Path(os.path.expanduser(os.fspath(path))).absolute()
    parts = [p for p in partition_by if p]
    with WriterLock(target) as lock:
        remove_leftovers(target, lock)
        dataset = open_collection_dataset(target)
        known = existing_ids(dataset, rows.column(Col.ID.value))
        if known:
            mask = pc.invert(pc.is_in(rows.column(Col.ID.value), pa.array(sorted(known))))
            rows = rows.filter(mask)
        if rows.num_rows == 0:
            return AppendOutcome(0, 0, 0)
        old_schema = _fields(dataset.schema, parts)
        unified = _unified(old_schema.remove_metadata(), _fields(rows.schema, parts))
        conformed = None if unified is None else _conform(rows, unified, parts)
        if unified is None or conformed is None:
            return None
        md = dict(metadata)
        old_geo = (dataset.schema.metadata or {}).get(MetaKey.GEO.value.encode())
        md[MetaKey.GEO.value] = merge_geoparquet_metadata(old_geo, conformed)
        file_md = schema_metadata(conformed, md)
        with staged(target, "appending to") as staging:
            tmp = staging.path
            linked = _link_tree(target, tmp)
            tag = f"{time.time_ns():x}-{uuid.uuid4().hex[:6]}"
            before = set(_files(tmp))
            _write_dataset(
                conformed.replace_schema_metadata(file_md),
                str(tmp),
                parts,
                None,
                basename_template=f"part-{tag}-{{i}}.parquet",
            )
            written = len(set(_files(tmp)) - before)
            first = _first_dir(tmp)
            header = (first or tmp) / HEADER_FILE
            if first is not None and any(
                p.name < HEADER_FILE for p in first.iterdir() if not p.name.startswith((".", "_"))
            ):
                staging.discard()
                return None
            pq.write_table(unified.empty_table().replace_schema_metadata(file_md), header)
    return AppendOutcome(rows.num_rows, written, linked)


def rewrite_with_rows(
    path: str | os.PathLike[str],
    rows: pa.Table,
    metadata: Mapping[str, str],
    *,
    partition_by: Sequence[str] = ("year", "month"),
) -> int:
    """Rewrite the local collection at ``path`` with ``rows`` added (the fallback of
    :func:`append_rows`; memory follows the whole collection). Rows whose id is present are
    dropped. Returns the rows added.

    Raises:
        WriteError: writing failed; the collection is left as it was.
    """
    target = Path(os.path.expanduser(os.fspath(path))).absolute()
    with WriterLock(target) as lock:
        remove_leftovers(target, lock)
        dataset = open_collection_dataset(target)
        known = existing_ids(dataset, rows.column(Col.ID.value))
        if known:
            rows = rows.filter(
                pc.invert(pc.is_in(rows.column(Col.ID.value), pa.array(sorted(known))))
            )
        if rows.num_rows == 0:
            return 0
        existing = dataset.to_table()
        try:
            merged = pa.concat_tables(
                [existing.replace_schema_metadata(None), rows.replace_schema_metadata(None)],
                promote_options="permissive",
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TableNormalizationError(
                f"the new rows do not fit the collection at {target}: {exc}"
            ) from None
        md = dict(metadata)
        md.pop(MetaKey.GEO.value, None)
        merged = merged.replace_schema_metadata(schema_metadata(merged, md))
        replace_locked(merged, target, partition_by)
    return rows.num_rows
