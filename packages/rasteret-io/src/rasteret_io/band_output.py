"""Per-band output values of a stacked read: resampling kernel, dtype, nodata and fill.

A read's ``resampling``, ``dtype`` and ``fill_value`` options are each one value for every
band or a mapping ``{band: value}`` with an optional ``"*"`` entry for the other bands (as
odc-stac takes them). :func:`band_output` resolves them for one band:

- dtype: the requested one (``"native"``: the band's own); else the band's own for nearest
  reads and float64 for the other kernels (GDAL warping into a float64 target; the meta
  package always asks for a dtype, the band's own by default, as odc-stac does);
- nodata of the output: ``fill_value`` when given; else, when the dtype was changed to a float
  type, NaN (odc-stac's rule); else the band's nodata (None when it has none);
- fill: the value of pixels with no data (outside the AOI or the rasters, unreached by the
  resampling, or nodata in the source): the output nodata, else 0.

:func:`convert_values` casts pixels to another dtype the way GDAL's ``RasterIO`` does
(``rasterio``'s ``read(out_dtype=...)``): floats to integers are rounded half away from zero
and clamped to the type's range, NaN becomes 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasteret_io.errors import ReadError
from rasteret_io.resampling import Resampling, source_valid

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BandOutput", "band_output", "convert_values", "nodata_key", "per_band"]


def nodata_key(value: int | float | None) -> Any:
    """``value`` as a set member / dict key on which every NaN is the same key (``NaN !=
    NaN``: two records' NaN nodata objects would otherwise be two keys)."""
    return "nan" if value is not None and value != value else value


def per_band(value: Any, band: str, default: Any = None) -> Any:
    """``value`` for ``band``: the value itself, or ``value[band]`` / ``value["*"]`` / default."""
    if isinstance(value, Mapping):
        if band in value:
            return value[band]
        return value.get("*", default)
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class BandOutput:
    """How one band's output pixels are computed.

    Attributes:
        resampling: Kernel used when the band is resampled.
        dtype: Output dtype (numpy dtype string).
        nodata: Nodata of the output (None: none declared).
        fill: Value of pixels with no data (``nodata``, else 0).
        converted: True when values must be converted from the native dtype, or source nodata
            pixels replaced by another fill value.
    """

    resampling: Resampling
    dtype: str
    nodata: int | float | None
    fill: int | float
    converted: bool

    def convert(
        self, data: np.ndarray, valid: np.ndarray | None, nodata: float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A source window's pixels in the output dtype, every invalid one (outside
        ``valid`` or equal to the source ``nodata``) set to :attr:`fill`, and where they are
        valid. Never ``data`` itself."""
        ok = source_valid(data, valid, nodata)
        out = convert_values(data, self.dtype)
        if out is data:
            out = out.copy()
        out[~ok] = self.fill
        return out, ok


def _representable(value: float, dtype: np.dtype) -> bool:
    import numpy as np

    if dtype.kind == "f":
        return True
    if isinstance(value, float) and (math.isnan(value) or value != int(value)):
        return False
    info = np.iinfo(dtype)
    return bool(info.min <= value <= info.max)


def _scalar(value: float, dtype: np.dtype) -> int | float:
    return float(value) if dtype.kind == "f" else int(value)


def band_output(
    band: str,
    native_dtype: Any,
    native_nodata: int | float | None,
    *,
    resampling: Any = "nearest",
    dtype: Any = None,
    fill_value: Any = None,
) -> BandOutput:
    """Resolve the output values of ``band`` (see module docs).

    Raises:
        ReadError: An unknown kernel, an unknown dtype, or a nodata / fill value that the
            output dtype cannot hold.
    """
    import numpy as np

    kind = per_band(resampling, band, "nearest")
    try:
        kernel = Resampling(kind)
    except ValueError:
        names = [r.value for r in Resampling]
        raise ReadError(f"band {band!r}: unknown resampling {kind!r}; use one of {names}") from None
    native = np.dtype(native_dtype)
    want = per_band(dtype, band)
    if want is None and kernel is not Resampling.NEAREST:
        want = "float64"  # the engine's own default: GDAL warping into a float64 target
    try:
        out = native if want is None or want == "native" else np.dtype(want)
    except TypeError:
        raise ReadError(f"band {band!r}: unknown dtype {want!r}") from None
    if out.kind not in "uif":
        raise ReadError(f"band {band!r}: output dtype must be an integer or float type, got {out}")
    fill = per_band(fill_value, band)
    if fill is not None:
        if not _representable(float(fill), out):
            raise ReadError(f"band {band!r}: fill_value {fill!r} does not fit the output {out}")
        nodata: int | float | None = _scalar(fill, out)
    elif out != native and out.kind == "f":
        nodata = math.nan
    elif native_nodata is not None:
        if not _representable(float(native_nodata), out):
            raise ReadError(
                f"band {band!r}: its nodata {native_nodata!r} does not fit the output {out}; "
                "pass fill_value"
            )
        nodata = _scalar(native_nodata, out)
    else:
        nodata = None
    fill_v = 0 if nodata is None else nodata
    same_fill = native_nodata is None and fill_v == 0
    if native_nodata is not None and nodata is not None:
        both_nan = math.isnan(float(native_nodata)) and math.isnan(float(nodata))
        same_fill = both_nan or float(native_nodata) == float(nodata)
    return BandOutput(kernel, out.str, nodata, fill_v, out != native or not same_fill)


def convert_values(data: np.ndarray, dtype: Any) -> np.ndarray:
    """``data`` cast to ``dtype`` as GDAL's ``RasterIO`` converts (see module docs)."""
    import numpy as np

    out = np.dtype(dtype)
    if data.dtype == out:
        return data
    if out.kind == "f" or data.dtype.kind not in "f":
        if out.kind in "ui":  # integer -> integer: clamp
            info = np.iinfo(out)
            wide = data if data.dtype == np.uint64 else data.astype(np.int64)
            return np.clip(wide, info.min, info.max).astype(out)
        return data.astype(out)
    info = np.iinfo(out)
    v = data.astype(np.float64)
    with np.errstate(invalid="ignore"):
        v = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))
        v = np.where(np.isnan(v), 0.0, v)
    return np.clip(v, info.min, info.max).astype(out)
