"""TileSpec: everything needed to decode one tile, as plain values (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass

from rasteret_cog._tilegrid import TileGridMixin
from rasteret_cog.errors import TiffFormatError

__all__ = ["SUPPORTED_DTYPES", "TileSpec", "dtype_from_tiff"]

SUPPORTED_DTYPES = frozenset(
    {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
        "float16", "float32", "float64", "complex64", "complex128",
    }
)  # fmt: skip


#: The usual (SampleFormat, BitsPerSample) pairs, looked up before the general rule below.
_DTYPE_NAMES: dict[tuple[int, int], str] = {
    (fmt, bits): ("int" if fmt == 2 else "uint") + str(bits)
    for fmt in (1, 2)
    for bits in (8, 16, 32, 64)
}
_DTYPE_NAMES.update({(3, 16): "float16", (3, 32): "float32", (3, 64): "float64"})


def dtype_from_tiff(sample_format: int, bits_per_sample: int) -> str | None:
    """Numpy dtype name for a (SampleFormat, BitsPerSample) pair, or None if unsupported.

    Integer depths that are not a power of two (1..63 bits, e.g. NBITS=12) map to the next
    wider standard type, as GDAL does. Void (4) is treated as unsigned.
    """
    name = _DTYPE_NAMES.get((sample_format, bits_per_sample))
    if name is not None:
        return name
    b = bits_per_sample
    if sample_format in (1, 2, 4) and 1 <= b <= 64:
        width = 8 if b <= 8 else 16 if b <= 16 else 32 if b <= 32 else 64
        return ("int" if sample_format == 2 else "uint") + str(width)
    if sample_format == 3 and b in (16, 32, 64):
        return f"float{b}"
    if sample_format == 6 and b in (64, 128):
        return f"complex{b}"
    return None


@dataclass(frozen=True, slots=True)
class TileSpec(TileGridMixin):
    """How to decode the tiles of one image (IFD) — constructible from plain values.

    Attributes:
        width: Image width in pixels.
        height: Image height in pixels.
        tile_width: Tile width (image width for stripped files).
        tile_height: Tile height (rows per strip for stripped files).
        dtype: Numpy dtype name of one decoded sample (e.g. ``"uint16"``).
        compression: TIFF compression code (tag 259).
        predictor: TIFF predictor (1 none, 2 horizontal, 3 floating point).
        photometric: TIFF photometric interpretation (tag 262).
        samples_per_pixel: Samples per pixel.
        planar_configuration: 1 chunky (one tile holds all samples), 2 planar (one per sample).
        bits_per_sample: Stored bits per sample (may be an odd depth such as 12); None means the
            dtype's full width.
        byte_order: ``"<"`` little-endian or ``">"`` big-endian file.
        jpeg_tables: JPEGTables (tag 347) bytes for JPEG-compressed tiles.
        lerc_parameters: LercParameters (tag 50674): ``(version, additional_compression, ...)``.
        nodata: Value used to fill sparse (empty) tiles; 0 when None.
        is_tiled: False for stripped TIFFs: each strip is decoded as a full-width tile, and the
            last strip may hold fewer rows (the rest is filled). See :attr:`full_width`.
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    dtype: str
    compression: int = 1
    predictor: int = 1
    photometric: int = 1
    samples_per_pixel: int = 1
    planar_configuration: int = 1
    bits_per_sample: int | None = None
    byte_order: str = "<"
    jpeg_tables: bytes | None = None
    lerc_parameters: tuple[int, ...] | None = None
    nodata: int | float | None = None
    is_tiled: bool = True

    def __post_init__(self) -> None:
        for name in ("width", "height", "tile_width", "tile_height", "samples_per_pixel"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise TiffFormatError(f"TileSpec.{name} must be a positive int, got {v!r}")
        if self.dtype not in SUPPORTED_DTYPES:
            raise TiffFormatError(f"TileSpec.dtype {self.dtype!r} is not supported")
        if self.planar_configuration not in (1, 2):
            raise TiffFormatError(
                f"planar configuration {self.planar_configuration} (expected 1 or 2)"
            )
        if self.byte_order not in ("<", ">"):
            raise TiffFormatError(f"byte_order must be '<' or '>', got {self.byte_order!r}")
        if self.lerc_parameters is not None and not isinstance(self.lerc_parameters, tuple):
            object.__setattr__(self, "lerc_parameters", tuple(self.lerc_parameters))
        if self.jpeg_tables is not None and not isinstance(self.jpeg_tables, bytes):
            object.__setattr__(self, "jpeg_tables", bytes(self.jpeg_tables))

    @property
    def full_width(self) -> bool:
        """True when each tile spans the image width, as strips do.

        Such tiles may hold fewer rows than ``tile_height`` (a stripped TIFF's last strip; the
        rest is filled). This holds for ``is_tiled=False`` and for any spec whose tile width is
        the image width, which is how the collection contract stores strips, so a spec rebuilt
        from a collection decodes strips without knowing the file was stripped. A tiled file
        whose single tile column is short of rows is corrupt; it is padded here rather than
        refused.
        """
        return not self.is_tiled or self.tile_width == self.width

    @property
    def planes(self) -> int:
        """Number of separately stored sample planes (spp when planar, else 1)."""
        return self.samples_per_pixel if self.planar_configuration == 2 else 1

    @property
    def tile_count(self) -> int:
        """Expected length of the tile offset table."""
        return self.tiles_per_plane * self.planes

    @property
    def samples_per_tile(self) -> int:
        """Samples stored in one tile (spp when chunky, 1 when planar)."""
        return 1 if self.planar_configuration == 2 else self.samples_per_pixel

    @property
    def tile_shape(self) -> tuple[int, ...]:
        """Shape of a decoded tile: (tile_h, tile_w) or (tile_h, tile_w, spp)."""
        spt = self.samples_per_tile
        if spt == 1:
            return (self.tile_height, self.tile_width)
        return (self.tile_height, self.tile_width, spt)

    def tile_index(self, row: int, col: int, plane: int = 0) -> int:
        """Index into the offset table: ``plane * tiles_per_plane + row * tiles_across + col``."""
        return plane * self.tiles_per_plane + row * self.tiles_across + col
