"""Incremental updates: add new records to an existing collection without re-reading headers.

New rows come from STAC items (given, or searched with ``stac_api`` for e.g. a later date
range) or from a record table. Rows whose ``id`` is already in the collection are skipped
(found with one pushed-down scan of the ``id`` column), and so are rows repeating an id of an
earlier row of the same batch (the first wins); :class:`~rasteret_ingest.builders.BuildResult`
counts both (``skipped``, ``repeated``). Only the new rows' headers are read,
for the bands the collection already indexes (the *prepare* and *enrich* steps of
:mod:`rasteret_ingest.pipeline`).

Local collections are **appended to** (:mod:`rasteret_ingest.append`): only new files are
written, next to hard links of the old ones, and swapped in atomically; time and memory
follow the new rows. The stored date range is widened to cover the old one (or, when none
was stored, the old rows' span), the new rows' datetimes and the searched ``date_range``;
each bound is kept as written, a date-only end covering its whole day. A zero-row header
file carries the updated collection metadata. When the new rows do not fit
the collection's schema (e.g. a collection written by rasteret 0.4.1, whose band-metadata
structs lack the 1.1 fields), and for cloud URIs, the collection is rewritten instead (still
atomically for local paths). Either way the layout is kept: the partition keys are the
``key=value`` directory levels of the collection (none for a flat one).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from rasteret_catalog.schema import (
    ASSET_SIGNING_KEY,
    PARTITION_COLUMNS,
    Col,
    MetaKey,
    band_of_metadata_column,
)
from rasteret_ingest._dates import utc_instant
from rasteret_ingest.append import (
    append_rows,
    existing_ids,
    rewrite_with_rows,
)
from rasteret_ingest.bandmaps import plan_bands
from rasteret_ingest.builders import BuildResult, _stem
from rasteret_ingest.enrich import EnrichReport
from rasteret_ingest.errors import BuildSpecError, NoItemsError
from rasteret_ingest.metadata import date_range_string, datetime_span, parse_date_range
from rasteret_ingest.naming import is_cloud_uri
from rasteret_ingest.pipeline import enrich_records, finalise_records
from rasteret_ingest.specs import EnrichOptions, Prepared, TableSource
from rasteret_ingest.stac import items_to_table, search_items
from rasteret_ingest.table import prepare_table
from rasteret_ingest.writer import local_path, open_dataset, read_collection, write_collection

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = ["update_collection"]


def _is_items(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return False
    if not isinstance(obj, Sequence) or isinstance(obj, str | bytes):
        return False
    return all(isinstance(i, Mapping) or hasattr(i, "to_dict") for i in obj)


def _item_dicts(items: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for it in items:
        if hasattr(it, "to_dict"):
            if hasattr(it, "make_asset_hrefs_absolute"):
                it.make_asset_hrefs_absolute()
            it = it.to_dict()
        out.append(dict(it))
    return out


def _instant(value: Any, *, end: bool) -> _dt.datetime | None:
    """``value`` as a UTC instant (:func:`~rasteret_ingest._dates.utc_instant`: a date-only
    end covers its whole day), None when it is not a date or datetime."""
    if value is None:
        return None
    try:
        return utc_instant(value.strip() if isinstance(value, str) else value, end=end)
    except ValueError:
        return None


def _stored_span(dataset: ds.Dataset, stored: tuple[str, str] | None) -> tuple[Any, Any] | None:
    """The stored range when both bounds parse, else the old rows' span (one column scan)."""
    if stored is not None and all(
        _instant(v, end=e) is not None for v, e in zip(stored, (False, True), strict=True)
    ):
        return stored
    if Col.DATETIME.value not in dataset.schema.names:
        return None
    return datetime_span(dataset.to_batches(columns=[Col.DATETIME.value]))


def _covering_range(spans: Iterable[Sequence[Any] | None]) -> tuple[Any, Any] | None:
    """The range covering every span (each bound kept as given; on ties the earlier span's)."""
    starts, ends = [], []
    for span in spans:
        if not span or len(span) != 2:
            continue
        if (t := _instant(span[0], end=False)) is not None:
            starts.append((t, span[0]))
        if (t := _instant(span[1], end=True)) is not None:
            ends.append((t, span[1]))
    if not starts or not ends:
        return None
    return min(starts, key=lambda p: p[0])[1], max(ends, key=lambda p: p[0])[1]


def update_collection(
    path: Any,
    new_items_or_table: Any = None,
    *,
    stac_api: str | None = None,
    collection: str | None = None,
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
    query: Mapping[str, Any] | None = None,
    static_catalog: bool = False,
    band_map: Mapping[str, str] | None = None,
    band_index_map: Mapping[str, int] | None = None,
    column_map: Mapping[str, str] | None = None,
    href_column: str | None = None,
    url_rewrite_patterns: Mapping[str, str] | None = None,
    backend: Backend | None = None,
    max_concurrent: int = 50,
    progress: bool | None = None,
    deadline: float | None = None,
    request_timeout: float | None = None,
) -> BuildResult:
    """Append new records to the collection at ``path`` (atomic replacement).

    Args:
        path: Existing collection directory.
        new_items_or_table: STAC item dicts / ``pystac.Item`` objects, or a record table
            (anything :func:`~rasteret_ingest.table.read_record_table` reads). When None,
            ``stac_api`` is searched.
        stac_api: STAC API (or static catalog) searched when no items are given.
        collection: STAC collection id (default: the collection's ``data_source``).
        bbox: Search bbox.
        date_range: Search date range (the stored ``date_range`` is widened to cover it, the
            old range or rows, and the new rows).
        query: STAC query terms.
        static_catalog: ``stac_api`` is a static catalog.
        band_map: ``{band: asset key}`` for items keyed by provider names.
        band_index_map: ``{band: sample}`` for multi-band assets / ``href_column``.
        column_map: Aliases for record tables.
        href_column: URL column for record tables without ``assets``.
        url_rewrite_patterns: Rewrites for ``href_column`` URLs.
        backend: ``rasteret_io`` backend for the new headers.
        max_concurrent: Headers read at the same time.
        progress: ``False`` hides the progress bar.
        deadline: Total seconds for reading the new headers (see :class:`EnrichOptions`).
        request_timeout: Seconds per request attempt.

    Returns:
        A :class:`BuildResult`; ``reused`` is True when nothing new was found (nothing
        written), ``added`` counts the rows written, and its ``table`` is read from ``path``
        on first access.
    """
    target = str(path)
    local = not is_cloud_uri(target)
    dataset = open_dataset(target)
    schema = dataset.schema
    md = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    name = md.get(MetaKey.NAME.value) or _stem(path)
    source = md.get(MetaKey.DATA_SOURCE.value, "")
    bands = [b for c in schema.names if (b := band_of_metadata_column(c)) is not None]

    skipped = repeated = 0

    def unchanged() -> BuildResult:
        return BuildResult(
            target,
            None,
            name,
            source,
            True,
            EnrichReport(),
            added=0,
            skipped=skipped,
            repeated=repeated,
        )

    if new_items_or_table is None:
        if stac_api is None:
            raise BuildSpecError(
                "update_collection needs new items / a table, or stac_api to search"
            )
        try:
            new_items_or_table = search_items(
                stac_api,
                collection or source or None,
                bbox=bbox,
                date_range=date_range,
                query=query,
                static_catalog=static_catalog,
            )
        except NoItemsError:
            new_items_or_table = []

    if _is_items(new_items_or_table):
        items = _item_dicts(new_items_or_table)
        if not items:
            return unchanged()
        items, repeated = _first_items(items)
        known = existing_ids(dataset, pa.array([str(i.get("id")) for i in items]))
        kept = [i for i in items if str(i.get("id")) not in known]
        skipped, items = len(items) - len(kept), kept
        if not items:
            return unchanged()
        bm = plan_bands(items, band_map=band_map, sources=(source,), strict=False).band_map
        bm = {b: a for b, a in bm.items() if not bands or b in bands}
        new = items_to_table(
            items, bm, band_index_map=band_index_map, collection=collection or source
        )
    else:
        new = prepare_table(
            TableSource.of(
                new_items_or_table,
                column_map=column_map,
                href_column=href_column,
                band_index_map=band_index_map,
                url_rewrite_patterns=url_rewrite_patterns or {},
            )
        ).table
        new, repeated = _first_rows(new)
        known = existing_ids(dataset, new.column(Col.ID))
        if known:
            mask = pc.invert(pc.is_in(new.column(Col.ID), value_set=pa.array(sorted(known))))
            rows = new.num_rows
            new = new.filter(mask)
            skipped = rows - new.num_rows
        if new.num_rows == 0:
            return unchanged()
    report = EnrichReport()
    if bands:
        new, report = enrich_records(
            Prepared(new, tuple(bands), asset_signing=md.get(ASSET_SIGNING_KEY) or None),
            EnrichOptions(
                backend=backend,
                max_concurrent=max_concurrent,
                progress=progress,
                band_map=band_map,
                deadline=deadline,
                request_timeout=request_timeout,
            ),
        )
    parts = _partition_keys(dataset, target)
    new = finalise_records(new, parts, require_band_metadata=bool(bands) or None)
    md.pop(MetaKey.GEO.value, None)
    rng = _covering_range(
        [
            _stored_span(dataset, parse_date_range(md.get(MetaKey.DATE_RANGE.value))),
            date_range,
            datetime_span([new]),
        ]
    )
    md[MetaKey.DATE_RANGE.value] = date_range_string(rng)
    if not local:
        merged = pa.concat_tables(
            [
                read_collection(target).replace_schema_metadata(None),
                new.replace_schema_metadata(None),
            ],
            promote_options="permissive",
        )
        written = write_collection(merged, target, metadata=md, force=True, partition_by=parts)
        return BuildResult(
            written,
            merged,
            name,
            source,
            False,
            report,
            added=new.num_rows,
            skipped=skipped,
            repeated=repeated,
        )
    outcome = append_rows(target, new, md, partition_by=parts)
    added = (
        outcome.appended
        if outcome is not None
        else rewrite_with_rows(target, new, md, partition_by=parts)
    )
    written = str(local_path(target))
    skipped += new.num_rows - added  # ids another writer added meanwhile (checked under the lock)
    return BuildResult(
        written,
        None,
        name,
        source,
        added == 0,
        report,
        added=added,
        skipped=skipped,
        repeated=repeated,
    )


def _first_items(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """``items`` without those whose id an earlier item has, and how many were dropped."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = str(item.get("id"))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out, len(items) - len(out)


def _first_rows(table: pa.Table) -> tuple[pa.Table, int]:
    """``table`` without rows whose id an earlier row has (order kept), and how many."""
    ids = table.column(Col.ID.value)
    if pc.count_distinct(ids, mode="all").as_py() == table.num_rows:
        return table, 0
    index = pa.table({"id": ids, "row": pa.array(range(table.num_rows), pa.int64())})
    first = index.group_by("id", use_threads=False).aggregate([("row", "min")])
    keep = pc.sort_indices(first.column("row_min"))
    kept = table.take(pc.take(first.column("row_min"), keep))
    return kept, table.num_rows - kept.num_rows


def _partition_keys(dataset: ds.Dataset, target: str) -> tuple[str, ...]:
    """The collection's Hive keys: the ``key=value`` directory levels under its root, in order.

    pyarrow's discovered partitioning is no guide: on a flat directory it reports every
    column. A flat collection has no such level (``()``); an empty one gets the default
    ``year`` / ``month``. A file outside the root as spelled (a cloud URI pyarrow resolved
    differently) only contributes levels whose key pyarrow also discovered.
    """
    files = list(dataset.files)
    if not files:
        return PARTITION_COLUMNS
    root = target.split("://", 1)[1] if is_cloud_uri(target) else str(local_path(target))
    root = root.rstrip("/") + "/"
    part = getattr(dataset, "partitioning", None)
    discovered = set(part.schema.names) if part is not None else set()
    keys: list[str] = []
    for f in files:
        under = f.startswith(root)
        for level in (f[len(root) :] if under else f).split("/")[:-1]:
            key, sep, _ = level.partition("=")
            if sep and key and key not in keys and (under or key in discovered):
                keys.append(key)
    return tuple(keys)
