"""How ``rasteret.build`` turns a catalog descriptor into a build: credentials, record-table
pushdown filters, anonymous S3 access."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rasteret._validate import validate_bbox, validate_date_range
from rasteret.errors import AuthRequiredError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from rasteret.collection import Collection
    from rasteret_catalog.descriptor import DatasetDescriptor

__all__ = ["anonymous_s3", "auto_backend", "build_from_record_table", "strip_scheme"]

log = logging.getLogger("rasteret")


def auto_backend(d: DatasetDescriptor) -> Any:
    """A credentialed backend for descriptors that declare how to get credentials."""
    if not (d.azure_asset_url or d.s3_credentials_url):
        return None
    try:
        if d.azure_asset_url:
            from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

            from rasteret.api import create_backend

            return create_backend(
                credential_provider=PlanetaryComputerCredentialProvider(d.azure_asset_url)
            )
        url = d.s3_credentials_url or ""
        if "earthdata" in url or "lpdaac" in url:
            from obstore.auth.earthdata import NasaEarthdataCredentialProvider

            from rasteret.api import create_backend

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


def anonymous_s3(cloud_config: Any, d: DatasetDescriptor) -> Any:
    import pyarrow.fs as pafs

    region = getattr(cloud_config, "region", None) or (d.cloud_config or {}).get(
        "region", "us-west-2"
    )
    return pafs.S3FileSystem(anonymous=True, region=region)


def strip_scheme(uri: str) -> str:
    return uri.split("://", 1)[1] if "://" in uri else uri


def _date_pushdown(schema: pa.Schema, column: str, date_range: Sequence[Any]) -> tuple[Any, bool]:
    """Arrow filter on the source datetime column; ``(None, True)`` means filter after build."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    start, end = validate_date_range(date_range)
    idx = schema.get_field_index(column)
    if idx < 0:
        raise InvalidInputError(
            f"date_range needs the source datetime column {column!r}, which the record table "
            f"does not have (columns: {', '.join(schema.names)})"
        )
    t = schema.field(idx).type
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


def _bbox_pushdown(d: DatasetDescriptor, schema: pa.Schema, bbox: Sequence[float]) -> Any:
    import pyarrow.dataset as ds

    from rasteret_catalog.schema import BboxField

    w, s, e, n = validate_bbox(bbox)
    if d.bbox_columns:
        c = d.bbox_columns
        return (
            (ds.field(c["minx"]) <= e)
            & (ds.field(c["maxx"]) >= w)
            & (ds.field(c["miny"]) <= n)
            & (ds.field(c["maxy"]) >= s)
        )
    src = d.source_field("bbox")
    if schema.get_field_index(src) < 0:
        return None
    return (
        (ds.field(src, BboxField.XMIN) <= e)
        & (ds.field(src, BboxField.XMAX) >= w)
        & (ds.field(src, BboxField.YMIN) <= n)
        & (ds.field(src, BboxField.YMAX) >= s)
    )


def build_from_record_table(
    d: DatasetDescriptor,
    *,
    name: str,
    bbox: Any,
    date_range: Any,
    workspace_dir: Any,
    force: bool,
    max_concurrent: int,
    cloud_config: Any,
    backend: Any,
) -> Collection:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from rasteret_catalog.cloud import CloudConfig

    uri = d.build_source_uri or ""
    cfg = cloud_config or CloudConfig.get_config(d.id)
    filesystem = None
    path: str = uri
    if uri.startswith("s3://") and not d.requires_auth:
        filesystem = anonymous_s3(cfg, d)
        path = strip_scheme(uri)
    try:
        schema = ds.dataset(path, format="parquet", filesystem=filesystem).schema
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(
            f"cannot open the record table of dataset {d.id!r} at {uri}: {exc}"
        ) from exc
    filters = []
    post_date = False
    if bbox is not None:
        flt = _bbox_pushdown(d, schema, bbox)
        if flt is not None:
            filters.append(flt)
    if date_range is not None:
        flt, post_date = _date_pushdown(schema, d.source_field("datetime"), date_range)
        if flt is not None:
            filters.append(flt)
    filter_expr = None
    for f in filters:
        filter_expr = f if filter_expr is None else filter_expr & f
    from rasteret import api

    collection = api.build_from_table(
        path,
        name=name,
        data_source=d.stac_collection or d.id,
        workspace_dir=workspace_dir,
        column_map=d.column_map,
        href_column=d.href_column,
        band_index_map=d.band_index_map,
        url_rewrite_patterns=dict(cfg.url_patterns) if cfg is not None else None,
        filesystem=filesystem,
        filter_expr=filter_expr,
        enrich_cog=True,
        band_codes=list(d.band_map) if d.band_map else None,
        cloud_config=cfg,
        max_concurrent=max_concurrent,
        force=force,
        backend=backend,
    )
    if post_date:
        collection = collection.subset(date_range=date_range)
    return collection
