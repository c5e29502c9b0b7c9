"""The sans-I/O COG header parser: bytes in, :class:`CogHeader` or "need range X" out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasteret_cog._bytes import ByteStore, NeedBytes
from rasteret_cog.errors import IncompleteHeaderError, TiffFormatError
from rasteret_cog.gdal_meta import parse_gdal_metadata, parse_nodata, parse_structural_metadata
from rasteret_cog.geo import Transform, scale_transform, transform_from_tags
from rasteret_cog.geokeys import CrsInfo, crs_from_geokeys, parse_geokeys
from rasteret_cog.ifd import (
    IfdEntry,
    ParseLimits,
    read_ifd,
    read_ints,
    read_layout,
    read_numbers,
    read_tag_int,
    read_value,
)
from rasteret_cog.level import Level, build_level
from rasteret_cog.tags import GeoKey, Photometric, Tag

__all__ = ["ByteRange", "CogHeader", "HeaderParser", "parse_header"]


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A byte range the parser needs: ``[start, start + length)``."""

    start: int
    length: int

    @property
    def end(self) -> int:
        """Exclusive end offset."""
        return self.start + self.length


@dataclass(frozen=True, slots=True)
class CogHeader:
    """A parsed TIFF/COG header.

    Attributes:
        byte_order: ``"<"`` (II) or ``">"`` (MM).
        bigtiff: True for BigTIFF.
        levels: Full resolution first, then overviews by decreasing size (masks excluded).
        masks: Internal mask per level (aligned with ``levels``; None where absent).
        ifds: Every IFD in file order (images, overviews, masks, other pages).
        crs: The declared CRS, or None.
        structural_metadata: GDAL's COG structural metadata (``LAYOUT``, ``BLOCK_ORDER``...).
        file_size: File size when known.
    """

    byte_order: str
    bigtiff: bool
    levels: tuple[Level, ...]
    masks: tuple[Level | None, ...]
    ifds: tuple[Level, ...]
    crs: CrsInfo | None
    structural_metadata: tuple[tuple[str, str], ...] = ()
    file_size: int | None = None

    @property
    def full(self) -> Level:
        """The full-resolution level."""
        return self.levels[0]

    @property
    def overviews(self) -> tuple[Level, ...]:
        """Overview levels, largest first."""
        return self.levels[1:]

    @property
    def transform(self) -> Transform | None:
        """Geotransform of the full-resolution level."""
        return self.levels[0].transform

    @property
    def epsg(self) -> int | None:
        """EPSG code of the CRS, or None (user-defined or absent)."""
        return self.crs.epsg if self.crs else None

    @property
    def nodata(self) -> int | float | None:
        """Nodata of the full-resolution level."""
        return self.levels[0].nodata

    @property
    def is_cog_layout(self) -> bool:
        """True when GDAL's structural metadata says IFDs come before tile data."""
        return dict(self.structural_metadata).get("LAYOUT") == "IFDS_BEFORE_DATA"

    def mask_for(self, level: int | Level) -> Level | None:
        """The internal mask of a level (index into ``levels`` or the level itself)."""
        idx = self.levels.index(level) if isinstance(level, Level) else level
        return self.masks[idx]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (no tile tables)."""

        def lv(x: Level) -> dict[str, Any]:
            return {
                "ifd": x.ifd_index,
                "width": x.width,
                "height": x.height,
                "tile": [x.tile_width, x.tile_height],
                "tiled": x.is_tiled,
                "dtype": x.dtype,
                "bits_per_sample": x.bits_per_sample,
                "samples_per_pixel": x.samples_per_pixel,
                "planar": x.planar_configuration,
                "compression": x.compression_name,
                "predictor": x.predictor,
                "photometric": x.photometric,
                "tiles": len(x.tile_offsets),
                "sparse_tiles": x.tile_byte_counts.count(0),
                "nodata": x.nodata,
                "scales": x.scales,
                "offsets": x.offsets,
                "transform": x.transform,
                "is_mask": x.is_mask,
            }

        return {
            "byte_order": "big" if self.byte_order == ">" else "little",
            "bigtiff": self.bigtiff,
            "file_size": self.file_size,
            "crs": self.crs.to_dict() if self.crs else None,
            "structural_metadata": dict(self.structural_metadata),
            "levels": [lv(x) for x in self.levels],
            "masks": [lv(m) if m else None for m in self.masks],
            "other_ifds": [
                lv(x) for x in self.ifds if x not in self.levels and x not in self.masks
            ],
        }


_NEW_SUBFILE_TYPE = int(Tag.NEW_SUBFILE_TYPE)
_PHOTOMETRIC = int(Tag.PHOTOMETRIC)
_IMAGE_WIDTH = int(Tag.IMAGE_WIDTH)
_IMAGE_LENGTH = int(Tag.IMAGE_LENGTH)
_GDAL_NODATA = int(Tag.GDAL_NODATA)
_MASK = int(Photometric.MASK)


def _parse(store: ByteStore, limits: ParseLimits) -> CogHeader:
    layout = read_layout(store)
    raw_ifds: list[dict[int, IfdEntry]] = []
    ifd_ints: list[dict[int, int]] = []
    seen: set[int] = set()
    off = layout.first_ifd
    while off:
        if off in seen:
            raise TiffFormatError(f"IFD chain loops back to offset {off}")
        if len(raw_ifds) >= limits.max_ifds:
            raise TiffFormatError(f"more than {limits.max_ifds} IFDs")
        seen.add(off)
        entries, ints, off = read_ifd(store, layout, off, limits)
        raw_ifds.append(entries)
        ifd_ints.append(ints)
    if not raw_ifds:
        raise TiffFormatError("TIFF has no IFD")

    # Georeferencing and GDAL metadata come from the first IFD.
    e0 = raw_ifds[0]

    def val(tag: int, max_count: int) -> Any:
        entry = e0.get(tag)
        return (
            None if entry is None else read_value(store, layout, entry, limits, max_count=max_count)
        )

    def nums(tag: int, max_count: int) -> Any:
        entry = e0.get(tag)
        if entry is None:
            return None
        return read_numbers(store, layout, entry, limits, max_count=max_count)

    def one(i: int, tag: int, default: int) -> int:
        return read_tag_int(store, layout, raw_ifds[i], tag, default, limits, ifd_ints[i])

    crs: CrsInfo | None = None
    pixel_is_point = False
    gkd_entry = e0.get(Tag.GEO_KEY_DIRECTORY)
    gkd = (
        None
        if gkd_entry is None
        else read_ints(store, layout, gkd_entry, limits, max_count=4 * 513)
    )
    if gkd is not None:
        doubles = nums(Tag.GEO_DOUBLE_PARAMS, 65536)
        ascii_params = val(Tag.GEO_ASCII_PARAMS, 65536)
        keys = parse_geokeys(gkd, doubles, ascii_params if isinstance(ascii_params, str) else None)
        crs = crs_from_geokeys(keys)
        pixel_is_point = keys.get(GeoKey.GT_RASTER_TYPE) == 2
    transform = transform_from_tags(
        nums(Tag.MODEL_PIXEL_SCALE, 64),
        nums(Tag.MODEL_TIEPOINT, 6 * 65536),
        nums(Tag.MODEL_TRANSFORMATION, 64),
        pixel_is_point=pixel_is_point,
    )

    nd_text = val(Tag.GDAL_NODATA, 4096)
    nodata = parse_nodata(nd_text if isinstance(nd_text, str) else None)
    md0 = val(Tag.GDAL_METADATA, 4 << 20)
    _items, scales_d, offsets_d, md_nodata = parse_gdal_metadata(
        md0 if isinstance(md0, str) else None
    )
    if nodata is None:
        nodata = md_nodata
    spp0 = one(0, Tag.SAMPLES_PER_PIXEL, 1)
    scales = tuple(scales_d.get(i, 1.0) for i in range(spp0)) if scales_d else None
    offsets = tuple(offsets_d.get(i, 0.0) for i in range(spp0)) if offsets_d else None

    # The full-resolution image: the first IFD that is neither a mask nor an overview.
    roles = [
        (one(i, _NEW_SUBFILE_TYPE, 0), one(i, _PHOTOMETRIC, 1) == _MASK)
        for i in range(len(raw_ifds))
    ]
    base_i = next((i for i, (sub, m) in enumerate(roles) if not (sub & 5 or m)), 0)
    base_w = one(base_i, _IMAGE_WIDTH, 0)
    base_h = one(base_i, _IMAGE_LENGTH, 0)

    finished: list[Level] = []
    for i, e in enumerate(raw_ifds):
        sub, photometric_mask = roles[i]
        is_mask = bool(sub & 4) or photometric_mask
        lv_nodata = nodata
        own_nd_entry = e.get(_GDAL_NODATA)
        if own_nd_entry is not None and i != 0:
            txt = read_value(store, layout, own_nd_entry, limits, max_count=4096)
            lv_nodata = parse_nodata(txt if isinstance(txt, str) else None)
        t = transform
        if t is not None:
            w, h = one(i, _IMAGE_WIDTH, 0), one(i, _IMAGE_LENGTH, 0)
            if (w, h) != (base_w, base_h) and w > 0 and h > 0:
                t = scale_transform(t, base_w / w, base_h / h)
        finished.append(
            build_level(
                store,
                layout,
                i,
                e,
                limits,
                scalars=ifd_ints[i],
                transform=t,
                crs=crs,
                nodata=None if is_mask else lv_nodata,
                scales=None if is_mask else scales,
                offsets=None if is_mask else offsets,
            )
        )

    base = finished[base_i]  # chosen by the same rule (Level.is_mask / is_overview) above
    overviews = [
        lv
        for lv in finished
        if lv is not base
        and lv.is_overview
        and not lv.is_mask
        and lv.samples_per_pixel == base.samples_per_pixel
        and lv.dtype == base.dtype
    ]
    overviews.sort(key=lambda lv: (-lv.width, lv.ifd_index))
    image_levels = (base, *overviews)
    mask_ifds = [lv for lv in finished if lv.is_mask]
    masks = tuple(
        next((m for m in mask_ifds if (m.width, m.height) == (lv.width, lv.height)), None)
        for lv in image_levels
    )

    struct_md: dict[str, str] = {}
    start = layout.offset_size * 2
    avail = min(layout.first_ifd - start, 1024)
    if avail > 43:
        try:
            struct_md = parse_structural_metadata(bytes(store.get(start, avail)))
        except NeedBytes:
            struct_md = {}
    return CogHeader(
        byte_order=layout.byte_order,
        bigtiff=layout.bigtiff,
        levels=image_levels,
        masks=masks,
        ifds=tuple(finished),
        crs=crs,
        structural_metadata=tuple(struct_md.items()),
        file_size=store.file_size,
    )


class HeaderParser:
    """Incremental, I/O-free header parser.

    Feed it the bytes you have; :meth:`parse` returns either the :class:`CogHeader` or the
    :class:`ByteRange` it needs next. Re-parsing from the accumulated bytes is cheap (headers
    are small), so the protocol is simply::

        parser = HeaderParser(file_size=size)
        parser.feed(0, first_bytes)
        while isinstance(result := parser.parse(), ByteRange):
            parser.feed(result.start, fetch(result.start, result.length))

    Args:
        file_size: Total file size if known (enables past-EOF checks of tile offsets).
        limits: Safety caps, see :class:`ParseLimits`.
    """

    __slots__ = ("_limits", "_store")

    def __init__(self, *, file_size: int | None = None, limits: ParseLimits | None = None) -> None:
        self._store = ByteStore(file_size)
        self._limits = limits or ParseLimits()

    @property
    def file_size(self) -> int | None:
        """Known file size (None if unknown)."""
        return self._store.file_size

    @file_size.setter
    def file_size(self, size: int | None) -> None:
        self._store.file_size = size

    @property
    def bytes_held(self) -> int:
        """Bytes fed so far."""
        return self._store.total_bytes

    @property
    def held_ranges(self) -> tuple[tuple[int, int], ...]:
        """``(start, length)`` of the byte chunks held."""
        return self._store.ranges

    def feed(self, start: int, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` found at file offset ``start``."""
        self._store.add(start, data)

    def parse(self) -> CogHeader | ByteRange:
        """Parse with the bytes held so far.

        Returns:
            The header, or the next byte range needed.

        Raises:
            TiffFormatError: (and subclasses) when the bytes are not a usable TIFF.
        """
        try:
            return _parse(self._store, self._limits)
        except NeedBytes as need:
            if need.start + need.length > self._limits.max_header_bytes:
                raise TiffFormatError(
                    f"header needs bytes up to offset {need.start + need.length}, beyond the "
                    f"{self._limits.max_header_bytes}-byte header limit"
                ) from None
            return ByteRange(need.start, need.length)
        except RecursionError as exc:  # pragma: no cover - defensive
            raise TiffFormatError("malformed TIFF header") from exc


def parse_header(
    data: bytes | bytearray | memoryview,
    *,
    start: int = 0,
    file_size: int | None = None,
    limits: ParseLimits | None = None,
) -> CogHeader:
    """Parse a header from bytes already in memory.

    Args:
        data: Bytes of the file starting at ``start`` (usually the first 16-64 KiB, or all).
        start: File offset of ``data[0]``.
        file_size: Total file size when known; pass ``len(data)`` for a whole file.
        limits: Safety caps.

    Raises:
        IncompleteHeaderError: ``data`` lacks bytes; ``.start``/``.length`` say which.
        TiffFormatError: the bytes are not a usable TIFF.
    """
    parser = HeaderParser(file_size=file_size, limits=limits)
    parser.feed(start, data)
    result = parser.parse()
    if isinstance(result, ByteRange):
        raise IncompleteHeaderError(result.start, result.length)
    return result
