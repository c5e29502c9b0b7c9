"""Every exception rasteret raises, in one place.

Each package has one root, and every error also derives from the builtin that rasteret 0.4.1
raised in the same situation, so ``except ValueError`` / ``except KeyError`` /
``except OSError`` code written for 0.4.1 keeps working:

- :class:`RasteretError` — raised by this package (argument checks, collections, routing);
- ``IngestError`` — builds: STAC search, record tables, header enrichment, writing;
- ``RasteretIOError`` — reads: fetching byte ranges, planning and assembling pixels;
- ``CogError`` — the TIFF / COG format: header parsing and tile decoding;
- ``CatalogError`` — dataset descriptors, the registries and the schema contract.

All of them are importable from here; :data:`ROOTS` catches any of them
(``except rasteret.errors.ROOTS:``). Passing an argument of the wrong *type* raises a plain
``TypeError``, as Python does. Messages name the file (credentials redacted), band, record or
dataset concerned. ``docs/architecture.md`` draws the whole hierarchy.
"""

from __future__ import annotations

# Every package's errors, re-exported (the ``__all__`` of each package's errors module).
import rasteret_catalog.errors as _catalog
import rasteret_cog.errors as _cog
import rasteret_ingest.errors as _ingest
import rasteret_io.errors as _io
from rasteret_catalog.errors import *  # noqa: F403
from rasteret_catalog.errors import CatalogError, UnknownDatasetError
from rasteret_cog.errors import *  # noqa: F403
from rasteret_cog.errors import CogError
from rasteret_ingest.errors import *  # noqa: F403
from rasteret_ingest.errors import IngestError
from rasteret_io.errors import *  # noqa: F403
from rasteret_io.errors import NoDataError, RasteretIOError

_META_NAMES = [
    "ROOTS",
    "AuthRequiredError",
    "BandNotFoundError",
    "CollectionNotFoundError",
    "DatasetNotRegisteredError",
    "EmptyCollectionError",
    "InvalidCollectionError",
    "InvalidFilterError",
    "InvalidInputError",
    "MissingDependencyError",
    "NoMatchingRecordsError",
    "RasteretError",
    "WorkspaceError",
    "missing_dependency",
]
__all__ = sorted({*_META_NAMES, *_catalog.__all__, *_cog.__all__, *_ingest.__all__, *_io.__all__})


class RasteretError(Exception):
    """Base class of every error raised by the :mod:`rasteret` meta package itself."""


class InvalidInputError(RasteretError, ValueError):
    """An argument has a bad value (bbox order, date range, concurrency, AOI, ...)."""


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


class DatasetNotRegisteredError(RasteretError, UnknownDatasetError):
    """A dataset id given to :func:`rasteret.build` & co. is not registered.

    The catalog's :class:`~rasteret_catalog.UnknownDatasetError` (a ``KeyError``) raised by
    the meta API, so that ``except RasteretError`` catches it too; the message lists the
    registered ids and close matches.
    """


class NoMatchingRecordsError(RasteretError, NoDataError):
    """A read found no record to read: the filters left none, or none meets the AOIs.

    A :class:`~rasteret_io.errors.NoDataError` ("No valid data found ..."); the message says
    which filters emptied the view, or the AOIs' bounds and CRS (and whether that CRS was
    assumed) next to the collection's lon/lat bounds.
    """


class AuthRequiredError(RasteretError, ValueError):
    """A dataset needs credentials and none could be set up automatically."""


class MissingDependencyError(RasteretError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


ROOTS: tuple[type[Exception], ...] = (
    RasteretError,
    IngestError,
    RasteretIOError,
    CogError,
    CatalogError,
)
"""The root of every package's errors: ``except ROOTS`` catches anything rasteret raises."""


def missing_dependency(package: str, extra: str, feature: str) -> MissingDependencyError:
    """Build the error raised when ``package`` (extra ``rasteret[extra]``) is not installed."""
    return MissingDependencyError(
        f"{feature} needs the optional dependency {package!r}: "
        f"install it with `pip install 'rasteret[{extra}]'`"
    )
