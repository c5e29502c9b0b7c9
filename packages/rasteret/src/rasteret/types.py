"""Value types and output schemas under their rasteret 0.4.1 module path (``rasteret.types``).

``CogMetadata`` and ``RasterInfo`` are the 0.4.1 value shapes of one band's header metadata
and one record (a ``RasterAccessor`` of ``iterate_rasters`` is a ``RasterInfo``); the read
engine works from the Arrow columns directly, they exist so code that builds or inspects them
keeps working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rasteret.read.points import output_schema
from rasteret.read.rasters import RasterInfo

__all__ = [
    "POINT_SAMPLES_NEIGHBORHOOD_SCHEMA",
    "POINT_SAMPLES_SCHEMA",
    "BoundingBox",
    "CogMetadata",
    "DateRange",
    "GeometryInput",
    "RasterInfo",
    "empty_point_samples_neighborhood_table",
    "empty_point_samples_table",
]

BoundingBox = tuple[float, float, float, float]
"""``(minx, miny, maxx, maxy)``."""

DateRange = tuple[str, str]
"""``("YYYY-MM-DD", "YYYY-MM-DD")``."""

GeometryInput = Any
"""What ``geometries=`` accepts: a bbox tuple, shapely geometries, WKB, GeoJSON, GeoArrow or
WKB Arrow arrays, Arrow tables, GeoPandas objects (see ``docs/api.md``)."""

POINT_SAMPLES_SCHEMA = output_schema(neighbourhood=False)
"""Schema of ``Collection.sample_points`` results."""

POINT_SAMPLES_NEIGHBORHOOD_SCHEMA = output_schema(neighbourhood=True)
"""Schema of ``sample_points(..., return_neighbourhood=...)`` results."""


def empty_point_samples_table() -> pa.Table:
    """An empty ``sample_points`` result."""
    return POINT_SAMPLES_SCHEMA.empty_table()


def empty_point_samples_neighborhood_table() -> pa.Table:
    """An empty ``sample_points(..., return_neighbourhood=...)`` result."""
    return POINT_SAMPLES_NEIGHBORHOOD_SCHEMA.empty_table()


def _nodata(raw: Any) -> float | int | None:
    if raw is None:
        return None
    value = float(raw)
    if math.isnan(value):
        return math.nan
    return int(value) if value.is_integer() else value


@dataclass
class CogMetadata:
    """Header metadata of one band of a tiled GeoTIFF (the 0.4.1 value shape).

    ``transform`` is ``[scale_x, translate_x, scale_y, translate_y]`` (or a 6-value affine);
    ``crs`` an EPSG code.
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    dtype: Any
    crs: int | None
    predictor: int | None = None
    transform: list[float] | None = None
    compression: int | None = None
    tile_offsets: list[int] | None = None
    tile_byte_counts: list[int] | None = None
    pixel_scale: tuple[float, ...] | None = None
    tiepoint: tuple[float, ...] | None = None
    nodata: float | int | None = None
    samples_per_pixel: int = 1
    planar_configuration: int = 1
    photometric: int | None = None
    extra_samples: tuple[int, ...] | None = None

    @classmethod
    def from_dict(
        cls,
        raw: dict[str, Any],
        *,
        crs: int | None = None,
        transform_override: list[float] | None = None,
    ) -> CogMetadata:
        """Build from a ``{band}_metadata`` value (a dict, as Arrow's ``to_pylist`` gives).

        Fields added after the first collections (nodata, samples, planar configuration...)
        default when absent. An integral nodata becomes an ``int``; NaN stays NaN.
        """
        import numpy as np  # numpy is only needed for the dtype of this value object

        extra = raw.get("extra_samples")
        return cls(
            width=raw["image_width"] if "image_width" in raw else raw["width"],
            height=raw["image_height"] if "image_height" in raw else raw["height"],
            tile_width=raw["tile_width"],
            tile_height=raw["tile_height"],
            dtype=np.dtype(raw["dtype"]),
            crs=crs,
            predictor=raw.get("predictor"),
            transform=transform_override
            if transform_override is not None
            else raw.get("transform"),
            compression=raw.get("compression"),
            tile_offsets=raw["tile_offsets"],
            tile_byte_counts=raw["tile_byte_counts"],
            pixel_scale=raw.get("pixel_scale"),
            tiepoint=raw.get("tiepoint"),
            nodata=_nodata(raw.get("nodata")),
            samples_per_pixel=raw.get("samples_per_pixel") or 1,
            planar_configuration=raw.get("planar_configuration") or 1,
            photometric=raw.get("photometric"),
            extra_samples=tuple(extra) if extra is not None else None,
        )
