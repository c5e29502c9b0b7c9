"""TIFF / GeoTIFF / GDAL numeric codes as IntEnums (stdlib only)."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "Compression",
    "FieldType",
    "GeoKey",
    "GeoKeyValue",
    "Photometric",
    "PlanarConfiguration",
    "Predictor",
    "SampleFormat",
    "SubfileType",
    "Tag",
]


class Tag(IntEnum):
    """TIFF tag codes rasteret_cog reads."""

    NEW_SUBFILE_TYPE = 254
    IMAGE_WIDTH = 256
    IMAGE_LENGTH = 257
    BITS_PER_SAMPLE = 258
    COMPRESSION = 259
    PHOTOMETRIC = 262
    FILL_ORDER = 266
    STRIP_OFFSETS = 273
    SAMPLES_PER_PIXEL = 277
    ROWS_PER_STRIP = 278
    STRIP_BYTE_COUNTS = 279
    PLANAR_CONFIGURATION = 284
    PREDICTOR = 317
    TILE_WIDTH = 322
    TILE_LENGTH = 323
    TILE_OFFSETS = 324
    TILE_BYTE_COUNTS = 325
    SUB_IFDS = 330
    EXTRA_SAMPLES = 338
    SAMPLE_FORMAT = 339
    JPEG_TABLES = 347
    YCBCR_SUBSAMPLING = 530
    MODEL_PIXEL_SCALE = 33550
    MODEL_TIEPOINT = 33922
    MODEL_TRANSFORMATION = 34264
    GEO_KEY_DIRECTORY = 34735
    GEO_DOUBLE_PARAMS = 34736
    GEO_ASCII_PARAMS = 34737
    GDAL_METADATA = 42112
    GDAL_NODATA = 42113
    LERC_PARAMETERS = 50674


class FieldType(IntEnum):
    """TIFF field (value) types."""

    BYTE = 1
    ASCII = 2
    SHORT = 3
    LONG = 4
    RATIONAL = 5
    SBYTE = 6
    UNDEFINED = 7
    SSHORT = 8
    SLONG = 9
    SRATIONAL = 10
    FLOAT = 11
    DOUBLE = 12
    IFD = 13
    LONG8 = 16
    SLONG8 = 17
    IFD8 = 18


class Compression(IntEnum):
    """TIFF Compression (tag 259) codes."""

    NONE = 1
    CCITT_RLE = 2
    CCITT_T4 = 3
    CCITT_T6 = 4
    LZW = 5
    OJPEG = 6
    JPEG = 7
    ADOBE_DEFLATE = 8
    JPEG2000 = 34712
    PACKBITS = 32773
    DEFLATE = 32946
    LZMA = 34925
    LERC = 34887
    ZSTD = 50000
    WEBP = 50001
    JPEGXL = 50002


class Predictor(IntEnum):
    """TIFF Predictor (tag 317) codes."""

    NONE = 1
    HORIZONTAL = 2
    FLOATING_POINT = 3


class Photometric(IntEnum):
    """TIFF PhotometricInterpretation (tag 262) codes."""

    MINISWHITE = 0
    MINISBLACK = 1
    RGB = 2
    PALETTE = 3
    MASK = 4
    SEPARATED = 5
    YCBCR = 6
    CIELAB = 8


class PlanarConfiguration(IntEnum):
    """TIFF PlanarConfiguration (tag 284): 1 = chunky (pixel interleaved), 2 = planar (band)."""

    CHUNKY = 1
    PLANAR = 2


class SampleFormat(IntEnum):
    """TIFF SampleFormat (tag 339) codes."""

    UINT = 1
    INT = 2
    IEEEFP = 3
    VOID = 4
    COMPLEXINT = 5
    COMPLEXIEEEFP = 6


class SubfileType(IntEnum):
    """Bits of NewSubfileType (tag 254)."""

    REDUCED_IMAGE = 1
    PAGE = 2
    MASK = 4


class GeoKey(IntEnum):
    """GeoTIFF GeoKey ids (GeoTIFF 1.1, OGC 19-008r4)."""

    GT_MODEL_TYPE = 1024
    GT_RASTER_TYPE = 1025
    GT_CITATION = 1026
    GEOGRAPHIC_TYPE = 2048
    GEOG_CITATION = 2049
    GEOG_GEODETIC_DATUM = 2050
    GEOG_PRIME_MERIDIAN = 2051
    GEOG_LINEAR_UNITS = 2052
    GEOG_LINEAR_UNIT_SIZE = 2053
    GEOG_ANGULAR_UNITS = 2054
    GEOG_ANGULAR_UNIT_SIZE = 2055
    GEOG_ELLIPSOID = 2056
    GEOG_SEMI_MAJOR_AXIS = 2057
    GEOG_SEMI_MINOR_AXIS = 2058
    GEOG_INV_FLATTENING = 2059
    GEOG_AZIMUTH_UNITS = 2060
    GEOG_PRIME_MERIDIAN_LONG = 2061
    PROJECTED_CS_TYPE = 3072
    PCS_CITATION = 3073
    PROJECTION = 3074
    PROJ_COORD_TRANS = 3075
    PROJ_LINEAR_UNITS = 3076
    PROJ_LINEAR_UNIT_SIZE = 3077
    PROJ_STD_PARALLEL1 = 3078
    PROJ_STD_PARALLEL2 = 3079
    PROJ_NAT_ORIGIN_LONG = 3080
    PROJ_NAT_ORIGIN_LAT = 3081
    PROJ_FALSE_EASTING = 3082
    PROJ_FALSE_NORTHING = 3083
    PROJ_FALSE_ORIGIN_LONG = 3084
    PROJ_FALSE_ORIGIN_LAT = 3085
    PROJ_FALSE_ORIGIN_EASTING = 3086
    PROJ_FALSE_ORIGIN_NORTHING = 3087
    PROJ_CENTER_LONG = 3088
    PROJ_CENTER_LAT = 3089
    PROJ_CENTER_EASTING = 3090
    PROJ_CENTER_NORTHING = 3091
    PROJ_SCALE_AT_NAT_ORIGIN = 3092
    PROJ_SCALE_AT_CENTER = 3093
    PROJ_AZIMUTH_ANGLE = 3094
    PROJ_STRAIGHT_VERT_POLE_LONG = 3095
    VERTICAL_CS_TYPE = 4096
    VERTICAL_CITATION = 4097
    VERTICAL_DATUM = 4098
    VERTICAL_UNITS = 4099


#: GeoKey value meaning "user-defined" (not an EPSG code).
USER_DEFINED = 32767

GeoKeyValue = int | float | str | tuple[float, ...] | tuple[int, ...]
"""A decoded GeoKey value: an inline SHORT, a double or doubles, or an ASCII string."""
