"""Open a collection's records as the right provider: a Parquet dataset, a dual-surface
collection (record index + wide data) or a streamed Hugging Face dataset (``hf://``)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from rasteret.core.dataset_provider import DatasetProvider
from rasteret.core.hf_provider import StreamingProvider
from rasteret.core.hf_source import HfStreamingSource, is_hf_uri, open_hf_source
from rasteret.core.index_spec import RecordIndexSpec
from rasteret.core.provider import RecordProvider
from rasteret.core.record_index import IndexHandle, RecordIndexProvider
from rasteret.core.source import (
    check_contract,
    collection_info,
    dataset_filesystem,
    is_remote,
    open_collection,
    open_parquet_dataset,
    schema_metadata,
)
from rasteret.core.wide_data import WideData
from rasteret.errors import CollectionNotFoundError, InvalidCollectionError, InvalidInputError
from rasteret.records import CollectionInfo
from rasteret_catalog import CloudConfig, DatasetDescriptor
from rasteret_catalog.schema import Col

__all__ = [
    "catalog_surfaces",
    "open_provider",
    "open_record_index",
    "open_streaming",
    "provider_of",
]


def open_streaming(
    uri: str, *, name: str = "", data_source: str = ""
) -> tuple[StreamingProvider, CollectionInfo]:
    """A streamed ``hf://`` collection (its contract columns checked on the first file's schema).

    Raises:
        CollectionNotFoundError: Unknown repo / revision, or no Parquet files.
        InvalidCollectionError: Required columns missing.
        MissingDependencyError: ``huggingface_hub`` is not installed (``rasteret[hf]``).
    """
    source = open_hf_source(uri)
    check_contract(source.schema, where=uri, require_band_metadata=False)
    info = collection_info(
        schema_metadata(source.schema), source.name, name=name, data_source=data_source
    )
    return StreamingProvider(source), info


def open_record_index(
    path: str | os.PathLike[str],
    spec: RecordIndexSpec,
    *,
    name: str = "",
    data_source: str = "",
    filesystem: pafs.FileSystem | None = None,
) -> tuple[RecordIndexProvider, CollectionInfo]:
    """A dual-surface collection: ``spec``'s index beside the collection data at ``path``.

    The collection data is read through ``filesystem``, else the index's (0.4.1's
    ``record_index_filesystem`` serves both surfaces).

    Only the index is opened (its schema read, its id column checked); the wide data is
    opened by the first read that needs it. Name, description, data source and dates come
    from the index's metadata (else the stem of ``path``).

    Raises:
        CollectionNotFoundError: A local index or collection path does not exist.
        InvalidCollectionError: The index has no column for the ``id`` role.
    """
    text = os.fspath(path)
    wide_fs = filesystem if filesystem is not None else spec.filesystem
    if wide_fs is None and not is_remote(text):
        local = Path(text.removeprefix("file://")).expanduser()
        if not local.exists():
            raise CollectionNotFoundError(f"collection not found: {local} does not exist")
    index = IndexHandle(spec)
    id_col = spec.column(Col.ID)
    if not index.has(id_col):
        raise InvalidCollectionError(
            f"record index {spec.path} has no column {id_col!r} for the 'id' role "
            f"(columns: {index.schema.names}); pass record_index_field_roles={{'id': ...}}"
        )
    provider = RecordIndexProvider(index, WideData(text, wide_fs))
    info = collection_info(provider.metadata(), text, name=name, data_source=data_source)
    return provider, info


def open_provider(
    path: str | os.PathLike[str],
    *,
    name: str = "",
    data_source: str = "",
    filesystem: pafs.FileSystem | None = None,
    record_index: RecordIndexSpec | None = None,
) -> tuple[RecordProvider, CollectionInfo]:
    """The records at ``path`` and their descriptive values.

    Raises:
        CollectionNotFoundError: The path (or repo) does not exist.
        InvalidCollectionError: Not a readable collection, or it breaks the contract.
    """
    if is_hf_uri(path):
        return open_streaming(os.fspath(path), name=name, data_source=data_source)
    if record_index is not None:
        return open_record_index(
            path, record_index, name=name, data_source=data_source, filesystem=filesystem
        )
    dataset, info = open_collection(path, name=name, data_source=data_source, filesystem=filesystem)
    return DatasetProvider(dataset), info


def catalog_surfaces(
    d: DatasetDescriptor, cloud_config: CloudConfig | None = None
) -> tuple[str, pafs.FileSystem | None, RecordIndexSpec | None]:
    """Where a catalog dataset's ready collection is, and its record index if it has one.

    Public S3 buckets are read without signing (``dataset_filesystem``). A dataset whose
    ``index_uri`` (or record table) differs from its ``collection_uri`` is dual-surface:
    field roles, column map, href column, band index map, URL patterns, surface fields and
    filter capabilities come from the descriptor.

    Returns:
        ``(collection path, its filesystem, record index spec or None)``.
    """
    assert d.collection_uri is not None
    uri, filesystem = dataset_filesystem(d, d.collection_uri, cloud_config)
    spec = None
    index = d.runtime_index_uri
    if index and index != d.collection_uri:
        index_path, index_fs = dataset_filesystem(d, index, cloud_config)
        spec = RecordIndexSpec.from_descriptor(
            d, filesystem=index_fs, path=index_path, cloud_config=cloud_config
        )
    return uri, filesystem, spec


def provider_of(
    dataset: ds.Dataset | None,
    hf_streaming: HfStreamingSource | None,
    collection_path: str | None,
    spec: RecordIndexSpec | None,
    record_index_filter_expr: ds.Expression | None,
    wide_filter_expr: ds.Expression | None,
) -> RecordProvider | None:
    """The provider ``Collection.__init__``'s keywords describe (None: an empty collection).

    Raises:
        InvalidInputError: A record index without collection data, or with ``hf_streaming``.
    """
    if hf_streaming is not None:
        if spec is not None:
            raise InvalidInputError(
                "an hf:// streaming collection cannot also have a record index (record_index_path)"
            )
        return StreamingProvider(hf_streaming)
    if spec is not None:
        if dataset is None and collection_path is None:
            raise InvalidInputError(
                "a record index needs the collection data it indexes: pass collection_path "
                "(or dataset)"
            )
        return RecordIndexProvider(
            IndexHandle(spec),
            WideData(collection_path, spec.filesystem, dataset),
            index_filter=record_index_filter_expr,
            wide_filter=wide_filter_expr,
            exact=record_index_filter_expr is None,
        )
    if dataset is None and collection_path is not None:
        dataset, _ = open_parquet_dataset(collection_path)
    if dataset is None:
        return None
    return DatasetProvider(dataset, wide_filter_expr)
