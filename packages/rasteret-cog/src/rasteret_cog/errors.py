"""Exceptions raised by :mod:`rasteret_cog`.

Every error derives from :class:`CogError`. Errors about bad or unsupported input also derive
from :class:`ValueError` (or :class:`NotImplementedError` for valid-but-unsupported features), so
callers that already catch the builtins keep working.
"""

from __future__ import annotations

__all__ = [
    "CogError",
    "IncompleteHeaderError",
    "IncompleteRangeError",
    "InvalidArgumentError",
    "LimitExceededError",
    "NotGeoreferencedError",
    "RotatedTransformError",
    "TiffFormatError",
    "TileDecodeError",
    "TruncatedError",
    "UnsupportedCompressionError",
    "UnsupportedTiffError",
]


class CogError(Exception):
    """Base class of every error raised by rasteret_cog."""


class InvalidArgumentError(CogError, TypeError, ValueError):
    """A call's arguments are unusable (wrong kind, missing companion, out of range)."""


class TiffFormatError(CogError, ValueError):
    """The bytes are not a valid TIFF, or a tag holds an impossible value."""


class TruncatedError(TiffFormatError):
    """A structure points past the end of the file (or past the bytes available)."""


class LimitExceededError(TiffFormatError):
    """A header or tile exceeds a safety limit (:class:`~rasteret_cog.ParseLimits`).

    Attributes:
        what: What was measured (e.g. ``"decoded tile size"``).
        value: The measured value.
        limit: The limit it exceeds.
    """

    def __init__(self, what: str, value: int, limit: int, context: str = "") -> None:
        where = f"{context}: " if context else ""
        super().__init__(
            f"{where}{what} {value} exceeds the limit of {limit} "
            "(raise it through ParseLimits / decode_tile(max_bytes=...) if the file is legitimate)"
        )
        self.what = what
        self.value = value
        self.limit = limit


class IncompleteHeaderError(CogError, ValueError):
    """The header parser needs bytes it was not given.

    Attributes:
        start: First byte offset needed.
        length: Number of bytes needed from ``start``.
    """

    def __init__(self, start: int, length: int) -> None:
        super().__init__(
            f"header parsing needs bytes [{start}, {start + length}) that were not provided"
        )
        self.start = start
        self.length = length


class UnsupportedTiffError(CogError, NotImplementedError, ValueError):
    """A valid TIFF feature that rasteret_cog does not implement (e.g. a sample format)."""


class UnsupportedCompressionError(UnsupportedTiffError):
    """The tile compression (TIFF tag 259) has no decoder here."""


class TileDecodeError(CogError, ValueError):
    """A tile's bytes could not be decoded into the expected array."""


class NotGeoreferencedError(CogError, ValueError):
    """The operation needs a geotransform but the file has none."""


class RotatedTransformError(CogError, NotImplementedError, ValueError):
    """The geotransform has rotation/shear terms; readers only handle north-up/south-up grids."""


class IncompleteRangeError(CogError, OSError):
    """A byte source returned fewer bytes than asked before the known end of the file."""
