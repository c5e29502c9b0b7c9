"""Whole-array helpers for tag values (private, stdlib only).

Tile tables are the only large values in a header (one entry per tile, often thousands). They
are turned into ``array.array`` objects in one step each (``frombytes`` + at most one
``byteswap``) and validated with whole-buffer operations, so no Python object is created per
tile. Checks that need arithmetic on every element (a tile's end past the end of the file) use
Python's big integers as wide registers: a table's bytes are read as one integer whose 64-bit
lanes are the values, and a few big-integer operations test all lanes at once.

When the process has already loaded numpy (every reader and indexer does), the two whole-table
steps use it instead (several times faster on large tables); the parser never imports it, so
parsing still works, and gives the same results, with the standard library alone.
"""

from __future__ import annotations

import sys
from array import array
from functools import lru_cache
from typing import Any

from rasteret_cog.errors import TiffFormatError

__all__ = ["INT64", "TYPECODES", "any_end_past", "as_int64", "to_array"]

#: Tables shorter than this are handled without numpy (a numpy call costs a few µs).
NUMPY_MIN = 64
#: The same for the int64 conversion alone (one numpy cast beats the lane copies sooner).
NUMPY_MIN_CAST = 16

#: array typecode of a signed 64-bit integer (the type of every tile table).
INT64 = "q"
_U32 = "I" if array("I").itemsize == 4 else "L"
_I32 = "i" if array("i").itemsize == 4 else "l"
_NATIVE = "<" if sys.byteorder == "little" else ">"

#: array typecodes of the numeric TIFF field types that map one-to-one onto C types.
TYPECODES: dict[int, str] = {
    1: "B", 3: "H", 4: _U32, 6: "b", 8: "h", 9: _I32, 11: "f", 12: "d", 13: _U32,
    16: "Q", 17: "q", 18: "Q",
}  # fmt: skip
_SIGNED = frozenset({6, 8, 9, 17})
#: numpy dtypes by (byte order, field type): the stored values' and int64
_DTYPES: dict[tuple[str, int], tuple[Any, Any]] = {}
_INTEGER_SIZES = {1: 1, 3: 2, 4: 4, 6: 1, 8: 2, 9: 4, 13: 4, 16: 8, 17: 8, 18: 8}


_NP: list[Any] = []  # numpy once seen fully imported (then it stays imported)
_MODULES = sys.modules


def _numpy() -> Any:
    """numpy if this process already imported it, else None (never imported from here)."""
    if _NP:
        return _NP[0]
    np = _MODULES.get("numpy")
    if np is None or not hasattr(np, "frombuffer") or not hasattr(np, "maximum"):
        return None  # absent, or still importing
    _NP.append(np)
    return np


def to_array(raw: bytes | memoryview, typ: int, byte_order: str) -> array[Any]:
    """A numeric tag value as a native-order ``array`` (one copy, one optional byte swap)."""
    out = array(TYPECODES[typ])
    out.frombytes(raw)
    if byte_order != _NATIVE and out.itemsize > 1:
        out.byteswap()
    return out


def as_int64(raw: bytes | memoryview, typ: int, byte_order: str, what: str) -> array[int]:
    """An integer tag value (BYTE/SHORT/LONG/LONG8, signed or not) as an int64 ``array``.

    Narrower values are widened by copying byte lanes, never element by element.

    Raises:
        TiffFormatError: not an integer field type, a negative value, or a value of 2**63 or
            more (no file is that large).
    """
    width = _INTEGER_SIZES.get(typ)
    if width is None:
        raise TiffFormatError(f"{what} must hold integers (field type {typ})")
    n = len(raw) // width
    if n >= NUMPY_MIN_CAST:
        np = _numpy()
        if np is not None:
            return _as_int64_numpy(np, raw, typ, width, byte_order, what)
    data = bytes(raw)
    # Sign bit of every value (the most significant byte of each lane) in one pass: a byte
    # string is ASCII exactly when no byte has its top bit set.
    if typ in _SIGNED or width == 8:
        top = data[width - 1 :: width] if byte_order == "<" else data[0::width]
        if not top.isascii():
            raise TiffFormatError(
                f"{what} holds a negative value or one beyond 2**63"
                if typ in _SIGNED
                else f"{what} holds a value beyond 2**63"
            )
    if width == 8:
        out = array(INT64)
        out.frombytes(data)
        if byte_order != _NATIVE:
            out.byteswap()
        return out
    if byte_order == ">" and width > 1:
        # Reverse the bytes of every value (a pure byte reversal, the same on any host).
        swapped = array("H" if width == 2 else _U32)
        swapped.frombytes(data)
        swapped.byteswap()
        data = swapped.tobytes()
    # ``data`` holds little-endian values: lay them into little-endian 8-byte lanes.
    buf = bytearray(8 * n)
    for k in range(width):
        buf[k::8] = data[k::width]
    out = array(INT64)
    out.frombytes(buf)
    if _NATIVE == ">":  # pragma: no cover - big-endian hosts
        out.byteswap()
    return out


def _as_int64_numpy(
    np: Any, raw: bytes | memoryview, typ: int, width: int, byte_order: str, what: str
) -> array[int]:
    """:func:`as_int64` with numpy (same checks, same errors)."""
    dtypes = _DTYPES.get((byte_order, typ))
    if dtypes is None:
        kind = "i" if typ in _SIGNED else "u"
        dtypes = _DTYPES[byte_order, typ] = (
            np.dtype(f"{byte_order}{kind}{width}"),
            np.dtype(np.int64),
        )
    n = len(raw) // width
    vals = np.frombuffer(raw, dtypes[0], n)
    if typ in _SIGNED:
        bad = int(np.minimum.reduce(vals)) < 0
    elif width == 8:
        bad = int(np.maximum.reduce(vals)) >= 1 << 63
    else:  # unsigned and narrower than 64 bits: always in range
        bad = False
    if bad:
        raise TiffFormatError(
            f"{what} holds a negative value or one beyond 2**63"
            if typ in _SIGNED
            else f"{what} holds a value beyond 2**63"
        )
    out = array(INT64)
    if width == 8 and byte_order == _NATIVE:
        out.frombytes(raw[: 8 * n])  # already native int64 lanes, all below 2**63
    else:
        out.frombytes(vals.astype(dtypes[1]).data.cast("B"))  # a byte view: no tobytes() copy
    return out


@lru_cache(maxsize=64)
def _lane_ones(n: int) -> int:
    """``sum(2 ** (64 * i) for i in range(n))``: a 1 in each of ``n`` 64-bit lanes."""
    return int.from_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * n, "little")


def any_end_past(offsets: array[int], counts: array[int], limit: int) -> bool:
    """True when some ``offsets[i] + counts[i]`` exceeds ``limit`` (values in ``[0, 2**63)``).

    Each table becomes one big integer whose 64-bit lanes are its values. Two values below
    2**63 add up to less than 2**64, so ``O + C`` holds every lane's sum without carries between
    lanes. Adding ``2**64 - 1 - limit`` to every lane then carries out of exactly the lanes whose
    sum exceeds ``limit``; the carries are the bits where ``a ^ b ^ (a + b)`` differs, read at
    the lane boundaries.
    """
    n = len(offsets)
    if n == 0:
        return False
    if limit < 0 or limit >= (1 << 64) - 1:
        return limit < 0
    np = _numpy() if n >= NUMPY_MIN else None
    if np is not None:  # values < 2**63: their unsigned sums cannot wrap
        u64 = np.uint64
        ends = np.add(np.frombuffer(offsets, u64), np.frombuffer(counts, u64))
        return int(np.maximum.reduce(ends)) > limit
    s = int.from_bytes(offsets, sys.byteorder) + int.from_bytes(counts, sys.byteorder)
    ones = _lane_ones(n)
    bias = ((1 << 64) - 1 - limit) * ones
    carries = s ^ bias ^ (s + bias)
    return bool(carries & (ones << 64))
