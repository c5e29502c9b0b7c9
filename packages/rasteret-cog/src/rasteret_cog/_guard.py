"""Cheap size checks on image-codec streams before decoding them (private, stdlib only).

JPEG, WebP and LERC streams carry their own dimensions; a hostile tile could claim a huge image
and make the decoder allocate gigabytes. These helpers read the declared size without decoding.
"""

from __future__ import annotations

import struct

__all__ = ["declared_size"]


def _jpeg(raw: bytes) -> tuple[int, int] | None:
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
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", raw[i + 5 : i + 9])
            return h, w
        if marker == 0xDA:  # start of scan before a frame header
            return None
        i += 2 + seglen
    return None


def _webp(raw: bytes) -> tuple[int, int] | None:
    if len(raw) < 30 or raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        return None
    chunk = raw[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(raw[24:27], "little") + 1
        h = int.from_bytes(raw[27:30], "little") + 1
        return h, w
    if chunk == b"VP8L":
        bits = int.from_bytes(raw[21:25], "little")
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", raw[26:30])
        return h & 0x3FFF, w & 0x3FFF
    return None


def _lerc(raw: bytes) -> tuple[int, int] | None:
    if raw[:6] != b"Lerc2 " or len(raw) < 22:
        return None
    (version,) = struct.unpack("<i", raw[6:10])
    off = 10 + (4 if version >= 3 else 0)
    h, w = struct.unpack("<ii", raw[off : off + 8])
    return h, w


def declared_size(kind: str, raw: bytes) -> tuple[int, int] | None:
    """``(height, width)`` a ``"jpeg"``/``"webp"``/``"lerc"`` stream declares, or None if unknown."""
    try:
        # Every format declares its size near the start (JPEG: SOF follows SOI at once in
        # TIFF tiles, whose tables live in JPEGTables).
        return {"jpeg": _jpeg, "webp": _webp, "lerc": _lerc}[kind](bytes(raw[:65536]))
    except (struct.error, IndexError):
        return None
