"""Attributes and coordinates of a ``get_xarray`` Dataset (CF, rioxarray and odc-stac readable).

- Band variables: ``grid_mapping="spatial_ref"``; ``nodata`` and ``_FillValue`` in the data's
  own dtype when the output has a nodata (rioxarray's ``rio.nodata`` / ``rio.encoded_nodata``
  read them, odc-stac writes ``nodata``); ``resampling`` names the kernel when some record of
  the band was resampled onto the grid.
- ``x`` / ``y``: pixel centres with the CRS's CF axis attributes (``standard_name``,
  ``long_name``, ``units``, ``axis``, from ``pyproj.CRS.cs_to_cf``) and odc-stac's signed
  ``resolution``.
- ``time``: ``standard_name``, ``long_name``, ``axis``.
- ``spatial_ref``: scalar coordinate with ``pyproj.CRS.to_cf()`` grid-mapping attributes,
  ``crs_wkt`` / ``spatial_ref`` (WKT2), ``projjson`` and GDAL's ``GeoTransform`` string.
- Non-dimension coordinates on ``time``: ``id`` (the record id; the ids of fused records
  joined with ``","``) and the collection's scalar STAC property columns
  (``eo:cloud_cover``, ``platform``, ...): a fused step holds a value when its records agree,
  else a missing value (NaN / None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rasteret_catalog.schema import Col, band_of_metadata_column

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read._adapter import EngineRecords
    from rasteret.read.steps import Step

__all__ = [
    "DIMS",
    "dataset_attrs",
    "property_columns",
    "spatial_ref_attrs",
    "step_coords",
    "variable_attrs",
    "xy_coords",
]

DIMS = ("time", "geometry", "y", "x")
"""Dimensions of every ``get_xarray`` variable."""

_NOT_PROPERTIES = {
    Col.ID, Col.DATETIME, Col.GEOMETRY, Col.ASSETS, Col.BBOX, Col.CRS, Col.YEAR, Col.MONTH,
}  # fmt: skip


def spatial_ref_attrs(crs: Any, transform: Sequence[float]) -> dict[str, Any]:
    """CF grid-mapping attributes for ``crs`` plus GDAL's ``GeoTransform`` string."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    attrs = dict(c.to_cf())
    wkt = c.to_wkt()
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt
    attrs["projjson"] = c.to_json()
    a, b, cc, d, e, f = transform
    attrs["GeoTransform"] = f"{cc} {a} {b} {f} {d} {e}"
    return attrs


def variable_attrs(
    nodata: float | int | None, dtype: Any, resampling: str | None = None
) -> dict[str, Any]:
    """Attributes of a band variable (see module docs)."""
    attrs: dict[str, Any] = {"grid_mapping": "spatial_ref"}
    if nodata is not None:
        value = np.dtype(dtype).type(nodata)
        attrs["nodata"] = value
        attrs["_FillValue"] = value
    if resampling is not None:
        attrs["resampling"] = resampling
    return attrs


def _axis_attrs(crs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from pyproj import CRS

    x: dict[str, Any] = {}
    y: dict[str, Any] = {}
    for axis in CRS.from_user_input(crs).cs_to_cf():
        target = x if axis.get("axis") == "X" else y if axis.get("axis") == "Y" else None
        if target is not None:
            target.update(axis)
    return x, y


def xy_coords(transform: Sequence[float], shape: tuple[int, int], crs: Any) -> dict[str, Any]:
    """``x`` / ``y`` pixel-centre coordinates and the ``spatial_ref`` coordinate of a grid."""
    h, w = shape
    a, _b, c, _d, e, f = transform
    xa, ya = _axis_attrs(crs)
    return {
        "y": ("y", f + e * (np.arange(h) + 0.5), {**ya, "resolution": e}),
        "x": ("x", c + a * (np.arange(w) + 0.5), {**xa, "resolution": a}),
        "spatial_ref": ((), np.int64(0), spatial_ref_attrs(crs, transform)),
    }


def property_columns(schema: pa.Schema) -> list[str]:
    """The scalar record columns shown as coordinates on ``time`` (STAC properties)."""
    out = []
    for f in schema:
        if f.name in _NOT_PROPERTIES or band_of_metadata_column(f.name):
            continue
        t = f.type
        if (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_timestamp(t)
        ):
            out.append(f.name)
    return out


def _agree(values: list[Any]) -> Any:
    first = values[0]
    for v in values[1:]:
        same = v == first or (
            isinstance(v, float)
            and isinstance(first, float)
            and math.isnan(v)
            and math.isnan(first)
        )
        if not same:
            return None
    return first


def _column(values: list[Any]) -> np.ndarray:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return np.array(values, dtype=object)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in present)
    if present and ints and len(present) == len(values):
        return np.array(values, dtype=np.int64)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if present and all(hasattr(v, "year") for v in present):
        from rasteret.read.steps import naive_time

        return np.array([naive_time(v) for v in values], dtype="datetime64[ns]")
    return np.array(values, dtype=object)


def step_coords(
    steps: Sequence[Step], records: EngineRecords | None, columns: Sequence[str]
) -> dict[str, Any]:
    """``id`` and property coordinates on ``time`` (see module docs)."""
    coords: dict[str, Any] = {
        "id": ("time", np.array([",".join(m.record_id for m in s.members) for s in steps], object))
    }
    if records is None:
        return coords
    for col in columns:
        vals = [_agree([records.value(m.index, col) for m in s.members]) for s in steps]
        if all(v is None for v in vals):
            continue
        coords[col] = ("time", _column(vals))
    return coords


def time_attrs() -> dict[str, str]:
    """CF attributes of the ``time`` coordinate."""
    return {"standard_name": "time", "long_name": "time", "axis": "T"}


def dataset_attrs(groupby: str | None) -> dict[str, Any]:
    """Attributes of the Dataset."""
    return {"Conventions": "CF-1.9", "groupby": groupby or "time"}
