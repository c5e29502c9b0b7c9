"""rasteret_cog: a GDAL-exact COG/GeoTIFF header parser and tile decoder.

Header parsing (:func:`parse_header`, :class:`HeaderParser`, :func:`read_header_async`,
:func:`open_header`) uses only the standard library. Decoding (:func:`decode_tile`,
:func:`assemble`) imports numpy and imagecodecs on first use.
"""

from __future__ import annotations

from rasteret_cog.codecs import decode_tile, fill_value, supported_compressions
from rasteret_cog.errors import (
    CogError,
    IncompleteHeaderError,
    IncompleteRangeError,
    InvalidArgumentError,
    LimitExceededError,
    NotGeoreferencedError,
    RotatedTransformError,
    TiffFormatError,
    TileDecodeError,
    TruncatedError,
    UnsupportedCompressionError,
    UnsupportedTiffError,
)
from rasteret_cog.fetch import (
    DEFAULT_FIRST_READ,
    file_get_range,
    open_header,
    read_header,
    read_header_async,
)
from rasteret_cog.geo import Transform, check_axis_aligned, is_axis_aligned
from rasteret_cog.geokeys import CrsInfo
from rasteret_cog.header import ByteRange, CogHeader, HeaderParser, parse_header
from rasteret_cog.ifd import ParseLimits
from rasteret_cog.level import Level
from rasteret_cog.planning import TilePlacement, WindowPlan, assemble, plan_window
from rasteret_cog.spec import TileSpec
from rasteret_cog.tags import Compression, Photometric, PlanarConfiguration, Predictor

__version__ = "0.5.0"

__all__ = [
    "DEFAULT_FIRST_READ",
    "ByteRange",
    "CogError",
    "CogHeader",
    "Compression",
    "CrsInfo",
    "HeaderParser",
    "IncompleteHeaderError",
    "IncompleteRangeError",
    "InvalidArgumentError",
    "Level",
    "LimitExceededError",
    "NotGeoreferencedError",
    "ParseLimits",
    "Photometric",
    "PlanarConfiguration",
    "Predictor",
    "RotatedTransformError",
    "TiffFormatError",
    "TileDecodeError",
    "TilePlacement",
    "TileSpec",
    "Transform",
    "TruncatedError",
    "UnsupportedCompressionError",
    "UnsupportedTiffError",
    "WindowPlan",
    "__version__",
    "assemble",
    "check_axis_aligned",
    "decode_tile",
    "file_get_range",
    "fill_value",
    "is_axis_aligned",
    "open_header",
    "parse_header",
    "plan_window",
    "read_header",
    "read_header_async",
    "supported_compressions",
]
