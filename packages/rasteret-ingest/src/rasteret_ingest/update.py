"""Incremental updates: add new records to an existing collection without re-reading headers.

New rows come from STAC items (given, or searched with ``stac_api`` for e.g. a later date
range) or from a record table. Rows whose ``id`` is already in the collection are skipped; only
the new rows' headers are read, for the bands the collection already indexes (the *prepare*
and *enrich* steps of :mod:`rasteret_ingest.pipeline`). The merged collection replaces the old
one atomically, keeping its metadata (the date range becomes the union).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret_catalog.schema import Col, MetaKey, band_of_metadata_column
from rasteret_ingest.bandmaps import plan_bands
from rasteret_ingest.builders import BuildResult, _meta, _stem
from rasteret_ingest.enrich import EnrichReport
from rasteret_ingest.errors import BuildSpecError, NoItemsError
from rasteret_ingest.metadata import date_range_string, parse_date_range
from rasteret_ingest.pipeline import enrich_records
from rasteret_ingest.specs import EnrichOptions, Prepared, TableSource
from rasteret_ingest.stac import items_to_table, search_items
from rasteret_ingest.table import prepare_table
from rasteret_ingest.writer import read_collection, write_collection

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


def _union_range(old: tuple[str, str] | None, new: Sequence[Any] | None) -> tuple[str, str] | None:
    if not new or not any(new):
        return old
    s, e = (str(new[0])[:10], str(new[1])[:10])
    if old is None:
        return (s, e)
    return (min(old[0][:10], s), max(old[1][:10], e))


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
        date_range: Search date range (the stored ``date_range`` becomes the union).
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

    Returns:
        A :class:`BuildResult`; ``reused`` is True when nothing new was found (nothing written).
    """
    existing = read_collection(path)
    name = _meta(existing, MetaKey.NAME) or _stem(path)
    source = _meta(existing, MetaKey.DATA_SOURCE)
    bands = [b for c in existing.column_names if (b := band_of_metadata_column(c)) is not None]
    known = pc.unique(existing.column(Col.ID)).to_pylist()
    known_set = set(known)

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
        items = [i for i in _item_dicts(new_items_or_table) if str(i.get("id")) not in known_set]
        if not items:
            return BuildResult(str(path), existing, name, source, True, EnrichReport())
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
        mask = pc.invert(pc.is_in(new.column(Col.ID), value_set=pa.array(known, pa.string())))
        new = new.filter(mask)
        if new.num_rows == 0:
            return BuildResult(str(path), existing, name, source, True, EnrichReport())
    report = EnrichReport()
    if bands:
        new, report = enrich_records(
            Prepared(new, tuple(bands)),
            EnrichOptions(
                backend=backend,
                max_concurrent=max_concurrent,
                progress=progress,
                band_map=band_map,
            ),
        )
    merged = pa.concat_tables(
        [existing.replace_schema_metadata(None), new.replace_schema_metadata(None)],
        promote_options="permissive",
    )
    md = {k.decode(): v.decode() for k, v in (existing.schema.metadata or {}).items()}
    md.pop(MetaKey.GEO.value, None)
    rng = _union_range(parse_date_range(md.get(MetaKey.DATE_RANGE.value)), date_range)
    md[MetaKey.DATE_RANGE.value] = date_range_string(rng)
    written = write_collection(merged, path, metadata=md, force=True)
    merged = read_collection(written)
    return BuildResult(written, merged, name, source, False, report)
