"""Streaming scans of a Hub dataset's Parquet files, row groups pruned by their statistics.

For each file, :func:`scan` reads the footer, keeps the row groups whose column statistics
may satisfy the view's criteria (:func:`rasteret.query.dnf.may_match`), reads only those row
groups and only the needed columns (pyarrow pre-buffers their column chunks, so each row
group costs one or a few range requests), applies the exact filter and yields the rows.
Bytes of pruned row groups are never requested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.core.hf_source import (
    HfStreamingSource,
    HfUri,
    file_metadata,
    hf_filesystem,
    open_hf_file,
    open_hf_source,
)
from rasteret.core.provider import projected_schema
from rasteret.errors import InvalidCollectionError, InvalidInputError
from rasteret.query.dnf import ColumnStats, Dnf, FieldPath, criteria_dnf, may_match
from rasteret.query.filters import combine
from rasteret_catalog.schema import Col

__all__ = ["BATCH_ROWS", "HfTable", "exact_filter", "kept_row_groups", "scan"]

BATCH_ROWS = 8192
"""Rows per streamed batch."""

_CRITERIA_COLUMNS = {
    "cloud_cover_lt": (Col.CLOUD_COVER,),
    "date_range": (Col.DATETIME,),
    "bbox": (Col.BBOX,),
    "geometry_boxes": (Col.BBOX,),
}


def exact_filter(source: HfStreamingSource, where: ds.Expression | None) -> ds.Expression | None:
    """The view's criteria and ``where`` as one Arrow expression."""
    out = where
    for c in source.criteria:
        out = combine(out, c.expression(source.schema))
    return out


def _filter_columns(source: HfStreamingSource, where: ds.Expression | None) -> set[str]:
    """Columns the exact filter reads (``where``'s are found in its text; an over-estimate)."""
    out: set[str] = set()
    for c in source.criteria:
        for attr, cols in _CRITERIA_COLUMNS.items():
            if getattr(c, attr) is not None:
                out.update(cols)
        if c.split is not None:
            out.add(c.split_column)
    if where is not None:
        text = str(where)
        out.update(
            n for n in source.schema.names if re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", text)
        )
    return out


def _stats_lookup(
    meta: Any, rg: int, index: dict[str, int]
) -> Callable[[FieldPath], ColumnStats | None]:
    """Column statistics of row group ``rg`` by field path (``"id"``, ``("bbox", "xmin")``).

    ``index`` maps dotted leaf paths to column indexes.
    """
    group = meta.row_group(rg)

    def get(path: FieldPath) -> ColumnStats | None:
        key = path if isinstance(path, str) else ".".join(path)
        i = index.get(key)
        if i is None:
            return None
        st = group.column(i).statistics
        if st is None:
            return None
        all_null = bool(st.has_null_count and st.null_count == group.num_rows)
        if not st.has_min_max:
            return ColumnStats(None, None, all_null)
        return ColumnStats(st.min, st.max, all_null)

    return get


def kept_row_groups(meta: Any, dnf: Dnf | None) -> list[int]:
    """Row groups of a file (its ``FileMetaData``) that may hold rows matching ``dnf``."""
    groups = range(meta.num_row_groups)
    if dnf is None:
        return list(groups)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    return [i for i in groups if may_match(dnf, _stats_lookup(meta, i, index))]


def _conform(table: pa.Table, target: pa.Schema, file: str) -> pa.Table:
    """``table`` (one file's rows) in the collection's schema ``target``."""
    if table.schema.equals(target, check_metadata=False):
        return table
    arrays = []
    for f in target:
        if f.name in table.column_names:
            col = table.column(f.name)
            try:
                arrays.append(col if col.type == f.type else col.cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidCollectionError(
                    f"{file}: column {f.name!r} is {col.type}, not {f.type} as in the first "
                    f"file of the collection ({exc})"
                ) from None
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=target)


def scan(
    source: HfStreamingSource,
    columns: Sequence[str] | None = None,
    *,
    where: ds.Expression | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream the records of ``source`` matching its criteria (and ``where``).

    Args:
        source: The files, schema and criteria.
        columns: Columns to return (default all), in this order.
        where: One more filter on record columns.
        batch_rows: Rows read per batch.

    Raises:
        InvalidInputError: A requested column is not in the collection.
        InvalidCollectionError: A file's column cannot be cast to the collection's type.
    """
    import pyarrow.parquet as pq

    wanted = list(columns) if columns is not None else list(source.schema.names)
    unknown = [c for c in wanted if source.schema.get_field_index(c) < 0]
    if unknown:
        raise InvalidInputError(
            f"columns {unknown} are not in {source.uri} (columns: {source.schema.names})"
        )
    flt = exact_filter(source, where)
    needed = list(dict.fromkeys([*wanted, *sorted(_filter_columns(source, where))]))
    out_schema = projected_schema(source.schema, wanted)
    dnf = criteria_dnf(source.criteria)
    fs = hf_filesystem()
    for file in source.files:
        meta = file_metadata(source.path(file))
        keep = kept_row_groups(meta, dnf)
        if not keep:
            continue
        with open_hf_file(fs, source.path(file)) as f:
            pf = pq.ParquetFile(f, metadata=meta, pre_buffer=True)
            present = [c for c in needed if c in pf.schema_arrow.names]
            read_schema = projected_schema(source.schema, needed)
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=keep, columns=present):
                table = _conform(pa.Table.from_batches([batch]), read_schema, file)
                if flt is not None:
                    table = table.filter(flt)
                if table.num_rows:
                    yield from _conform(table.select(wanted), out_schema, file).to_batches()


class HfTable:
    """An ``hf://`` dataset read in full when first asked for (``build_from_table`` input).

    The files are streamed with ``columns`` and ``filter_expr`` applied batch by batch, so only
    the matching rows are held in memory. ``to_arrow_table`` is what rasteret_ingest calls on
    Arrow-like inputs; a cached build is reused without reading the Hub.

    Args:
        uri: ``hf://datasets/<org>/<name>[@revision][/subpath]``.
        columns: Columns to keep (default all).
        filter_expr: A ``pyarrow`` expression on record columns.
    """

    def __init__(
        self,
        uri: str,
        columns: Sequence[str] | None = None,
        filter_expr: ds.Expression | None = None,
    ) -> None:
        self.uri = uri
        self.columns = None if columns is None else list(columns)
        self.filter_expr = filter_expr

    @property
    def name(self) -> str:
        """Default collection name: the file stem of a ``.parquet`` subpath, else the repo name."""
        parsed = HfUri.parse(self.uri)
        if parsed.subpath.endswith(".parquet"):
            return parsed.subpath.rsplit("/", 1)[-1][: -len(".parquet")]
        return parsed.repo_id.split("/", 1)[1]

    def to_arrow_table(self) -> pa.Table:
        """Every matching row (downloads the needed row groups of every file)."""
        source = open_hf_source(self.uri)
        cols = self.columns
        schema = projected_schema(source.schema, cols)
        batches = list(scan(source, cols, where=self.filter_expr))
        return pa.Table.from_batches(batches, schema=schema)
