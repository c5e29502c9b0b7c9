"""Exceptions raised by the ``rasteret`` meta package.

Every error derives from :class:`RasteretError` and from the builtin that rasteret 0.4.1
raised in the same situation, so ``except ValueError`` / ``except KeyError`` code written for
0.4.1 keeps working. Messages name the file, band, record or dataset concerned.
"""

from __future__ import annotations

from rasteret_catalog.errors import UnknownDatasetError as _CatalogUnknownDatasetError

__all__ = [
    "AuthRequiredError",
    "BandNotFoundError",
    "CollectionNotFoundError",
    "EmptyCollectionError",
    "InvalidCollectionError",
    "InvalidFilterError",
    "InvalidInputError",
    "MissingDependencyError",
    "RasteretError",
    "UnknownDatasetError",
    "WorkspaceError",
]


class RasteretError(Exception):
    """Base class of every error raised by :mod:`rasteret`."""


class InvalidInputError(RasteretError, ValueError):
    """An argument has a bad value (bbox order, date range, ...)."""


class InvalidFilterError(InvalidInputError):
    """A ``subset``/``where`` filter is malformed or needs a column the collection lacks."""


class InvalidCollectionError(RasteretError, ValueError):
    """A table does not satisfy the collection contract (missing columns, bad datetime...)."""


class BandNotFoundError(RasteretError, ValueError):
    """Requested band code(s) are not in the collection; the message lists those that are."""


class EmptyCollectionError(RasteretError, ValueError):
    """An operation needs at least one record (or one usable record) and found none."""


class CollectionNotFoundError(RasteretError, FileNotFoundError):
    """A collection path or cached collection name does not exist."""


class WorkspaceError(RasteretError, ValueError):
    """A cached-collection name is ambiguous, or a workspace is unusable."""


class UnknownDatasetError(RasteretError, _CatalogUnknownDatasetError):
    """A dataset id is not registered (a ``KeyError``); the message lists the registered ids."""


class AuthRequiredError(RasteretError, ValueError):
    """A dataset needs credentials and none could be set up automatically."""


class MissingDependencyError(RasteretError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def missing_dependency(package: str, extra: str, feature: str) -> MissingDependencyError:
    """Build the error raised when ``package`` (extra ``rasteret[extra]``) is not installed."""
    return MissingDependencyError(
        f"{feature} needs the optional dependency {package!r}: "
        f"install it with `pip install 'rasteret[{extra}]'`"
    )
