"""Registered datasets, looked up with an error that helps (close matches, every id)."""

from __future__ import annotations

from rasteret.errors import DatasetNotRegisteredError
from rasteret_catalog import DatasetDescriptor, DatasetRegistry

__all__ = ["require_descriptor"]


def require_descriptor(dataset_id: str) -> DatasetDescriptor:
    """The registered descriptor of ``dataset_id``.

    Raises:
        DatasetNotRegisteredError: (a ``KeyError``) listing the registered ids and close matches.
        TypeError: ``dataset_id`` is not a str.
    """
    if not isinstance(dataset_id, str):
        raise TypeError(f"dataset id must be a str, got {type(dataset_id).__name__}")
    d = DatasetRegistry.get(dataset_id)
    if d is None:
        ids = DatasetRegistry.ids()
        close = [i for i in ids if dataset_id.lower() in i.lower()]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DatasetNotRegisteredError(
            f"Unknown dataset {dataset_id!r}.{hint} Available datasets: {', '.join(ids)} "
            "(see `rasteret datasets list`; register your own with rasteret.register_local)"
        )
    return d
