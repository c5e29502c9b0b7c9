"""Raw IFD walking and tag value decoding (stdlib only).

This layer knows TIFF structure, not meaning: it turns bytes into :class:`IfdEntry` tables and
decodes tag values on demand, enforcing :class:`ParseLimits` so that hostile input can never
trigger a huge allocation or an endless loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rasteret_cog._bytes import ByteStore
from rasteret_cog.errors import TiffFormatError, TruncatedError
from rasteret_cog.tags import FieldType

__all__ = [
    "FIELD_SIZES",
    "IfdEntry",
    "ParseLimits",
    "TiffLayout",
    "read_ifd",
    "read_layout",
    "read_value",
]

#: Byte size of one value of each TIFF field type.
FIELD_SIZES: dict[int, int] = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
    16: 8, 17: 8, 18: 8,
}  # fmt: skip

_STRUCT_CODES: dict[int, str] = {
    1: "B", 3: "H", 4: "I", 5: "I", 6: "b", 8: "h", 9: "i", 10: "i", 11: "f", 12: "d", 13: "I",
    16: "Q", 17: "q", 18: "Q",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Safety caps applied while parsing untrusted headers.

    Attributes:
        max_ifds: Maximum number of IFDs followed in the chain.
        max_entries: Maximum number of entries in one IFD.
        max_value_bytes: Maximum size of one tag's value (e.g. a tile offset array).
        max_header_bytes: Maximum total bytes the parser may ask for.
    """

    max_ifds: int = 1024
    max_entries: int = 4096
    max_value_bytes: int = 64 * 1024 * 1024
    max_header_bytes: int = 256 * 1024 * 1024


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


@dataclass(frozen=True, slots=True)
class IfdEntry:
    """One IFD entry: where its value lives, not yet decoded.

    Attributes:
        tag: Tag code.
        type: Field type code.
        count: Number of values.
        value_offset: File offset of the value, or None when stored inline.
        inline: The inline value bytes (already trimmed to size) when ``value_offset`` is None.
    """

    tag: int
    type: int
    count: int
    value_offset: int | None
    inline: bytes | None

    @property
    def nbytes(self) -> int:
        """Size of the value in bytes (0 for unknown field types)."""
        return FIELD_SIZES.get(self.type, 0) * self.count


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


def read_ifd(
    store: ByteStore, layout: TiffLayout, offset: int, limits: ParseLimits
) -> tuple[dict[int, IfdEntry], int]:
    """Read the IFD at ``offset``.

    Returns:
        The entries by tag (first occurrence wins) and the next IFD offset (0 = none).
    """
    bo = layout.byte_order
    if layout.bigtiff:
        count_size, entry_size, next_fmt = 8, 20, "Q"
    else:
        count_size, entry_size, next_fmt = 2, 12, "I"
    if offset < (16 if layout.bigtiff else 8):
        raise TiffFormatError(f"IFD offset {offset} points into the file header")
    (n,) = struct.unpack(bo + ("Q" if layout.bigtiff else "H"), store.get(offset, count_size))
    if n == 0:
        raise TiffFormatError(f"IFD at offset {offset} has no entries")
    if n > limits.max_entries:
        raise TiffFormatError(
            f"IFD at offset {offset} claims {n} entries (limit {limits.max_entries})"
        )
    table = bytes(store.get(offset + count_size, n * entry_size + layout.offset_size))
    entries: dict[int, IfdEntry] = {}
    inline_cap = layout.offset_size
    for i in range(n):
        raw = table[i * entry_size : (i + 1) * entry_size]
        if layout.bigtiff:
            tag, typ, cnt = struct.unpack(bo + "HHQ", raw[:12])
            val = raw[12:20]
        else:
            tag, typ, cnt = struct.unpack(bo + "HHI", raw[:8])
            val = raw[8:12]
        if tag in entries:
            continue
        size = FIELD_SIZES.get(typ, 0) * cnt
        if size <= inline_cap:
            entries[tag] = IfdEntry(tag, typ, cnt, None, val[:size])
        else:
            (voff,) = struct.unpack(bo + ("Q" if layout.bigtiff else "I"), val)
            entries[tag] = IfdEntry(tag, typ, cnt, voff, None)
    (next_off,) = struct.unpack(bo + next_fmt, table[n * entry_size :])
    return entries, next_off


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
        ``str`` for ASCII, ``bytes`` for UNDEFINED, a tuple of numbers otherwise (RATIONAL as
        floats).

    Raises:
        TiffFormatError: unknown field type, or a count above ``max_count`` / the size limit.
        TruncatedError: the value lies past the end of the file.
    """
    size = FIELD_SIZES.get(entry.type)
    if size is None:
        raise TiffFormatError(f"tag {entry.tag} has unknown field type {entry.type}")
    if max_count is not None and entry.count > max_count:
        raise TiffFormatError(
            f"tag {entry.tag} has {entry.count} values (at most {max_count} expected)"
        )
    nbytes = size * entry.count
    if nbytes > limits.max_value_bytes:
        raise TiffFormatError(
            f"tag {entry.tag} value is {nbytes} bytes (limit {limits.max_value_bytes})"
        )
    if entry.value_offset is None:
        raw: bytes | memoryview = entry.inline or b""
    else:
        if store.file_size is not None and entry.value_offset + nbytes > store.file_size:
            raise TruncatedError(
                f"tag {entry.tag} value [{entry.value_offset}, {entry.value_offset + nbytes}) "
                f"lies past the end of the file ({store.file_size} bytes)"
            )
        raw = store.get(entry.value_offset, nbytes)
    typ = entry.type
    if typ == FieldType.ASCII:
        return bytes(raw).split(b"\x00", 1)[0].decode("latin-1")
    if typ == FieldType.UNDEFINED:
        return bytes(raw)
    code = _STRUCT_CODES[typ]
    n = entry.count * (2 if typ in (FieldType.RATIONAL, FieldType.SRATIONAL) else 1)
    vals = struct.unpack(f"{layout.byte_order}{n}{code}", raw)
    if typ in (FieldType.RATIONAL, FieldType.SRATIONAL):
        return tuple(
            (vals[i] / vals[i + 1]) if vals[i + 1] else float("nan") for i in range(0, n, 2)
        )
    return vals


def read_numbers(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
    *,
    max_count: int | None = None,
) -> tuple[float | int, ...]:
    """Like :func:`read_value` but insists on a numeric field type."""
    vals = read_value(store, layout, entry, limits, max_count=max_count)
    if not isinstance(vals, tuple):
        raise TiffFormatError(f"tag {entry.tag} has non-numeric field type {entry.type}")
    return vals


def read_ints(
    store: ByteStore,
    layout: TiffLayout,
    entry: IfdEntry,
    limits: ParseLimits,
    *,
    max_count: int | None = None,
) -> tuple[int, ...]:
    """Like :func:`read_value` but insists on integer values (checked on the field type)."""
    if entry.type not in _INTEGER_TYPES:
        raise TiffFormatError(f"tag {entry.tag} must hold integers (field type {entry.type})")
    return read_value(store, layout, entry, limits, max_count=max_count)  # type: ignore[no-any-return]


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
