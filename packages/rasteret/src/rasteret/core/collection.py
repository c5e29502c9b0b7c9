"""``Collection``: an immutable, filterable view over a table of indexed raster records.

A collection holds descriptive values and one immutable record *provider*
(:mod:`rasteret.core.provider`): a Parquet dataset, a dual-surface collection planned on its
record index (:mod:`rasteret.core.record_index`) or a streamed Hugging Face dataset
(:mod:`rasteret.core.hf_provider`). Filtering returns a view over a narrowed provider.
Reading pixels, exporting and feeding other libraries are components (:mod:`rasteret.read`,
:mod:`rasteret.core.export`) that take the view's :class:`~rasteret.records.RecordSource`
(:meth:`Collection._record_source`), never the collection itself; the read methods live in
:class:`~rasteret.core.reads.ReadMethods`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.core.dataset_provider import DatasetProvider
from rasteret.core.hf_source import HfStreamingSource, is_hf_uri
from rasteret.core.index_spec import RecordIndexSpec
from rasteret.core.inspection import InspectionMethods
from rasteret.core.opening import open_provider, provider_of
from rasteret.core.provider import RecordProvider
from rasteret.core.reads import ReadMethods
from rasteret.core.source import (
    check_contract,
    parse_date_range_metadata,
    schema_metadata,
)
from rasteret.core.tables import to_dataset
from rasteret.errors import InvalidCollectionError, InvalidFilterError, InvalidInputError
from rasteret.query.filters import Subset
from rasteret.records import CollectionInfo, RecordSource
from rasteret_catalog.schema import MetaKey

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs

    from rasteret_ingest import EnrichReport

__all__ = ["Collection", "as_collection"]


def _no_dataset() -> InvalidCollectionError:
    return InvalidCollectionError("this Collection has no dataset (it was created empty)")


def _columns(columns: Sequence[str] | None) -> list[str] | None:
    return list(columns) if columns is not None else None


def _index_spec(
    path: str | None,
    field_roles: dict[str, str] | None,
    column_map: dict[str, str] | None,
    href_column: str | None,
    band_index_map: dict[str, int] | None,
    url_rewrite_patterns: dict[str, str] | None,
    filesystem: Any,
    surface_fields: dict[str, list[str]] | None,
    filter_capabilities: dict[str, list[str]] | None,
) -> RecordIndexSpec | None:
    """The record index 0.4.1's ``record_index_*`` keywords describe (None without a path)."""
    if path is None:
        return None
    return RecordIndexSpec.build(
        path,
        field_roles=field_roles,
        column_map=column_map,
        href_column=href_column,
        band_index_map=band_index_map,
        url_rewrite_patterns=url_rewrite_patterns,
        filesystem=filesystem,
        surface_fields=surface_fields,
        filter_capabilities=filter_capabilities,
    )


class Collection(ReadMethods, InspectionMethods):
    """An immutable view over Arrow record metadata, one row per raster record.

    Every filtering method returns a new view; the underlying records are shared and never
    modified. Views keep ``name``, ``description``, ``data_source``, ``start_date`` and
    ``end_date``.

    The records are one of: a ``pyarrow.dataset.Dataset`` (``dataset``); a dual-surface
    collection, planned on a narrow record index (``record_index_path`` and the other
    ``record_index_*`` keywords, with the collection data at ``collection_path`` or in
    ``dataset``); or a streamed Hugging Face dataset (``hf_streaming``, as opened by
    ``from_parquet("hf://...")``). See ``docs/record-index.md``.

    Args:
        dataset: The records, as a ``pyarrow.dataset.Dataset`` (for a record index: the
            collection data it indexes).
        hf_streaming: A streamed ``hf://`` source (from ``Collection.from_parquet``).
        collection_path: Path / URI of the collection data (a record index's is opened when
            first needed; without a record index it is opened now).
        record_index_path: The narrow record index (Parquet file or directory).
        record_index_field_roles: Contract name -> index column (``{"id": "fid"...}``).
        record_index_column_map: Index column -> contract name.
        record_index_href_column: Index column of COG URLs.
        record_index_band_index_map: ``{band: sample index}``; its keys are the bands.
        record_index_url_rewrite_patterns: Prefix rewrites of the index's URLs.
        record_index_filesystem: ``pyarrow.fs.FileSystem`` for the index and the data.
        surface_fields: Fields each surface (``index``, ``collection``) carries.
        filter_capabilities: Filters each surface can evaluate.
        record_index_filter_expr: A filter on index columns (a view's index filter).
        wide_filter_expr: A filter on collection-data columns.
        name: Collection name.
        description: Free text.
        data_source: Data source / dataset id (drives band maps and cloud settings).
        start_date: First acquisition date covered, if known.
        end_date: Last acquisition date covered, if known.

    Raises:
        TypeError: ``dataset`` is not a ``pyarrow.dataset.Dataset``.
        ValueError: Both ``dataset`` and ``hf_streaming``, or invalid record-index keywords.
    """

    def __init__(
        self,
        dataset: ds.Dataset | None = None,
        hf_streaming: HfStreamingSource | None = None,
        collection_path: str | None = None,
        record_index_path: str | None = None,
        record_index_field_roles: dict[str, str] | None = None,
        record_index_column_map: dict[str, str] | None = None,
        record_index_href_column: str | None = None,
        record_index_band_index_map: dict[str, int] | None = None,
        record_index_url_rewrite_patterns: dict[str, str] | None = None,
        record_index_filesystem: Any | None = None,
        surface_fields: dict[str, list[str]] | None = None,
        filter_capabilities: dict[str, list[str]] | None = None,
        record_index_filter_expr: ds.Expression | None = None,
        wide_filter_expr: ds.Expression | None = None,
        name: str = "",
        description: str = "",
        data_source: str = "",
        start_date: _dt.datetime | None = None,
        end_date: _dt.datetime | None = None,
    ) -> None:
        if dataset is not None and not isinstance(dataset, ds.Dataset):
            raise TypeError(
                f"dataset must be a pyarrow.dataset.Dataset, got {type(dataset).__name__}; "
                "use rasteret.as_collection() for tables and other Arrow objects"
            )
        if dataset is not None and hf_streaming is not None:
            raise InvalidInputError(
                "a Collection is backed by a dataset or by an HF streaming source, not both"
            )
        if hf_streaming is not None and not isinstance(hf_streaming, HfStreamingSource):
            raise TypeError(
                "hf_streaming must be the source of Collection.from_parquet('hf://...'), got "
                f"{type(hf_streaming).__name__}"
            )
        spec = _index_spec(
            record_index_path,
            record_index_field_roles,
            record_index_column_map,
            record_index_href_column,
            record_index_band_index_map,
            record_index_url_rewrite_patterns,
            record_index_filesystem,
            surface_fields,
            filter_capabilities,
        )
        self._provider: RecordProvider | None = provider_of(
            dataset,
            hf_streaming,
            collection_path,
            spec,
            record_index_filter_expr,
            wide_filter_expr,
        )
        self.name = name or ""
        self.description = description or ""
        self.data_source = data_source or ""
        self.start_date = start_date
        self.end_date = end_date
        self._inherited_dates: tuple[_dt.datetime | None, _dt.datetime | None] | None = None
        self.build_report: EnrichReport | None = None
        """Header-enrichment report of the build that returned this collection (every
        failed (record, band) in ``.failures``); None when not built or reused from cache."""

    # -- construction ------------------------------------------------------------------------

    def _view(self, provider: RecordProvider) -> Collection:
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out._provider = provider
        # the dates this view inherited: its records may span less (export writes theirs)
        out._inherited_dates = (self.start_date, self.end_date)
        return out

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike[str],
        name: str = "",
        *,
        data_source: str = "",
        defer_dataset_open: bool = False,
        record_index_path: str | None = None,
        record_index_field_roles: dict[str, str] | None = None,
        record_index_column_map: dict[str, str] | None = None,
        record_index_href_column: str | None = None,
        record_index_band_index_map: dict[str, int] | None = None,
        record_index_url_rewrite_patterns: dict[str, str] | None = None,
        record_index_filesystem: Any = None,
        surface_fields: dict[str, list[str]] | None = None,
        filter_capabilities: dict[str, list[str]] | None = None,
    ) -> Collection:
        """Open a Parquet collection, a dual-surface collection or an ``hf://`` dataset.

        - A Parquet file or (Hive-partitioned) directory written by rasteret (or 0.4.1).
          ``name`` falls back to the ``name`` schema metadata, then the path stem;
          ``data_source``, ``description`` and the date range come from schema metadata.
        - With ``record_index_path``: ``path`` is the wide collection data and the narrow
          record index plans every query (``len``, ``head``, ``bands``, ``epsg``, ``crs``,
          ``bounds`` and ``subset`` never open the wide data; reads open only the shards
          the index names). The other ``record_index_*`` keywords, ``surface_fields`` and
          ``filter_capabilities`` say how the index maps onto the contract (0.4.1
          semantics; see ``docs/record-index.md``). Descriptive values come from the index's
          metadata.
        - ``hf://datasets/<org>/<name>[@revision][/subpath]``: a streaming collection (rows
          are streamed from the Hub; ``len()`` raises TypeError, ``where()``
          NotImplementedError). Needs ``rasteret[hf]``.

        ``defer_dataset_open`` has no effect (opening a dataset reads only its file list and
        schema, and the wide data of a record index is always opened on first use).

        Raises:
            FileNotFoundError: A local path does not exist, or an ``hf://`` repo / revision
                is not found.
            ValueError: Required columns are missing, the bbox struct is missing,
                ``datetime`` is not a UTC / naive Arrow timestamp, or a record-index keyword
                is invalid.
        """
        if record_index_path is not None and is_hf_uri(path):
            raise InvalidInputError(
                "record_index_path cannot be combined with an hf:// streaming collection"
            )
        spec = _index_spec(
            record_index_path,
            record_index_field_roles,
            record_index_column_map,
            record_index_href_column,
            record_index_band_index_map,
            record_index_url_rewrite_patterns,
            record_index_filesystem,
            surface_fields,
            filter_capabilities,
        )
        return cls._open(path, name=name, data_source=data_source, record_index=spec)

    @classmethod
    def _open(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str = "",
        data_source: str = "",
        filesystem: pyarrow.fs.FileSystem | None = None,
        record_index: RecordIndexSpec | None = None,
    ) -> Collection:
        provider, info = open_provider(
            path,
            name=name,
            data_source=data_source,
            filesystem=filesystem,
            record_index=record_index,
        )
        return cls._of(provider, info)

    @classmethod
    def _of(cls, provider: RecordProvider | ds.Dataset, info: CollectionInfo) -> Collection:
        out = cls(
            name=info.name,
            description=info.description,
            data_source=info.data_source,
            start_date=info.start_date,
            end_date=info.end_date,
        )
        out._provider = DatasetProvider(provider) if isinstance(provider, ds.Dataset) else provider
        return out

    @classmethod
    def from_arrow(cls, data: Any, **kwargs: Any) -> Collection:
        """Same as :func:`rasteret.as_collection` (keywords as there)."""
        return as_collection(data, **kwargs)

    @classmethod
    def create_name(cls, custom_name: str, date_range: tuple[str, str], data_source: str) -> str:
        """Cache name ``{custom}_{YYYYMM-MM}_{source}`` used for STAC workspace directories."""
        from rasteret_ingest import create_name

        return create_name(custom_name, date_range, data_source)

    @classmethod
    def parse_name(cls, name: str) -> dict[str, str | None]:
        """Split a cache name into ``name``, ``custom_name`` and ``data_source`` (never raises)."""
        from rasteret_ingest import parse_name

        return parse_name(name)

    @classmethod
    def list_collections(
        cls, workspace_dir: str | os.PathLike[str] | None = None
    ) -> list[dict[str, Any]]:
        """Cached collections (``*_stac`` / ``*_records`` dirs) of a workspace.

        Each dict has ``name``, ``kind``, ``data_source``, ``date_range``, ``size`` and
        ``created``. Unreadable directories are skipped.
        """
        from rasteret.core.workspace import list_collections

        return list_collections(workspace_dir)

    # -- state ---------------------------------------------------------------------------------

    @property
    def dataset(self) -> ds.Dataset | None:
        """The records as a dataset, with this view's filters applied.

        ``None`` for an empty collection and a streamed ``hf://`` one. For a record-index
        collection, a dataset over the wide shards holding the view's records (this opens
        them).
        """
        return None if self._provider is None else self._provider.filtered_dataset()

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the records (for a record index: the collection data's)."""
        return self._require().schema

    def _require(self) -> RecordProvider:
        if self._provider is None:
            raise _no_dataset()
        return self._provider

    def _info(self) -> CollectionInfo:
        return CollectionInfo(
            self.name, self.description, self.data_source, self.start_date, self.end_date
        )

    def _record_source(self) -> RecordSource:
        """This view's records, for the read / export / integration components."""
        return self._require().records(self._info())

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.pop("_engine_state", None)  # held by collections pickled before 0.5
        if "_provider" not in state:  # pickled before record providers existed
            dataset = state.pop("_dataset", None)
            table = state.pop("_in_memory_table", None)
            if table is not None:
                dataset = ds.dataset(table)
            flt = state.pop("_filter", None)
            state["_provider"] = None if dataset is None else DatasetProvider(dataset, flt)
        self.__dict__.update(state)

    def __dir__(self) -> list[str]:
        return sorted(n for n in set(dir(type(self))) | set(self.__dict__) if not n.startswith("_"))

    # -- tables --------------------------------------------------------------------------------

    def to_table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The filtered records as a ``pyarrow.Table``."""
        return self._require().to_table(_columns(columns))

    def to_batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Iterate the filtered records as ``pyarrow.RecordBatch`` es."""
        return self._require().to_batches(_columns(columns))

    def to_reader(
        self, columns: Sequence[str] | None = None, requested_schema: Any = None
    ) -> pa.RecordBatchReader:
        """A ``RecordBatchReader`` of the filtered records, geometry tagged GeoArrow CRS84.

        Raises:
            NotImplementedError: ``requested_schema`` cannot be produced from this schema.
        """
        from rasteret.core.arrow_export import cast_reader, import_requested_schema, tagged_reader

        reader = tagged_reader(self._require().to_reader(_columns(columns)))
        target = import_requested_schema(requested_schema)
        return reader if target is None else cast_reader(reader, target)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.to_batches()

    def __len__(self) -> int:
        return self._require().count()

    def head(self, n: int = 5, columns: Sequence[str] | None = None) -> pa.Table:
        """The first ``n`` filtered records (a record-index collection answers from its index).

        Raises:
            ValueError: ``n`` is negative.
        """
        if not isinstance(n, int) or n < 0:
            raise InvalidFilterError(f"head(n) needs a non-negative integer, got {n!r}")
        return self._require().head(n, _columns(columns))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """Arrow PyCapsule stream of the filtered records (geometry as GeoArrow CRS84)."""
        return self.to_reader(requested_schema=requested_schema).__arrow_c_stream__()

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        """The filtered records as one Arrow record batch (schema + array capsules)."""
        from rasteret.core.arrow_export import one_batch

        return one_batch(self.to_table(), requested_schema).__arrow_c_array__()

    def __arrow_c_schema__(self) -> Any:
        """Arrow PyCapsule of the schema (geometry tagged GeoArrow CRS84)."""
        from rasteret.core.arrow_export import tag_geometry

        return tag_geometry(self._require().schema).__arrow_c_schema__()

    # -- filtering -----------------------------------------------------------------------------

    def subset(
        self,
        *,
        cloud_cover_lt: float | None = None,
        date_range: tuple[Any, Any] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        geometries: Any = None,
        split: str | Sequence[str] | None = None,
        split_column: str = "split",
    ) -> Collection:
        """A view keeping records that match every given criterion.

        On a record-index collection the criteria run on the index (an integer-year
        ``datetime`` matches every year the range touches); a criterion the index cannot
        evaluate makes the view scan the collection data instead, with a warning on the
        ``rasteret`` logger. On an ``hf://`` collection they prune row groups.

        Args:
            cloud_cover_lt: Keep ``eo:cloud_cover < value`` (0-100).
            date_range: ``(start, end)``, both inclusive; a date-only end includes that
                whole day (``"2024-01"`` / ``"2024"`` include the whole month / year).
            bbox: ``(minx, miny, maxx, maxy)`` in lon/lat; records whose bbox overlaps it.
            geometries: Geometries (lon/lat); records overlapping any geometry's bbox.
            split: A split name, or a list of names, matched on ``split_column``.
            split_column: Column holding split names.

        Raises:
            ValueError: No criterion, an invalid value, or a needed column is missing.
        """
        criteria = Subset.build(
            cloud_cover_lt=cloud_cover_lt,
            date_range=date_range,
            bbox=bbox,
            geometries=geometries,
            split=split,
            split_column=split_column,
        )
        return self._subset(criteria)

    def _subset(self, criteria: Subset | None) -> Collection:
        """A view keeping records matching ``criteria`` (this view when None)."""
        if criteria is None:
            return self
        return self._view(self._require().narrowed(criteria))

    def where(self, expr: ds.Expression) -> Collection:
        """A view keeping records matching a raw ``pyarrow.dataset`` expression.

        On a record-index collection the expression names collection-data columns, so the
        view scans the collection data (logged).

        Raises:
            TypeError: ``expr`` is not a ``pyarrow.dataset.Expression``.
            NotImplementedError: On an ``hf://`` streaming collection (use ``subset``).
        """
        if not isinstance(expr, ds.Expression):
            raise TypeError(
                f"where() needs a pyarrow.dataset.Expression such as "
                f"pyarrow.dataset.field('eo:cloud_cover') < 10, got {type(expr).__name__}"
            )
        if self._provider is None:
            return self
        return self._view(self._provider.where(expr))

    def select_split(
        self, split: str | Sequence[str], *, split_column: str = "split"
    ) -> Collection:
        """Shorthand for ``subset(split=split, split_column=split_column)``."""
        return self.subset(split=split, split_column=split_column)

    # -- persistence ---------------------------------------------------------------------------

    def export(
        self, path: str | os.PathLike[str], partition_by: Sequence[str] = ("year", "month")
    ) -> None:
        """Write the filtered records as a Hive-partitioned Parquet collection.

        Schema metadata always reflects this view's *current* ``name``, ``description``,
        ``data_source`` and date range (metadata carried over from the source is replaced).
        The date range written is ``start_date`` / ``end_date`` as loaded or assigned; a
        filtered view (``subset``, ``where``) writes its records' first and last
        ``datetime`` instead, unless its dates were assigned on the view itself (a view
        inherits the dates of the collection it filters, which its records may not span).
        The write is atomic: ``path`` is replaced only once the new files are complete.

        Raises:
            ValueError: The collection has no dataset, or a partition column is missing.
        """
        # the ingest pipeline's writer is not needed to open or read a collection
        from rasteret.core.export import export_records

        inherited = self.__dict__.get("_inherited_dates")  # absent when pickled before
        stale = inherited is not None and inherited == (self.start_date, self.end_date)
        export_records(self._record_source(), path, partition_by, dates_from_records=stale)


def as_collection(
    table: Any,
    *,
    name: str = "",
    data_source: str = "",
    description: str = "",
    start_date: _dt.datetime | None = None,
    end_date: _dt.datetime | None = None,
    require_band_metadata: bool = True,
) -> Collection:
    """Wrap an Arrow table of records as a Collection (no normalisation, no persistence).

    Accepts a ``pyarrow.dataset.Dataset`` (kept lazy), ``Table``, ``RecordBatch``,
    ``RecordBatchReader`` or any Arrow PyCapsule producer (DuckDB, Polars...).

    Raises:
        ValueError: Missing required columns (``id, datetime, geometry, assets, bbox``), a
            non-UTC / non-timestamp ``datetime``, or (with ``require_band_metadata``) missing
            or malformed ``*_metadata`` columns.
        TypeError: ``start_date`` / ``end_date`` are not datetimes, or an unsupported input.
    """
    for label, value in (("start_date", start_date), ("end_date", end_date)):
        if value is not None and not isinstance(value, _dt.datetime):
            raise TypeError(f"{label} must be a datetime.datetime, got {type(value).__name__}")
    dataset = to_dataset(table)
    check_contract(
        dataset.schema, where="as_collection()", require_band_metadata=require_band_metadata
    )
    meta = schema_metadata(dataset.schema)
    meta_start, meta_end = parse_date_range_metadata(meta)
    out = Collection(
        dataset,
        name=name or meta.get(MetaKey.NAME, ""),
        description=description or meta.get(MetaKey.DESCRIPTION, ""),
        data_source=data_source,
        start_date=start_date or meta_start,
        end_date=end_date or meta_end,
    )
    if not out.data_source:
        out.data_source = out._infer_data_source(None)
    return out
