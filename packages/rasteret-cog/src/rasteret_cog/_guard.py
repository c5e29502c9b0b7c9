"""Cheap size checks on image-codec streams before decoding them (private, stdlib only).

JPEG, WebP and LERC streams carry their own dimensions; a hostile tile could claim a huge image
and make the decoder allocate gigabytes. These helpers read the declared size without decoding.
"""

from __future__ import annotations

import struct

__all__ = ["declared_size"]


def _jpeg(raw: bytes) -> tuple[int, int, int] | None:
    i, n = 2, len(raw)
    if raw[:2] != b"\xff\xd8":
        return None
    while i + 4 <= n:
        if raw[i] != 0xFF:
            i += 1
            continue
        marker = raw[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (seglen,) = struct.unpack(">H", raw[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 10 > n:
                return None
            h, w = struct.unpack(">HH", raw[i + 5 : i + 9])
            return h, w, raw[i + 9]
        if marker == 0xDA:  # start of scan before a frame header
            return None
        i += 2 + seglen
    return None


def _webp(raw: bytes) -> tuple[int, int, int] | None:
    if len(raw) < 30 or raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        return None
    chunk = raw[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(raw[24:27], "little") + 1
        h = int.from_bytes(raw[27:30], "little") + 1
        return h, w, 4
    if chunk == b"VP8L":
        bits = int.from_bytes(raw[21:25], "little")
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1, 4
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", raw[26:30])
        return h & 0x3FFF, w & 0x3FFF, 4
    return None


def _lerc_blob(raw: bytes | memoryview, pos: int) -> tuple[int, int, int, int] | None:
    """``(height, width, depth, blob size)`` of the Lerc2 blob at ``pos``, or None."""
    if len(raw) < pos + 14 or bytes(raw[pos : pos + 6]) != b"Lerc2 ":
        return None
    (version,) = struct.unpack_from("<i", raw, pos + 6)
    off = pos + 10 + (4 if version >= 3 else 0)  # v3+: checksum
    h, w = struct.unpack_from("<ii", raw, off)
    off += 8
    depth = 1
    if version >= 4:
        (depth,) = struct.unpack_from("<i", raw, off)
        off += 4
    _valid, _micro, blob = struct.unpack_from("<iii", raw, off)
    return h, w, depth, blob


def _lerc(raw: bytes | memoryview) -> tuple[int, int, int] | None:
    """Size of a LERC stream: ``(height, width, values per pixel over all its bands)``.

    Several blobs may follow each other (one per band); each declares its own size, so the
    decoded size is known before decoding (only the blob headers are read).
    """
    first = _lerc_blob(raw, 0)
    if first is None:
        return None
    h, w = first[:2]
    values, pos = 0, 0
    while True:
        info = _lerc_blob(raw, pos)
        if info is None or info[:2] != (h, w) or info[2] < 1 or info[3] <= 0:
            return None
        values += info[2]
        pos += info[3]
        if pos >= len(raw):
            return h, w, values


def declared_size(kind: str, raw: bytes | bytearray | memoryview) -> tuple[int, int, int] | None:
    """``(height, width, samples)`` a ``"jpeg"``/``"webp"``/``"lerc"`` stream declares.

    ``samples`` is the number of values per pixel the decoder will produce (JPEG components,
    4 for WebP at most, LERC depth times bands). None when the stream is not recognised.
    """
    try:
        if kind == "lerc":
            return _lerc(memoryview(raw))
        # JPEG and WebP declare their size near the start (JPEG: SOF follows SOI at once in
        # TIFF tiles, whose tables live in JPEGTables).
        return {"jpeg": _jpeg, "webp": _webp}[kind](bytes(raw[:65536]))
    except (struct.error, IndexError):
        return None
