"""The collection schema contract, declared with the standard library only.

A rasteret *collection* is an Arrow table with one row per raster record. This module is the
single place that names its columns, their logical types, whether they are required, and what
they mean. Producers (``rasteret_ingest``) and consumers (``rasteret_io``, ``rasteret``) refer
to the names defined here instead of restating string literals; ``rasteret_catalog.arrow``
turns the declaration into a ``pyarrow.Schema`` and validates tables against it.

The layout is compatible with collections written by rasteret 0.4.1 in both directions: the
required columns and the first seventeen ``{band}_metadata`` fields are identical, and every
field added since is nullable and appended after them, so old readers ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rasteret_catalog.errors import BandCodeError, UnknownColumnError

SCHEMA_VERSION = "1.1"
"""Version of this contract. ``1`` is rasteret 0.4.1's layout; ``1.x`` adds nullable fields only."""

LEGACY_COLLECTION_VERSION = "1"
"""Value of the ``rasteret_collection_version`` key that rasteret 0.4.1 writes and reads."""


# --------------------------------------------------------------------------------------------
# Logical types


@dataclass(frozen=True, slots=True)
class Primitive:
    """A scalar logical type, named as Arrow names it (``int32``, ``string``, ``timestamp[us]``...)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ListOf:
    """A variable-length list of ``item``."""

    item: LogicalType

    def __str__(self) -> str:
        return f"list<{self.item}>"


@dataclass(frozen=True, slots=True)
class StructOf:
    """A struct with named, ordered fields."""

    fields: tuple[Field, ...]

    def __str__(self) -> str:
        return "struct<" + ", ".join(f"{f.name}: {f.type}" for f in self.fields) + ">"

    def field(self, name: str) -> Field:
        """Return the field called ``name`` (:class:`UnknownColumnError`, a ``KeyError``, when absent)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise UnknownColumnError(f"struct has no field {name!r} (fields: {', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in order."""
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True, slots=True)
class BandStruct:
    """Placeholder for a struct whose field names are band codes (``assets``).

    Each field holds ``value``. Arrow maps (band -> value) are accepted by readers too.
    """

    value: LogicalType

    def __str__(self) -> str:
        return f"struct<band: {self.value}>"


LogicalType = Primitive | ListOf | StructOf | BandStruct

STRING = Primitive("string")
INT32 = Primitive("int32")
INT64 = Primitive("int64")
DOUBLE = Primitive("double")
BINARY = Primitive("binary")
TIMESTAMP_US = Primitive("timestamp[us]")
"""Naive timestamps in microseconds; naive means UTC throughout rasteret."""


@dataclass(frozen=True, slots=True)
class Field:
    """A column or struct field of the contract.

    Attributes:
        name: Column / field name.
        type: Logical type.
        required: Whether readers need it (a missing required column is a contract violation).
        nullable: Whether null values are allowed.
        doc: What the value means.
        since: Contract version that introduced it.
    """

    name: str
    type: LogicalType
    required: bool = False
    nullable: bool = True
    doc: str = ""
    since: str = "1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", str(self.name))  # plain str, also for StrEnum names


# --------------------------------------------------------------------------------------------
# Names


class Col(StrEnum):
    """Top-level column names of a collection."""

    ID = "id"
    DATETIME = "datetime"
    GEOMETRY = "geometry"
    ASSETS = "assets"
    BBOX = "bbox"
    PROJ_EPSG = "proj:epsg"
    CRS = "crs"
    CLOUD_COVER = "eo:cloud_cover"
    COLLECTION = "collection"
    SPLIT = "split"
    YEAR = "year"
    MONTH = "month"


class BandField(StrEnum):
    """Field names of a ``{band}_metadata`` struct, in contract order."""

    IMAGE_WIDTH = "image_width"
    IMAGE_HEIGHT = "image_height"
    TILE_WIDTH = "tile_width"
    TILE_HEIGHT = "tile_height"
    DTYPE = "dtype"
    TRANSFORM = "transform"
    PREDICTOR = "predictor"
    COMPRESSION = "compression"
    TILE_OFFSETS = "tile_offsets"
    TILE_BYTE_COUNTS = "tile_byte_counts"
    PIXEL_SCALE = "pixel_scale"
    TIEPOINT = "tiepoint"
    NODATA = "nodata"
    SAMPLES_PER_PIXEL = "samples_per_pixel"
    PLANAR_CONFIGURATION = "planar_configuration"
    PHOTOMETRIC = "photometric"
    EXTRA_SAMPLES = "extra_samples"
    # --- 1.1 additions (nullable; old readers ignore them) ---
    BITS_PER_SAMPLE = "bits_per_sample"
    SAMPLE_FORMAT = "sample_format"
    BYTE_ORDER = "byte_order"
    JPEG_TABLES = "jpeg_tables"
    LERC_PARAMETERS = "lerc_parameters"
    SCALE = "scale"
    OFFSET = "offset"
    OVERVIEWS = "overviews"
    MASK = "mask"
    ETAG = "etag"
    FILE_SIZE = "file_size"
    LAST_MODIFIED = "last_modified"


class LevelField(StrEnum):
    """Field names of one pyramid level (an overview or the internal mask)."""

    IMAGE_WIDTH = "image_width"
    IMAGE_HEIGHT = "image_height"
    TILE_WIDTH = "tile_width"
    TILE_HEIGHT = "tile_height"
    TRANSFORM = "transform"
    TILE_OFFSETS = "tile_offsets"
    TILE_BYTE_COUNTS = "tile_byte_counts"
    COMPRESSION = "compression"


class AssetField(StrEnum):
    """Field names of one ``assets`` entry."""

    HREF = "href"
    BAND_INDEX = "band_index"


class BboxField(StrEnum):
    """Field names of the ``bbox`` struct (CRS84 lon/lat)."""

    XMIN = "xmin"
    YMIN = "ymin"
    XMAX = "xmax"
    YMAX = "ymax"


class MetaKey(StrEnum):
    """Parquet key-value metadata keys of a written collection."""

    NAME = "name"
    DESCRIPTION = "description"
    DATA_SOURCE = "data_source"
    DATE_RANGE = "date_range"
    CREATED = "created"
    COLLECTION_VERSION = "rasteret_collection_version"
    SCHEMA_VERSION = "rasteret_schema_version"
    GEO = "geo"


BAND_ALIASES_KEY = "band_aliases"
"""Parquet key-value metadata key of a collection's band aliases: a JSON object
``{alias: band code}`` (``{"red": "B04"}``) of other names that resolve to a band at read time.
Written by STAC builds; kept as is by re-exports and updates."""

ASSET_SIGNING_KEY = "asset_signing"
"""Parquet key-value metadata key naming the URL signing scheme a collection's assets need
(``"planetary_computer"``): the stored hrefs are plain, and readers without a backend sign each
request with that scheme. A name, never a token. Written by STAC builds of Planetary Computer
items; kept as is by re-exports and updates."""

BAND_METADATA_SUFFIX = "_metadata"
PARTITION_COLUMNS: tuple[str, ...] = (Col.YEAR.value, Col.MONTH.value)


def band_metadata_column(band: str) -> str:
    """Return the metadata column name of ``band`` (``"B04"`` -> ``"B04_metadata"``)."""
    if not band:
        raise BandCodeError("band code must be a non-empty string")
    return f"{band}{BAND_METADATA_SUFFIX}"


def band_of_metadata_column(column: str) -> str | None:
    """Return the band code of a ``{band}_metadata`` column name, or ``None`` for other names."""
    if column.endswith(BAND_METADATA_SUFFIX) and len(column) > len(BAND_METADATA_SUFFIX):
        return column[: -len(BAND_METADATA_SUFFIX)]
    return None


# --------------------------------------------------------------------------------------------
# The declaration

_F64_LIST = ListOf(DOUBLE)
_I64_LIST = ListOf(INT64)


def _added(name: str, type_: LogicalType, doc: str) -> Field:
    """A nullable, optional field added by contract version 1.1."""
    return Field(name, type_, doc=doc, since="1.1")


def _tile_tables(offsets: str, byte_counts: str) -> tuple[Field, Field]:
    """The required tile offset and byte count lists of a level."""
    return (
        Field(offsets, _I64_LIST, required=True, doc="Byte offsets, row-major, this band's plane."),
        Field(byte_counts, _I64_LIST, required=True, doc="Byte counts matching tile_offsets."),
    )


LEVEL = StructOf(
    (
        Field(LevelField.IMAGE_WIDTH, INT32, required=True, doc="Level width in pixels."),
        Field(LevelField.IMAGE_HEIGHT, INT32, required=True, doc="Level height in pixels."),
        Field(LevelField.TILE_WIDTH, INT32, required=True, doc="Tile width in pixels."),
        Field(LevelField.TILE_HEIGHT, INT32, required=True, doc="Tile height in pixels."),
        Field(
            LevelField.TRANSFORM, _F64_LIST, doc="Affine of this level, same layout as the band's."
        ),
        *_tile_tables(LevelField.TILE_OFFSETS, LevelField.TILE_BYTE_COUNTS),
        _added(
            LevelField.COMPRESSION,
            INT32,
            "TIFF compression of this level (masks may differ from the image).",
        ),
    )
)
"""One reduced-resolution level (overview) or the internal mask of a band."""


BAND_METADATA = StructOf(
    (
        Field(BandField.IMAGE_WIDTH, INT32, required=False, doc="Full-resolution width in pixels."),
        Field(
            BandField.IMAGE_HEIGHT, INT32, required=False, doc="Full-resolution height in pixels."
        ),
        Field(BandField.TILE_WIDTH, INT32, required=True, doc="Tile width in pixels."),
        Field(BandField.TILE_HEIGHT, INT32, required=True, doc="Tile height in pixels."),
        Field(BandField.DTYPE, STRING, required=True, doc="NumPy dtype name of decoded samples."),
        Field(
            BandField.TRANSFORM,
            _F64_LIST,
            required=True,
            doc="[scale_x, translate_x, scale_y, translate_y] (PixelIsArea) for axis-aligned grids; "
            "a 6-value GDAL affine [a, b, c, d, e, f] otherwise (readers refuse rotation).",
        ),
        Field(
            BandField.PREDICTOR,
            INT32,
            doc="TIFF predictor (1 none, 2 horizontal, 3 floating point).",
        ),
        Field(BandField.COMPRESSION, INT32, doc="TIFF compression code (tag 259)."),
        *_tile_tables(BandField.TILE_OFFSETS, BandField.TILE_BYTE_COUNTS),
        Field(BandField.PIXEL_SCALE, _F64_LIST, doc="Raw ModelPixelScale tag, for reference."),
        Field(BandField.TIEPOINT, _F64_LIST, doc="Raw ModelTiepoint tag, for reference."),
        Field(BandField.NODATA, DOUBLE, doc="GDAL nodata (NaN allowed); null when none."),
        Field(BandField.SAMPLES_PER_PIXEL, INT32, doc="Samples per pixel of the file (default 1)."),
        Field(BandField.PLANAR_CONFIGURATION, INT32, doc="1 chunky (interleaved), 2 planar."),
        Field(BandField.PHOTOMETRIC, INT32, doc="TIFF photometric interpretation."),
        Field(BandField.EXTRA_SAMPLES, ListOf(INT32), doc="TIFF ExtraSamples values."),
        _added(BandField.BITS_PER_SAMPLE, INT32, "Stored bits per sample (12 for NBITS=12)."),
        _added(BandField.SAMPLE_FORMAT, INT32, "TIFF SampleFormat (1 uint, 2 int, 3 float)."),
        _added(BandField.BYTE_ORDER, STRING, "'little' or 'big' (null means little)."),
        _added(BandField.JPEG_TABLES, BINARY, "JPEGTables tag bytes for JPEG tiles."),
        _added(BandField.LERC_PARAMETERS, ListOf(INT32), "LercParameters tag values."),
        _added(BandField.SCALE, DOUBLE, "GDAL_METADATA scale (not applied by readers)."),
        _added(BandField.OFFSET, DOUBLE, "GDAL_METADATA offset (not applied by readers)."),
        _added(BandField.OVERVIEWS, ListOf(LEVEL), "Overview levels, finest first."),
        _added(BandField.MASK, LEVEL, "Internal (GDAL) mask of the full-resolution level."),
        _added(BandField.ETAG, STRING, "ETag of the COG when indexed."),
        _added(BandField.FILE_SIZE, INT64, "Size in bytes of the COG when indexed."),
        _added(
            BandField.LAST_MODIFIED, TIMESTAMP_US, "Last-Modified of the COG when indexed (UTC)."
        ),
    )
)
"""The per-band struct caching everything needed to fetch and decode tiles."""

LEGACY_BAND_FIELDS: tuple[str, ...] = tuple(f.name for f in BAND_METADATA.fields if f.since == "1")
"""The seventeen fields rasteret 0.4.1 writes, in its order."""

REQUIRED_BAND_FIELDS: tuple[str, ...] = tuple(f.name for f in BAND_METADATA.fields if f.required)

ASSET = StructOf(
    (
        Field(AssetField.HREF, STRING, required=True, doc="URL or path of the COG."),
        Field(AssetField.BAND_INDEX, INT32, doc="0-based sample of a multi-band COG."),
    )
)

BBOX = StructOf(
    (
        Field(BboxField.XMIN, DOUBLE, required=True),
        Field(BboxField.YMIN, DOUBLE, required=True),
        Field(BboxField.XMAX, DOUBLE, required=True),
        Field(BboxField.YMAX, DOUBLE, required=True),
    )
)

COLUMNS: tuple[Field, ...] = (
    Field(Col.ID, STRING, required=True, doc="Record id (never null; checked by validation)."),
    Field(Col.DATETIME, TIMESTAMP_US, required=True, doc="Acquisition time; naive means UTC."),
    Field(Col.GEOMETRY, BINARY, required=True, doc="Footprint as WKB in OGC:CRS84 lon/lat."),
    Field(Col.ASSETS, BandStruct(ASSET), required=True, doc="band -> {href, band_index}."),
    Field(Col.BBOX, BBOX, required=True, doc="CRS84 bounding box of the footprint."),
    Field(Col.PROJ_EPSG, INT32, doc="EPSG code of the raster CRS; null for non-EPSG CRSs."),
    Field(Col.CRS, STRING, doc="Raster CRS as AUTH:CODE, or WKT2 / PROJJSON when it has no code."),
    Field(Col.CLOUD_COVER, DOUBLE, doc="Cloud cover percentage 0-100 (optional)."),
    Field(Col.COLLECTION, STRING, doc="Source collection id (optional)."),
    Field(Col.YEAR, INT32, doc="Partition column derived from datetime."),
    Field(Col.MONTH, INT32, doc="Partition column derived from datetime."),
)
"""Top-level columns, required first. ``{band}_metadata`` columns follow, one per band."""

REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)


def column(name: str) -> Field:
    """Return the declared column called ``name`` (``KeyError`` when it is not declared)."""
    for c in COLUMNS:
        if c.name == name:
            return c
    raise UnknownColumnError(f"{name!r} is not a declared column of the collection contract")
