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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
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
    default_registry_path,
    load_local_descriptors,
    read_raw_entries,
    remove_local_descriptor,
    write_descriptor_json,
)

__all__ = [
    "DatasetRegistry",
    "RegistrySnapshot",
    "builtin_descriptors",
    "export_local_descriptor",
    "unregister_local_descriptor",
]


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


@dataclass(frozen=True)
class RegistrySnapshot:
    """The process-wide registrations at one moment (see :meth:`DatasetRegistry.snapshot`)."""

    descriptors: tuple[tuple[str, DatasetDescriptor], ...]
    local_ids: frozenset[str]
    builtin_ids: frozenset[str]
    loaded: bool
    band_maps: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    cloud_configs: tuple[tuple[str, CloudConfig], ...]


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

    @classmethod
    def snapshot(cls) -> RegistrySnapshot:
        """Capture every registration: datasets, local marks, band maps and cloud configs.

        Built-ins and the local registry file are loaded first, so the snapshot is complete.
        Test suites use it with :meth:`restore` to isolate tests that register datasets.
        """
        cls._ensure_loaded()
        return RegistrySnapshot(
            descriptors=tuple(cls._descriptors.items()),
            local_ids=frozenset(cls._local_ids),
            builtin_ids=cls._builtin_ids,
            loaded=cls._loaded,
            band_maps=tuple((k, tuple(v.items())) for k, v in BandRegistry._maps.items()),
            cloud_configs=tuple(CloudConfig._configs.items()),
        )

    @classmethod
    def restore(cls, snapshot: RegistrySnapshot) -> None:
        """Return every registration to what :meth:`snapshot` captured."""
        cls._descriptors.clear()
        cls._descriptors.update(snapshot.descriptors)
        cls._local_ids.clear()
        cls._local_ids.update(snapshot.local_ids)
        cls._builtin_ids = snapshot.builtin_ids
        cls._loaded = snapshot.loaded
        BandRegistry._maps.clear()
        BandRegistry._maps.update((k, dict(v)) for k, v in snapshot.band_maps)
        CloudConfig._configs.clear()
        CloudConfig._configs.update(snapshot.cloud_configs)

    # -- public API ------------------------------------------------------------------------

    @classmethod
    def register(
        cls, descriptor: DatasetDescriptor, *, overwrite: bool = True, local: bool = False
    ) -> None:
        """Register ``descriptor``; its band map and cloud config are registered with it.

        Args:
            descriptor: The descriptor.
            overwrite: Replace an existing registration with the same id (the 0.4.1
                behaviour). With ``False`` a duplicate id raises DuplicateDatasetError.
            local: Record the id as a local dataset (what ``rasteret.register_local`` does),
                so :func:`unregister_local_descriptor` and :func:`export_local_descriptor`
                find it in this process even when it was never written to the registry file.
        """
        if not isinstance(descriptor, DatasetDescriptor):
            raise TypeError(f"expected a DatasetDescriptor, got {type(descriptor).__name__}")
        cls._ensure_loaded()
        if not overwrite and descriptor.id in cls._descriptors:
            raise DuplicateDatasetError(f"dataset id {descriptor.id!r} is already registered")
        cls._store(descriptor)
        if local:
            cls._local_ids.add(descriptor.id)
        else:
            cls._local_ids.discard(descriptor.id)

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
    """Remove the local dataset ``dataset_id`` from the registry file and from this process.

    The file entry (if any) is removed; the in-process registration is removed when it is a
    local one (registered by ``register_local`` or loaded from a registry file), never a
    built-in or a plain ``register``-ed descriptor.

    Returns:
        The removed descriptor, or ``None`` when neither the file nor this process held it.
    """
    validate_dataset_id(dataset_id)
    entry = next((e for e in read_raw_entries(path) if e.get("id") == dataset_id), None)
    removed_from_file = entry is not None and remove_local_descriptor(dataset_id, path)
    in_memory = (
        DatasetRegistry.unregister(dataset_id) if DatasetRegistry.is_local(dataset_id) else None
    )
    if in_memory is not None:
        return in_memory
    if not removed_from_file or entry is None:
        return None
    try:
        return DatasetDescriptor.from_dict(entry)
    except (DescriptorError, TypeError):
        return None


def export_local_descriptor(
    dataset_id: str, output_path: str | os.PathLike[str], path: str | os.PathLike[str] | None = None
) -> Path:
    """Write the local dataset ``dataset_id`` to ``output_path`` as one descriptor JSON object.

    The entry of the registry file is exported when there is one (verbatim), else the local
    descriptor registered in this process (``register_local(..., persist=False)``).

    Raises:
        UnknownDatasetError: (a ``KeyError``) ``dataset_id`` is neither in the registry file
            nor registered as local in this process.
    """
    validate_dataset_id(dataset_id)
    entry = next((e for e in read_raw_entries(path) if e.get("id") == dataset_id), None)
    if entry is None and DatasetRegistry.is_local(dataset_id):
        found = DatasetRegistry.get(dataset_id)
        entry = found.to_dict() if found is not None else None
    if entry is None:
        where = Path(path).expanduser() if path is not None else default_registry_path()
        raise UnknownDatasetError(
            f"Local dataset {dataset_id!r} not found: it is not in the local registry {where} "
            "and was not registered with register_local in this process"
        )
    return write_descriptor_json(entry, output_path)
