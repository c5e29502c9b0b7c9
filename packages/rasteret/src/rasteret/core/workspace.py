"""Cached collections in a workspace directory (``*_stac`` / ``*_records``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from rasteret.errors import CollectionNotFoundError, WorkspaceError
from rasteret_ingest import default_workspace

__all__ = [
    "collection_dir",
    "collection_info",
    "delete_collection",
    "list_collections",
    "resolve_collection",
    "workspace_root",
]

_SUFFIXES = {"_stac": "stac", "_records": "records"}


def workspace_root(workspace_dir: str | os.PathLike[str] | None) -> Path:
    """The workspace directory (default ``~/rasteret_workspace``), ``~`` expanded."""
    if workspace_dir is None:
        return default_workspace()
    return Path(os.fspath(workspace_dir)).expanduser()


def _kind(path: Path) -> str | None:
    for suffix, kind in _SUFFIXES.items():
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return kind
    return None


def collection_dir(file: Path) -> Path:
    """The cached-collection directory (``*_stac`` / ``*_records``) holding ``file``, else its
    parent directory."""
    for parent in file.parents:
        if _kind(parent):
            return parent
    return file.parent


def _strip(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def collection_info(path: Path) -> dict[str, Any]:
    """Summary of one cached collection directory (raises when it cannot be read).

    Keys: ``name, path, scene_count, date_start, date_end, has_split_column, columns`` (the
    summary rasteret 0.4.1's CLI prints) and ``kind, data_source, date_range, size, created``
    (a :func:`list_collections` entry).
    """
    # pyarrow is loaded by the commands that open collections, not by `collections list` help
    import pyarrow as pa
    import pyarrow.compute as pc

    from rasteret.core.source import open_parquet_dataset, schema_metadata
    from rasteret_catalog.schema import Col, MetaKey

    dataset, _ = open_parquet_dataset(path)
    meta = schema_metadata(dataset.schema)
    name = _strip(path.name)
    data_source = meta.get(MetaKey.DATA_SOURCE, "")
    if not data_source or data_source == "unknown":
        data_source = name.rsplit("_", 1)[-1] if "_" in name else "unknown"
    date_range = None
    lo = hi = None
    size = dataset.count_rows()
    if Col.DATETIME in dataset.schema.names and size:
        col = dataset.to_table(columns=[Col.DATETIME]).column(0)
        if pa.types.is_timestamp(col.type) and col.null_count < len(col):
            lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
            date_range = (lo.date().isoformat(), hi.date().isoformat())
    columns = list(dataset.schema.names)
    return {
        # the keys of rasteret 0.4.1's `collections info --json`
        "name": name,
        "path": str(path),
        "scene_count": size,
        "date_start": lo.isoformat() if lo is not None else None,
        "date_end": hi.isoformat() if hi is not None else None,
        "has_split_column": Col.SPLIT in columns,
        "columns": columns,
        # the keys of `list_collections` entries
        "kind": _kind(path) or "unknown",
        "data_source": data_source,
        "date_range": date_range,
        "size": size,
        "created": path.stat().st_ctime,
    }


def list_collections(workspace_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Summaries of the readable cached collections, sorted by name (unreadable ones skipped)."""
    root = workspace_root(workspace_dir)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith(".") or _kind(child) is None:
            continue
        try:
            info = collection_info(child)
        except Exception:  # unreadable or corrupt directories are skipped, as documented
            continue
        for key in ("path", "scene_count", "date_start", "date_end", "has_split_column", "columns"):
            info.pop(key, None)
        out.append(info)
    return out


def resolve_collection(name: str, workspace_dir: str | os.PathLike[str] | None = None) -> Path:
    """Find a cached collection by name.

    Tried in order: the exact directory name, ``NAME_stac`` / ``NAME_records``, then a unique
    ``NAME*_stac`` / ``NAME*_records`` prefix match.

    Raises:
        CollectionNotFoundError: The workspace or the collection does not exist.
        WorkspaceError: Several collections match.
    """
    root = workspace_root(workspace_dir)
    if not root.is_dir():
        raise CollectionNotFoundError(f"workspace {root} does not exist")
    exact = root / name
    if name and exact.is_dir() and _kind(exact):
        return exact
    found = [root / f"{name}{s}" for s in _SUFFIXES if (root / f"{name}{s}").is_dir()]
    if len(found) == 1:
        return found[0]
    if not found:
        found = sorted(
            p
            for p in root.iterdir()
            if p.is_dir() and p.name.startswith(name) and _kind(p) and not p.name.startswith(".")
        )
    if len(found) == 1:
        return found[0]
    if not found:
        raise CollectionNotFoundError(f"no cached collection named {name!r} in {root}")
    raise WorkspaceError(
        f"{name!r} matches several collections in {root}: {', '.join(p.name for p in found)}"
    )


def delete_collection(path: Path) -> None:
    """Remove a cached collection directory."""
    shutil.rmtree(path)
