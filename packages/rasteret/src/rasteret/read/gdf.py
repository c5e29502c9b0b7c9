"""Build the GeoDataFrame of ``get_gdf``: one row per (record, AOI, band).

Columns ``record_id, datetime, cloud_cover, collection, geometry_id, geometry, band, data,
transform`` plus the AOI input's own columns (joined on the 1-based ``geometry_id``).
``geometry`` is the AOI polygon in the output CRS (``target_crs``, else the AOI CRS); ``data``
is a 2-D array on the record's own grid (or the target grid) with its ``affine.Affine``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasteret.errors import InvalidInputError, missing_dependency
from rasteret.read.aoi import read_chips
from rasteret.read.failures import no_data_error
from rasteret_catalog.schema import Col
from rasteret_io import to_crs

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource

__all__ = ["get_gdf"]

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
    except ImportError:
        raise missing_dependency("geopandas", "geopandas", "get_gdf") from None
    return geopandas


def get_gdf(source: RecordSource, request: AoiRequest, options: ReadOptions) -> Any:
    """The GeoDataFrame of an AOI read (see module docs).

    Raises:
        MissingDependencyError: geopandas is not installed (``rasteret[geopandas]``).
        InvalidInputError: The AOI table's columns collide with the output columns.
    """
    from affine import Affine
    from pyproj import CRS

    gpd = _geopandas()
    attrs = request.attributes
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
    outcome, records = read_chips(source, request, options, layout="native", method="get_gdf")
    if not outcome.chips:
        raise no_data_error(outcome.failures)  # as get_numpy / get_xarray (and 0.4.1)
    target = request.target_crs
    out_crs = CRS.from_user_input(target) if target is not None else request.crs
    geoms = to_crs(request.geometries, request.crs, out_crs)
    rows = []
    for ch in outcome.chips:
        i = ch.record_index
        rows.append(
            {
                "record_id": ch.record_id,
                "datetime": records.value(i, Col.DATETIME),
                "cloud_cover": records.value(i, Col.CLOUD_COVER) or 0,
                "collection": records.value(i, Col.COLLECTION) or options.data_source,
                "geometry_id": ch.aoi_index + 1,
                "geometry": geoms[ch.aoi_index],
                "band": ch.band,
                "data": ch.data,
                "transform": Affine(*ch.transform),
            }
        )
    epsg = out_crs.to_epsg()
    gdf = gpd.GeoDataFrame(
        rows, columns=list(_OUTPUT), geometry="geometry", crs=f"EPSG:{epsg}" if epsg else out_crs
    )
    if attrs is not None and attrs.num_columns:
        meta = attrs.to_pandas()
        meta["geometry_id"] = range(1, len(meta) + 1)
        gdf = gdf.merge(meta, on="geometry_id", how="left")
    return gdf
