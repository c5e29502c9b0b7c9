"""Raw IFD walking and tag value decoding (stdlib only).

This layer knows TIFF structure, not meaning: it turns bytes into :class:`IfdEntry` tables and
decodes tag values on demand, enforcing :class:`ParseLimits` so that hostile input can never
trigger a huge allocation or an endless loop.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from rasteret_cog._arrays import as_int64, to_array
from rasteret_cog._bytes import ByteStore
from rasteret_cog.errors import TiffFormatError, TruncatedError
from rasteret_cog.tags import FieldType

__all__ = [
    "FIELD_SIZES",
    "IfdEntry",
    "ParseLimits",
    "TiffLayout",
    "read_ifd",
    "read_int",
    "read_layout",
    "read_table",
    "read_tag_int",
    "read_value",
]

#: Byte size of one value of each TIFF field type.
FIELD_SIZES: dict[int, int] = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
    16: 8, 17: 8, 18: 8,
}  # fmt: skip

_UNSIGNED_SCALARS = frozenset({1, 3, 4, 13, 16, 18})


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Safety caps applied while parsing untrusted headers.

    The decode limits bound what one header can make a reader allocate: a 64 KiB header is
    otherwise free to declare 65,535 interleaved samples per pixel and make every tile decode
    allocate gigabytes. Exceeding them raises :class:`~rasteret_cog.errors.LimitExceededError`; raise them for
    unusual but legitimate files.

    Attributes:
        max_ifds: Maximum number of IFDs followed in the chain.
        max_entries: Maximum number of entries in one IFD.
        max_value_bytes: Maximum size of one tag's value (e.g. a tile offset array).
        max_header_bytes: Maximum total bytes the parser may ask for.
        max_samples_per_pixel: Maximum samples interleaved in one pixel (PlanarConfiguration
            1, where every tile holds every sample). Imaging spectrometers top out around 450
            bands; band-separate (planar) files may declare up to TIFF's 65,535 samples, as GDAL
            accepts, since each of their tiles holds one sample.
        max_tile_bytes: Maximum decoded size of one tile
            (``tile_width * tile_height * samples per tile * bytes per sample``); strips are
            held to it when decoded (``decode_tile(max_bytes=...)``), not when parsed.
        max_image_bytes: Maximum decoded size of one image (IFD), all samples.
    """

    max_ifds: int = 1024
    max_entries: int = 4096
    max_value_bytes: int = 64 * 1024 * 1024
    max_header_bytes: int = 256 * 1024 * 1024
    max_samples_per_pixel: int = 4096
    max_tile_bytes: int = 256 * 1024 * 1024
    max_image_bytes: int = 1 << 42


@dataclass(frozen=True, slots=True)
class TiffLayout:
    """The 8/16-byte file header.

    Attributes:
        byte_order: ``"<"`` (II, little-endian) or ``">"`` (MM, big-endian).
        bigtiff: True for BigTIFF (version 43).
        first_ifd: Offset of the first IFD.
    """

    byte_order: str
    bigtiff: bool
    first_ifd: int

    @property
    def offset_size(self) -> int:
        """4 for classic TIFF, 8 for BigTIFF."""
        return 8 if self.bigtiff else 4


class IfdEntry(NamedTuple):
    """One IFD entry: where its value lives, not yet decoded.

    A named tuple rather than a dataclass: a header holds a few dozen and they are created on
    every parse, where tuple construction is several times cheaper.

    Attributes:
        tag: Tag code.
        type: Field type code.
        value_count: Number of values (TIFF's "count"; ``count`` is a tuple method).
        value_offset: File offset of the value, or None when stored inline.
        inline: The inline value bytes (already trimmed to size) when ``value_offset`` is None.
    """

    tag: int
    type: int
    value_count: int
    value_offset: int | None
    inline: bytes | None

    @property
    def nbytes(self) -> int:
        """Size of the value in bytes (0 for unknown field types)."""
        return FIELD_SIZES.get(self.type, 0) * self.value_count


def read_layout(store: ByteStore) -> TiffLayout:
    """Parse the TIFF file header (byte order, version, first IFD offset)."""
    head = bytes(store.get(0, 8))
    if head[:2] == b"II":
        bo = "<"
    elif head[:2] == b"MM":
        bo = ">"
    else:
        raise TiffFormatError(f"not a TIFF file: byte-order mark {head[:2]!r}")
    (version,) = struct.unpack(bo + "H", head[2:4])
    if version == 42:
        (first,) = struct.unpack(bo + "I", head[4:8])
        return TiffLayout(bo, False, first)
    if version == 43:
        big = bytes(store.get(0, 16))
        osize, zero, first = struct.unpack(bo + "HHQ", big[4:16])
        if osize != 8 or zero != 0:
            raise TiffFormatError(f"invalid BigTIFF header (offset size {osize}, reserved {zero})")
        return TiffLayout(bo, True, first)
    raise TiffFormatError(f"not a TIFF file: version {version} (expected 42 or 43)")


_COUNT_STRUCTS = {
    (bo, big): struct.Struct(bo + ("Q" if big else "H")) for bo in "<>" for big in (False, True)
}
_ENTRY_STRUCTS = {
    (bo, big): struct.Struct(bo + ("HHQ8s" if big else "HHI4s"))
    for bo in "<>"
    for big in (False, True)
}
_new_entry = tuple.__new__  # IfdEntry(...) without the named tuple's Python-level __new__


def read_ifd(
    store: ByteStore, layout: TiffLayout, offset: int, limits: ParseLimits
) -> tuple[dict[int, IfdEntry], dict[int, int], int]:
    """Read the IFD at ``offset``.

    Returns:
        The entries by tag (first occurrence wins); the first value of every inline unsigned
        integer entry by tag (what :func:`read_int` returns for them: the usual scalar tags),
        decoded in the same pass; and the next IFD offset (0 = none).
    """
    bo = layout.byte_order
    big = layout.bigtiff
    count_size, entry_size = (8, 20) if big else (2, 12)
    if offset < (16 if big else 8):
        raise TiffFormatError(f"IFD offset {offset} points into the file header")
    (n,) = _COUNT_STRUCTS[bo, big].unpack(store.get(offset, count_size))
    if n == 0:
        raise TiffFormatError(f"IFD at offset {offset} has no entries")
    if n > limits.max_entries:
        raise TiffFormatError(
            f"IFD at offset {offset} claims {n} entries (limit {limits.max_entries})"
        )
    inline_cap = layout.offset_size
    table = store.get(offset + count_size, n * entry_size + inline_cap)
    entries: dict[int, IfdEntry] = {}
    scalars: dict[int, int] = {}
    order: Literal["little", "big"] = "little" if bo == "<" else "big"
    sizes = FIELD_SIZES
    unsigned = _UNSIGNED_SCALARS
    from_bytes = int.from_bytes
    for tag, typ, cnt, val in _ENTRY_STRUCTS[bo, big].iter_unpack(table[: n * entry_size]):
        if tag in entries:
            continue
        width = sizes.get(typ, 0)
        size = width * cnt
        if size <= inline_cap:
            inline = val[:size]
            entries[tag] = _new_entry(IfdEntry, (tag, typ, cnt, None, inline))
            if cnt and typ in unsigned:
                scalars[tag] = from_bytes(inline[:width], order)
        else:
            entries[tag] = _new_entry(IfdEntry, (tag, typ, cnt, from_bytes(val, order), None))
    next_off = from_bytes(table[n * entry_size :], order)
    return entries, scalars, next_off


def _raw(
    store: ByteStore,
    entry: IfdEntry,
    limits: ParseLimits,
    max_count: int | None,
) -> bytes | memoryview:
    """The bytes of an entry's value, after the count and size checks."""
    size = FIELD_SIZES.get(entry.type)
    if size is None:
        raise TiffFormatError(f"tag {entry.tag} has unknown field type {entry.type}")
    if max_count is not None and entry.value_count > max_count:
        raise TiffFormatError(
            f"tag {entry.tag} has {entry.value_count} values (at most {max_count} expected)"
        )
    nbytes = size * entry.value_count
    if nbytes > limits.max_value_bytes:
        raise TiffFormatError(
            f"tag {entry.tag} value is {nbytes} bytes (limit {limits.max_value_bytes})"
        )
    if entry.value_offset is None:
        return entry.inline or b""
    if store.file_size is not None and entry.value_offset + nbytes > store.file_size:
        raise TruncatedError(
            f"tag {entry.tag} value [{entry.value_offset}, {entry.value_offset + nbytes}) "
            f"lies past the end of the file ({store.file_size} bytes)"
        )
    return store.get(entry.value_offset, nbytes)


def read_value(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
    *,
    max_count: int | None = None,
) -> Any:
    """Decode an entry's value.

    Returns:
        ``str`` for ASCII, ``bytes`` for UNDEFINED, a tuple of floats for (S)RATIONAL, and for
        every other numeric type a native-order ``array.array`` (decoded in one step).

    Raises:
        TiffFormatError: unknown field type, or a count above ``max_count`` / the size limit.
        TruncatedError: the value lies past the end of the file.
    """
    raw = _raw(store, entry, limits, max_count)
    typ = entry.type
    if typ == FieldType.ASCII:
        return bytes(raw).split(b"\x00", 1)[0].decode("latin-1")
    if typ == FieldType.UNDEFINED:
        return bytes(raw)
    if typ in (FieldType.RATIONAL, FieldType.SRATIONAL):
        code = "I" if typ == FieldType.RATIONAL else "i"
        vals = struct.unpack(f"{layout.byte_order}{2 * entry.value_count}{code}", raw)
        return tuple(
            (vals[i] / vals[i + 1]) if vals[i + 1] else float("nan") for i in range(0, len(vals), 2)
        )
    return to_array(raw, typ, layout.byte_order)


def read_int(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
) -> int:
    """The first value of an integer tag (fast path for the usual inline unsigned scalar).

    Raises:
        TiffFormatError: no value, or a value that is not an integer.
    """
    if entry.inline is not None and entry.type in _UNSIGNED_SCALARS and entry.value_count >= 1:
        size = FIELD_SIZES[entry.type]
        return int.from_bytes(entry.inline[:size], "little" if layout.byte_order == "<" else "big")
    vals = read_value(store, layout, entry, limits, max_count=65535)
    if isinstance(vals, (str, bytes)) or not len(vals):
        raise TiffFormatError(f"tag {entry.tag} has no numeric value")
    v = vals[0]
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise TiffFormatError(f"tag {entry.tag} must be an integer, got {v!r}")
    return int(v)


def read_tag_int(
    store: ByteStore,
    layout: TiffLayout,
    entries: dict[int, IfdEntry],
    tag: int,
    default: int,
    limits: ParseLimits,
    scalars: Mapping[int, int] | None = None,
) -> int:
    """:func:`read_int` of ``tag`` in one IFD's ``entries``, or ``default`` when absent.

    ``scalars``: the IFD's inline unsigned scalars as :func:`read_ifd` decoded them; a tag
    found there is not decoded again.
    """
    if scalars is not None:
        v = scalars.get(tag)
        if v is not None:
            return v
    entry = entries.get(tag)
    return default if entry is None else read_int(store, layout, entry, limits)


def read_table(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
) -> array[int]:
    """A tile/strip offset or byte-count table as an int64 ``array`` (no per-value objects).

    Raises:
        TiffFormatError: not an integer type, a negative or absurd value, or the size limit.
        TruncatedError: the table lies past the end of the file.
    """
    raw = _raw(store, entry, limits, None)
    return as_int64(raw, entry.type, layout.byte_order, f"tag {entry.tag}")


def read_numbers(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
    *,
    max_count: int | None = None,
) -> array[int] | array[float] | tuple[float, ...]:
    """Like :func:`read_value` but insists on a numeric field type."""
    vals = read_value(store, layout, entry, limits, max_count=max_count)
    if isinstance(vals, (str, bytes)):
        raise TiffFormatError(f"tag {entry.tag} has non-numeric field type {entry.type}")
    return vals


def read_ints(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
    *,
    max_count: int | None = None,
) -> array[int]:
    """Like :func:`read_value` but insists on integer values (checked on the field type)."""
    if entry.type not in _INTEGER_TYPES:
        raise TiffFormatError(f"tag {entry.tag} must hold integers (field type {entry.type})")
    return read_value(store, layout, entry, limits, max_count=max_count)


_INTEGER_TYPES = frozenset(
    {
        FieldType.BYTE,
        FieldType.SHORT,
        FieldType.LONG,
        FieldType.SBYTE,
        FieldType.SSHORT,
        FieldType.SLONG,
        FieldType.IFD,
        FieldType.LONG8,
        FieldType.SLONG8,
        FieldType.IFD8,
    }
)
