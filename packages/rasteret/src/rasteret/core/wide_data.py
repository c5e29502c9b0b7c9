"""The wide collection data of a dual-surface collection, opened only as far as a read needs.

Opening a Parquet *directory* as a dataset lists it and reads the first file's footer; with 64
bands a footer is megabytes. :class:`WideData` therefore opens nothing until asked, and then
either the whole dataset (:meth:`WideData.everything`) or just the shard files a record index
names (:meth:`WideData.shards`), each footer read once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from rasteret.core.source import open_parquet_dataset, strip_scheme
from rasteret.errors import CollectionNotFoundError

__all__ = ["WideData", "resolve_path"]


def _hive_expression(relative: str) -> tuple[ds.Expression | None, list[pa.Field]]:
    """Partition expression and fields of the ``key=value`` directories of ``relative``."""
    expr: ds.Expression | None = None
    fields: list[pa.Field] = []
    for segment in relative.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if not sep or not key:
            continue
        typed: Any = int(value) if value.lstrip("-").isdigit() else value
        typ = pa.int32() if isinstance(typed, int) else pa.string()
        part = ds.field(key) == pa.scalar(typed, typ)
        expr = part if expr is None else expr & part
        fields.append(pa.field(key, typ))
    return expr, fields


def resolve_path(
    path: str, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem, str]:
    """The filesystem to read ``path`` through and the path on it (no scheme, no end slash).

    Args:
        path: A local path, ``file://`` URI or a URI pyarrow can open (``s3://``...).
        filesystem: The filesystem ``path`` is relative to, if given.
    """
    text = path
    if text.startswith("file://"):
        text = text[len("file://") :]
    if filesystem is not None:
        return filesystem, strip_scheme(text).rstrip("/")
    if "://" in text:
        resolved, base = pafs.FileSystem.from_uri(text)
        return resolved, base.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(text)).rstrip("/")


class WideData:
    """The collection data (the wide surface): a Parquet directory, or an opened dataset.

    Args:
        path: The collection directory (local path or URI); None when ``dataset`` is given.
        filesystem: Filesystem to read ``path`` through (paths then have no scheme).
        dataset: An already opened dataset of the collection data.

    Raises:
        ValueError: Neither ``path`` nor ``dataset`` given.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        filesystem: pafs.FileSystem | None = None,
        dataset: ds.Dataset | None = None,
    ) -> None:
        if path is None and dataset is None:
            raise ValueError("WideData needs the collection path or its dataset")
        self.path = None if path is None else os.fspath(path)
        self.filesystem = filesystem
        self._dataset = dataset
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = {"path": self.path, "filesystem": self.filesystem, "_dataset": None}
        if self.path is None:  # no path to reopen from: keep the dataset
            state["_dataset"] = self._dataset
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WideData({self.path or '<dataset>'})"

    def everything(self) -> ds.Dataset:
        """The whole collection data (opened once; lists it and reads one footer)."""
        with self._lock:
            if self._dataset is None:
                assert self.path is not None
                self._dataset, _ = open_parquet_dataset(self.path, filesystem=self.filesystem)
            return self._dataset

    def _base(self) -> tuple[pafs.FileSystem, str]:
        """The filesystem and the base path (no scheme) of :attr:`path`."""
        assert self.path is not None
        return resolve_path(self.path, self.filesystem)

    def shards(self, parts: Sequence[str]) -> ds.Dataset:
        """Only the files ``parts`` (relative to the collection path, as in ``source_part``).

        Each file is opened once: its footer read here serves the scan too.

        Raises:
            CollectionNotFoundError: A shard does not exist.
        """
        if not parts:
            raise ValueError("shards() needs at least one shard")
        if self.path is None:
            return self._shards_of_dataset(parts)
        filesystem, base = self._base()
        fmt = ds.ParquetFileFormat()
        fragments = []
        extra: dict[str, pa.Field] = {}
        for part in parts:
            relative = part
            if "://" in part:
                path = strip_scheme(part)
                relative = path[len(base) + 1 :] if path.startswith(base + "/") else path
            elif part.startswith("/"):
                path = part
                relative = path[len(base) + 1 :] if path.startswith(base + "/") else path
            else:
                path = f"{base}/{part.lstrip('/')}"
            expr, fields = _hive_expression(relative)
            for f in fields:
                extra.setdefault(f.name, f)
            kwargs: dict[str, Any] = {}
            if expr is not None:
                kwargs["partition_expression"] = expr
            fragments.append(fmt.make_fragment(path, filesystem, **kwargs))
        try:
            schema = fragments[0].physical_schema
        except FileNotFoundError as exc:
            raise CollectionNotFoundError(
                f"record index names shard {parts[0]!r}, which is not in the collection data "
                f"{self.path} ({exc})"
            ) from None
        for f in extra.values():
            if schema.get_field_index(f.name) < 0:
                schema = schema.append(f)
        return ds.FileSystemDataset(fragments, schema, fmt, filesystem)

    def _shards_of_dataset(self, parts: Sequence[str]) -> ds.Dataset:
        dataset = self.everything()
        if not isinstance(dataset, ds.FileSystemDataset):
            return dataset
        wanted = [p.lstrip("/") for p in parts]
        fragments = [
            f
            for f in dataset.get_fragments()
            if any(f.path == w or f.path.endswith("/" + w) for w in wanted)
        ]
        return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
