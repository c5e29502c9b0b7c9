"""Level: one parsed image IFD (full resolution, overview or mask) (stdlib only)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field, fields, replace
from typing import Any

from rasteret_cog._arrays import any_end_past
from rasteret_cog._bytes import ByteStore
from rasteret_cog._tilegrid import TileGridMixin
from rasteret_cog.errors import (
    LimitExceededError,
    TiffFormatError,
    TruncatedError,
    UnsupportedTiffError,
)
from rasteret_cog.geo import Transform
from rasteret_cog.geokeys import CrsInfo
from rasteret_cog.ifd import (
    IfdEntry,
    ParseLimits,
    TiffLayout,
    read_ints,
    read_table,
    read_tag_int,
    read_value,
)
from rasteret_cog.spec import TileSpec, dtype_from_tiff
from rasteret_cog.tags import Compression, Photometric, Tag

__all__ = ["Level", "TileTable", "build_level"]

TileTable = array
"""A tile (or strip) offset / byte-count table: an ``array.array`` of int64 (typecode ``"q"``).

It supports ``len``, indexing, slicing and iteration like a tuple, exposes its memory through
the buffer protocol (``numpy.frombuffer(t, numpy.int64)``, ``memoryview(t)``) and holds no
Python object per tile. Treat it as read-only."""

_MAX_DIM = 2**31 - 1
# Tag codes as plain ints: an IntEnum member lookup costs more than the dict probe it keys.
_IMAGE_WIDTH = int(Tag.IMAGE_WIDTH)
_IMAGE_LENGTH = int(Tag.IMAGE_LENGTH)
_SAMPLES_PER_PIXEL = int(Tag.SAMPLES_PER_PIXEL)
_PLANAR_CONFIGURATION = int(Tag.PLANAR_CONFIGURATION)
_BITS_PER_SAMPLE = int(Tag.BITS_PER_SAMPLE)
_SAMPLE_FORMAT = int(Tag.SAMPLE_FORMAT)
_COMPRESSION = int(Tag.COMPRESSION)
_PREDICTOR = int(Tag.PREDICTOR)
_PHOTOMETRIC = int(Tag.PHOTOMETRIC)
_NEW_SUBFILE_TYPE = int(Tag.NEW_SUBFILE_TYPE)
_TILE_OFFSETS = int(Tag.TILE_OFFSETS)
_TILE_WIDTH = int(Tag.TILE_WIDTH)
_TILE_LENGTH = int(Tag.TILE_LENGTH)
_ROWS_PER_STRIP = int(Tag.ROWS_PER_STRIP)
_OPTIONAL = frozenset(
    int(t)
    for t in (
        Tag.EXTRA_SAMPLES,
        Tag.JPEG_TABLES,
        Tag.LERC_PARAMETERS,
        Tag.YCBCR_SUBSAMPLING,
        Tag.GDAL_METADATA,
    )
)


@dataclass(frozen=True, slots=True)
class Level(TileGridMixin):
    """One image of the file (an IFD): full resolution, an overview or a mask.

    Attributes:
        ifd_index: Position of the IFD in the file's IFD chain.
        subfile_type: NewSubfileType bits (1 reduced-resolution, 4 mask).
        width: Image width.
        height: Image height.
        tile_width: Tile width (image width when stripped).
        tile_height: Tile height (rows per strip when stripped).
        is_tiled: False for stripped images (strips are exposed as full-width tiles).
        samples_per_pixel: Samples per pixel.
        bits_per_sample: Stored bits per sample (first value; may be e.g. 1 or 12).
        sample_format: TIFF SampleFormat of the first sample.
        dtype: Numpy dtype name of decoded samples, or None when unsupported.
        planar_configuration: 1 chunky, 2 planar.
        compression: TIFF compression code.
        predictor: TIFF predictor code.
        photometric: TIFF photometric interpretation.
        extra_samples: ExtraSamples values.
        jpeg_tables: JPEGTables bytes, if present.
        lerc_parameters: LercParameters values, if present.
        ycbcr_subsampling: YCbCrSubsampling, if present.
        byte_order: ``"<"`` or ``">"``.
        tile_offsets: Tile (or strip) offsets, plane-major when planar (a :data:`TileTable`).
        tile_byte_counts: Tile (or strip) byte counts; 0 marks a sparse (empty) tile.
        nodata: GDAL nodata value (inherited from the full-resolution image by overviews).
        scales: Per-sample scale from GDAL_METADATA, or None.
        offsets: Per-sample offset from GDAL_METADATA, or None.
        transform: GDAL geotransform ``(a, b, c, d, e, f)``, PixelIsArea; None if absent.
        crs: Declared CRS, or None.
        gdal_metadata: Raw GDAL_METADATA XML, if present.
    """

    ifd_index: int
    subfile_type: int
    width: int
    height: int
    tile_width: int
    tile_height: int
    is_tiled: bool
    samples_per_pixel: int
    bits_per_sample: int
    sample_format: int
    dtype: str | None
    planar_configuration: int
    compression: int
    predictor: int
    photometric: int
    extra_samples: tuple[int, ...]
    jpeg_tables: bytes | None
    lerc_parameters: tuple[int, ...] | None
    ycbcr_subsampling: tuple[int, ...] | None
    byte_order: str
    tile_offsets: array[int] = field(hash=False)
    tile_byte_counts: array[int] = field(hash=False)
    nodata: int | float | None = None
    scales: tuple[float, ...] | None = None
    offsets: tuple[float, ...] | None = None
    transform: Transform | None = None
    crs: CrsInfo | None = None
    gdal_metadata: str | None = None

    @property
    def is_mask(self) -> bool:
        """True for a transparency mask (GDAL internal mask)."""
        return bool(self.subfile_type & 4) or self.photometric == Photometric.MASK

    @property
    def is_overview(self) -> bool:
        """True for a reduced-resolution image (overview or overview mask)."""
        return bool(self.subfile_type & 1)

    @property
    def scale(self) -> float | None:
        """Scale of the first sample, if any."""
        return self.scales[0] if self.scales else None

    @property
    def offset(self) -> float | None:
        """Offset of the first sample, if any."""
        return self.offsets[0] if self.offsets else None

    @property
    def compression_name(self) -> str:
        """Readable compression name (``"DEFLATE"``, ``"JPEG"``... or the number)."""
        try:
            return Compression(self.compression).name
        except ValueError:
            return str(self.compression)

    @property
    def tile_spec(self) -> TileSpec:
        """The :class:`TileSpec` decoding this level's tiles.

        Raises:
            UnsupportedTiffError: the sample format has no numpy dtype here.
        """
        if self.dtype is None:
            raise UnsupportedTiffError(
                f"unsupported sample format {self.sample_format} with {self.bits_per_sample} bits"
            )
        # every TileSpec field is a Level attribute of the same name
        return TileSpec(**{f.name: getattr(self, f.name) for f in fields(TileSpec)})

    def with_(self, **changes: Any) -> Level:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def _tuple_of_ints(vals: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in vals)


_Optional = tuple[
    tuple[int, ...], bytes | None, tuple[int, ...] | None, tuple[int, ...] | None, str | None
]
_NO_OPTIONAL: _Optional = ((), None, None, None, None)


def _optional(
    store: ByteStore,
    layout: TiffLayout,
    e: dict[int, IfdEntry],
    limits: ParseLimits,
    spp: int,
    ifd_index: int,
) -> _Optional:
    """ExtraSamples, JPEGTables, LercParameters, YCbCrSubsampling and GDAL_METADATA."""
    extra: tuple[int, ...] = ()
    if Tag.EXTRA_SAMPLES in e:
        extra = _tuple_of_ints(
            read_ints(store, layout, e[Tag.EXTRA_SAMPLES], limits, max_count=spp)
        )
    jpeg_tables = None
    if Tag.JPEG_TABLES in e:
        jt = read_value(store, layout, e[Tag.JPEG_TABLES], limits, max_count=1 << 20)
        if isinstance(jt, bytes):
            jpeg_tables = jt
        elif isinstance(jt, array) and jt.typecode in "Bb":
            jpeg_tables = jt.tobytes()
        else:
            raise TiffFormatError(
                f"IFD {ifd_index}: JPEGTables has field type {e[Tag.JPEG_TABLES].type}"
            )
    lerc = None
    if Tag.LERC_PARAMETERS in e:
        lerc = _tuple_of_ints(
            read_ints(store, layout, e[Tag.LERC_PARAMETERS], limits, max_count=64)
        )
    ycbcr = None
    if Tag.YCBCR_SUBSAMPLING in e:
        ycbcr = _tuple_of_ints(
            read_ints(store, layout, e[Tag.YCBCR_SUBSAMPLING], limits, max_count=2)
        )
    gdal_md = None
    if Tag.GDAL_METADATA in e:
        v = read_value(store, layout, e[Tag.GDAL_METADATA], limits, max_count=4 << 20)
        gdal_md = v if isinstance(v, str) else None
    return extra, jpeg_tables, lerc, ycbcr, gdal_md


def _first_of_samples(
    store: ByteStore,
    layout: TiffLayout,
    e: dict[int, IfdEntry],
    ints: dict[int, int],
    tag: int,
    spp: int,
    limits: ParseLimits,
) -> int:
    """First value of a per-sample tag (BitsPerSample, SampleFormat): 1 when absent; at most
    ``spp`` integer values."""
    entry = e.get(tag)
    if entry is None:
        return 1
    v = ints.get(tag)
    if v is not None and entry.value_count <= spp:  # inline: decoded with the IFD
        return v
    vals = read_ints(store, layout, entry, limits, max_count=spp)
    return int(vals[0]) if vals else 1


def build_level(
    store: ByteStore,
    layout: TiffLayout,
    ifd_index: int,
    e: dict[int, IfdEntry],
    limits: ParseLimits,
    *,
    scalars: dict[int, int] | None = None,
    **geo: Any,
) -> Level:
    """Decode and validate the image tags of one IFD.

    Args:
        store: The header bytes.
        layout: The file header.
        ifd_index: Position of the IFD.
        e: Its entries.
        limits: Safety caps (sizes, samples, decoded bytes).
        scalars: The IFD's inline unsigned scalars by tag, when already decoded
            (:func:`~rasteret_cog.ifd.read_ifd`); other tags are read from ``e``.
        **geo: Georeferencing fields of :class:`Level` decided by the header (``transform``,
            ``crs``, ``nodata``, ``scales``, ``offsets``).

    Raises:
        TiffFormatError: invalid tags; :class:`LimitExceededError` for sizes over ``limits``.
        TruncatedError: a tag value or tile lies past the end of the file.
    """
    ints = scalars if scalars is not None else {}

    def num(tag: int, default: int) -> int:
        return read_tag_int(store, layout, e, tag, default, limits, ints)

    width = num(_IMAGE_WIDTH, 0)
    height = num(_IMAGE_LENGTH, 0)
    if not (0 < width <= _MAX_DIM and 0 < height <= _MAX_DIM):
        raise TiffFormatError(f"IFD {ifd_index}: invalid image size {width}x{height}")
    spp = num(_SAMPLES_PER_PIXEL, 1)
    if not 0 < spp <= 65535:
        raise TiffFormatError(f"IFD {ifd_index}: invalid SamplesPerPixel {spp}")
    planar = num(_PLANAR_CONFIGURATION, 1)
    if planar not in (1, 2):
        raise TiffFormatError(f"IFD {ifd_index}: invalid PlanarConfiguration {planar}")
    if spp == 1:
        planar = 1
    if planar == 1 and spp > limits.max_samples_per_pixel:
        raise LimitExceededError(
            "interleaved SamplesPerPixel", spp, limits.max_samples_per_pixel, f"IFD {ifd_index}"
        )
    bps = _first_of_samples(store, layout, e, ints, _BITS_PER_SAMPLE, spp, limits)
    if not 0 < bps <= 128:
        raise TiffFormatError(f"IFD {ifd_index}: invalid BitsPerSample {bps}")
    sample_format = _first_of_samples(store, layout, e, ints, _SAMPLE_FORMAT, spp, limits)
    compression = num(_COMPRESSION, 1)
    predictor = num(_PREDICTOR, 1)
    photometric = num(_PHOTOMETRIC, 1)
    subfile = num(_NEW_SUBFILE_TYPE, 0)

    tiled = _TILE_OFFSETS in e or _TILE_WIDTH in e
    if tiled:
        tw = num(_TILE_WIDTH, 0)
        th = num(_TILE_LENGTH, 0)
        off_tag, cnt_tag = Tag.TILE_OFFSETS, Tag.TILE_BYTE_COUNTS
    else:
        tw = width
        th = num(_ROWS_PER_STRIP, height)
        th = min(th, height) if th > 0 else 0
        off_tag, cnt_tag = Tag.STRIP_OFFSETS, Tag.STRIP_BYTE_COUNTS
    if not (0 < tw <= _MAX_DIM and 0 < th <= _MAX_DIM):
        raise TiffFormatError(f"IFD {ifd_index}: invalid tile size {tw}x{th}")
    dtype = dtype_from_tiff(sample_format, bps)
    itemsize = _ITEMSIZE.get(dtype or "", -(-bps // 8))
    samples_per_tile = spp if planar == 1 else 1
    tile_bytes = tw * th * samples_per_tile * itemsize
    # Strips are checked when decoded: a large single strip is common in legitimate files,
    # and their header alone allocates nothing.
    if tiled and tile_bytes > limits.max_tile_bytes:
        raise LimitExceededError(
            f"decoded tile size ({tw}x{th}x{samples_per_tile} samples of {itemsize} bytes)",
            tile_bytes,
            limits.max_tile_bytes,
            f"IFD {ifd_index}",
        )
    image_bytes = width * height * spp * itemsize
    if image_bytes > limits.max_image_bytes:
        raise LimitExceededError(
            f"decoded image size ({width}x{height}x{spp} samples of {itemsize} bytes)",
            image_bytes,
            limits.max_image_bytes,
            f"IFD {ifd_index}",
        )
    planes = spp if planar == 2 else 1
    expected = (-(-width // tw)) * (-(-height // th)) * planes
    off_entry = e.get(off_tag)
    cnt_entry = e.get(cnt_tag)
    if off_entry is None or cnt_entry is None:
        raise TiffFormatError(
            f"IFD {ifd_index}: missing {'Tile' if tiled else 'Strip'}Offsets/ByteCounts"
        )
    for ent in (off_entry, cnt_entry):
        if ent.value_count != expected:
            raise TiffFormatError(
                f"IFD {ifd_index}: tag {ent.tag} has {ent.value_count} values, expected {expected} "
                f"({'tiles' if tiled else 'strips'} across x down x planes)"
            )
    offsets = read_table(store, layout, off_entry, limits)
    counts = read_table(store, layout, cnt_entry, limits)
    size = store.file_size
    if size is not None and any_end_past(offsets, counts, size):
        # rare path (a tile past EOF, or a sparse tile with a stray offset): find the culprit
        for i, (o, c) in enumerate(zip(offsets, counts)):
            if c and o + c > size:
                raise TruncatedError(
                    f"IFD {ifd_index}: tile {i} [{o}, {o + c}) lies past the end of the file ({size} bytes)"
                )

    extra, jpeg_tables, lerc, ycbcr, gdal_md = (
        _NO_OPTIONAL
        if _OPTIONAL.isdisjoint(e)
        else _optional(store, layout, e, limits, spp, ifd_index)
    )

    return Level(
        ifd_index=ifd_index,
        subfile_type=subfile,
        width=width,
        height=height,
        tile_width=tw,
        tile_height=th,
        is_tiled=tiled,
        samples_per_pixel=spp,
        bits_per_sample=bps,
        sample_format=sample_format,
        dtype=dtype,
        planar_configuration=planar,
        compression=compression,
        predictor=predictor,
        photometric=photometric,
        extra_samples=extra,
        jpeg_tables=jpeg_tables,
        lerc_parameters=lerc,
        ycbcr_subsampling=ycbcr,
        byte_order=layout.byte_order,
        tile_offsets=offsets,
        tile_byte_counts=counts,
        gdal_metadata=gdal_md,
        **geo,
    )


_ITEMSIZE = {
    "uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "float16": 2, "uint32": 4, "int32": 4,
    "float32": 4, "uint64": 8, "int64": 8, "float64": 8, "complex64": 8, "complex128": 16,
}  # fmt: skip
