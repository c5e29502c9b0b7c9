"""Build the GeoDataFrame of ``get_gdf``: one row per (record, AOI, band).

Columns ``record_id, datetime, cloud_cover, collection, geometry_id, geometry, band, data,
transform`` plus the AOI input's own columns (joined on the 1-based ``geometry_id``).
``geometry`` is the AOI polygon in the output CRS (``target_crs``, else the AOI CRS); ``data``
is a 2-D array on the record's own grid (or the target grid) with its ``affine.Affine``.
"""

from __future__ import annotations

from typing import Any

from rasteret.errors import InvalidInputError
from rasteret_catalog.schema import Col

__all__ = ["build_gdf"]

_OUTPUT = (
    "record_id",
    "datetime",
    "cloud_cover",
    "collection",
    "geometry_id",
    "geometry",
    "band",
    "data",
    "transform",
)


def _geopandas() -> Any:
    try:
        import geopandas
    except ImportError as exc:
        raise ImportError("get_gdf needs geopandas: pip install 'rasteret[geopandas]'") from exc
    return geopandas


def build_gdf(outcome: Any, aois: Any, rows: list[dict[str, Any]], params: dict[str, Any]) -> Any:
    """Assemble the GeoDataFrame (see module docs)."""
    from affine import Affine
    from pyproj import CRS

    from rasteret_io.aoi import to_crs

    gpd = _geopandas()
    attrs = aois.attributes
    if attrs is not None:
        if "geometry_id" in attrs.column_names:
            raise InvalidInputError(
                "Input column 'geometry_id' collides with the geometry_id rasteret adds"
            )
        clash = sorted(set(attrs.column_names) & set(_OUTPUT))
        if clash:
            raise InvalidInputError(
                f"Input metadata columns collide with Rasteret output columns: {clash}"
            )
    target = params.get("target_crs")
    out_crs = CRS.from_user_input(target) if target is not None else aois.crs
    geoms = to_crs(aois.geometries, aois.crs, out_crs)
    data_source = params.get("data_source") or ""
    records = []
    for ch in outcome.chips:
        row = rows[ch.record_index]
        records.append(
            {
                "record_id": ch.record_id,
                "datetime": row.get(Col.DATETIME),
                "cloud_cover": row.get(Col.CLOUD_COVER) or 0,
                "collection": row.get(Col.COLLECTION) or data_source,
                "geometry_id": ch.aoi_index + 1,
                "geometry": geoms[ch.aoi_index],
                "band": ch.band,
                "data": ch.data,
                "transform": Affine(*ch.transform),
            }
        )
    epsg = out_crs.to_epsg()
    gdf = gpd.GeoDataFrame(
        records, columns=list(_OUTPUT), geometry="geometry", crs=f"EPSG:{epsg}" if epsg else out_crs
    )
    if attrs is not None and attrs.num_columns:
        meta = attrs.to_pandas()
        meta["geometry_id"] = range(1, len(meta) + 1)
        gdf = gdf.merge(meta, on="geometry_id", how="left")
    return gdf
