"""Errors of the read engine (planning, decoding, assembling); fetch errors live in ``errors``."""

from __future__ import annotations

from rasteret_io.errors import RasteretIOError

__all__ = ["BandResolutionError", "NoDataError", "ReadError", "UnsupportedGeometryError"]


class ReadError(RasteretIOError, ValueError):
    """A read cannot be planned or its data cannot be used (bad metadata, rotation, ...)."""


class BandResolutionError(ReadError):
    """A requested band cannot be resolved for a record (no asset / metadata for it)."""


class NoDataError(ReadError):
    """Nothing could be read: no record intersects the AOIs, or every read failed."""


class UnsupportedGeometryError(RasteretIOError, TypeError):
    """A geometry of an unsupported type was given (e.g. points for a masked AOI read)."""
