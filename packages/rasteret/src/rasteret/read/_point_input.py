"""Normalise the point inputs of ``sample_points`` to coordinate arrays plus an EPSG code.

Accepted: anything :func:`rasteret_io.normalize_aois` accepts holding Point geometries, and
Arrow tables (pyarrow, DuckDB, Polars, ...) with a GeoArrow point/WKB column or plain x / y
coordinate columns (``x_column`` / ``y_column``, or a recognised pair such as ``lon`` /
``lat``). The table's other columns are kept as attributes of the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from rasteret.errors import InvalidInputError, UnsupportedGeometryError
from rasteret_ingest import arrow_table, is_arrow_object
from rasteret_io import normalize_aois, resolve_crs

__all__ = ["parse_points"]

_XY_PAIRS = (("x", "y"), ("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))


def _is_table(obj: Any) -> bool:
    return is_arrow_object(obj) and not isinstance(obj, pa.Array | pa.ChunkedArray)


def _has_geoarrow(table: pa.Table) -> bool:
    return any(
        (f.metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"geoarrow")
        or getattr(f.type, "extension_name", "").startswith("geoarrow")
        for f in table.schema
    )


def _xy_columns(table: pa.Table, x_column: str | None, y_column: str | None) -> tuple[str, str]:
    if x_column and y_column:
        missing = [c for c in (x_column, y_column) if c not in table.column_names]
        if missing:
            raise InvalidInputError(
                f"points table has no column(s) {missing} (x_column={x_column!r}, "
                f"y_column={y_column!r}); columns: {table.column_names}"
            )
        return x_column, y_column
    pair = next(
        (p for p in _XY_PAIRS if p[0] in table.column_names and p[1] in table.column_names),
        None,
    )
    if pair is None:
        raise InvalidInputError(
            f"points table has no geometry column and no x/y columns among {table.column_names}; "
            "pass geometry_column= or x_column= / y_column="
        )
    return pair


def _coordinates(table: pa.Table, column: str) -> np.ndarray:
    try:
        values = table.column(column).cast(pa.float64())
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidInputError(
            f"points column {column!r} must hold numbers, got {table.schema.field(column).type} "
            f"({exc})"
        ) from exc
    return np.asarray(values.to_numpy(zero_copy_only=False))


def _check_finite(xs: np.ndarray, ys: np.ndarray) -> None:
    bad = np.flatnonzero(~(np.isfinite(xs) & np.isfinite(ys)))
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(
            f"point {i} has non-finite coordinates ({float(xs[i])}, {float(ys[i])}): NaN, "
            f"null or infinite values cannot be sampled ({bad.size} such point(s))"
        )


def _epsg(crs: Any) -> int:
    epsg = crs.to_epsg()
    if epsg is None:
        raise InvalidInputError(f"geometry_crs must resolve to an EPSG code, got {crs.name!r}")
    return int(epsg)


def parse_points(
    points: Any,
    *,
    geometry_column: str | None,
    x_column: str | None,
    y_column: str | None,
    geometry_crs: Any,
) -> tuple[np.ndarray, np.ndarray, int, pa.Table | None]:
    """``(xs, ys, epsg, attributes table or None)`` of any accepted point input.

    Raises:
        InvalidInputError: A table without usable columns (or non-numeric coordinate
            columns), coordinate columns without ``geometry_crs``, a CRS without EPSG code, an
            empty point, NaN / null / infinite coordinates.
        UnsupportedGeometryError: Geometries that are not points.
        TypeError: Column options with a non-tabular input.
    """
    if _is_table(points):
        raw = arrow_table(points)
        table = raw.to_table() if not isinstance(raw, pa.Table) else raw
        if geometry_column is None and (x_column or y_column or not _has_geoarrow(table)):
            xcol, ycol = _xy_columns(table, x_column, y_column)
            if geometry_crs == "auto":
                raise InvalidInputError(
                    "Point table with coordinate columns is missing GeoArrow CRS metadata. "
                    "Pass geometry_crs=..."
                )
            xs, ys = _coordinates(table, xcol), _coordinates(table, ycol)
            _check_finite(xs, ys)
            return xs, ys, _epsg(resolve_crs(geometry_crs)), table
        aoi = normalize_aois(table, geometry_column=geometry_column, geometry_crs=geometry_crs)
        attributes: pa.Table | None = table
    else:
        if x_column or y_column or geometry_column:
            raise TypeError(
                "x_column / y_column / geometry_column are only valid with tabular point inputs"
            )
        aoi = normalize_aois(points, geometry_crs=geometry_crs)
        attributes = None
    bad = [g.geom_type for g in aoi.geometries if g.geom_type != "Point"]
    if bad:
        raise UnsupportedGeometryError(
            f"sample_points needs Point geometries, got {sorted(set(bad))}"
        )
    empty = [i for i, g in enumerate(aoi.geometries) if g.is_empty]
    if empty:
        raise InvalidInputError(
            f"point {empty[0]} is an empty Point: nothing to sample ({len(empty)} empty point(s))"
        )
    xs = np.array([g.x for g in aoi.geometries], dtype=np.float64)
    ys = np.array([g.y for g in aoi.geometries], dtype=np.float64)
    _check_finite(xs, ys)
    return xs, ys, _epsg(aoi.crs), attributes
