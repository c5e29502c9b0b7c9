"""How ``rasteret.build`` turns a catalog dataset into a build: the source it is built from,
credentials, pushdown filters on record tables, anonymous S3 access."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret._log import logger as log
from rasteret.builds.specs import DatasetBuild, OpenCollection, StacBuild, TableBuild, enrichment
from rasteret.core.opening import catalog_surfaces
from rasteret.core.source import dataset_filesystem
from rasteret.datasets import require_descriptor
from rasteret.errors import AuthRequiredError, InvalidInputError
from rasteret.query.filters import Subset, bbox_fields, overlap, require_column
from rasteret.query.validate import validate_date_range
from rasteret_catalog import CloudConfig, DatasetDescriptor
from rasteret_ingest import Destination, StacSource, TableSource
from rasteret_io import create_backend

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = ["plan"]


_RECORDS_SUFFIXES = ("_stac", "_records")


def auto_backend(d: DatasetDescriptor) -> Backend | None:
    """A credentialed backend for descriptors that declare how to get credentials."""
    if not (d.azure_asset_url or d.s3_credentials_url):
        return None
    try:
        if d.azure_asset_url:
            from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

            return create_backend(
                credential_provider=PlanetaryComputerCredentialProvider(d.azure_asset_url)
            )
        url = d.s3_credentials_url or ""
        if "earthdata" in url or "lpdaac" in url:
            from obstore.auth.earthdata import NasaEarthdataCredentialProvider

            return create_backend(
                credential_provider=NasaEarthdataCredentialProvider(url), region="us-west-2"
            )
    except Exception as exc:
        if d.requires_auth:
            extra = "azure" if d.azure_asset_url else "earthdata"
            raise AuthRequiredError(
                f"dataset {d.id!r} requires credentials and none could be set up automatically "
                f"({type(exc).__name__}: {exc}). Pass backend=rasteret.create_backend("
                f"credential_provider=...) or install `rasteret[{extra}]` and configure its "
                "credentials."
            ) from exc
        log.warning("could not create a credentialed backend for %s: %s", d.id, exc)
    return None


def _date_pushdown(
    schema: pa.Schema, column: str, date_range: Sequence[Any]
) -> tuple[ds.Expression | None, bool]:
    """Arrow filter on the source datetime column; ``(None, True)`` means filter after build."""
    start, end = validate_date_range(date_range)
    missing = f"date_range needs the source datetime column {column!r}, which the record table "
    t = require_column(schema, column, missing + "does not have").type
    f = ds.field(column)
    last = end.start if end.stop is None else end.stop - _dt.timedelta(microseconds=1)
    if pa.types.is_integer(t):
        return (f >= start.start.year) & (f <= last.year), False
    if pa.types.is_timestamp(t):
        tz = _dt.UTC if t.tz else None
        lo = pa.scalar(start.start.replace(tzinfo=tz), t)
        hi = pa.scalar(last.replace(tzinfo=tz), t)
        return (f >= lo) & (f <= hi), False
    if pa.types.is_date(t):
        lo = pa.scalar(start.start.date(), pa.date32()).cast(t)
        hi = pa.scalar(last.date(), pa.date32()).cast(t)
        return (f >= lo) & (f <= hi), False
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return None, True
    raise InvalidInputError(f"cannot filter the source datetime column {column!r} of type {t}")


def _bbox_pushdown(
    d: DatasetDescriptor, schema: pa.Schema, bbox: tuple[float, float, float, float]
) -> ds.Expression | None:
    if d.bbox_columns:
        c = d.bbox_columns
        return overlap(bbox, [ds.field(c[k]) for k in ("minx", "miny", "maxx", "maxy")])
    src = d.source_field("bbox")
    if schema.get_field_index(src) < 0:
        return None
    return overlap(bbox, bbox_fields(src))


def _record_table_build(
    d: DatasetDescriptor, spec: DatasetBuild, backend: Backend | None
) -> TableBuild:
    """A record-table build of ``d`` with the bbox / date range pushed into the scan."""
    uri = d.build_source_uri or ""
    cfg = spec.cloud_config or CloudConfig.get_config(d.id)
    path, filesystem = dataset_filesystem(d, uri, cfg)
    try:
        schema = ds.dataset(path, format="parquet", filesystem=filesystem).schema
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(
            f"cannot open the record table of dataset {d.id!r} at {uri}: {exc}"
        ) from exc
    filters: list[ds.Expression] = []
    post_date = False
    if spec.bbox is not None:
        flt = _bbox_pushdown(d, schema, spec.bbox)
        if flt is not None:
            filters.append(flt)
    if spec.date_range is not None:
        dflt, post_date = _date_pushdown(schema, d.source_field("datetime"), spec.date_range)
        if dflt is not None:
            filters.append(dflt)
    filter_expr = None
    for f in filters:
        filter_expr = f if filter_expr is None else filter_expr & f
    ws = spec.workspace_dir
    if ws is not None:
        text = os.fspath(ws).rstrip("/")
        if not text.endswith(_RECORDS_SUFFIXES):
            ws = f"{text}/{spec.name}_records"
    return TableBuild(
        TableSource.of(
            path,
            data_source=d.stac_collection or d.id,
            filesystem=filesystem,
            filter_expr=filter_expr,
            column_map=d.column_map,
            href_column=d.href_column,
            band_index_map=d.band_index_map,
            url_rewrite_patterns=dict(cfg.url_patterns) if cfg is not None else None,
            cloud_config=cfg,
        ),
        enrichment(
            backend,
            spec.max_concurrent,
            spec.deadline,
            spec.request_timeout,
            tuple(d.band_map) if d.band_map else None,
        ),
        Destination(spec.name, ws, spec.force),
        post_filter=Subset.build(date_range=spec.date_range) if post_date else None,
    )


def plan(spec: DatasetBuild) -> StacBuild | TableBuild | OpenCollection:
    """What ``rasteret.build`` does for ``spec``.

    A dataset with a ready ``collection_uri`` is opened (then subset by bbox / date range); a
    record-table dataset is built with header enrichment when it has no STAC API or
    ``prefer_geoparquet`` is set; otherwise it is built from its STAC API (``stac_api``
    overrides the catalog's URL).

    Raises:
        DatasetNotRegisteredError: Unknown dataset id (a ``KeyError``).
        InvalidInputError: A STAC dataset without bbox / date range, or a dataset without
            any source.
        AuthRequiredError: Credentials are required and cannot be set up.
    """
    d = require_descriptor(spec.dataset)
    if d.collection_uri:
        subset = None
        if spec.bbox is not None or spec.date_range is not None:
            subset = Subset.build(bbox=spec.bbox, date_range=spec.date_range)
        uri, filesystem, index = catalog_surfaces(d, spec.cloud_config)
        return OpenCollection(
            uri, spec.name, d.id, filesystem=filesystem, subset=subset, record_index=index
        )
    backend = spec.backend if spec.backend is not None else auto_backend(d)
    has_stac = bool(d.stac_api or spec.stac_api) and bool(d.stac_collection or d.static_catalog)
    if d.build_source_uri and (spec.prefer_geoparquet or not has_stac):
        return _record_table_build(d, spec, backend)
    if has_stac:
        if not d.static_catalog and (spec.bbox is None or spec.date_range is None):
            raise InvalidInputError(
                f"dataset {d.id!r} is built from a STAC API and requires bbox and date_range "
                f"(e.g. bbox={d.example_bbox or (-122.45, 37.74, -122.35, 37.84)}, "
                f"date_range={d.example_date_range or ('2024-01-01', '2024-01-31')})"
            )
        return StacBuild(
            StacSource(
                stac_api=spec.stac_api or d.stac_api or "",
                collection=d.stac_collection or d.id,
                data_source=d.id,
                band_index_map=d.band_index_map,
                bbox=spec.bbox,
                date_range=spec.date_range,
                query=spec.query,
                static_catalog=d.static_catalog,
                cloud_config=spec.cloud_config,
            ),
            enrichment(backend, spec.max_concurrent, spec.deadline, spec.request_timeout),
            Destination(spec.name, spec.workspace_dir, spec.force),
        )
    raise InvalidInputError(
        f"dataset {d.id!r} has no source to build from: it needs a STAC API + collection, a "
        "record table (record_table_uri / index_uri) or a collection_uri"
    )
