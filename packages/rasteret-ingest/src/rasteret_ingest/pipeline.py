"""The build pipeline as composable steps: prepare → enrich → write.

1. **prepare** — records from a STAC search or static catalog (:func:`prepare_stac`) or from a
   record table (:func:`prepare_table`), brought to the collection contract; no header I/O.
2. **enrich** — every asset's COG header read once, ``{band}_metadata`` added
   (:func:`enrich_records`).
3. **write** — layout columns derived, contract checked, collection metadata attached,
   written atomically (:func:`write_records`).

The builders (:mod:`rasteret_ingest.builders`), incremental updates
(:mod:`rasteret_ingest.update`), sharded builds (``rasteret.integrations.dask``) and exports
(``Collection.export``) are compositions of these steps. Every step takes the frozen specs of
:mod:`rasteret_ingest.specs`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pyarrow as pa

from rasteret_catalog.arrow import ensure_valid
from rasteret_catalog.schema import PARTITION_COLUMNS, Col, MetaKey
from rasteret_ingest._source import DEFAULT_HEADER_RETRY
from rasteret_ingest.enrich import EnrichReport, enrich_table
from rasteret_ingest.errors import BuildSpecError
from rasteret_ingest.metadata import collection_metadata
from rasteret_ingest.normalize import add_bbox, add_partitions
from rasteret_ingest.specs import EnrichOptions, Prepared, StacSource, TableSource, WriteTarget
from rasteret_ingest.stac import asset_signer, check_record_crs, prepare_stac
from rasteret_ingest.table import prepare_table
from rasteret_ingest.writer import write_collection

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_catalog import CloudConfig
    from rasteret_io import RetryPolicy
    from rasteret_io.protocols import Backend

__all__ = [
    "build_record_table",
    "build_stac_table",
    "enrich_records",
    "finalise_records",
    "header_retry",
    "prepare_stac",
    "prepare_table",
    "resolve_backend",
    "write_records",
]

_OWN_KEYS = frozenset(k.value.encode() for k in MetaKey)


def resolve_backend(
    backend: Backend | None, cloud_config: CloudConfig | None, signing: str | None = None
) -> Backend | None:
    """The backend to read headers with: ``backend`` (used as given), else one built from
    ``cloud_config``, whose requests are signed with the ``signing`` scheme when one is named.

    ``None`` (no backend, no cloud config, no signing) means the process-wide anonymous
    backend.

    Raises:
        StacSearchError: the signing scheme's package is not installed.
    """
    if backend is not None:
        return backend
    base: Backend | None = None
    if cloud_config is not None:
        from rasteret_io import create_backend

        base = create_backend(cloud_config=cloud_config)
    if signing is None:
        return base
    from rasteret_io import signing_reader

    return signing_reader(base, asset_signer(signing))


def header_retry(options: EnrichOptions) -> RetryPolicy:
    """The retry policy of header reads: ``options.retry`` (default 3 attempts, 30 s each)
    with ``options.request_timeout`` as the per-attempt timeout when given."""
    policy = options.retry or DEFAULT_HEADER_RETRY
    if options.request_timeout is not None:
        policy = dataclasses.replace(policy, timeout=options.request_timeout)
    return policy


def enrich_records(prepared: Prepared, options: EnrichOptions) -> tuple[pa.Table, EnrichReport]:
    """The *enrich* step: index the COG headers of ``prepared``'s records.

    Bands are ``options.bands``, else every band the records carry. With
    ``prepared.require_crs`` every record that got band metadata must end with a raster CRS.
    ``options.deadline`` bounds the whole step; headers not read in time are failures of the
    report (see :func:`~rasteret_ingest.enrich.enrich_table`).

    Raises:
        EnrichmentError: no header at all could be read.
        CrsResolutionError: a record's CRS is missing or its headers disagree.
    """
    bands = list(options.bands or prepared.bands)
    table, report = enrich_table(
        prepared.table,
        bands,
        backend=resolve_backend(options.backend, prepared.cloud_config, prepared.asset_signing),
        max_concurrent=options.max_concurrent,
        progress=options.progress,
        band_map=options.band_map,
        retry=header_retry(options),
        deadline=options.deadline,
    )
    if prepared.require_crs:
        check_record_crs(table, bands)
    if prepared.left_out_assets:
        report = dataclasses.replace(report, left_out_assets=prepared.left_out_assets)
    return table, report


def _layout_columns(table: pa.Table, partition_by: tuple[str, ...]) -> pa.Table:
    """Add the ``bbox`` struct and ``year`` / ``month`` partitions when missing."""
    if Col.BBOX not in table.column_names or not pa.types.is_struct(
        table.schema.field(Col.BBOX).type
    ):
        table = add_bbox(table)
    if any(p in PARTITION_COLUMNS for p in partition_by) and Col.DATETIME in table.column_names:
        table = add_partitions(table)
    missing = [p for p in partition_by if p not in table.column_names]
    if missing:
        raise BuildSpecError(f"cannot partition by {missing}: not columns of the collection")
    return table


def finalise_records(
    table: pa.Table, partition_by: tuple[str, ...], *, require_band_metadata: bool | None
) -> pa.Table:
    """Layout columns (``bbox``, partitions) derived and the contract checked (unless
    ``require_band_metadata`` is None): what :func:`write_records` and appends write.

    Raises:
        rasteret_catalog.SchemaError: every contract problem, listed at once.
        BuildSpecError: a partition column is missing.
    """
    table = _layout_columns(table, partition_by)
    if require_band_metadata is not None:
        ensure_valid(table, require_band_metadata=require_band_metadata)
    return table


def write_records(table: pa.Table, target: WriteTarget) -> tuple[str | None, pa.Table]:
    """The *write* step: finalise ``table`` and write it to ``target.path`` (when set).

    Layout columns are derived, the contract is checked (unless
    ``target.require_band_metadata`` is None), and the metadata keys rasteret owns (name,
    description, data source, date range, created, versions, geo) are replaced by the target's
    values; other keys the table carries are kept.

    Returns:
        ``(path written or None, the finalised table)``.

    Raises:
        rasteret_catalog.SchemaError: every contract problem, listed at once.
        BuildSpecError: a partition column is missing.
        CollectionExistsError / WriteError: see :func:`~rasteret_ingest.writer.write_collection`.
    """
    table = finalise_records(
        table, target.partition_by, require_band_metadata=target.require_band_metadata
    )
    md = collection_metadata(
        name=target.name,
        description=target.description,
        data_source=target.data_source,
        date_range=target.date_range,
    )
    kept = {k: v for k, v in (table.schema.metadata or {}).items() if k not in _OWN_KEYS}
    kept.update({k.encode(): v.encode() for k, v in md.items()})
    table = table.replace_schema_metadata(kept)
    if target.path is None:
        return None, table
    written = write_collection(
        table,
        target.path,
        partition_by=target.partition_by,
        metadata=md,
        force=target.force,
        filesystem=target.filesystem,
    )
    return written, table


def build_stac_table(source: StacSource, options: EnrichOptions) -> tuple[pa.Table, EnrichReport]:
    """prepare → enrich for a STAC source: the header-enriched record table (not written).

    Raises:
        StacSearchError, NoItemsError, BandMapError, EnrichmentError, CrsResolutionError.
    """
    prepared = prepare_stac(source, credentialed=options.backend is not None)
    return enrich_records(prepared, options)


def build_record_table(
    source: TableSource, options: EnrichOptions | None = None
) -> tuple[pa.Table, EnrichReport | None]:
    """prepare (→ enrich when ``options`` is given) for a record table (not written).

    Raises:
        RecordTableError, TableNormalizationError, EnrichmentError.
    """
    prepared = prepare_table(source)
    if options is None:
        return prepared.table, None
    return enrich_records(prepared, options)
