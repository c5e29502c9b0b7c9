"""``footprints`` and ``native_res``: raster grids from band metadata, no pixel I/O."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rasteret.errors import (
    BandNotFoundError,
    EmptyCollectionError,
    InvalidCollectionError,
    missing_dependency,
)
from rasteret_catalog.schema import BandField, Col, band_metadata_column, band_of_metadata_column

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.records import RecordSource

__all__ = ["footprints", "grid_of", "native_res", "record_crs"]


def grid_of(meta: dict[str, Any]) -> tuple[float, float, float, float, int, int] | None:
    """``(scale_x, translate_x, scale_y, translate_y, width, height)`` of a metadata struct.

    The transform is 4 values ``[sx, tx, sy, ty]`` or a 6-value GDAL affine
    ``[a, b, c, d, e, f]``. Returns ``None`` when it is missing or unusable.

    Raises:
        InvalidCollectionError: A rotated / sheared 6-value transform.
    """
    t = meta.get(BandField.TRANSFORM)
    if not t:
        return None
    if len(t) == 4:
        sx, tx, sy, ty = t
    elif len(t) == 6:
        a, b, c, d, e, f = t
        if b or d:
            raise InvalidCollectionError(f"Rotated/sheared transforms are not supported: {list(t)}")
        sx, tx, sy, ty = a, c, e, f
    else:
        return None
    if any(v is None or not math.isfinite(v) for v in (sx, tx, sy, ty)) or not sx or not sy:
        return None
    w = meta.get(BandField.IMAGE_WIDTH) or meta.get("width")
    h = meta.get(BandField.IMAGE_HEIGHT) or meta.get("height")
    return float(sx), float(tx), float(sy), float(ty), int(w or 0), int(h or 0)


def record_crs(crs_value: Any, epsg_value: Any) -> str | None:
    """A record's raster CRS as text (``"EPSG:32632"``, or WKT / PROJJSON), or None."""
    if isinstance(crs_value, int) or (isinstance(crs_value, str) and crs_value.isdigit()):
        return f"EPSG:{int(crs_value)}"
    if isinstance(crs_value, str) and crs_value:
        return crs_value
    if epsg_value is not None:
        return f"EPSG:{int(epsg_value)}"
    return None


def _band_column(source: RecordSource, band: str | None, what: str) -> str:
    bands = [b for n in source.schema.names if (b := band_of_metadata_column(n))]
    if not bands:
        raise BandNotFoundError(
            f"{what} needs band metadata, but collection {source.info.name!r} has no "
            "'*_metadata' columns"
        )
    if band is None:
        band = bands[0]
    if band not in bands:
        raise BandNotFoundError(f"Band(s) not found: [{band!r}]. Available bands: {bands}")
    return band_metadata_column(band)


def native_res(source: RecordSource, band: str | None = None) -> tuple[float, float]:
    """``(|xres|, |yres|)`` of ``band`` (default: the first band) from its transform.

    Raises:
        BandNotFoundError: No bands, or an unknown band.
        EmptyCollectionError: No record has a usable transform.
    """
    column = _band_column(source, band, "native_res")
    for batch in source.to_batches([column]):
        for meta in batch.column(0).to_pylist():
            if meta:
                grid = grid_of(meta)
                if grid is not None:
                    return abs(grid[0]), abs(grid[2])
    raise EmptyCollectionError(
        f"no record of collection {source.info.name!r} has a usable transform in {column!r}"
    )


def footprints(source: RecordSource, *, crs: Any = None, band: str | None = None) -> Any:
    """Exact raster-grid rectangles of each record (``id``, ``datetime``, ``geometry``).

    Each geometry is the pixel-grid extent of ``band`` (transform x image size) in the
    record's raster CRS, which avoids the inflation of a reprojected lon/lat footprint.
    Records without metadata for ``band`` are skipped.

    Args:
        source: The records.
        crs: Reproject every footprint to this CRS (anything pyproj accepts).
        band: Band whose grid is used (default: the first band).

    Returns:
        A ``geopandas.GeoDataFrame``; its CRS is ``crs``, else the records' common CRS
        (``None`` when they differ).

    Raises:
        MissingDependencyError: geopandas is missing (install ``rasteret[geopandas]``).
        BandNotFoundError: No bands or an unknown band.
        InvalidCollectionError: ``crs`` given and some records have no CRS.
    """
    try:
        import geopandas as gpd
    except ImportError:
        raise missing_dependency("geopandas", "geopandas", "Collection.footprints()") from None
    import pandas as pd
    import shapely

    column = _band_column(source, band, "footprints")
    schema = source.schema
    cols = [c for c in (Col.ID, Col.DATETIME, Col.CRS, Col.PROJ_EPSG) if c in schema.names]
    table = source.to_table([*cols, column])
    data = {c: table.column(c).to_pylist() for c in table.column_names}
    n = table.num_rows
    ids: list[Any] = []
    times: list[Any] = []
    geoms: list[Any] = []
    row_crs: list[str | None] = []
    for i in range(n):
        meta = data[column][i]
        grid = grid_of(meta) if meta else None
        if grid is None or not grid[4] or not grid[5]:
            continue
        sx, tx, sy, ty, w, h = grid
        x0, x1 = sorted((tx, tx + sx * w))
        y0, y1 = sorted((ty, ty + sy * h))
        ids.append(data.get(Col.ID, [None] * n)[i])
        times.append(data.get(Col.DATETIME, [None] * n)[i])
        geoms.append(shapely.box(x0, y0, x1, y1))
        row_crs.append(
            record_crs(data.get(Col.CRS, [None] * n)[i], data.get(Col.PROJ_EPSG, [None] * n)[i])
        )
    frame = {
        Col.ID.value: ids,
        Col.DATETIME.value: pd.to_datetime(pd.Series(times, dtype="object")),
    }
    distinct = sorted({c for c in row_crs if c is not None})
    if crs is None:
        common = distinct[0] if len(distinct) == 1 and None not in row_crs else None
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=common)
    parts = []
    for c in distinct:
        idx = [i for i, rc in enumerate(row_crs) if rc == c]
        sub = gpd.GeoDataFrame(
            {k: [v[i] for i in idx] for k, v in frame.items()},
            geometry=[geoms[i] for i in idx],
            crs=c,
        )
        parts.append((idx, sub.to_crs(crs)))
    if None in row_crs:
        raise InvalidCollectionError(
            "cannot reproject footprints: some records have neither 'crs' nor 'proj:epsg'"
        )
    order = [i for idx, _ in parts for i in idx]
    if not parts:
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=crs)
    merged = pd.concat([p for _, p in parts], ignore_index=True)
    merged.index = order
    return gpd.GeoDataFrame(merged.sort_index().reset_index(drop=True), crs=crs)
