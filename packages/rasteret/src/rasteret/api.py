"""Top-level functions that open and register collections: ``load``, ``as_collection``,
``register``, ``register_local`` and ``create_backend``.

The build functions (``build``, ``build_from_stac``, ``build_from_table``) live in
:mod:`rasteret.builds.functions`: opening a collection does not import the build pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasteret.core.collection import Collection, as_collection
from rasteret.core.opening import catalog_surfaces
from rasteret.core.source import is_remote
from rasteret.errors import InvalidInputError
from rasteret_catalog import (
    BandRegistry,
    CloudConfig,
    DatasetDescriptor,
    DatasetRegistry,
    save_local_descriptor,
    validate_dataset_id,
)
from rasteret_io import create_backend as _create_backend

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io import RoutingBackend

__all__ = ["as_collection", "create_backend", "load", "register", "register_local"]


def load(path: str | os.PathLike[str], name: str = "") -> Collection:
    """Open a collection: a Parquet path / URI, an ``hf://datasets/...`` repo (streamed), or a
    registered dataset id with a ``collection_uri``.

    A dataset whose descriptor also has an ``index_uri`` (or record table) opens as a
    dual-surface collection planned on that record index (``aef/v1-annual``): queries answer
    from the index and reads open only the collection-data shards they need.

    Raises:
        FileNotFoundError: The path does not exist or cannot be opened.
        ValueError: Required columns or the bbox struct are missing, or ``datetime`` is not
            a UTC / naive timestamp.
    """
    text = os.fspath(path)
    d = None
    if isinstance(path, str) and not Path(text).expanduser().exists():
        d = DatasetRegistry.get(text)
    if d is not None and d.collection_uri:
        uri, filesystem, index = catalog_surfaces(d)
        return Collection._open(
            uri, name=name or d.name, data_source=d.id, filesystem=filesystem, record_index=index
        )
    return Collection._open(path, name=name)


def register(descriptor: DatasetDescriptor) -> None:
    """Register a dataset descriptor in this process (same as ``DatasetRegistry.register``)."""
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

    from rasteret_catalog.schema import Col

    validate_dataset_id(dataset_id)
    if DatasetRegistry.is_builtin(dataset_id):
        raise InvalidInputError(
            f"{dataset_id!r} is a built-in dataset id; register the local dataset under another id"
        )
    text = os.fspath(path)
    uri = (
        text if is_remote(text) else str(Path(text.removeprefix("file://")).expanduser().resolve())
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
    DatasetRegistry.register(descriptor, local=True)
    if persist:
        save_local_descriptor(descriptor, registry_path)
    return descriptor


def create_backend(
    credential_provider: Any = None,
    cloud_config: CloudConfig | None = None,
    region: str | None = None,
    default_s3_config: Mapping[str, Any] | None = None,
) -> RoutingBackend:
    """Create the auto-routing storage backend (S3, GCS, Azure, HTTP(S), local files).

    Args:
        credential_provider: An obstore credential provider for S3 / GCS / Azure.
        cloud_config: A ``CloudConfig``: URL rewrites and per-bucket S3 settings.
        region: Shorthand for ``default_s3_config={"region": region}``.
        default_s3_config: obstore S3 settings applied to every bucket.

    Returns:
        A backend to pass as ``backend=`` to builds and reads.
    """
    return _create_backend(
        credential_provider=credential_provider,
        cloud_config=cloud_config,
        region=region,
        default_s3_config=default_s3_config,
    )
