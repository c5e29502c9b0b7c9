"""Top-level functions: ``build``, ``build_from_stac``, ``build_from_table``, ``load``,
``as_collection``, ``register``, ``register_local`` and ``create_backend``.

The builders validate and route here, then call ``rasteret_ingest`` to do the work.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasteret._options import build_progress
from rasteret._routing import (
    anonymous_s3,
    auto_backend,
    build_from_record_table,
    strip_scheme,
)
from rasteret._validate import validate_bbox, validate_date_range
from rasteret.errors import (
    InvalidInputError,
    UnknownDatasetError,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from rasteret.collection import Collection
    from rasteret_catalog.descriptor import DatasetDescriptor

__all__ = [
    "as_collection",
    "build",
    "build_from_stac",
    "build_from_table",
    "create_backend",
    "load",
    "register",
    "register_local",
]

log = logging.getLogger("rasteret")

_LARGE_TABLE_BYTES = 2 * 1024**3
_warned_large_table = False


# ---------------------------------------------------------------------------------------------
# helpers


def _check_build_args(bbox: Any, date_range: Any) -> None:
    if bbox is not None:
        validate_bbox(bbox)
    if date_range is not None:
        validate_date_range(date_range)


def _require_descriptor(dataset_id: str) -> DatasetDescriptor:
    from rasteret_catalog.registry import DatasetRegistry

    if not isinstance(dataset_id, str):
        raise TypeError(f"dataset id must be a str, got {type(dataset_id).__name__}")
    d = DatasetRegistry.get(dataset_id)
    if d is None:
        ids = DatasetRegistry.ids()
        close = [i for i in ids if dataset_id.lower() in i.lower()]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownDatasetError(
            f"Unknown dataset {dataset_id!r}.{hint} Available datasets: {', '.join(ids)} "
            "(see `rasteret datasets list`; register your own with rasteret.register_local)"
        )
    return d


def _collection_from_result(result: Any) -> Collection:
    from rasteret.collection import Collection

    path = getattr(result, "path", None)
    if path:
        return Collection._open(path, name=result.name, data_source=result.data_source)
    return as_collection(
        result.table,
        name=result.name,
        data_source=result.data_source,
        require_band_metadata=False,
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
    cloud_config: Any = None,
    backend: Any = None,
) -> Collection:
    """Build (or reuse) a collection of a catalog dataset.

    Routing: a dataset with a ready ``collection_uri`` is opened directly (then subset by
    ``bbox`` / ``date_range``); a record-table dataset is built with COG header enrichment
    when it has no STAC API or ``prefer_geoparquet`` is set; otherwise it is built from its
    STAC API (``stac_api`` overrides the catalog's URL).

    Raises:
        KeyError: Unknown dataset id (the message lists the registered ids).
        ValueError: Inverted bbox or date range; a STAC dataset without bbox / date_range;
            an auth-required dataset whose credentials cannot be set up; a dataset with no
            source.
    """
    _check_build_args(bbox, date_range)
    if not name or not isinstance(name, str):
        raise InvalidInputError("build() needs a non-empty collection name (name=...)")
    d = _require_descriptor(dataset)
    if d.collection_uri:
        collection = load(dataset, name=name)
        if bbox is not None or date_range is not None:
            collection = collection.subset(bbox=bbox, date_range=date_range)
        return collection
    if backend is None:
        backend = auto_backend(d)
    has_stac = bool(d.stac_api or stac_api) and bool(d.stac_collection or d.static_catalog)
    if d.build_source_uri and (prefer_geoparquet or not has_stac):
        ws = workspace_dir
        if ws is not None:
            text = os.fspath(ws).rstrip("/")
            if not text.endswith(("_stac", "_records")):
                ws = f"{text}/{name}_records"
        return build_from_record_table(
            d,
            name=name,
            bbox=bbox,
            date_range=date_range,
            workspace_dir=ws,
            force=force,
            max_concurrent=max_concurrent,
            cloud_config=cloud_config,
            backend=backend,
        )
    if has_stac:
        if not d.static_catalog and (bbox is None or date_range is None):
            raise InvalidInputError(
                f"dataset {d.id!r} is built from a STAC API and requires bbox and date_range "
                f"(e.g. bbox={d.example_bbox or (-122.45, 37.74, -122.35, 37.84)}, "
                f"date_range={d.example_date_range or ('2024-01-01', '2024-01-31')})"
            )
        return build_from_stac(
            name=name,
            stac_api=stac_api or d.stac_api or "",
            collection=d.stac_collection or d.id,
            data_source=d.id,
            band_index_map=d.band_index_map,
            bbox=bbox,
            date_range=date_range,
            workspace_dir=workspace_dir,
            force=force,
            max_concurrent=max_concurrent,
            cloud_config=cloud_config,
            query=query,
            backend=backend,
            static_catalog=d.static_catalog,
        )
    raise InvalidInputError(
        f"dataset {d.id!r} has no source to build from: it needs a STAC API + collection, a "
        "record table (record_table_uri / index_uri) or a collection_uri"
    )


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
    cloud_config: Any = None,
    query: dict[str, Any] | None = None,
    backend: Any = None,
    static_catalog: bool = False,
) -> Collection:
    """Index a STAC API collection (or a static catalog) into a cached collection.

    When the cache directory already exists and ``force`` is false, the cached collection is
    returned without any network access.

    Raises:
        ValueError: Inverted bbox / date range, missing stac_api / collection, no STAC items.
    """
    _check_build_args(bbox, date_range)
    if not stac_api:
        raise InvalidInputError("build_from_stac() needs stac_api (a STAC API or catalog URL)")
    if not collection:
        raise InvalidInputError("build_from_stac() needs collection (a STAC collection id)")
    from rasteret_ingest import Destination, EnrichOptions, StacSource, build_stac_collection

    result = build_stac_collection(
        StacSource(
            stac_api=stac_api,
            collection=collection,
            data_source=data_source or collection,
            band_map=band_map,
            band_index_map=band_index_map,
            bbox=bbox,
            date_range=date_range,
            query=query,
            static_catalog=static_catalog,
            cloud_config=cloud_config,
        ),
        EnrichOptions(backend=backend, max_concurrent=max_concurrent, progress=build_progress()),
        Destination(name, workspace_dir, force),
    )
    return _collection_from_result(result)


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
    filesystem: Any = None,
    columns: list[str] | None = None,
    filter_expr: Any = None,
    enrich_cog: bool = False,
    band_codes: list[str] | None = None,
    cloud_config: Any = None,
    max_concurrent: int = 300,
    force: bool = False,
    backend: Any = None,
) -> Collection:
    """Build a collection from a Parquet/GeoParquet file or directory, or any Arrow object.

    With ``enrich_cog=True`` every COG is opened once and its header indexed. Unlike
    rasteret 0.4.1, ``cloud_config`` is honoured (URL rewrites, S3 settings).

    Raises:
        FileNotFoundError: A local ``path`` does not exist.
        ValueError: Missing required columns or unusable datetime values.
    """
    from rasteret_ingest import Destination, EnrichOptions, TableSource, build_table_collection

    if isinstance(path, str | os.PathLike) and filesystem is None:
        text = os.fspath(path)
        if "://" not in text and not Path(text).expanduser().exists():
            from rasteret_ingest.naming import records_collection_dir

            cached = None
            if name or workspace_dir is not None:
                cached = records_collection_dir(workspace_dir, name)
            if force or cached is None or not Path(str(cached)).exists():
                from rasteret.errors import CollectionNotFoundError

                raise CollectionNotFoundError(f"record table not found: {text} does not exist")
    result = build_table_collection(
        TableSource.of(
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
        EnrichOptions(
            bands=band_codes,
            backend=backend,
            max_concurrent=max_concurrent,
            progress=build_progress(),
        )
        if enrich_cog
        else None,
        Destination(name, workspace_dir, force),
    )
    return _collection_from_result(result)


def load(path: str | os.PathLike[str], name: str = "") -> Collection:
    """Open a collection: a Parquet path / URI, or a registered dataset id with a
    ``collection_uri``.

    Raises:
        FileNotFoundError: The path does not exist or cannot be opened.
        ValueError: Required columns or the bbox struct are missing, or ``datetime`` is not
            a UTC / naive timestamp.
    """
    from rasteret.collection import Collection
    from rasteret_catalog.registry import DatasetRegistry

    text = os.fspath(path)
    d = None
    if isinstance(path, str) and not Path(text).expanduser().exists():
        d = DatasetRegistry.get(text)
    if d is not None and d.collection_uri:
        uri = d.collection_uri
        filesystem = None
        if uri.startswith("s3://") and not d.requires_auth:
            filesystem = anonymous_s3(None, d)
            uri = strip_scheme(uri)
        return Collection._open(uri, name=name or d.name, data_source=d.id, filesystem=filesystem)
    return Collection._open(path, name=name)


def _to_arrow(table: Any) -> Any:
    """Normalise an Arrow-like input to a ``pyarrow.dataset.Dataset``."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(table, ds.Dataset):
        return table
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    elif isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    elif not isinstance(table, pa.Table):
        if hasattr(table, "__arrow_c_stream__"):
            table = pa.RecordBatchReader.from_stream(table).read_all()
        elif hasattr(table, "__arrow_c_array__"):
            batch = pa.record_batch(table)
            table = pa.Table.from_batches([batch])
        else:
            for method in ("to_arrow_table", "fetch_arrow_table", "arrow", "to_arrow"):
                fn = getattr(table, method, None)
                if callable(fn):
                    return _to_arrow(fn())
            raise TypeError(
                f"as_collection() needs an Arrow table, batch, reader, dataset or an object "
                f"exporting Arrow (PyCapsule), got {type(table).__name__}"
            )
    _warn_if_large(table)
    return ds.dataset(_without_view_types(table))


def _plain_type(t: Any) -> Any:
    """``t`` with string/binary/list *view* types replaced by their classic layouts."""
    import pyarrow as pa

    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _plain_type(t.value_type)
        return pa.list_(inner) if pa.types.is_list(t) else pa.large_list(inner)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_plain_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_plain_type(t.key_type), _plain_type(t.item_type))
    return t


def _without_view_types(table: pa.Table) -> pa.Table:
    """Cast view-typed columns (Polars exports ``string_view``) to types pyarrow filters on."""
    import pyarrow as pa

    fields = [f.with_type(_plain_type(f.type)) for f in table.schema]
    target = pa.schema(fields, metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)


def _warn_if_large(table: pa.Table) -> None:
    global _warned_large_table
    if _warned_large_table:
        return
    size = table.nbytes
    limit = _LARGE_TABLE_BYTES
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        limit = min(limit, int(ram * 0.4))
    except (ValueError, OSError, AttributeError):
        pass
    if size >= limit:
        _warned_large_table = True
        warnings.warn(
            f"as_collection() wraps a large in-memory pyarrow.Table ({size / 1024**3:.1f} GiB); "
            "write it to Parquet and use rasteret.load() to keep memory low",
            UserWarning,
            stacklevel=3,
        )


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
    from rasteret._source import check_contract, parse_date_range_metadata, schema_metadata
    from rasteret.collection import Collection
    from rasteret_catalog.schema import MetaKey

    for label, value in (("start_date", start_date), ("end_date", end_date)):
        if value is not None and not isinstance(value, _dt.datetime):
            raise TypeError(f"{label} must be a datetime.datetime, got {type(value).__name__}")
    dataset = _to_arrow(table)
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


def register(descriptor: DatasetDescriptor) -> None:
    """Register a dataset descriptor in this process (same as ``DatasetRegistry.register``)."""
    from rasteret_catalog.registry import DatasetRegistry

    DatasetRegistry.register(descriptor)


def register_local(
    dataset_id: str,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str = "",
    data_source: str = "",
    persist: bool = True,
    registry_path: str | os.PathLike[str] | None = None,
) -> DatasetDescriptor:
    """Register an existing collection as a local dataset (and persist it by default).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a valid collection, or ``dataset_id`` is malformed.
    """
    import pyarrow.compute as pc

    from rasteret_catalog.bands import BandRegistry
    from rasteret_catalog.descriptor import DatasetDescriptor, validate_dataset_id
    from rasteret_catalog.local import save_local_descriptor
    from rasteret_catalog.registry import DatasetRegistry
    from rasteret_catalog.schema import Col

    validate_dataset_id(dataset_id)
    if DatasetRegistry.is_builtin(dataset_id):
        raise InvalidInputError(
            f"{dataset_id!r} is a built-in dataset id; register the local dataset under another id"
        )
    text = os.fspath(path)
    uri = (
        text
        if "://" in text and not text.startswith("file://")
        else str(Path(text.removeprefix("file://")).expanduser().resolve())
    )
    collection = load(uri)
    source = data_source or collection._infer_data_source(None)
    temporal = None
    if Col.DATETIME in collection.schema.names:
        col = collection.to_table([Col.DATETIME]).column(0).drop_null()
        if len(col):
            temporal = (
                pc.min(col).as_py().date().isoformat(),
                pc.max(col).as_py().date().isoformat(),
            )
    descriptor = DatasetDescriptor(
        id=dataset_id,
        name=name or collection.name or dataset_id,
        description=description or collection.description,
        collection_uri=uri,
        stac_collection=source or None,
        band_map=BandRegistry.get(source) or None if source else None,
        separate_files=True,
        spatial_coverage="local",
        temporal_range=temporal,
        requires_auth=False,
    )
    DatasetRegistry.register(descriptor)
    if persist:
        save_local_descriptor(descriptor, registry_path)
    return descriptor


def create_backend(
    credential_provider: Any = None,
    cloud_config: Any = None,
    region: str | None = None,
    default_s3_config: Mapping[str, Any] | None = None,
) -> Any:
    """Create the auto-routing storage backend (S3, GCS, Azure, HTTP(S), local files).

    Args:
        credential_provider: An obstore credential provider for S3 / GCS / Azure.
        cloud_config: A ``CloudConfig``: URL rewrites and per-bucket S3 settings.
        region: Shorthand for ``default_s3_config={"region": region}``.
        default_s3_config: obstore S3 settings applied to every bucket.

    Returns:
        A backend to pass as ``backend=`` to builds and reads.
    """
    from rasteret_io import create_backend as _create

    return _create(
        credential_provider=credential_provider,
        cloud_config=cloud_config,
        region=region,
        default_s3_config=default_s3_config,
    )
