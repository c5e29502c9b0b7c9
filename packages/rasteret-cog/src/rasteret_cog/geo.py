"""GeoTIFF georeferencing: tags -> GDAL-order affine transform (stdlib only).

The transform is a 6-tuple ``(a, b, c, d, e, f)`` in GDAL/rasterio ``Affine`` order::

    x = a * col + b * row + c
    y = d * col + e * row + f

and always describes pixel *corners* (PixelIsArea), exactly as GDAL reports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rasteret_cog.errors import NotGeoreferencedError, RotatedTransformError, TiffFormatError

__all__ = [
    "Transform",
    "check_axis_aligned",
    "is_axis_aligned",
    "scale_transform",
    "transform_from_tags",
]

Transform = tuple[float, float, float, float, float, float]


def transform_from_tags(
    pixel_scale: Sequence[float] | None,
    tiepoints: Sequence[float] | None,
    matrix: Sequence[float] | None,
    *,
    pixel_is_point: bool = False,
) -> Transform | None:
    """Build the GDAL geotransform from the GeoTIFF model tags, as GDAL does.

    Rules (GDAL GTiff driver, default ``GTIFF_POINT_GEO_IGNORE=NO``):

    * ModelTiepoint + ModelPixelScale: the first tiepoint anchors the grid;
      ``a = sx``, ``e = -sy``, ``c = X - I * sx``, ``f = Y + J * sy``.
    * otherwise ModelTransformation: ``(m0, m1, m3, m4, m5, m7)``, rotation kept.
    * tiepoints alone (GCPs) or nothing: ``None``.
    * PixelIsPoint moves the origin back by half a pixel along both axes.

    Args:
        pixel_scale: ModelPixelScaleTag (33550) values.
        tiepoints: ModelTiepointTag (33922) values, 6 per tiepoint.
        matrix: ModelTransformationTag (34264), 16 values.
        pixel_is_point: GTRasterTypeGeoKey == RasterPixelIsPoint.

    Returns:
        The transform, or None when the file is not georeferenced by an affine transform.

    Raises:
        TiffFormatError: malformed tag counts or non-finite values.
    """
    gt: list[float] | None = None
    if tiepoints is not None and pixel_scale is not None and len(tiepoints) >= 6:
        if len(pixel_scale) < 2:
            raise TiffFormatError(f"ModelPixelScale has {len(pixel_scale)} values (need >= 2)")
        i, j, _k, x, y, _z = tiepoints[:6]
        sx, sy = pixel_scale[0], pixel_scale[1]
        gt = [sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy]
    elif matrix is not None:
        if len(matrix) < 16:
            raise TiffFormatError(f"ModelTransformation has {len(matrix)} values (need 16)")
        m = matrix
        gt = [m[0], m[1], m[3], m[4], m[5], m[7]]
    elif tiepoints is not None and len(tiepoints) % 6 != 0:
        raise TiffFormatError(f"ModelTiepoint has {len(tiepoints)} values (not a multiple of 6)")
    if gt is None:
        return None
    if not all(math.isfinite(v) for v in gt):
        raise TiffFormatError(f"non-finite geotransform {tuple(gt)}")
    if pixel_is_point:
        gt[2] -= gt[0] * 0.5 + gt[1] * 0.5
        gt[5] -= gt[3] * 0.5 + gt[4] * 0.5
    return (gt[0], gt[1], gt[2], gt[3], gt[4], gt[5])


def scale_transform(transform: Transform, sx: float, sy: float) -> Transform:
    """Transform of an overview whose pixels are ``sx`` x ``sy`` base pixels (GDAL's rule)."""
    a, b, c, d, e, f = transform
    return (a * sx, b * sy, c, d * sx, e * sy, f)


def is_axis_aligned(transform: Transform) -> bool:
    """True when the transform has no rotation/shear terms (north-up or south-up)."""
    return transform[1] == 0.0 and transform[3] == 0.0


def check_axis_aligned(transform: Transform | None, what: str = "raster") -> Transform:
    """Return ``transform`` if a reader can use it, else raise a clear error.

    Raises:
        NotGeoreferencedError: ``transform`` is None.
        RotatedTransformError: rotation or shear terms are non-zero.
    """
    if transform is None:
        raise NotGeoreferencedError(
            f"{what} has no geotransform (no ModelTiepoint/PixelScale or ModelTransformation)"
        )
    if not is_axis_aligned(transform):
        raise RotatedTransformError(
            f"{what} has a rotated/sheared geotransform {transform}; only axis-aligned grids "
            "can be read (warp it first, e.g. gdalwarp)"
        )
    if transform[0] == 0.0 or transform[4] == 0.0:
        raise TiffFormatError(f"{what} has a zero pixel size in its geotransform {transform}")
    return transform
