"""Arrow export of collections with the footprint tagged as GeoArrow WKB in OGC:CRS84.

Consumers that understand GeoArrow field metadata (DuckDB, GeoPandas ``from_arrow``,
geoarrow-pyarrow, Polars extensions) then see ``geometry`` as a lon/lat geometry column.
The raster CRS of the records is never written on the footprint: footprints are always CRS84.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from rasteret_catalog.schema import Col
from rasteret_ingest import tag_geoarrow_wkb

__all__ = [
    "cast_reader",
    "import_requested_schema",
    "one_batch",
    "tag_geometry",
    "tagged_reader",
]

_EXT_NAME = b"ARROW:extension:name"


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def tag_geometry(schema: pa.Schema) -> pa.Schema:
    """Return ``schema`` with ``geometry`` tagged ``geoarrow.wkb`` + CRS84 (when it is WKB).

    A field already carrying a GeoArrow extension (by metadata or extension type) is kept.
    """
    idx = schema.get_field_index(Col.GEOMETRY)
    if idx < 0:
        return schema
    field = schema.field(idx)
    if isinstance(field.type, pa.ExtensionType) or not _is_binary(field.type):
        return schema
    if (field.metadata or {}).get(_EXT_NAME, b"").startswith(b"geoarrow"):
        return schema
    tagged = tag_geoarrow_wkb(schema)
    assert isinstance(tagged, pa.Schema)
    return tagged


def tagged_reader(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """Wrap ``reader`` so that its schema and batches carry the GeoArrow geometry tag."""
    schema = tag_geometry(reader.schema)
    if schema.equals(reader.schema, check_metadata=True):
        return reader

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def import_requested_schema(requested_schema: Any) -> pa.Schema | None:
    """Turn a requested-schema argument (PyCapsule or pyarrow schema) into a ``pa.Schema``."""
    if requested_schema is None:
        return None
    if isinstance(requested_schema, pa.Schema):
        return requested_schema
    if hasattr(requested_schema, "__arrow_c_schema__"):
        return pa.schema(requested_schema)
    return pa.Schema._import_from_c_capsule(requested_schema)


def cast_reader(reader: pa.RecordBatchReader, target: pa.Schema) -> pa.RecordBatchReader:
    """Cast every batch of ``reader`` to ``target``.

    Raises:
        NotImplementedError: The schemas have different fields or a cast is impossible.
    """
    source = reader.schema
    if source.names != target.names:
        raise NotImplementedError(
            f"requested schema fields {target.names} differ from the collection's {source.names}"
        )
    for s, t in zip(source, target):
        if not s.type.equals(t.type) and not pa.types.is_null(s.type):
            try:
                pa.array([], type=s.type).cast(t.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise NotImplementedError(
                    f"cannot cast column {s.name!r} from {s.type} to {t.type}: {exc}"
                ) from None

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield (
                batch.cast(target)
                if hasattr(batch, "cast")
                else pa.Table.from_batches([batch]).cast(target).combine_chunks().to_batches()[0]
            )

    return pa.RecordBatchReader.from_batches(target, batches())


def one_batch(table: pa.Table, requested_schema: Any = None) -> pa.RecordBatch:
    """``table`` as one record batch with the geometry tagged (cast to ``requested_schema``)."""
    schema = tag_geometry(table.schema)
    batches = table.combine_chunks().to_batches()
    if batches:
        batch = pa.RecordBatch.from_arrays(batches[0].columns, schema=schema)
    else:
        batch = pa.RecordBatch.from_pylist([], schema=schema)
    target = import_requested_schema(requested_schema)
    if target is None:
        return batch
    reader = cast_reader(pa.RecordBatchReader.from_batches(schema, [batch]), target)
    return reader.read_next_batch() if batches else pa.RecordBatch.from_pylist([], schema=target)
