"""``Collection``: an immutable, filterable view over a table of indexed raster records.

A collection holds data and filters. Reading pixels, exporting and feeding other libraries
are components (:mod:`rasteret.read`, :mod:`rasteret.core.export`) that take the view's
:class:`~rasteret.records.RecordSource` (:meth:`Collection._record_source`), never the
collection itself; the read methods live in :class:`~rasteret.core.reads.ReadMethods`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from rasteret.core.describe import (
    DescribeResult,
    catalog_comparison,
    collection_repr,
    summary_rows,
)
from rasteret.core.reads import ReadMethods
from rasteret.core.source import (
    DatasetRecords,
    check_contract,
    open_collection,
    parse_date_range_metadata,
    schema_metadata,
)
from rasteret.core.tables import to_dataset
from rasteret.errors import InvalidCollectionError, InvalidFilterError
from rasteret.query.filters import Subset, combine
from rasteret.records import CollectionInfo
from rasteret_catalog import DatasetRegistry
from rasteret_catalog.schema import BboxField, Col, MetaKey, band_of_metadata_column

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs

    from rasteret_ingest import EnrichReport

__all__ = ["Collection", "as_collection"]


def _no_dataset() -> InvalidCollectionError:
    return InvalidCollectionError("this Collection has no dataset (it was created empty)")


def _columns(columns: Sequence[str] | None) -> list[str] | None:
    return list(columns) if columns is not None else None


class Collection(ReadMethods):
    """An immutable view over Arrow record metadata, one row per raster record.

    Every filtering method returns a new view; the underlying ``pyarrow.dataset.Dataset`` is
    shared and never modified. Views keep ``name``, ``description``, ``data_source``,
    ``start_date`` and ``end_date``.

    Args:
        dataset: The records, as a ``pyarrow.dataset.Dataset``.
        name: Collection name.
        description: Free text.
        data_source: Data source / dataset id (drives band maps and cloud settings).
        start_date: First acquisition date covered, if known.
        end_date: Last acquisition date covered, if known.

    Raises:
        TypeError: ``dataset`` is not a ``pyarrow.dataset.Dataset``.
    """

    def __init__(
        self,
        dataset: ds.Dataset | None = None,
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
        self._dataset = dataset
        self._filter: ds.Expression | None = None
        self.name = name or ""
        self.description = description or ""
        self.data_source = data_source or ""
        self.start_date = start_date
        self.end_date = end_date
        self.build_report: EnrichReport | None = None
        """Header-enrichment report of the build that returned this collection (every
        failed (record, band) in ``.failures``); None when not built or reused from cache."""

    # -- construction ------------------------------------------------------------------------

    def _view(self, extra: ds.Expression | None) -> Collection:
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out._filter = combine(self._filter, extra)
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
        """Open a Parquet file or Hive-partitioned directory written by rasteret (or 0.4.1).

        ``name`` falls back to the ``name`` schema metadata, then the path stem;
        ``data_source``, ``description`` and the date range come from schema metadata.

        The dual-surface keywords of 0.4.1 (``record_index_*``, ``surface_fields``,
        ``filter_capabilities``) are part of the signature, but record-index collections are
        not implemented yet: ``record_index_path`` raises, and the other dual-surface keywords
        have no effect without it. ``defer_dataset_open`` has no effect either (opening a
        dataset reads only its file list and schema).

        Raises:
            FileNotFoundError: A local path does not exist.
            ValueError: Required columns are missing, the bbox struct is missing, or
                ``datetime`` is not a UTC / naive Arrow timestamp.
            NotImplementedError: ``record_index_path`` was given.
        """
        if record_index_path is not None:
            raise NotImplementedError(
                "record-index (dual-surface) collections are not supported yet; "
                "open the wide collection path directly"
            )
        return cls._open(path, name=name, data_source=data_source)

    @classmethod
    def _open(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str = "",
        data_source: str = "",
        filesystem: pyarrow.fs.FileSystem | None = None,
    ) -> Collection:
        dataset, info = open_collection(
            path, name=name, data_source=data_source, filesystem=filesystem
        )
        return cls._of(dataset, info)

    @classmethod
    def _of(cls, dataset: ds.Dataset, info: CollectionInfo) -> Collection:
        return cls(
            dataset,
            name=info.name,
            description=info.description,
            data_source=info.data_source,
            start_date=info.start_date,
            end_date=info.end_date,
        )

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
        """The records as a dataset, with this view's filters applied (``None`` if empty)."""
        if self._dataset is None or self._filter is None:
            return self._dataset
        return self._dataset.filter(self._filter)

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the records."""
        return self._require().schema

    def _require(self) -> ds.Dataset:
        if self._dataset is None:
            raise _no_dataset()
        return self._dataset

    def _info(self) -> CollectionInfo:
        return CollectionInfo(
            self.name, self.description, self.data_source, self.start_date, self.end_date
        )

    def _record_source(self) -> DatasetRecords:
        """This view's records, for the read / export / integration components."""
        return DatasetRecords(self._require(), self._filter, self._info())

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self._dataset, ds.InMemoryDataset):
            # in-memory datasets do not pickle; their table does (file datasets pickle their
            # file list, format, partitioning and filesystem, not their contents)
            state["_dataset"] = None
            state["_in_memory_table"] = self._dataset.to_table()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        table = state.pop("_in_memory_table", None)
        state.pop("_engine_state", None)  # held by collections pickled before 0.5
        self.__dict__.update(state)
        if table is not None:
            self._dataset = ds.dataset(table)

    def __dir__(self) -> list[str]:
        return sorted(n for n in set(dir(type(self))) | set(self.__dict__) if not n.startswith("_"))

    # -- tables --------------------------------------------------------------------------------

    def to_table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The filtered records as a ``pyarrow.Table``."""
        return self._require().to_table(columns=_columns(columns), filter=self._filter)

    def to_batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Iterate the filtered records as ``pyarrow.RecordBatch`` es."""
        return iter(self._require().to_batches(columns=_columns(columns), filter=self._filter))

    def to_reader(
        self, columns: Sequence[str] | None = None, requested_schema: Any = None
    ) -> pa.RecordBatchReader:
        """A ``RecordBatchReader`` of the filtered records, geometry tagged GeoArrow CRS84.

        Raises:
            NotImplementedError: ``requested_schema`` cannot be produced from this schema.
        """
        from rasteret.core.arrow_export import cast_reader, import_requested_schema, tagged_reader

        scanner = self._require().scanner(columns=_columns(columns), filter=self._filter)
        reader = tagged_reader(scanner.to_reader())
        target = import_requested_schema(requested_schema)
        return reader if target is None else cast_reader(reader, target)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.to_batches()

    def __len__(self) -> int:
        return self._require().count_rows(filter=self._filter)

    def head(self, n: int = 5, columns: Sequence[str] | None = None) -> pa.Table:
        """The first ``n`` filtered records.

        Raises:
            ValueError: ``n`` is negative.
        """
        if not isinstance(n, int) or n < 0:
            raise InvalidFilterError(f"head(n) needs a non-negative integer, got {n!r}")
        cols = _columns(columns)
        if n == 0:
            return self.to_table(cols).slice(0, 0)
        return self._require().head(n, columns=cols, filter=self._filter)

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
        return self._view(criteria.expression(self.schema))

    def where(self, expr: ds.Expression) -> Collection:
        """A view keeping records matching a raw ``pyarrow.dataset`` expression.

        Raises:
            TypeError: ``expr`` is not a ``pyarrow.dataset.Expression``.
        """
        if not isinstance(expr, ds.Expression):
            raise TypeError(
                f"where() needs a pyarrow.dataset.Expression such as "
                f"pyarrow.dataset.field('eo:cloud_cover') < 10, got {type(expr).__name__}"
            )
        if self._dataset is None:
            return self
        return self._view(expr)

    def select_split(
        self, split: str | Sequence[str], *, split_column: str = "split"
    ) -> Collection:
        """Shorthand for ``subset(split=split, split_column=split_column)``."""
        return self.subset(split=split, split_column=split_column)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def bands(self) -> list[str]:
        """Band codes of the ``{band}_metadata`` columns, in schema order."""
        if self._dataset is None:
            return []
        return [b for n in self._dataset.schema.names if (b := band_of_metadata_column(n))]

    def _has(self, column: str) -> bool:
        return self._dataset is not None and self._dataset.schema.get_field_index(column) >= 0

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(minx, miny, maxx, maxy)`` in lon/lat over the filtered records, or ``None``."""
        if not self._has(Col.BBOX) or not pa.types.is_struct(self.schema.field(Col.BBOX).type):
            return None
        cols = {k.value: ds.field(Col.BBOX, k.value) for k in BboxField}
        t = self._require().to_table(columns=cols, filter=self._filter)
        if t.num_rows == 0:
            return None
        vals = (
            pc.min(t[BboxField.XMIN]).as_py(),
            pc.min(t[BboxField.YMIN]).as_py(),
            pc.max(t[BboxField.XMAX]).as_py(),
            pc.max(t[BboxField.YMAX]).as_py(),
        )
        if any(v is None for v in vals):
            return None
        xmin, ymin, xmax, ymax = (float(v) for v in vals)
        return xmin, ymin, xmax, ymax

    @property
    def epsg(self) -> list[int]:
        """Sorted distinct raster EPSG codes (``proj:epsg``) of the filtered records."""
        if not self._has(Col.PROJ_EPSG):
            return []
        col = self.to_table([Col.PROJ_EPSG]).column(0)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            return sorted({int(v) for v in col.to_pylist() if v not in (None, "")})
        return sorted(int(v) for v in pc.unique(col.drop_null()).to_pylist())

    @property
    def crs(self) -> list[str]:
        """Sorted distinct raster CRSs (``"EPSG:32632"``...) from ``crs``, else ``proj:epsg``."""
        from rasteret.read.footprints import record_crs

        cols = [c for c in (Col.CRS, Col.PROJ_EPSG) if self._has(c)]
        if not cols:
            return []
        t = self.to_table(cols)
        none = [None] * t.num_rows
        crs_vals = t.column(Col.CRS).to_pylist() if Col.CRS in cols else none
        epsg_vals = t.column(Col.PROJ_EPSG).to_pylist() if Col.PROJ_EPSG in cols else none
        found = {record_crs(c, e) for c, e in zip(crs_vals, epsg_vals, strict=True)}
        return sorted(c for c in found if c is not None)

    def _infer_data_source(self, data_source: str | None) -> str:
        """Explicit argument, else ``data_source``, else metadata, else the ``collection`` column."""
        if data_source:
            return data_source
        if self.data_source:
            return self.data_source
        if self._dataset is None:
            return ""
        meta = schema_metadata(self._dataset.schema).get(MetaKey.DATA_SOURCE, "")
        if meta and meta != "unknown":
            return meta
        if self._has(Col.COLLECTION):
            flt = combine(self._filter, ds.field(Col.COLLECTION).is_valid())
            for batch in self._dataset.to_batches(columns=[Col.COLLECTION], filter=flt):
                for value in batch.column(0).to_pylist():
                    if value:
                        return str(value)
        return ""

    def _date_text(self) -> str | None:
        if self.start_date is None or self.end_date is None:
            return None
        return f"{self.start_date.date().isoformat()}..{self.end_date.date().isoformat()}"

    def __repr__(self) -> str:
        if self._dataset is None:
            return f"Collection({self.name!r}, records=0)"
        try:
            records: int | None = len(self)
            epsg = self.epsg
        except (OSError, pa.ArrowException):
            records, epsg = None, []
        return collection_repr(
            self.name, self.data_source, len(self.bands), records, epsg, self._date_text()
        )

    def _summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "records": len(self) if self._dataset is not None else 0,
            "bands": self.bands,
            "bounds": self.bounds if self._dataset is not None else None,
            "crs": self.epsg if self._dataset is not None else [],
        }
        if self.start_date is not None and self.end_date is not None:
            data["dates"] = (
                self.start_date.date().isoformat(),
                self.end_date.date().isoformat(),
            )
        if self.data_source:
            data["source"] = self.data_source
        return data

    def describe(self) -> DescribeResult:
        """A summary (name, records, bands, bounds, crs, dates, source) for display."""
        data = self._summary()
        return DescribeResult(f"Collection {self.name!r}", data, summary_rows(data))

    def _repr_html_(self) -> str:
        return self.describe()._repr_html_()

    def compare_to_catalog(self) -> DescribeResult:
        """Compare this collection with its catalog entry (found from ``data_source``).

        Raises:
            ValueError: No catalog descriptor matches ``data_source``.
        """
        d = DatasetRegistry.get(self.data_source) if self.data_source else None
        if d is None and self.data_source:
            d = next(
                (x for x in DatasetRegistry.list() if x.stac_collection == self.data_source), None
            )
        if d is None:
            raise InvalidCollectionError(
                f"no catalog dataset matches data_source {self.data_source!r}; "
                "see `rasteret datasets list`"
            )
        return catalog_comparison(f"Collection {self.name!r}", self._summary(), d)

    # -- persistence ---------------------------------------------------------------------------

    def export(
        self, path: str | os.PathLike[str], partition_by: Sequence[str] = ("year", "month")
    ) -> None:
        """Write the filtered records as a Hive-partitioned Parquet collection.

        Schema metadata always reflects this view's *current* ``name``, ``description``,
        ``data_source`` and date range (metadata carried over from the source is replaced).
        The write is atomic: ``path`` is replaced only once the new files are complete.

        Raises:
            ValueError: The collection has no dataset, or a partition column is missing.
        """
        # the ingest pipeline's writer is not needed to open or read a collection
        from rasteret.core.export import export_records

        export_records(self._record_source(), path, partition_by)


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
