"""The top-level build functions: ``build``, ``build_from_stac`` and ``build_from_table``.

Each keeps rasteret 0.4.1's flat keyword signature, validates its arguments once and builds a
frozen spec (:mod:`rasteret.builds.specs`, over rasteret_ingest's pipeline specs); the build
runs rasteret_ingest's pipeline (prepare → enrich → write) and its result is opened as a
:class:`~rasteret.Collection`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rasteret_ingest as ingest
from rasteret.builds.dataset import plan
from rasteret.builds.specs import DatasetBuild, OpenCollection, StacBuild, TableBuild, enrichment
from rasteret.core.collection import Collection, as_collection
from rasteret.core.hf_scan import HfTable
from rasteret.core.hf_source import is_hf_uri
from rasteret.core.source import is_remote
from rasteret.errors import CollectionNotFoundError, InvalidInputError
from rasteret.query.validate import validate_bbox, validate_date_range
from rasteret_catalog import CloudConfig

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs as pafs

    from rasteret_io.protocols import Backend

__all__ = ["build", "build_from_stac", "build_from_table", "open_planned"]


# ---------------------------------------------------------------------------------------------
# running builds


def _collection_of(result: ingest.BuildResult) -> Collection:
    if result.path:
        out = Collection._open(result.path, name=result.name, data_source=result.data_source)
    else:
        out = as_collection(
            result.table,
            name=result.name,
            data_source=result.data_source,
            require_band_metadata=False,
        )
    out.build_report = result.report
    return out


def _run_stac(spec: StacBuild) -> Collection:
    return _collection_of(ingest.build_stac_collection(spec.source, spec.enrich, spec.destination))


def _run_table(spec: TableBuild) -> Collection:
    collection = _collection_of(
        ingest.build_table_collection(spec.source, spec.enrich, spec.destination)
    )
    return collection._subset(spec.post_filter)


def open_planned(spec: OpenCollection) -> Collection:
    """Open a ready collection and apply its filter."""
    collection = Collection._open(
        spec.uri,
        name=spec.name,
        data_source=spec.data_source,
        filesystem=spec.filesystem,
        record_index=spec.record_index,
    )
    return collection._subset(spec.subset)


def _check_build_args(bbox: Any, date_range: Any) -> tuple[float, float, float, float] | None:
    if date_range is not None:
        validate_date_range(date_range)
    return None if bbox is None else validate_bbox(bbox)


def _check_seconds(**values: float | None) -> None:
    """``deadline`` / ``request_timeout``: None or a positive number of seconds."""
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidInputError(
                f"{name} must be a positive number of seconds or None, got {value!r}"
            )


# ---------------------------------------------------------------------------------------------
# public API


def build(
    dataset: str,
    *,
    name: str,
    bbox: tuple[float, float, float, float] | None = None,
    date_range: tuple[str, str] | None = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    max_concurrent: int = 50,
    query: dict[str, Any] | None = None,
    prefer_geoparquet: bool = False,
    stac_api: str | None = None,
    cloud_config: CloudConfig | None = None,
    backend: Backend | None = None,
    deadline: float | None = None,
    request_timeout: float | None = None,
) -> Collection:
    """Build (or reuse) a collection of a catalog dataset.

    Routing: a dataset with a ready ``collection_uri`` is opened directly (then subset by
    ``bbox`` / ``date_range``); a record-table dataset is built with COG header enrichment
    when it has no STAC API or ``prefer_geoparquet`` is set; otherwise it is built from its
    STAC API (``stac_api`` overrides the catalog's URL).

    ``deadline`` (total seconds for reading every COG header) and ``request_timeout`` (seconds
    per request attempt) bound the header enrichment; headers not read in time are failures
    of the returned collection's ``build_report``.

    Raises:
        KeyError: Unknown dataset id (the message lists the registered ids).
        ValueError: Inverted bbox or date range; a STAC dataset without bbox / date_range;
            an auth-required dataset whose credentials cannot be set up; a dataset with no
            source.
    """
    box = _check_build_args(bbox, date_range)
    _check_seconds(deadline=deadline, request_timeout=request_timeout)
    if not name or not isinstance(name, str):
        raise InvalidInputError("build() needs a non-empty collection name (name=...)")
    spec = DatasetBuild(
        dataset,
        name,
        bbox=box,
        date_range=date_range,
        workspace_dir=None if workspace_dir is None else os.fspath(workspace_dir),
        force=force,
        max_concurrent=max_concurrent,
        query=query,
        prefer_geoparquet=prefer_geoparquet,
        stac_api=stac_api,
        cloud_config=cloud_config,
        backend=backend,
        deadline=deadline,
        request_timeout=request_timeout,
    )
    planned = plan(spec)
    if isinstance(planned, OpenCollection):
        return open_planned(planned)
    if isinstance(planned, TableBuild):
        return _run_table(planned)
    return _run_stac(planned)


def build_from_stac(
    *,
    name: str,
    stac_api: str,
    collection: str,
    data_source: str | None = None,
    band_map: dict[str, str] | None = None,
    band_index_map: dict[str, int] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    date_range: tuple[str, str] | None = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    max_concurrent: int = 50,
    cloud_config: CloudConfig | None = None,
    query: dict[str, Any] | None = None,
    backend: Backend | None = None,
    static_catalog: bool = False,
    deadline: float | None = None,
    request_timeout: float | None = None,
) -> Collection:
    """Index a STAC API collection (or a static catalog) into a cached collection.

    When the cache directory already exists and ``force`` is false, the cached collection is
    returned without any network access.

    ``deadline`` (total seconds for reading every COG header, retries included) and
    ``request_timeout`` (seconds per request attempt, default 30) bound the header reads.
    Headers that cannot be read, in time or at all, leave their band metadata null and are
    listed in the returned collection's ``build_report.failures`` (all of them; the
    ``IngestWarning`` summarises).

    Raises:
        ValueError: Inverted bbox / date range, missing stac_api / collection, no STAC items.
    """
    box = _check_build_args(bbox, date_range)
    _check_seconds(deadline=deadline, request_timeout=request_timeout)
    if not stac_api:
        raise InvalidInputError("build_from_stac() needs stac_api (a STAC API or catalog URL)")
    if not collection:
        raise InvalidInputError("build_from_stac() needs collection (a STAC collection id)")
    spec = StacBuild(
        ingest.StacSource(
            stac_api=stac_api,
            collection=collection,
            data_source=data_source or collection,
            band_map=band_map,
            band_index_map=band_index_map,
            bbox=box,
            date_range=date_range,
            query=query,
            static_catalog=static_catalog,
            cloud_config=cloud_config,
        ),
        enrichment(backend, max_concurrent, deadline, request_timeout),
        ingest.Destination(name, workspace_dir, force),
    )
    return _run_stac(spec)


def _check_table_path(
    path: Any, name: str, workspace_dir: str | os.PathLike[str] | None, force: bool
) -> None:
    """A missing local record table fails here, unless a cached build can be reused."""
    if not isinstance(path, str | os.PathLike):
        return
    text = os.fspath(path)
    if is_remote(text) or Path(text).expanduser().exists():
        return
    cached = ingest.records_collection_dir(workspace_dir, name) if name or workspace_dir else None
    if force or cached is None or not Path(str(cached)).exists():
        raise CollectionNotFoundError(f"record table not found: {text} does not exist")


def build_from_table(
    path: Any,
    *,
    name: str = "",
    data_source: str = "",
    workspace_dir: str | os.PathLike[str] | None = None,
    column_map: dict[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: dict[str, int] | None = None,
    url_rewrite_patterns: dict[str, str] | None = None,
    filesystem: pafs.FileSystem | None = None,
    columns: list[str] | None = None,
    filter_expr: Any = None,
    enrich_cog: bool = False,
    band_codes: list[str] | None = None,
    cloud_config: CloudConfig | None = None,
    max_concurrent: int = 300,
    force: bool = False,
    backend: Backend | None = None,
    deadline: float | None = None,
    request_timeout: float | None = None,
) -> Collection:
    """Build a collection from a Parquet/GeoParquet file or directory, or any Arrow object.

    With ``enrich_cog=True`` every COG is opened once and its header indexed. Unlike
    rasteret 0.4.1, ``cloud_config`` is honoured (URL rewrites, S3 settings).
    ``deadline`` / ``request_timeout`` bound the header reads as in :func:`build_from_stac`;
    the returned collection's ``build_report`` lists every header that could not be read.

    An ``hf://datasets/<org>/<name>[@revision][/subpath]`` path is streamed from the Hugging
    Face Hub (``rasteret[hf]``) and materialised, ``columns`` and ``filter_expr`` applied
    batch by batch; a cached build (``name`` / ``workspace_dir``) is reused without reading
    the Hub.

    Raises:
        FileNotFoundError: A local ``path`` does not exist.
        ValueError: Missing required columns or unusable datetime values.
    """
    _check_seconds(deadline=deadline, request_timeout=request_timeout)
    hf_table = None
    if is_hf_uri(path):
        # streamed from the Hub with the projection and filter applied per batch
        hf_table = HfTable(os.fspath(path), columns, filter_expr)
        path, columns, filter_expr = hf_table, None, None
    elif filesystem is None:
        _check_table_path(path, name, workspace_dir, force)
    bands = None if band_codes is None else tuple(band_codes)
    enrich = enrichment(backend, max_concurrent, deadline, request_timeout, bands)
    spec = TableBuild(
        ingest.TableSource.of(
            path,
            data_source=data_source,
            filesystem=filesystem,
            columns=columns,
            filter_expr=filter_expr,
            column_map=column_map,
            href_column=href_column,
            band_index_map=band_index_map,
            url_rewrite_patterns=url_rewrite_patterns,
            cloud_config=cloud_config,
        ),
        enrich if enrich_cog else None,
        ingest.Destination(name, workspace_dir, force),
    )
    collection = _run_table(spec)
    if hf_table is not None and not name:
        collection.name = hf_table.name
    return collection
