"""Tile decoding: compressed tile bytes + :class:`TileSpec` -> numpy array.

numpy and imagecodecs are imported on first use, so importing this module stays stdlib-only.
Every codec call goes through imagecodecs, whose Cython wrappers release the GIL while the C
library runs; :func:`decode_tile` holds no shared state and is safe to call from many threads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rasteret_cog._guard import declared_size
from rasteret_cog.errors import (
    LimitExceededError,
    TileDecodeError,
    UnsupportedCompressionError,
    UnsupportedTiffError,
)
from rasteret_cog.ifd import ParseLimits
from rasteret_cog.predictors import undo_predictor, unpack_bits
from rasteret_cog.spec import TileSpec
from rasteret_cog.tags import Compression, Photometric

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_MAX_TILE_BYTES", "decode_tile", "fill_value", "supported_compressions"]

_BYTE_CODECS = {
    Compression.NONE: None,
    Compression.LZW: "lzw_decode",
    Compression.ADOBE_DEFLATE: "deflate_decode",
    Compression.DEFLATE: "deflate_decode",
    Compression.ZSTD: "zstd_decode",
    Compression.LZMA: "lzma_decode",
    Compression.PACKBITS: "packbits_decode",
}
_IMAGE_CODECS = {Compression.JPEG, Compression.WEBP, Compression.LERC}

#: Largest decoded tile accepted by default (bytes); the same cap as
#: :attr:`ParseLimits.max_tile_bytes` (256 MiB).
DEFAULT_MAX_TILE_BYTES = ParseLimits().max_tile_bytes
#: Most values per pixel an image codec may declare (RGBA); more is a hostile stream.
_MAX_CODEC_SAMPLES = 4

# libjpeg colour-space codes (J_COLOR_SPACE).
_JCS_GRAYSCALE, _JCS_RGB, _JCS_YCBCR = 1, 2, 3


def supported_compressions() -> frozenset[int]:
    """TIFF compression codes :func:`decode_tile` handles."""
    return frozenset(int(c) for c in (*_BYTE_CODECS, *_IMAGE_CODECS))


def fill_value(spec: TileSpec) -> int | float:
    """Value for sparse tiles and out-of-image pixels: nodata when representable, else 0."""
    import numpy as np

    nd = spec.nodata
    if nd is None:
        return 0
    dt = np.dtype(spec.dtype)
    if dt.kind == "f":
        return float(nd)
    if isinstance(nd, float) and not (math.isfinite(nd) and nd.is_integer()):
        return 0
    info = np.iinfo(dt)
    return int(nd) if info.min <= int(nd) <= info.max else 0


def decode_tile(
    raw: bytes | bytearray | memoryview,
    spec: TileSpec,
    *,
    max_bytes: int = DEFAULT_MAX_TILE_BYTES,
    scratch: bytearray | None = None,
) -> np.ndarray:
    """Decode one tile (or strip) into a native-byte-order array.

    Memory is bounded by the tile, whatever the bytes say: byte codecs write into a buffer of
    the expected size, image codecs (JPEG, WebP, LERC) are refused when their stream declares
    another size, and the decoded tile itself is capped at ``max_bytes``. Transient copies
    (byte swap, predictor, short-strip padding) stay within a small multiple of it.

    Args:
        raw: The tile's bytes exactly as stored (``tile_byte_counts[i]`` bytes at
            ``tile_offsets[i]``). Empty bytes denote a sparse tile and decode to a tile filled
            with :func:`fill_value`.
        spec: How the image is encoded.
        max_bytes: Largest decoded tile accepted (default 256 MiB).
        scratch: A buffer the byte codecs (none, LZW, DEFLATE, ZSTD, LZMA, PackBits) decode
            into when it holds at least the tile's bytes, instead of a new one per tile (a
            fresh buffer costs its page faults on every tile). The returned array may then be
            a view of ``scratch``: use it before the next call with the same buffer (one
            scratch per thread).

    Returns:
        A full tile: shape ``(tile_height, tile_width)`` when one sample per tile, else
        ``(tile_height, tile_width, samples_per_pixel)``; dtype ``spec.dtype`` in native byte
        order. JPEG YCbCr tiles are returned as RGB (as GDAL delivers them); internal mask tiles
        (photometric 4, 1 bit) as 0/255 uint8 like GDAL's mask band. The array may be
        read-only. Stripped images: a short last strip is padded with :func:`fill_value`.

    Raises:
        UnsupportedCompressionError: no decoder for ``spec.compression``.
        TileDecodeError: the bytes do not decode to the expected size.
        LimitExceededError: the decoded tile would exceed ``max_bytes``.
    """
    import numpy as np

    shape = spec.tile_shape
    dtype = np.dtype(spec.dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise LimitExceededError(f"decoded tile size ({shape} {dtype})", nbytes, max_bytes)
    if len(raw) == 0:
        return np.full(shape, fill_value(spec), dtype=dtype)
    comp = spec.compression
    if spec.photometric == Photometric.YCBCR and comp != Compression.JPEG:
        raise UnsupportedTiffError("YCbCr photometric without JPEG compression is not supported")
    try:
        if comp in _BYTE_CODECS:
            arr = _decode_bytes(raw, spec, dtype, scratch)
        elif comp == Compression.JPEG:
            arr = _decode_jpeg(raw, spec)
        elif comp == Compression.WEBP:
            arr = _decode_webp(raw, spec)
        elif comp == Compression.LERC:
            arr = _decode_lerc(raw, spec, dtype)
        else:
            try:
                name = Compression(comp).name
            except ValueError:
                name = "unknown"
            raise UnsupportedCompressionError(
                f"TIFF compression {comp} ({name}) is not supported; supported: "
                f"{sorted(supported_compressions())}"
            )
    except (TileDecodeError, UnsupportedTiffError):
        raise
    except Exception as exc:  # imagecodecs raises its own error classes per codec
        raise TileDecodeError(f"cannot decode tile (compression {comp}): {exc}") from exc
    return _finish(arr, spec, dtype, shape)


def _finish(arr: np.ndarray, spec: TileSpec, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Reshape to the tile shape, padding short strips; check everything else."""
    import numpy as np

    spt = spec.samples_per_tile
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] < spt or arr.shape[1] != spec.tile_width:
        raise TileDecodeError(f"decoded tile has shape {arr.shape}, expected {shape}")
    if arr.shape[2] != spt:
        arr = arr[:, :, :spt]
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    rows = arr.shape[0]
    if rows > spec.tile_height:
        arr = arr[: spec.tile_height]
    elif rows < spec.tile_height:
        if not spec.full_width:
            raise TileDecodeError(f"decoded tile has {rows} rows, expected {spec.tile_height}")
        padded = np.full((spec.tile_height, spec.tile_width, spt), fill_value(spec), dtype=dtype)
        padded[:rows] = arr
        arr = padded
    return arr[:, :, 0] if spt == 1 else arr


def _decode_bytes(
    raw: Any, spec: TileSpec, dtype: np.dtype, scratch: bytearray | None = None
) -> np.ndarray:
    import imagecodecs
    import numpy as np

    spt = spec.samples_per_tile
    tw, th = spec.tile_width, spec.tile_height
    row_samples = tw * spt
    bits = spec.bits_per_sample or dtype.itemsize * 8
    expected = th * ((row_samples * bits + 7) // 8)
    name = _BYTE_CODECS[Compression(spec.compression)]
    # A preallocated ``bytearray`` caps the output (no decompression bombs), avoids a resize
    # copy and is writable, so predictors run in place (a short stream yields a shorter view).
    if name is None:
        buf = raw
    else:
        dest = memoryview(scratch)[:expected] if scratch and len(scratch) >= expected else None
        buf = getattr(imagecodecs, name)(raw, out=bytearray(expected) if dest is None else dest)
    if bits != dtype.itemsize * 8:
        if spec.predictor != 1:
            raise UnsupportedTiffError(f"predictor {spec.predictor} with {bits}-bit samples")
        row_bytes = (row_samples * bits + 7) // 8
        rows = min(th, len(buf) // row_bytes)
        if rows < th and not spec.full_width:
            raise TileDecodeError(f"tile holds {len(buf)} bytes, expected {th * row_bytes}")
        out = unpack_bits(buf, dtype, bits, rows, row_samples)
        if spec.photometric == Photometric.MASK and bits == 1:
            out = out * np.uint8(255)
        return out.reshape(rows, tw, spt)
    row_bytes = row_samples * dtype.itemsize
    rows = min(th, len(buf) // row_bytes)
    if rows < th and not spec.full_width:
        raise TileDecodeError(f"tile holds {len(buf)} bytes, expected {th * row_bytes}")
    if rows == 0:
        raise TileDecodeError(f"strip holds {len(buf)} bytes, less than one row ({row_bytes})")
    file_dt = (
        dtype.newbyteorder(">" if spec.byte_order == ">" else "<") if dtype.itemsize > 1 else dtype
    )
    arr = np.frombuffer(buf, dtype=file_dt, count=rows * row_samples).reshape(rows, tw, spt)
    return undo_predictor(arr, spec.predictor, spec.byte_order)


def _decode_jpeg(raw: Any, spec: TileSpec) -> np.ndarray:
    import imagecodecs

    if spec.dtype != "uint8":
        raise UnsupportedTiffError(f"JPEG with {spec.dtype} samples (only 8-bit is supported)")
    _check_declared("jpeg", raw, spec)
    if spec.photometric == Photometric.YCBCR:
        cs, out = _JCS_YCBCR, _JCS_RGB
    elif spec.photometric == Photometric.RGB:
        cs, out = _JCS_RGB, _JCS_RGB
    else:
        cs, out = None, None
    return imagecodecs.jpeg8_decode(raw, tables=spec.jpeg_tables, colorspace=cs, outcolorspace=out)


def _check_declared(kind: str, raw: Any, spec: TileSpec) -> None:
    size = declared_size(kind, raw)
    if size is None:
        raise TileDecodeError(f"not a valid {kind.upper()} stream")
    h, w, samples = size
    if w != spec.tile_width or not 0 < h <= spec.tile_height:
        raise TileDecodeError(
            f"{kind.upper()} stream is {w}x{h}, tile is {spec.tile_width}x{spec.tile_height}"
        )
    spt = spec.samples_per_tile
    allowed = spt if kind == "lerc" else max(spt, _MAX_CODEC_SAMPLES)
    if not 0 < samples <= allowed:
        raise TileDecodeError(
            f"{kind.upper()} stream declares {samples} values per pixel, the tile holds {spt}"
        )


def _decode_webp(raw: Any, spec: TileSpec) -> np.ndarray:
    import imagecodecs

    if spec.dtype != "uint8":
        raise UnsupportedTiffError(f"WebP with {spec.dtype} samples (only 8-bit is supported)")
    _check_declared("webp", raw, spec)
    return imagecodecs.webp_decode(raw)


def _decode_lerc(raw: Any, spec: TileSpec, dtype: np.dtype) -> np.ndarray:
    import imagecodecs
    import numpy as np

    params = spec.lerc_parameters or (4, 0)
    extra = params[1] if len(params) > 1 else 0
    # A LERC blob is at most ~the raw size plus small headers/masks.
    cap = 2 * math.prod(spec.tile_shape) * dtype.itemsize + 65536
    if extra == 1:
        raw = imagecodecs.zlib_decode(raw, out=cap)
    elif extra == 2:
        raw = imagecodecs.zstd_decode(raw, out=cap)
    elif extra != 0:
        raise UnsupportedCompressionError(f"LERC additional compression {extra}")
    _check_declared("lerc", raw, spec)
    arr, mask = imagecodecs.lerc_decode(raw, masks=True)
    arr = np.asarray(arr)
    if mask is not None:
        mask = np.asarray(mask)
        if not mask.all():
            # GDAL fills pixels LERC marks invalid with nodata (NaN for floats without nodata).
            fill: float | int = (
                spec.nodata if spec.nodata is not None else (math.nan if dtype.kind == "f" else 0)
            )
            arr = arr.copy()
            if mask.ndim == arr.ndim:
                arr[~mask.astype(bool)] = fill
            else:
                arr[~mask.astype(bool)] = fill
    if arr.ndim == 2 and spec.samples_per_tile > 1:
        raise TileDecodeError(f"LERC tile has shape {arr.shape}, expected {spec.tile_shape}")
    return arr
