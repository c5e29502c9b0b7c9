"""Why an AOI read found no record: the message of :class:`~rasteret.errors.NoMatchingRecordsError`.

Two mistakes end in "no record to read": filters that remove every record, and AOIs that do
not meet the collection — most often coordinates in a projected CRS read as lon/lat because
``geometry_crs`` was left at ``"auto"``. The message says which, with the numbers needed to
see it: the filters and the record counts, or the AOIs' bounds and CRS (assumed or given)
next to the collection's lon/lat bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import NoMatchingRecordsError
from rasteret_catalog.schema import Col

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest
    from rasteret.records import RecordSource

__all__ = ["explain_no_match"]

_PREFIX = "No valid data found"


def _fmt_box(box: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in box) + ")"


def _record_bounds(source: RecordSource) -> tuple[int, tuple[float, ...] | None]:
    """``(records in the view, lon/lat bounds of their bbox structs or None)``."""
    schema = source.schema
    idx = schema.get_field_index(Col.BBOX)
    if idx < 0 or not pa.types.is_struct(schema.field(idx).type):
        return source.to_table([Col.ID]).num_rows, None
    bbox = source.to_table([Col.BBOX]).column(0)
    n = len(bbox)
    if n == 0 or bbox.null_count == n:
        return n, None
    parts = [pc.struct_field(bbox, k) for k in ("xmin", "ymin", "xmax", "ymax")]
    lo = [pc.min(p).as_py() for p in parts[:2]]
    hi = [pc.max(p).as_py() for p in parts[2:]]
    if any(v is None for v in (*lo, *hi)):
        return n, None
    return n, (lo[0], lo[1], hi[0], hi[1])


def _raster_epsgs(source: RecordSource) -> list[int]:
    """The distinct ``proj:epsg`` codes of the view's records."""
    if source.schema.get_field_index(Col.PROJ_EPSG) < 0:
        return []
    col = source.to_table([Col.PROJ_EPSG]).column(0)
    return sorted(int(v) for v in pc.unique(col.drop_null()).to_pylist())


def _filters_text(filters: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in filters.items())


def _aoi_text(request: AoiRequest) -> tuple[str, bool]:
    """The AOIs' bounds and CRS, and whether they look like projected coordinates read as
    lon/lat."""
    geoms = request.geometries
    xs0, ys0, xs1, ys1 = zip(*(g.bounds for g in geoms), strict=True)
    box = (min(xs0), min(ys0), max(xs1), max(ys1))
    crs = request.crs
    name = crs.to_string() if hasattr(crs, "to_string") else str(crs)
    geographic = bool(getattr(crs, "is_geographic", False))
    outside = box[0] < -180.0 or box[2] > 180.0 or box[1] < -90.0 or box[3] > 90.0
    how = (
        "assumed, because geometry_crs='auto' and the geometries carry no CRS"
        if request.crs_assumed
        else "as given"
    )
    text = f"the geometries' bounds {_fmt_box(box)} were read in {name} ({how})"
    if not geographic:
        lonlat = request.lonlat_bounds()
        if lonlat is not None:
            text += f", i.e. lon/lat {_fmt_box(lonlat)}"
    return text, geographic and outside


def explain_no_match(
    source: RecordSource,
    request: AoiRequest,
    *,
    name: str,
    total: int | None,
    filters: Mapping[str, Any],
) -> NoMatchingRecordsError:
    """The error of a read that found no record, saying why.

    Args:
        source: The records the read searched (after ``filters``).
        request: The AOI request.
        name: Collection name.
        total: Records before ``filters`` (None: not counted — no filters, or a streamed
            collection).
        filters: The read's ``**filters``.
    """
    count, bounds = _record_bounds(source)
    if count == 0:
        if filters:
            return NoMatchingRecordsError(
                f"{_PREFIX}: the filters {_filters_text(filters)} leave no record of "
                f"collection {name!r}"
                + (f" ({total} record(s) before filtering)" if total is not None else "")
            )
        return NoMatchingRecordsError(f"{_PREFIX}: collection {name!r} has no records")
    aoi, projected_as_lonlat = _aoi_text(request)
    where = f"lon/lat {_fmt_box(bounds)}" if bounds else "unknown bounds (no bbox column)"
    msg = (
        f"{_PREFIX}: no record intersects the geometries: {aoi}; the {count} record(s) of "
        f"collection {name!r}{' left by the filters' if filters else ''} cover {where}"
    )
    if projected_as_lonlat:
        epsgs = _raster_epsgs(source)
        example = (
            f"geometry_crs={epsgs[0]}, the CRS of the collection's rasters"
            if len(epsgs) == 1
            else "geometry_crs=32633"
        )
        msg += (
            ". The geometries' coordinates are not lon/lat degrees: pass geometry_crs= with "
            f"their CRS (e.g. {example}), or a GeoDataFrame that carries it"
        )
    return NoMatchingRecordsError(msg)
