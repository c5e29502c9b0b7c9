"""Exceptions raised by rasteret_catalog.

Every error derives from :class:`CatalogError` and also from the builtin a caller would
naturally catch (``ValueError`` for bad input, ``KeyError`` for unknown ids, ``OSError``
for unusable files).
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base class of every rasteret_catalog error."""


class DescriptorError(CatalogError, ValueError):
    """A dataset descriptor has a malformed field (the message names the field and id)."""


class DuplicateDatasetError(CatalogError, ValueError):
    """A dataset id is already registered (or appears twice in one registry file)."""


class UnknownDatasetError(CatalogError, KeyError):
    """A dataset id is not registered; the message lists the ids that are."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class LocalRegistryError(CatalogError, ValueError):
    """The local dataset registry file cannot be parsed or written (the message names it)."""


class SchemaError(CatalogError, ValueError):
    """A table does not satisfy the collection schema contract; ``problems`` lists every defect."""

    def __init__(self, message: str, problems: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems
