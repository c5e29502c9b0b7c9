"""TIFF predictors, byte order and bit unpacking on decoded sample arrays (numpy, lazy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasteret_cog.errors import TileDecodeError, UnsupportedTiffError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["to_native", "undo_predictor", "unpack_bits"]


def to_native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in native byte order (a copy only when it was swapped)."""
    if arr.dtype.isnative or arr.dtype.itemsize == 1:
        return arr
    return arr.astype(arr.dtype.newbyteorder("="))


def undo_predictor(arr: np.ndarray, predictor: int, byte_order: str) -> np.ndarray:
    """Undo a TIFF predictor on a ``(rows, cols, samples)`` array.

    Args:
        arr: Samples with the file's byte order (not yet swapped to native).
        predictor: 1 none, 2 horizontal differencing, 3 floating-point.
        byte_order: The file's byte order.

    Returns:
        Native-order samples with the predictor undone.
    """
    import imagecodecs
    import numpy as np

    if predictor == 1:
        return to_native(arr)
    if predictor == 2:
        # libtiff differences the native integer values before byte swapping, so swap first and
        # difference on an unsigned view of the same width (float16/32 included: GDAL treats
        # their bits as integers, wrapping arithmetic is identical for signed types).
        native = to_native(arr)
        if not native.flags.writeable:
            native = native.copy()
        uview = native.view(np.dtype(f"u{native.dtype.itemsize}"))
        imagecodecs.delta_decode(uview, axis=1, out=uview)
        return native
    if predictor == 3:
        if arr.dtype.kind != "f":
            raise TileDecodeError(f"floating-point predictor on non-float dtype {arr.dtype}")
        # The shuffled bytes are most-significant first regardless of the file byte order;
        # imagecodecs writes the result in the dtype's byte order, so ask for native.
        native_dt = arr.dtype.newbyteorder("=")
        src = np.frombuffer(arr.tobytes(), dtype=native_dt).reshape(arr.shape)
        out = np.empty_like(src)
        imagecodecs.floatpred_decode(src, axis=-2, out=out)
        return out
    raise UnsupportedTiffError(f"unsupported TIFF predictor {predictor}")


def unpack_bits(buf: Any, dtype: np.dtype, bits: int, rows: int, row_samples: int) -> np.ndarray:
    """Unpack MSB-first packed integers (odd depths such as 1, 4, 12, 15 bits).

    Each row starts on a byte boundary, as TIFF requires.

    Returns:
        A ``(rows, row_samples)`` array of the (unsigned or sign-extended) values.
    """
    import imagecodecs
    import numpy as np

    unsigned = np.dtype(f"u{dtype.itemsize}")
    row_bytes = (row_samples * bits + 7) // 8
    need = rows * row_bytes
    if len(buf) < need:
        raise TileDecodeError(f"packed tile has {len(buf)} bytes, expected {need}")
    out = imagecodecs.packints_decode(bytes(buf[:need]), unsigned, bits, runlen=row_samples)
    out = np.asarray(out).reshape(rows, row_samples)
    out = out.astype(unsigned, copy=False)
    if dtype.kind == "i":
        # Sign-extend in place with wrapping unsigned arithmetic: (v ^ s) - s, s = 2**(bits-1).
        sign = unsigned.type(1 << (bits - 1))
        np.bitwise_xor(out, sign, out=out)
        np.subtract(out, sign, out=out)
        return out.view(dtype)
    return out
