"""Output grid and pixel-value options of ``get_numpy`` / ``get_xarray`` (issue #15).

:class:`CubeOptions` holds ``resolution``, ``resampling``, ``dtype``, ``fill_value`` and
``anchor``, checked once at the top and frozen; :class:`~rasteret.read.requests.AoiRequest`
carries it as its ``cube`` field. The defaults reproduce the reads of rasteret 0.4.1 (native
grid, native dtype, the band's nodata as fill). ``resampling``, ``dtype`` and ``fill_value``
take one value for every band or a ``{band: value}`` mapping with an optional ``"*"`` entry
for the other bands (as odc-stac takes them). ``docs/cube.md`` describes every option and its
odc-stac equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rasteret.errors import InvalidInputError

__all__ = ["GROUPBY", "CubeOptions", "GroupBy", "check_groupby"]

GroupBy = Literal["time", "id", "solar_day"] | None
GROUPBY: tuple[GroupBy, ...] = (None, "time", "id", "solar_day")
KERNELS = ("nearest", "bilinear", "cubic", "average", "mode", "min", "max", "med", "q1", "q3")

PerBand = Any  # a value, or a sorted tuple of (band, value) pairs ("*": the other bands)


def check_groupby(groupby: Any) -> GroupBy:
    """``groupby`` checked (None, ``"time"``, ``"id"`` or ``"solar_day"``).

    Raises:
        InvalidInputError: Any other value.
    """
    if groupby not in GROUPBY:
        raise InvalidInputError(
            f"groupby must be None, 'time', 'id' or 'solar_day', got {groupby!r}"
        )
    return groupby


def _per_band(
    value: Any, what: str, bands: Sequence[str], check: Any, *, allow_none: bool = False
) -> PerBand:
    """One checked value, or a mapping turned into a sorted tuple of checked pairs."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {*bands, "*"})
        if unknown:
            raise InvalidInputError(
                f"{what} names bands {unknown} that are not read; bands: {list(bands)} "
                "(use '*' for every other band)"
            )
        return tuple(sorted((str(k), check(v)) for k, v in value.items()))
    if value is None and allow_none:
        return None
    return check(value)


def _kernel(value: Any) -> str:
    if value not in KERNELS:
        raise InvalidInputError(f"resampling must be one of {list(KERNELS)}, got {value!r}")
    return str(value)


def _dtype(value: Any) -> str:
    import numpy as np  # loaded by the read anyway; not needed to open a collection

    try:
        dt = np.dtype(value)
    except TypeError:
        raise InvalidInputError(f"dtype {value!r} is not a numpy dtype") from None
    if dt.kind not in "uif":
        raise InvalidInputError(f"dtype must be an integer or float type, got {dt}")
    return dt.name


def _fill(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.integer | np.floating):
                return value.item()
        except ImportError:  # pragma: no cover
            pass
        raise InvalidInputError(f"fill_value must be a number, got {value!r}")
    if isinstance(value, float) and math.isinf(value):
        raise InvalidInputError(f"fill_value must be finite or NaN, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class CubeOptions:
    """How the output grid and pixel values of an AOI read are chosen.

    Attributes:
        resolution: Output ``(xres, yres)`` in output-CRS units (None: the finest native
            resolution of the bands read).
        resampling: Kernel used where a band is resampled (per band possible).
        dtype: Output dtype (None: each band's own; per band possible).
        fill_value: Output nodata / fill (None: the band's nodata, else 0 — or NaN when
            ``dtype`` turned an integer band into floats; per band possible).
        anchor: Pixel anchor: None (the native grid), ``"edge"`` / ``"center"`` as
            ``(fx, fy)`` fractions, or ``"floating"``.
    """

    resolution: tuple[float, float] | None = None
    resampling: PerBand = "nearest"
    dtype: PerBand = None
    fill_value: PerBand = None
    anchor: tuple[float, float] | str | None = None

    @classmethod
    def build(
        cls,
        bands: Sequence[str],
        *,
        resolution: Any = None,
        resampling: Any = "nearest",
        dtype: Any = None,
        fill_value: Any = None,
        anchor: Any = None,
    ) -> CubeOptions:
        """Check the public keywords.

        Raises:
            InvalidInputError: A non-positive resolution, an unknown kernel, dtype or anchor,
                a non-numeric fill value, or a mapping naming a band that is not read.
        """
        from rasteret_io import ReadError, normalize_anchor, normalize_resolution

        try:
            res = normalize_resolution(resolution)
            anc = normalize_anchor(anchor)
        except ReadError as exc:
            raise InvalidInputError(str(exc)) from None
        return cls(
            res,
            _per_band(resampling, "resampling", bands, _kernel),
            _per_band(dtype, "dtype", bands, _dtype, allow_none=True),
            _per_band(fill_value, "fill_value", bands, _fill, allow_none=True),
            anc,
        )

    @staticmethod
    def _mapping(value: PerBand) -> Any:
        return dict(value) if isinstance(value, tuple) else value

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`rasteret_io.plan_tasks` (dtype ``"native"`` by
        default: every kernel keeps the band's own dtype, as odc-stac does)."""
        dtype = self._mapping(self.dtype)
        if dtype is None:
            dtype = "native"
        elif isinstance(dtype, dict):
            dtype = {"*": "native", **dtype}
        return {
            "resolution": self.resolution,
            "resampling": self._mapping(self.resampling),
            "dtype": dtype,
            "fill_value": self._mapping(self.fill_value),
            "anchor": self.anchor,
        }

    def kernel_of(self, band: str) -> str:
        """The resampling kernel of ``band``."""
        value = self._mapping(self.resampling)
        if isinstance(value, dict):
            return str(value.get(band, value.get("*", "nearest")))
        return str(value)
