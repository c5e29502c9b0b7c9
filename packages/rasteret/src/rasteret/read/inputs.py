"""Typed errors for unusable AOIs and CRSs, raised before a read plans anything.

Without these checks an empty polygon or a NaN bbox fails deep in the engine with
``cannot convert float NaN to integer`` (or reads nothing and says "no record intersects"),
and an unknown CRS surfaces as a raw ``pyproj.CRSError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rasteret.errors import InvalidInputError

__all__ = ["check_aoi_geometries", "check_crs", "crs_errors"]


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
