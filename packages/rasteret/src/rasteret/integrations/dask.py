"""Dask integration: lazy ``get_xarray(..., chunks=...)`` and a sharded, parallel build.

* ``Collection.get_xarray(..., chunks=...)`` returns a dask-backed Dataset planned from the
  Parquet index only (no COG request); each chunk reads only its own tiles when computed
  (:mod:`rasteret.read.lazy`; :func:`lazy_xarray` here is the same function).
* :func:`build_from_table_sharded` prepares a record table on the client, indexes COG headers
  shard by shard in parallel (a ``distributed.Client`` when given, else dask's threads) and
  writes one collection: rasteret_ingest's prepare → enrich (per shard) → write steps. It
  fails, as ``build_from_table`` does, only when no header of any shard could be read.

Install with ``pip install 'rasteret[dask]'``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

import rasteret_ingest as ingest
from rasteret.core.collection import Collection
from rasteret.errors import InvalidInputError, missing_dependency
from rasteret.read.lazy import lazy_xarray
from rasteret.read.requests import Chunking
from rasteret_catalog import CloudConfig
from rasteret_catalog.schema import band_metadata_column

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = ["DEFAULT_CHUNKS", "build_from_table_sharded", "lazy_xarray", "normalize_chunks"]

#: Chunking used for ``chunks="auto"`` / ``chunks=True``: one time step, 1024 x 1024 pixels.
DEFAULT_CHUNKS: dict[str, int | None] = Chunking.parse("auto").as_dict()


def _require_dask(feature: str) -> None:
    try:
        import dask  # noqa: F401
    except ImportError:
        raise missing_dependency("dask", "dask", feature) from None


def normalize_chunks(chunks: Any) -> dict[str, int | None]:
    """``{"time": n, "y": n, "x": n}`` from the accepted ``chunks`` forms.

    See :meth:`rasteret.read.requests.Chunking.parse`.

    Raises:
        ValueError: Any other value.
    """
    return Chunking.parse(chunks).as_dict()


def _enrich_shard(
    prepared: ingest.Prepared, options: ingest.EnrichOptions
) -> tuple[pa.Table | None, ingest.EnrichReport]:
    """One shard's *enrich* step. A shard none of whose headers could be read returns no
    table, only its report: whether the build fails is decided on all shards together."""
    try:
        return ingest.enrich_records(prepared, options)
    except ingest.EnrichmentError as exc:
        if not isinstance(exc.report, ingest.EnrichReport):
            raise
        return None, exc.report


def _merge_shards(
    results: Sequence[tuple[pa.Table | None, ingest.EnrichReport]],
    shards: Sequence[ingest.Prepared],
    bands: Sequence[str],
) -> tuple[pa.Table, ingest.EnrichReport]:
    """The shards' records in order, and their reports merged (as one enrichment of the
    whole table would give them).

    A shard none of whose headers could be read keeps its records with null band metadata
    (what the plain build writes for headers it could not read), and its failures are warned
    about here (its own enrichment raised instead of warning).

    Raises:
        EnrichmentError: No header of any shard could be read.
    """
    report = ingest.EnrichReport()
    for _, shard_report in results:
        report = report.merge(shard_report)
    if report.attempted and report.failed == report.attempted:
        raise ingest.EnrichmentError(f"no COG header could be indexed. {report.summary()}", report)
    unread = ingest.EnrichReport()
    metadata = {band_metadata_column(b) for b in bands}
    tables: list[pa.Table] = []
    for (table, shard_report), shard in zip(results, shards, strict=True):
        if table is None:  # its metadata columns are null-filled by the concatenation
            unread = unread.merge(shard_report)
            table = shard.table.drop_columns([c for c in shard.table.column_names if c in metadata])
        tables.append(table)
    if unread.failed:
        warnings.warn(ingest.IngestWarning(unread.summary(), unread), stacklevel=3)
    merged = pa.concat_tables(tables, promote_options="permissive")
    # the column order of an enriched shard, whichever shard comes first
    first = next(t for t, _ in results if t is not None) if unread.failed else merged
    order = first.schema.names + [n for n in merged.schema.names if n not in first.schema.names]
    return merged.select(order), report


def build_from_table_sharded(
    table: Any,
    *,
    name: str,
    shards: int | None = None,
    client: Any = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    data_source: str = "",
    description: str = "",
    column_map: dict[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: dict[str, int] | None = None,
    url_rewrite_patterns: dict[str, str] | None = None,
    band_codes: Sequence[str] | None = None,
    cloud_config: CloudConfig | None = None,
    backend: Backend | None = None,
    max_concurrent: int = 300,
    force: bool = False,
    deadline: float | None = None,
    request_timeout: float | None = None,
) -> Collection:
    """``build_from_table(..., enrich_cog=True)`` with the header indexing split into shards.

    The record table is read and normalised on the client (no COG request), cut into
    ``shards`` contiguous row ranges, each shard's headers are indexed in parallel with
    rasteret_ingest's *enrich* step (one task per shard, each with its own event loop and
    connection pool), and the enriched shards are concatenated in order and written as one
    collection in ``{workspace_dir}/{name}_records`` (the *write* step).

    Headers that cannot be read are handled as in ``build_from_table``: their records are
    written with null band metadata and reported (an ``IngestWarning`` and
    ``build_report``), even when they make up a whole shard; the build fails only when no
    header of any shard could be read.

    Args:
        table: Path / URI / Arrow object with the record table (see ``build_from_table``).
        name: Collection name.
        shards: Number of shards (default: the client's worker count, else ``os.cpu_count()``).
        client: A ``distributed.Client``; without one dask's local process-less scheduler
            (threads) runs the shards.
        workspace_dir: Workspace root (default: ``~/rasteret_workspace``).
        data_source, description, column_map, href_column, band_index_map,
            url_rewrite_patterns, band_codes, cloud_config, backend, max_concurrent, force:
            As in ``build_from_table``; ``max_concurrent`` is per shard.
        deadline: Seconds for each shard's header reads (shards run in parallel on the
            workers; their clocks are not shared across processes).
        request_timeout: Seconds per request attempt.

    Returns:
        The written collection; its ``build_report`` merges the shards' reports (every
        header that could not be read).

    Raises:
        MissingDependencyError: dask is not installed (an ``ImportError``).
        EnrichmentError: No header of any shard could be read (its ``report`` lists them).
        CollectionExistsError: The collection exists and ``force`` is False.
    """
    _require_dask("build_from_table_sharded")
    if not name:
        raise InvalidInputError("build_from_table_sharded needs a collection name")
    path = ingest.records_collection_dir(workspace_dir, name)
    prepared = ingest.prepare_table(
        ingest.TableSource.of(
            table,
            data_source=data_source,
            column_map=column_map,
            href_column=href_column,
            band_index_map=band_index_map,
            url_rewrite_patterns=url_rewrite_patterns,
            cloud_config=cloud_config,
        )
    )
    norm = prepared.table
    options = ingest.EnrichOptions(
        bands=tuple(band_codes) if band_codes else prepared.bands,
        backend=ingest.resolve_backend(backend, prepared.cloud_config),
        max_concurrent=max_concurrent,
        progress=False,
        deadline=deadline,
        request_timeout=request_timeout,
    )
    if shards is None:
        shards = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count()
    n = max(1, min(int(shards or 1), norm.num_rows or 1))
    step = math.ceil(norm.num_rows / n) if norm.num_rows else 1
    pieces = [norm.slice(i, step) for i in range(0, max(norm.num_rows, 1), step)]
    shard_specs = [dataclasses.replace(prepared, table=p) for p in pieces]
    if client is not None:
        futures = [client.submit(_enrich_shard, p, options, pure=False) for p in shard_specs]
        results = client.gather(futures)
    else:
        import dask

        results = dask.compute(
            *[dask.delayed(_enrich_shard, pure=False)(p, options) for p in shard_specs],
            scheduler="threads",
        )
    merged, report = _merge_shards(results, shard_specs, options.bands or prepared.bands)
    written, _ = ingest.write_records(
        merged,
        ingest.WriteTarget(path, name, description, data_source, force=force),
    )
    assert written is not None  # a path was given
    collection = Collection._open(written, name=name, data_source=data_source)
    collection.build_report = report
    return collection
