"""Collection-wide answers computed from a stream of narrow columns: bounds, EPSG codes, CRSs.

The provider decides where the columns come from (a dataset, a record index, streamed
batches); these functions only fold batches, so memory stays bounded by a batch.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.read.footprints import record_crs
from rasteret_catalog.schema import BboxField, Col

__all__ = ["bounds_of", "crs_of", "epsg_of", "epsg_value", "first_value"]


def bounds_of(reader: pa.RecordBatchReader) -> tuple[float, float, float, float] | None:
    """``(minx, miny, maxx, maxy)`` over the ``bbox`` struct of ``reader``, or None.

    None when there is no ``bbox`` struct, no row, or a bound is null everywhere.
    """
    idx = reader.schema.get_field_index(Col.BBOX)
    if idx < 0 or not pa.types.is_struct(reader.schema.field(idx).type):
        return None
    found: dict[str, list[Any]] = {k.value: [] for k in BboxField}
    for batch in reader:
        col = batch.column(Col.BBOX)
        for k in BboxField:
            values = pc.struct_field(col, k.value)
            v = (pc.min if k in (BboxField.XMIN, BboxField.YMIN) else pc.max)(values).as_py()
            if v is not None:
                found[k.value].append(v)
    if any(not v for v in found.values()):
        return None
    return (
        float(min(found[BboxField.XMIN])),
        float(min(found[BboxField.YMIN])),
        float(max(found[BboxField.XMAX])),
        float(max(found[BboxField.YMAX])),
    )


def epsg_value(value: Any) -> int | None:
    """An EPSG code from ``32632``, ``"32632"`` or ``"EPSG:32632"`` (None otherwise)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.upper().startswith("EPSG:"):
        text = text[5:]
    return int(text) if text.isdigit() else None


def _pairs(reader: pa.RecordBatchReader) -> set[tuple[Any, Any]]:
    """Distinct ``(crs, proj:epsg)`` values of ``reader`` (a missing column gives None)."""
    names = reader.schema.names
    out: set[tuple[Any, Any]] = set()
    for batch in reader:
        table = pa.Table.from_batches([batch])
        cols = [c for c in (Col.CRS, Col.PROJ_EPSG) if c in names]
        if not cols or not table.num_rows:
            continue
        distinct = table.select(cols).group_by(cols, use_threads=False).aggregate([])
        crs = distinct.column(Col.CRS).to_pylist() if Col.CRS in cols else None
        epsg = distinct.column(Col.PROJ_EPSG).to_pylist() if Col.PROJ_EPSG in cols else None
        for i in range(distinct.num_rows):
            out.add((None if crs is None else crs[i], None if epsg is None else epsg[i]))
    return out


def epsg_of(reader: pa.RecordBatchReader) -> list[int]:
    """Sorted distinct raster EPSG codes: ``proj:epsg``, else parsed from ``crs``."""
    found: set[int] = set()
    for crs, epsg in _pairs(reader):
        code = epsg_value(epsg)
        if code is None:
            code = epsg_value(crs)
        if code is not None:
            found.add(code)
    return sorted(found)


def crs_of(reader: pa.RecordBatchReader) -> list[str]:
    """Sorted distinct raster CRSs (``"EPSG:32632"``...): ``crs``, else ``proj:epsg``."""
    found: set[str] = set()
    for crs, epsg in _pairs(reader):
        text = record_crs(crs, epsg_value(epsg))
        if text is not None:
            found.add(text)
    return sorted(found)


def first_value(reader: pa.RecordBatchReader, column: str) -> Any:
    """The first non-empty value of ``column`` (stops reading there), or None."""
    if reader.schema.get_field_index(column) < 0:
        return None
    for batch in reader:
        for value in batch.column(column).drop_null().to_pylist():
            if value:
                return value
    return None
