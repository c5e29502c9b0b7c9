"""CRS helpers and the legacy resampling entry point of the read engine.

:func:`reproject_array` resamples a source window onto a target grid with any of GDAL's
kernels by delegating to :func:`rasteret_io.resampling.warp_into`, which reproduces GDAL's
warper (its approximate coordinate transformer, chunking and kernels) pixel for pixel.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rasteret_io.grid import Grid, Transform, Window

if TYPE_CHECKING:
    import numpy as np

__all__ = ["reproject_array", "same_crs", "transformer"]


@lru_cache(maxsize=256)
def _crs(value: Any) -> Any:
    from pyproj import CRS

    return CRS.from_user_input(value)


@lru_cache(maxsize=256)
def transformer(src: Any, dst: Any) -> Any:
    """A cached ``always_xy`` pyproj transformer from ``src`` to ``dst``."""
    from pyproj import Transformer

    return Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)


def same_crs(a: Any, b: Any) -> bool:
    """Whether two CRS inputs denote the same CRS."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    return bool(_crs(a) == _crs(b))


def reproject_array(
    src: np.ndarray,
    src_valid: np.ndarray | None,
    src_transform: Transform,
    src_crs: Any,
    dst: Grid,
    *,
    fill: int | float,
    resampling: str = "nearest",
    nodata: int | float | None = None,
    src_grid: Grid | None = None,
    src_window: Window | None = None,
    error_threshold: float = 0.125,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``src`` onto ``dst`` as GDAL's warper does (see :mod:`rasteret_io.resampling`).

    Args:
        src: ``(h, w)`` source array.
        src_valid: Boolean validity of ``src`` pixels (tiles present, masks), or None.
        src_transform: Geotransform of ``src`` (ignored when ``src_grid`` is given).
        src_crs: CRS of ``src`` (ignored when ``src_grid`` is given).
        dst: Target grid.
        fill: Value of target pixels with no valid source.
        resampling: A :class:`~rasteret_io.resampling.Resampling` name. ``"nearest"`` keeps
            the dtype; the other kernels return float64 (GDAL warping into a float64 target).
        nodata: Source nodata; pixels equal to it are not used.
        src_grid: The whole raster / overview level ``src`` was cut from. Pass it (with
            ``src_window``) for results identical to GDAL warping the whole raster; without
            it ``src`` is treated as a raster of its own.
        src_window: Where ``src`` sits in ``src_grid``.
        error_threshold: GDAL's approximation error in source pixels (0.125 is GDAL's and
            rasterio's default; 0 for exact per-pixel transforms).

    Returns:
        ``(data, valid)`` on the target grid.
    """
    import numpy as np

    from rasteret_io.resampling import Resampling, WarpOptions, warp_into

    kind = Resampling(resampling)
    if src_grid is None:
        src_grid = Grid(src_crs, src_transform, src.shape[1], src.shape[0])
        src_window = None
    out = np.empty(dst.shape, dtype=src.dtype if kind is Resampling.NEAREST else np.float64)
    data, valid = warp_into(
        src,
        src_grid,
        dst,
        kind,
        src_window=src_window,
        src_valid=src_valid,
        nodata=nodata,
        out=out,
        options=WarpOptions(error_threshold=error_threshold),
    )
    if not valid.all():
        data[~valid] = fill
    return data, valid
