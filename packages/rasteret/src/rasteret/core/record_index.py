"""Dual-surface collections: planned on a narrow record index, read from the wide shards it names.

:class:`RecordIndexProvider` answers ``len``, ``head``, ``bands``, ``epsg``, ``crs`` and
``bounds`` from the record index alone, and pushes ``subset`` criteria onto it
(:mod:`rasteret.core.index_filters`). A read (:class:`IndexedRecords`) scans the index once
for the matching ids and their ``source_part`` shards, opens only those shards of the wide
data and keeps the rows whose ``id`` is among them (plus the staged criteria, which let the
scan skip row groups). Without ``source_part`` the whole wide dataset is scanned for the ids.

A criterion the index cannot evaluate (a column it lacks, one it is not declared to filter
on, a raw ``where`` expression) makes that view a plain scan of the wide data; this is logged
on the ``rasteret`` logger at WARNING level, with the criterion and the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from rasteret.core.dataset_provider import DatasetProvider
from rasteret.core.index_filters import Pushdown, on_wide, translate
from rasteret.core.index_spec import SOURCE_PART, RecordIndexSpec
from rasteret.core.provider import projected_schema
from rasteret.core.source import open_parquet_dataset, schema_metadata
from rasteret.core.wide_data import WideData, resolve_path
from rasteret.errors import InvalidCollectionError, InvalidFilterError
from rasteret.query.filters import Subset, combine
from rasteret.records import CollectionInfo
from rasteret_catalog.schema import Col, band_of_metadata_column

__all__ = ["IndexHandle", "IndexedRecords", "RecordIndexProvider"]

log = logging.getLogger("rasteret")

#: Contract columns ``inspect`` can derive from index roles (``crs`` from ``proj:epsg``'s).
_INSPECTABLE = (Col.BBOX, Col.PROJ_EPSG, Col.CRS, Col.COLLECTION)


class IndexHandle:
    """The record index, opened on first use and shared by every view of a collection.

    Args:
        spec: Where the index is and how it maps onto the contract.
    """

    def __init__(self, spec: RecordIndexSpec) -> None:
        self.spec = spec
        self._dataset: ds.Dataset | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]

    def dataset(self) -> ds.Dataset:
        """The index as a dataset.

        Raises:
            CollectionNotFoundError: A local index path does not exist.
            InvalidCollectionError: It is not readable as Parquet.
        """
        with self._lock:
            if self._dataset is None:
                self._dataset = _open_index(self.spec.path, self.spec.filesystem)
            return self._dataset

    @property
    def schema(self) -> pa.Schema:
        """The index schema."""
        return self.dataset().schema

    def has(self, column: str) -> bool:
        """Whether the index has ``column``."""
        return self.schema.get_field_index(column) >= 0


def _open_index(path: str, filesystem: pafs.FileSystem | None) -> ds.Dataset:
    """The index as a dataset; a single file keeps its footer.

    pyarrow reads a file's footer again for every scan of a dataset it discovered (on object
    storage a request or two per ``len``, ``head`` or ``subset``). A single-file index is
    therefore opened as one fragment whose metadata is read once and kept. A directory, or
    anything the single-file route cannot open, goes through :func:`open_parquet_dataset`
    (with its errors).
    """
    try:
        fs, where = resolve_path(path, filesystem)
        info = fs.get_file_info(where)
        if info.type == pafs.FileType.File:
            fmt = ds.ParquetFileFormat()
            fragment = fmt.make_fragment(where, fs, file_size=info.size)
            fragment.ensure_complete_metadata()
            return ds.FileSystemDataset([fragment], fragment.physical_schema, fmt, fs)
    except (OSError, pa.ArrowInvalid, ValueError):
        pass
    return open_parquet_dataset(path, filesystem=filesystem)[0]


def _first_rows(dataset: ds.Dataset, n: int, flt: ds.Expression | None) -> pa.Table:
    """The first ``n`` rows of ``dataset`` matching ``flt``, in dataset order.

    ``Dataset.head`` reads ahead: on a 1,000,000-row index it read every row group (the whole
    38 MB file) for five rows. Here row groups are visited in order, those that statistics
    exclude are skipped, the others are first counted on the filter's columns alone, and only
    row groups holding matches are read whole, until ``n`` rows are found.
    """
    schema = dataset.schema
    tables: list[pa.Table] = []
    need = n
    for fragment in dataset.get_fragments(filter=flt):
        pieces: list[ds.Fragment] = (
            list(fragment.split_by_row_group(flt))
            if isinstance(fragment, ds.ParquetFileFragment)
            else [fragment]
        )
        for piece in pieces:
            if need <= 0:
                break
            if flt is not None and piece.count_rows(filter=flt) == 0:
                continue
            got = piece.scanner(schema=schema, filter=flt).head(need)
            tables.append(got)
            need -= got.num_rows
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


@dataclass(frozen=True, slots=True)
class _Resolution:
    """A view's matching ids (index order), their shards (None: no ``source_part``) and the
    wide dataset to scan for them."""

    ids: pa.Array
    shards: list[str] | None
    dataset: ds.Dataset


@dataclass(frozen=True, slots=True, eq=False)
class RecordIndexProvider:
    """A view of a dual-surface collection.

    Attributes:
        index: The record index (shared by every view).
        wide: The wide collection data (shared by every view).
        index_filter: The view's filter on index columns.
        wide_filter: A raw filter on wide columns (0.4.1's ``wide_filter_expr``).
        staged: Criteria staged onto the wide scan, in their wide meaning.
        exact: Whether ``staged`` + ``wide_filter`` select exactly what ``index_filter`` does
            (when not, falling back to the wide data keeps the index's ids).

    A view resolves its selection (one index scan, then the shards opened) on first use and
    keeps it: ``schema``, ``to_table`` and every read of the same view share it. Narrowing
    makes a new view, which resolves its own.
    """

    index: IndexHandle
    wide: WideData
    index_filter: ds.Expression | None = None
    wide_filter: ds.Expression | None = None
    staged: tuple[Subset, ...] = ()
    exact: bool = True
    _resolved: list[_Resolution] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    kind = "record-index"

    def __getstate__(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _VIEW_FIELDS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_resolved", [])  # resolved again where it is unpickled
        object.__setattr__(self, "_lock", threading.Lock())

    @property
    def spec(self) -> RecordIndexSpec:
        """How the index maps onto the contract."""
        return self.index.spec

    # -- planning --------------------------------------------------------------------------

    def narrowed(self, criteria: Subset) -> DatasetProvider | RecordIndexProvider:
        """Push ``criteria`` onto the index; fall back to the wide data if it cannot serve them."""
        plan = translate(criteria, self.spec, self.index.schema)
        if isinstance(plan, Pushdown):
            return replace(
                self,
                index_filter=combine(self.index_filter, plan.index),
                staged=self.staged if plan.wide is None else (*self.staged, plan.wide),
                exact=self.exact and plan.wide is not None,
            )
        self._log_fallback(plan.criterion, plan.reason)
        return self.fallback().narrowed(on_wide(criteria, self.spec, self.index.schema))

    def where(self, expr: ds.Expression) -> DatasetProvider:
        """Raw expressions name wide columns: this view scans the wide data."""
        self._log_fallback(f"where({expr})", "raw expressions name collection-data columns")
        return self.fallback().where(expr)

    def _log_fallback(self, criterion: str, reason: str) -> None:
        log.warning(
            "%s cannot be evaluated on the record index %s (%s); this view scans the "
            "collection data %s instead, opening every shard",
            criterion,
            self.spec.path,
            reason,
            self.wide,
        )

    def fallback(self) -> DatasetProvider:
        """This view as a plain scan of the whole wide data (same records).

        The staged criteria select the view's records when every one of them applies to the
        wide data; otherwise the index's ids are added to the filter.
        """
        dataset = self.wide.everything()
        staged, complete = self.staged_expression(dataset.schema)
        flt = combine(self.wide_filter, staged)
        if self.index_filter is not None and not (self.exact and complete):
            ids = self.selection()[0]
            flt = combine(flt, ds.field(Col.ID).isin(_cast_ids(ids, dataset.schema)))
        return DatasetProvider(dataset, flt)

    def staged_expression(self, schema: pa.Schema) -> tuple[ds.Expression | None, bool]:
        """The staged criteria on the wide ``schema``, and whether all of them applied.

        A criterion whose column the wide data lacks is left out (the index's ids decide).
        """
        out: ds.Expression | None = None
        complete = True
        for criteria in self.staged:
            try:
                out = combine(out, criteria.expression(schema))
            except InvalidFilterError:
                complete = False
        return out, complete

    def resolved(self) -> _Resolution:
        """This view's ids, shards and wide dataset, resolved once and kept."""
        with self._lock:
            if not self._resolved:
                ids, shards = self.selection()
                if shards is not None and len(ids) and shards:
                    dataset = self.wide.shards(shards)
                else:
                    dataset = self.wide.everything()
                self._resolved.append(_Resolution(ids, shards, dataset))
            return self._resolved[0]

    def selection(self) -> tuple[pa.Array, list[str] | None]:
        """The matching ids (index order) and the distinct shards holding them (or None)."""
        index = self.index.dataset()
        id_col = self.spec.column(Col.ID)
        cols = [id_col] + ([SOURCE_PART] if self.index.has(SOURCE_PART) else [])
        missing = [c for c in cols if not self.index.has(c)]
        if missing:
            raise InvalidCollectionError(
                f"record index {self.spec.path} has no id column {id_col!r} (role 'id'); "
                f"columns: {self.index.schema.names}"
            )
        t = index.to_table(columns=cols, filter=self.index_filter)
        ids = t.column(0).combine_chunks()
        if SOURCE_PART not in t.column_names:
            return ids, None
        parts = pc.unique(t.column(SOURCE_PART).drop_null()).to_pylist()
        return ids, [str(p) for p in parts]

    # -- answers from the index ------------------------------------------------------------

    def count(self) -> int:
        """Matching index rows."""
        return self.index.dataset().count_rows(filter=self.index_filter)

    def _index_head(self, n: int) -> pa.Table:
        """The first ``n`` matching index rows, brought to the contract (no band metadata)."""
        from rasteret_ingest import normalize_table  # the ingest step that aliases and types

        spec = self.spec
        raw = _first_rows(self.index.dataset(), n, self.index_filter)
        return normalize_table(
            raw,
            column_map=spec.column_map,
            href_column=spec.href_column,
            band_index_map=spec.band_index_map,
            url_rewrite_patterns=dict(spec.url_rewrite_patterns or {}),
            required=(),
        )

    def head(self, n: int, columns: Sequence[str] | None) -> pa.Table:
        """The first ``n`` records from the index; the wide data only for columns it lacks."""
        table = self._index_head(n)
        if columns is None:
            return table
        cols = list(columns)
        if all(c in table.column_names for c in cols):
            return table.select(cols)
        ids = table.column(Col.ID).combine_chunks()
        narrowed = replace(self, index_filter=combine(self.index_filter, self._id_filter(ids)))
        return IndexedRecords(narrowed, CollectionInfo()).to_table(cols).slice(0, n)

    def _id_filter(self, ids: pa.Array) -> ds.Expression:
        id_col = self.spec.column(Col.ID)
        typ = self.index.schema.field(id_col).type
        return ds.field(id_col).isin(pc.cast(ids, typ))

    def bands(self) -> list[str]:
        """The band map's keys, else the wide data's ``{band}_metadata`` columns."""
        if self.spec.band_index_map:
            return list(self.spec.band_index_map)
        return [b for n in self.schema.names if (b := band_of_metadata_column(n))]

    def inspect(self, columns: Sequence[str]) -> pa.RecordBatchReader:
        """``bbox``, ``proj:epsg``, ``crs`` and ``collection`` from index roles.

        Only when the index has none of ``columns`` are they read from the wide data.
        """
        spec = self.spec
        sources: dict[str, str] = {}
        for c in columns:
            if c not in _INSPECTABLE:
                continue
            candidates = [spec.column(c)]
            if c == Col.CRS:  # the raster CRS, as text: the crs column, else proj:epsg's role
                candidates.append(spec.column(Col.PROJ_EPSG))
            found = next((src for src in candidates if self.index.has(src)), None)
            if found is not None:
                sources[c] = found
        if not sources:
            return IndexedRecords(self, CollectionInfo()).reader(
                [c for c in columns if self.schema.get_field_index(c) >= 0]
            )
        scanner = self.index.dataset().scanner(
            columns={c: ds.field(src) for c, src in sources.items()}, filter=self.index_filter
        )
        return scanner.to_reader()

    def metadata(self) -> dict[str, str]:
        """The index's schema metadata."""
        return schema_metadata(self.index.schema)

    # -- reads -------------------------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The wide data's schema (opens the first matching shard)."""
        return IndexedRecords(self, CollectionInfo()).schema

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """The matching records from the wide data."""
        return IndexedRecords(self, CollectionInfo()).to_table(columns, where=where)

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same records as :meth:`to_table`, batch by batch."""
        return IndexedRecords(self, CollectionInfo()).to_batches(columns, where=where)

    def to_reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """The matching records as a ``RecordBatchReader``."""
        return IndexedRecords(self, CollectionInfo()).reader(columns)

    def filtered_dataset(self) -> ds.Dataset:
        """The matching records as a dataset over the shards that hold them."""
        records = IndexedRecords(self, CollectionInfo())
        return records.dataset.filter(records.filter())

    def records(self, info: CollectionInfo) -> IndexedRecords:
        """The record source of this view (resolves the index once per read)."""
        return IndexedRecords(self, info)


#: The fields that define a view (what pickling keeps).
_VIEW_FIELDS = ("index", "wide", "index_filter", "wide_filter", "staged", "exact")


def _cast_ids(ids: pa.Array, schema: pa.Schema) -> pa.Array:
    """Index ids in the wide ``id`` type (AEF: ``fid`` int64 -> ``id`` string)."""
    idx = schema.get_field_index(Col.ID)
    if idx < 0:
        raise InvalidCollectionError("the collection data has no 'id' column")
    typ = schema.field(idx).type
    return ids if ids.type == typ else pc.cast(ids, typ)


class IndexedRecords:
    """The :class:`~rasteret.records.RecordSource` of a dual-surface view, for one read.

    The index is scanned once (:attr:`ids`, :attr:`shards`), the matching shards are opened
    once (:attr:`dataset`), then every ``to_table`` / ``to_batches`` call filters them.

    Args:
        provider: The view.
        info: Name, description, data source and date range of the view.
    """

    def __init__(self, provider: RecordIndexProvider, info: CollectionInfo) -> None:
        self.provider = provider
        self.info = info

    @property
    def ids(self) -> pa.Array:
        """Matching ids, in index order (index type)."""
        return self.provider.resolved().ids

    @property
    def shards(self) -> list[str] | None:
        """The wide shards holding them (None: the index has no ``source_part``)."""
        return self.provider.resolved().shards

    @property
    def dataset(self) -> ds.Dataset:
        """The wide data to scan: the matching shards, else the whole data."""
        return self.provider.resolved().dataset

    @property
    def schema(self) -> pa.Schema:
        """The wide data's schema."""
        return self.dataset.schema

    def filter(self, where: ds.Expression | None = None) -> ds.Expression:
        """``id`` among :attr:`ids`, the staged criteria, the raw wide filter and ``where``."""
        schema = self.schema
        flt: ds.Expression = ds.field(Col.ID).isin(_cast_ids(self.ids, schema))
        for extra in (self.provider.staged_expression(schema)[0], self.provider.wide_filter, where):
            if extra is not None:
                flt = flt & extra
        return flt

    def to_table(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> pa.Table:
        """The matching records (only ``columns``), narrowed by ``where``."""
        cols = None if columns is None else list(columns)
        if not len(self.ids):
            return projected_schema(self.schema, cols).empty_table()
        return self.dataset.to_table(columns=cols, filter=self.filter(where))

    def to_batches(
        self, columns: Sequence[str] | None = None, *, where: ds.Expression | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same records as :meth:`to_table`, batch by batch."""
        if not len(self.ids):
            return iter(())
        cols = None if columns is None else list(columns)
        return iter(self.dataset.to_batches(columns=cols, filter=self.filter(where)))

    def reader(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """The matching records as a ``RecordBatchReader``."""
        cols = None if columns is None else list(columns)
        if not len(self.ids):
            return pa.RecordBatchReader.from_batches(projected_schema(self.schema, cols), [])
        return self.dataset.scanner(columns=cols, filter=self.filter()).to_reader()
