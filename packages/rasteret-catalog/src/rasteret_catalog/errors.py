"""Exceptions raised by rasteret_catalog.

Every error derives from :class:`CatalogError` and also from the builtin a caller would
naturally catch (``ValueError`` for bad input, ``KeyError`` for unknown ids and columns).
Passing an argument of the wrong *type* raises a plain ``TypeError``, as Python does.
"""

from __future__ import annotations

__all__ = [
    "BandCodeError",
    "CatalogError",
    "DescriptorError",
    "DuplicateDatasetError",
    "LocalRegistryError",
    "SchemaError",
    "UnknownColumnError",
    "UnknownDatasetError",
]


class CatalogError(Exception):
    """Base class of every rasteret_catalog error."""


class _KeyMessage(KeyError):
    """A ``KeyError`` whose ``str()`` is its message (``KeyError`` would ``repr()`` it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DescriptorError(CatalogError, ValueError):
    """A dataset descriptor has a malformed field (the message names the field and id)."""


class DuplicateDatasetError(CatalogError, ValueError):
    """A dataset id is already registered (or appears twice in one registry file)."""


class UnknownDatasetError(CatalogError, _KeyMessage):
    """A dataset id is not registered; the message lists the ids that are."""


class UnknownColumnError(CatalogError, _KeyMessage):
    """A column or struct field is not declared by the schema contract."""


class BandCodeError(CatalogError, ValueError):
    """A band code or band map is malformed (empty codes, non-string asset keys)."""


class LocalRegistryError(CatalogError, ValueError):
    """The local dataset registry file cannot be parsed or written (the message names it)."""


class SchemaError(CatalogError, ValueError):
    """A table does not satisfy the collection schema contract; ``problems`` lists every defect."""

    def __init__(self, message: str, problems: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems
