"""Arrow inputs of ``as_collection``: any Arrow object (or GeoDataFrame) as a filterable
``pyarrow`` dataset."""

from __future__ import annotations

import os
import warnings
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from rasteret.query.geoinput import plain_table
from rasteret_catalog.schema import Col
from rasteret_ingest import add_bbox, arrow_table, is_arrow_object, normalize_geometry

__all__ = ["to_dataset"]

_LARGE_TABLE_BYTES = 2 * 1024**3
_warned_large_table = False


def to_dataset(data: Any) -> ds.Dataset:
    """``data`` as a ``pyarrow.dataset.Dataset`` (a dataset is kept as is, lazily).

    Accepted: a ``Dataset``, ``Table``, ``RecordBatch``, ``RecordBatchReader``, any Arrow
    PyCapsule producer (DuckDB, Polars...) or an object with ``to_arrow_table`` /
    ``fetch_arrow_table`` / ``to_arrow`` / ``arrow``. View types (Polars' ``string_view``)
    are cast to the classic layouts pyarrow filters on.

    Raises:
        TypeError: Anything else.
    """
    if isinstance(data, ds.Dataset):
        return data
    data = plain_table(data, what="as_collection()")
    if not is_arrow_object(data):
        raise TypeError(
            f"as_collection() needs an Arrow table, batch, reader, dataset, GeoDataFrame or an "
            f"object exporting Arrow (PyCapsule), got {type(data).__name__}"
        )
    table = arrow_table(data)
    if isinstance(table, ds.Dataset):
        return table
    _warn_if_large(table)
    return ds.dataset(_lonlat_footprints(_without_view_types(table)))


def _lonlat_footprints(table: pa.Table) -> pa.Table:
    """Footprints as the contract has them, for a GeoArrow-tagged ``geometry`` (GeoPandas'
    ``to_arrow()``, a GeoDataFrame): reprojected to CRS84 when it carries another CRS, and the
    ``bbox`` struct derived from it when the table has none. A plain binary ``geometry`` is
    taken as it is (a table without ``bbox`` then fails the contract check, as in 0.4.1)."""
    if Col.GEOMETRY not in table.column_names:
        return table
    field = table.schema.field(Col.GEOMETRY)
    tagged = (field.metadata or {}).get(b"ARROW:extension:name", b"").startswith(
        b"geoarrow"
    ) or getattr(field.type, "extension_name", "").startswith("geoarrow")
    missing_bbox = Col.BBOX not in table.column_names
    if not tagged:
        return table
    normalized, reprojected = normalize_geometry(table)  # plain WKB, in CRS84
    if not reprojected and not missing_bbox:
        return table
    return add_bbox(normalized, recompute=reprojected)


def _plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` with string/binary/list *view* types replaced by their classic layouts."""
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _plain_type(t.value_type)
        return pa.list_(inner) if pa.types.is_list(t) else pa.large_list(inner)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_plain_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_plain_type(t.key_type), _plain_type(t.item_type))
    return t


def _without_view_types(table: pa.Table) -> pa.Table:
    """Cast view-typed columns (Polars exports ``string_view``) to types pyarrow filters on."""
    fields = [f.with_type(_plain_type(f.type)) for f in table.schema]
    target = pa.schema(fields, metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)


def _warn_if_large(table: pa.Table) -> None:
    global _warned_large_table
    if _warned_large_table:
        return
    size = table.nbytes
    limit = _LARGE_TABLE_BYTES
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        limit = min(limit, int(ram * 0.4))
    except (ValueError, OSError, AttributeError):
        pass
    if size >= limit:
        _warned_large_table = True
        warnings.warn(
            f"as_collection() wraps a large in-memory pyarrow.Table ({size / 1024**3:.1f} GiB); "
            "write it to Parquet and use rasteret.load() to keep memory low",
            UserWarning,
            stacklevel=4,
        )
