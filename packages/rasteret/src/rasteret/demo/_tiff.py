"""A minimal Cloud-Optimized GeoTIFF writer (no GDAL) for the ``rasteret demo`` data.

Why not ``tifffile.TiffWriter``: it writes each IFD right before that image's data, so an
overview's IFD lands after the full-resolution tiles and a reader needs a second request,
far into the file, to learn the overviews. A COG keeps every IFD at the start of the file;
this writer does exactly that, for one case only: single-band, little-endian classic TIFF,
square tiles, DEFLATE (TIFF compression 8) with the horizontal predictor (2), full resolution
first and then its overviews (``NewSubfileType = 1``), followed by the tile data (smallest
overview first, as GDAL's COG driver orders it). Georeferencing: ``ModelPixelScale``,
``ModelTiepoint``, a ``GeoKeyDirectory`` with a projected EPSG code, and ``GDAL_NODATA``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rasteret.errors import InvalidInputError

__all__ = ["write_cog"]

_SHORT, _LONG, _ASCII, _DOUBLE = 3, 4, 2, 12
_SIZES = {_SHORT: 2, _LONG: 4, _ASCII: 1, _DOUBLE: 8}
_FMT = {_SHORT: "H", _LONG: "I", _DOUBLE: "d"}
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


def _geokeys(epsg: int) -> list[int]:
    keys = [
        (1024, 0, 1, 1),  # GTModelTypeGeoKey: projected
        (1025, 0, 1, 1),  # GTRasterTypeGeoKey: PixelIsArea
        (3072, 0, 1, epsg),  # ProjectedCSTypeGeoKey
        (3076, 0, 1, 9001),  # ProjLinearUnitsGeoKey: metre
    ]
    out = [1, 1, 0, len(keys)]
    for k in keys:
        out.extend(k)
    return out


def _encode_tile(tile: np.ndarray, level: int) -> bytes:
    """Horizontal predictor (integer wrap-around) + zlib, little-endian samples."""
    if tile.dtype.kind in "ui":
        diff = tile.copy()
        diff[:, 1:] = tile[:, 1:] - tile[:, :-1]
    else:  # the predictor 2 is only defined for integers; float input is stored as is
        diff = tile
    return zlib.compress(diff.astype(tile.dtype.newbyteorder("<"), copy=False).tobytes(), level)


def _tiles(data: np.ndarray, tile: int) -> list[np.ndarray]:
    h, w = data.shape
    out = []
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            block = data[r : r + tile, c : c + tile]
            if block.shape != (tile, tile):  # edge tiles are padded with zeros, as GDAL does
                padded = np.zeros((tile, tile), dtype=data.dtype)
                padded[: block.shape[0], : block.shape[1]] = block
                block = padded
            out.append(block)
    return out


def _ifd_entries(
    level: np.ndarray,
    tile: int,
    overview: bool,
    offsets: Sequence[int],
    counts: Sequence[int],
    geo: dict[int, tuple[int, list[float] | list[int] | bytes]],
) -> list[tuple[int, int, list[float] | list[int] | bytes]]:
    h, w = level.shape
    dt = level.dtype
    entries: dict[int, tuple[int, list[float] | list[int] | bytes]] = {
        254: (_LONG, [1 if overview else 0]),
        256: (_LONG, [w]),
        257: (_LONG, [h]),
        258: (_SHORT, [dt.itemsize * 8]),
        259: (_SHORT, [8]),
        262: (_SHORT, [1]),
        277: (_SHORT, [1]),
        284: (_SHORT, [1]),
        317: (_SHORT, [2 if dt.kind in "ui" else 1]),
        322: (_LONG, [tile]),
        323: (_LONG, [tile]),
        324: (_LONG, list(offsets)),
        325: (_LONG, list(counts)),
        339: (_SHORT, [_SAMPLE_FORMAT[dt.kind]]),
    }
    for tag, value in geo.items():
        if overview and tag != 42113:  # overviews carry no georeferencing, only nodata
            continue
        entries[tag] = value
    return [(tag, *entries[tag]) for tag in sorted(entries)]


def _payload(typ: int, value: list[float] | list[int] | bytes) -> bytes:
    if typ == _ASCII:
        assert isinstance(value, bytes)
        return value
    return struct.pack(f"<{len(value)}{_FMT[typ]}", *value)


def _ifd_size(entries: list[tuple[int, int, list[float] | list[int] | bytes]]) -> int:
    size = 2 + 12 * len(entries) + 4
    for _tag, typ, value in entries:
        n = len(value) * _SIZES[typ]
        if n > 4:
            size += n + (n & 1)
    return size


def _write_ifd(
    buf: bytearray,
    at: int,
    entries: list[tuple[int, int, list[float] | list[int] | bytes]],
    next_ifd: int,
) -> None:
    extra = at + 2 + 12 * len(entries) + 4
    out = bytearray(struct.pack("<H", len(entries)))
    blobs = bytearray()
    for tag, typ, value in entries:
        data = _payload(typ, value)
        count = len(value)
        if len(data) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + data.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, typ, count, extra + len(blobs))
            blobs += data + (b"\0" if len(data) & 1 else b"")
    out += struct.pack("<I", next_ifd)
    buf[at : at + len(out) + len(blobs)] = out + blobs


def write_cog(
    path: Path,
    data: np.ndarray,
    transform: Sequence[float],
    epsg: int,
    *,
    nodata: float | None = 0,
    tile: int = 512,
    overviews: Sequence[np.ndarray] = (),
    level: int = 6,
) -> Path:
    """Write ``data`` (2-D) and its ``overviews`` as a tiled COG.

    Args:
        path: Output file.
        data: Full-resolution 2-D array (integer or float).
        transform: North-up affine ``(a, b, c, d, e, f)`` with ``b == d == 0`` and ``e < 0``.
        epsg: Projected CRS EPSG code.
        nodata: Written as the ``GDAL_NODATA`` tag, or None.
        tile: Tile edge in pixels (a multiple of 16).
        overviews: Reduced-resolution arrays, largest first.
        level: zlib compression level.

    Returns:
        ``path``.
    """
    a, b, c, d, e, f = transform
    if b or d or e >= 0:
        raise InvalidInputError("write_cog() needs a north-up transform")
    geo: dict[int, tuple[int, list[float] | list[int] | bytes]] = {
        33550: (_DOUBLE, [a, -e, 0.0]),
        33922: (_DOUBLE, [0.0, 0.0, 0.0, c, f, 0.0]),
        34735: (_SHORT, _geokeys(epsg)),
    }
    if nodata is not None:
        text = str(int(nodata)) if float(nodata).is_integer() else repr(float(nodata))
        geo[42113] = (_ASCII, text.encode("ascii") + b"\0")
    levels = [data, *overviews]
    with ThreadPoolExecutor(max_workers=2) as pool:
        encoded = [
            list(pool.map(lambda t: _encode_tile(t, level), _tiles(lv, tile))) for lv in levels
        ]
    # IFD sizes do not depend on offset values, so lay out the header first
    dummy = [
        _ifd_entries(lv, tile, i > 0, [0] * len(enc), [0] * len(enc), geo)
        for i, (lv, enc) in enumerate(zip(levels, encoded))
    ]
    ifd_at = []
    pos = 8
    for entries in dummy:
        ifd_at.append(pos)
        pos += _ifd_size(entries)
        pos += pos & 1
    # tile data: smallest overview first, full resolution last
    offsets: list[list[int]] = [[] for _ in levels]
    for i in reversed(range(len(levels))):
        for blob in encoded[i]:
            offsets[i].append(pos)
            pos += len(blob)
    buf = bytearray(b"II*\0" + struct.pack("<I", ifd_at[0]))
    buf.extend(b"\0" * (ifd_at[-1] + _ifd_size(dummy[-1]) - len(buf)))
    for i, lv in enumerate(levels):
        counts = [len(x) for x in encoded[i]]
        entries = _ifd_entries(lv, tile, i > 0, offsets[i], counts, geo)
        nxt = ifd_at[i + 1] if i + 1 < len(levels) else 0
        _write_ifd(buf, ifd_at[i], entries, nxt)
    with open(path, "wb") as fh:
        fh.write(buf.ljust(offsets[-1][0], b"\0"))
        for i in reversed(range(len(levels))):
            for blob in encoded[i]:
                fh.write(blob)
    return path
