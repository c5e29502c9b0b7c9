"""``DatasetRegistry``: the process-wide set of known datasets.

Built-in datasets (package data) and the user's local registry file are loaded on first use,
not at import. Local entries are loaded after *all* built-ins; a local entry reusing a
built-in id is skipped with a warning (rasteret 0.4.1 let some of them be overwritten
silently, depending on file order).
"""

from __future__ import annotations

import builtins
import json
import os
import warnings
from importlib import resources
from typing import ClassVar

from rasteret_catalog.bands import BandRegistry
from rasteret_catalog.cloud import CloudConfig
from rasteret_catalog.descriptor import DatasetDescriptor, validate_dataset_id
from rasteret_catalog.errors import (
    DescriptorError,
    DuplicateDatasetError,
    LocalRegistryError,
    UnknownDatasetError,
)
from rasteret_catalog.local import (
    load_local_descriptors,
    read_raw_entries,
    remove_local_descriptor,
)

__all__ = ["DatasetRegistry", "builtin_descriptors", "unregister_local_descriptor"]


def builtin_descriptors() -> list[DatasetDescriptor]:
    """The built-in dataset descriptors, read from package data."""
    text = (
        resources.files("rasteret_catalog")
        .joinpath("data/builtin_datasets.json")
        .read_text("utf-8")
    )
    payload = json.loads(text)
    out: list[DatasetDescriptor] = []
    seen: set[str] = set()
    for entry in payload["datasets"]:
        d = DatasetDescriptor.from_dict(entry)
        if d.id in seen:  # pragma: no cover - guarded by a test on the data file
            raise DuplicateDatasetError(f"built-in dataset id {d.id!r} is listed twice")
        seen.add(d.id)
        out.append(d)
    return out


class DatasetRegistry:
    """Registry of dataset descriptors, keyed by id, in registration order."""

    _descriptors: ClassVar[dict[str, DatasetDescriptor]] = {}
    _builtin_ids: ClassVar[frozenset[str]] = frozenset()
    _local_ids: ClassVar[set[str]] = set()
    _loaded: ClassVar[bool] = False

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._loaded:
            return
        cls._loaded = True
        builtins = builtin_descriptors()
        for d in builtins:
            cls._store(d)
        cls._builtin_ids = frozenset(d.id for d in builtins)
        cls.load_local()

    @classmethod
    def load_local(cls, path: str | os.PathLike[str] | None = None) -> list[DatasetDescriptor]:
        """Register the entries of the local registry file (default path when ``None``).

        A corrupt file produces a ``UserWarning`` naming it and registers nothing; the file
        is left as it is.

        Returns:
            The descriptors registered.
        """
        cls._ensure_loaded()
        try:
            found = load_local_descriptors(path)
        except (LocalRegistryError, DuplicateDatasetError) as exc:
            warnings.warn(str(exc), UserWarning, stacklevel=2)
            return []
        added = []
        for d in found:
            if d.id in cls._builtin_ids:
                warnings.warn(
                    f"local dataset {d.id!r} reuses a built-in id and is ignored; register it under another id",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            cls._store(d)
            cls._local_ids.add(d.id)
            added.append(d)
        return added

    @classmethod
    def _store(cls, d: DatasetDescriptor) -> None:
        cls._descriptors[d.id] = d
        if d.band_map:
            BandRegistry.register(d.id, d.band_map)
        if d.cloud_config:
            CloudConfig.register(d.id, CloudConfig.from_dict(d.cloud_config))

    @classmethod
    def reset(cls) -> None:
        """Forget every registration; built-ins and the local file load again on next use."""
        for dataset_id in list(cls._descriptors):
            BandRegistry.unregister(dataset_id)
            CloudConfig.unregister(dataset_id)
        cls._descriptors.clear()
        cls._local_ids.clear()
        cls._builtin_ids = frozenset()
        cls._loaded = False

    # -- public API ------------------------------------------------------------------------

    @classmethod
    def register(cls, descriptor: DatasetDescriptor, *, overwrite: bool = True) -> None:
        """Register ``descriptor``; its band map and cloud config are registered with it.

        Args:
            descriptor: The descriptor.
            overwrite: Replace an existing registration with the same id (the 0.4.1
                behaviour). With ``False`` a duplicate id raises DuplicateDatasetError.
        """
        if not isinstance(descriptor, DatasetDescriptor):
            raise TypeError(f"expected a DatasetDescriptor, got {type(descriptor).__name__}")
        cls._ensure_loaded()
        if not overwrite and descriptor.id in cls._descriptors:
            raise DuplicateDatasetError(f"dataset id {descriptor.id!r} is already registered")
        cls._store(descriptor)

    @classmethod
    def get(cls, dataset_id: str) -> DatasetDescriptor | None:
        """The descriptor registered as ``dataset_id``, or ``None``."""
        cls._ensure_loaded()
        return cls._descriptors.get(dataset_id)

    @classmethod
    def require(cls, dataset_id: str) -> DatasetDescriptor:
        """The descriptor registered as ``dataset_id``.

        Raises:
            UnknownDatasetError: (a ``KeyError``) listing the registered ids.
        """
        found = cls.get(dataset_id)
        if found is None:
            raise UnknownDatasetError(
                f"unknown dataset id {dataset_id!r}; available: {', '.join(cls.ids())}"
            )
        return found

    @classmethod
    def list(cls) -> list[DatasetDescriptor]:
        """All descriptors, in registration order."""
        cls._ensure_loaded()
        return list(cls._descriptors.values())

    @classmethod
    def ids(cls) -> builtins.list[str]:
        """All registered ids, in registration order."""
        cls._ensure_loaded()
        return list(cls._descriptors)

    @classmethod
    def unregister(cls, dataset_id: str) -> DatasetDescriptor | None:
        """Remove ``dataset_id`` from this process (not from any file); return it or ``None``."""
        cls._ensure_loaded()
        d = cls._descriptors.pop(dataset_id, None)
        if d is not None:
            cls._local_ids.discard(dataset_id)
            if d.band_map:
                BandRegistry.unregister(dataset_id)
            if d.cloud_config:
                CloudConfig.unregister(dataset_id)
        return d

    @classmethod
    def search(cls, keyword: str) -> builtins.list[DatasetDescriptor]:
        """Descriptors whose id, name or description contains ``keyword`` (case-insensitive)."""
        k = keyword.lower()
        return [
            d
            for d in cls.list()
            if k in d.id.lower() or k in d.name.lower() or k in d.description.lower()
        ]

    @classmethod
    def is_builtin(cls, dataset_id: str) -> bool:
        """Whether ``dataset_id`` is one of the built-in datasets."""
        cls._ensure_loaded()
        return dataset_id in cls._builtin_ids

    @classmethod
    def is_local(cls, dataset_id: str) -> bool:
        """Whether ``dataset_id`` came from the local registry file."""
        cls._ensure_loaded()
        return dataset_id in cls._local_ids


BandRegistry._before_lookup = DatasetRegistry._ensure_loaded
CloudConfig._before_lookup = DatasetRegistry._ensure_loaded


def unregister_local_descriptor(
    dataset_id: str, path: str | os.PathLike[str] | None = None
) -> DatasetDescriptor | None:
    """Remove ``dataset_id`` from the local registry file and, if local, from this process.

    Returns:
        The removed descriptor, or ``None`` when the file did not list it.
    """
    validate_dataset_id(dataset_id)
    entry = next((e for e in read_raw_entries(path) if e.get("id") == dataset_id), None)
    if entry is None or not remove_local_descriptor(dataset_id, path):
        return None
    if DatasetRegistry.is_local(dataset_id):
        return DatasetRegistry.unregister(dataset_id)
    try:
        return DatasetDescriptor.from_dict(entry)
    except (DescriptorError, TypeError):
        return None
