"""Typed errors for unusable AOIs and CRSs, raised before a read plans anything.

Without these checks an empty polygon or a NaN bbox fails deep in the engine with
``cannot convert float NaN to integer`` (or reads nothing and says "no record intersects"),
and an unknown CRS surfaces as a raw ``pyproj.CRSError``.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rasteret.errors import ROOTS, InvalidInputError, UnsupportedGeometryError
from rasteret.query.validate import validate_bbox

__all__ = [
    "check_aoi_geometries",
    "check_bbox_aoi",
    "check_crs",
    "crs_errors",
    "geometry_errors",
    "preview",
]

_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = _PREVIEW.maxother = 60
_PREVIEW.maxlist = _PREVIEW.maxtuple = 4


def preview(value: Any) -> str:
    """A short one-line ``repr`` of a user input for an error message (long inputs
    abbreviated; an object with a multi-line ``repr``, such as a table, by its type)."""
    text = _PREVIEW.repr(value)
    if "\n" in text:
        cls = type(value)
        return f"<{cls.__module__.split('.')[0]}.{cls.__qualname__}>"
    return text


@contextmanager
def crs_errors(what: str, value: Any) -> Iterator[None]:
    """Turn a ``pyproj.CRSError`` raised inside the block into :class:`InvalidInputError`
    naming the argument (``what``) and its value."""
    from pyproj.exceptions import CRSError  # pyproj is loaded by every read anyway

    try:
        yield
    except CRSError as exc:
        raise InvalidInputError(
            f"{what}={value!r} is not a coordinate reference system pyproj knows ({exc}); "
            "pass an EPSG code (e.g. 4326 or 'EPSG:32633'), a WKT / PROJ string or a "
            "pyproj.CRS"
        ) from None


@contextmanager
def geometry_errors(what: str, value: Any) -> Iterator[None]:
    """Name the input when the geometry normalisation inside the block rejects it.

    A bare ``ValueError`` (a bbox with min >= max, a missing geometry column or CRS, a
    number that does not parse) or a shapely error (WKB / GeoJSON that does not parse)
    becomes :class:`InvalidInputError`; an ``UnsupportedGeometryError`` keeps its class. The
    message starts with ``what`` and ends with a short ``repr`` of ``value``. Errors already
    raised as one of rasteret's named errors pass unchanged, and so does a plain
    ``TypeError`` (an argument of the wrong type).
    """
    from shapely.errors import ShapelyError  # shapely is loaded by every read anyway

    try:
        yield
    except UnsupportedGeometryError as exc:
        raise UnsupportedGeometryError(f"{what}: {exc} (input: {preview(value)})") from exc
    except ROOTS:
        raise
    except (ValueError, ShapelyError) as exc:
        raise InvalidInputError(f"{what}: {exc} (input: {preview(value)})") from exc


def check_bbox_aoi(geometries: Any, what: str) -> None:
    """A ``(minx, miny, maxx, maxy)`` tuple AOI has min < max on both axes (the same check
    and message as ``subset(bbox=...)``); non-finite values are left to
    :func:`check_aoi_geometries`, any other input to the normalisation.

    Raises:
        InvalidInputError: An inverted or zero-width / zero-height box.
    """
    if (
        isinstance(geometries, tuple)
        and len(geometries) == 4
        and all(isinstance(v, int | float) and math.isfinite(v) for v in geometries)
    ):
        validate_bbox(geometries, what=what)


def check_crs(value: Any, what: str) -> Any:
    """``value`` unchanged when pyproj resolves it (None passes).

    Raises:
        InvalidInputError: pyproj does not know it.
    """
    if value is None:
        return None
    from rasteret_io import resolve_crs

    with crs_errors(what, value):
        resolve_crs(value)
    return value


def check_aoi_geometries(geometries: Sequence[Any]) -> None:
    """Every AOI is non-empty with finite coordinates.

    Raises:
        InvalidInputError: An empty geometry, or NaN / infinite coordinates (names the AOI's
            position and its bounds).
    """
    import numpy as np
    import shapely

    for i, g in enumerate(geometries):
        if g.is_empty:
            raise InvalidInputError(
                f"AOI {i} is an empty {g.geom_type}: nothing to read; pass a polygon with an area"
            )
        coords = shapely.get_coordinates(g)
        if not np.isfinite(coords).all():
            bad = coords[~np.isfinite(coords).all(axis=1)][0]
            raise InvalidInputError(
                f"AOI {i} has non-finite coordinates (e.g. {tuple(float(v) for v in bad)}): "
                "NaN or infinite values cannot be read; check the bbox / geometry"
            )
