"""The dataset catalog under its rasteret 0.4.1 module path (``rasteret.catalog``).

Thin re-exports of :mod:`rasteret_catalog`, where the descriptors and registries live.
"""

from __future__ import annotations

from rasteret_catalog import (
    DatasetDescriptor,
    DatasetRegistry,
    export_local_descriptor,
    load_local_descriptors,
    remove_local_descriptor,
    save_local_descriptor,
    unregister_local_descriptor,
)

__all__ = [
    "DatasetDescriptor",
    "DatasetRegistry",
    "export_local_descriptor",
    "load_local_descriptors",
    "remove_local_descriptor",
    "save_local_descriptor",
    "unregister_local_descriptor",
]
