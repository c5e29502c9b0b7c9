"""Exceptions and warnings raised by :mod:`rasteret_ingest`.

Every error derives from :class:`IngestError` and also from the builtin callers already
catch: :class:`ValueError` for bad input (tables, band maps, names), :class:`OSError` for I/O
(STAC servers, writing collections). Messages name the URL (credentials redacted), the band
and the record when they are known.
"""

from __future__ import annotations

__all__ = [
    "BandMapError",
    "BuildSpecError",
    "CollectionExistsError",
    "CrsResolutionError",
    "EnrichmentError",
    "IngestError",
    "IngestWarning",
    "NoItemsError",
    "RecordTableError",
    "SharedAssetError",
    "StacSearchError",
    "TableNormalizationError",
    "UnusableHeaderError",
    "WriteError",
]


class IngestError(Exception):
    """Base class of every error raised by rasteret_ingest."""


class BuildSpecError(IngestError, ValueError):
    """A build, update or write was asked for with missing or inconsistent arguments."""


class TableNormalizationError(IngestError, ValueError):
    """A record table cannot be brought to the collection contract (types, missing columns)."""


class RecordTableError(IngestError, ValueError):
    """A record-table source cannot be read (unsupported object, missing path or columns)."""


class BandMapError(IngestError, ValueError):
    """Requested bands do not exist in the items, or no band map could be resolved."""


class SharedAssetError(BandMapError, NotImplementedError):
    """Several bands read one multi-band asset and no ``band_index_map`` says which sample."""


class CrsResolutionError(IngestError, ValueError):
    """A record's raster CRS is missing or its headers disagree about it."""


class UnusableHeaderError(IngestError, ValueError):
    """A header parsed but cannot be indexed (not georeferenced, unsupported samples, bad band index)."""


class NoItemsError(IngestError, ValueError):
    """A STAC search or catalog walk matched no items."""


class StacSearchError(IngestError, OSError):
    """A STAC API or static catalog could not be read (HTTP error, bad response)."""


class EnrichmentError(IngestError, OSError):
    """No header of a build could be read (every asset failed).

    Attributes:
        report: The :class:`~rasteret_ingest.enrich.EnrichReport` of the failed enrichment.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class WriteError(IngestError, OSError):
    """A collection could not be written."""


class CollectionExistsError(WriteError, FileExistsError):
    """The target collection exists and ``force`` was not given."""


class IngestWarning(UserWarning):
    """Non-fatal ingest problems (some asset headers unreadable, nothing to enrich...).

    Attributes:
        report: The :class:`~rasteret_ingest.enrich.EnrichReport` listing every failure, when
            the warning is about failed headers (the message only summarises them).
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
