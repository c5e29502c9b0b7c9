"""Arrow rendering and validation of the schema contract (needs the ``[arrow]`` extra).

This is the only module of ``rasteret_catalog`` that imports pyarrow. It turns the declarative
contract of :mod:`rasteret_catalog.schema` into pyarrow types and checks tables against it,
reporting every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rasteret_catalog import schema as S
from rasteret_catalog.errors import SchemaError

try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "rasteret_catalog.arrow needs pyarrow: install 'rasteret-catalog[arrow]'"
    ) from exc

__all__ = [
    "SchemaProblem",
    "asset_type",
    "band_metadata_type",
    "bbox_type",
    "ensure_valid",
    "level_type",
    "to_pyarrow_schema",
    "to_pyarrow_type",
    "validate_table",
]

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "binary": pa.binary(),
    "timestamp[us]": pa.timestamp("us"),
}


def to_pyarrow_type(t: S.LogicalType, bands: Sequence[str] = ()) -> pa.DataType:
    """Render a logical type as a pyarrow type.

    Args:
        t: The logical type.
        bands: Band codes used for :class:`~rasteret_catalog.schema.BandStruct` fields.
    """
    if isinstance(t, S.Primitive):
        return _PRIMITIVES[t.name]
    if isinstance(t, S.ListOf):
        return pa.list_(to_pyarrow_type(t.item, bands))
    if isinstance(t, S.StructOf):
        return pa.struct([_to_field(f, bands) for f in t.fields])
    if isinstance(t, S.BandStruct):
        return pa.struct([pa.field(b, to_pyarrow_type(t.value, bands)) for b in bands])
    raise TypeError(f"unknown logical type {t!r}")


def _to_field(f: S.Field, bands: Sequence[str] = ()) -> pa.Field:
    return pa.field(f.name, to_pyarrow_type(f.type, bands), nullable=f.nullable)


def band_metadata_type() -> pa.StructType:
    """The Arrow type of a ``{band}_metadata`` column."""
    return to_pyarrow_type(S.BAND_METADATA)


def level_type() -> pa.StructType:
    """The Arrow type of one overview / mask level inside band metadata."""
    return to_pyarrow_type(S.LEVEL)


def asset_type() -> pa.StructType:
    """The Arrow type of one ``assets`` entry (``{href, band_index}``)."""
    return to_pyarrow_type(S.ASSET)


def bbox_type() -> pa.StructType:
    """The Arrow type of the ``bbox`` column."""
    return to_pyarrow_type(S.BBOX)


def to_pyarrow_schema(
    bands: Sequence[str] = (),
    *,
    optional: bool = True,
    partitions: bool = True,
    metadata: dict[str, str] | None = None,
) -> pa.Schema:
    """Build the Arrow schema of a collection holding ``bands``.

    Args:
        bands: Band codes; each gets an ``assets`` entry and a ``{band}_metadata`` column.
        optional: Include the optional declared columns (CRS sidecars, cloud cover, ...).
        partitions: Include the ``year`` / ``month`` partition columns.
        metadata: Extra schema-level key-value metadata.

    Returns:
        The schema: declared columns in contract order, then one metadata column per band.
    """
    fields = []
    for c in S.COLUMNS:
        if c.name in S.PARTITION_COLUMNS:
            if partitions:
                fields.append(_to_field(c, bands))
        elif c.required or optional:
            fields.append(_to_field(c, bands))
    meta_type = band_metadata_type()
    fields.extend(pa.field(S.band_metadata_column(b), meta_type) for b in bands)
    md = {S.MetaKey.SCHEMA_VERSION.value: S.SCHEMA_VERSION}
    md.update(metadata or {})
    return pa.schema(fields, metadata=md)


# --------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One defect of a table with respect to the contract.

    Attributes:
        column: Column (dotted path for nested fields) the problem is about.
        kind: Short machine-readable kind: ``missing``, ``type``, ``timezone``, ``value``.
        message: Human-readable explanation.
    """

    column: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}"


_FAMILIES: tuple[tuple[str, tuple[Callable[[pa.DataType], bool], ...]], ...] = (
    ("integer", (pa.types.is_integer,)),
    ("floating", (pa.types.is_floating,)),
    ("string", (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)),
    (
        "binary",
        (
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_fixed_size_binary,
            pa.types.is_binary_view,
        ),
    ),
    ("timestamp", (pa.types.is_timestamp,)),
    (
        "list",
        (
            pa.types.is_list,
            pa.types.is_large_list,
            pa.types.is_fixed_size_list,
            pa.types.is_list_view,
            pa.types.is_large_list_view,
        ),
    ),
    ("struct", (pa.types.is_struct,)),
    ("map", (pa.types.is_map,)),
    ("null", (pa.types.is_null,)),
)
"""Type families the contract distinguishes, and the pyarrow predicates of each."""


def _family(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):  # dictionary-encoded columns are judged by their values
        return _family(t.value_type)
    for family, tests in _FAMILIES:
        if any(test(t) for test in tests):
            return family
    if isinstance(t, pa.ExtensionType):
        return _family(t.storage_type)
    return str(t)


_EXPECTED_FAMILY = {
    "string": "string",
    "int32": "integer",
    "int64": "integer",
    "double": "floating",
    "binary": "binary",
    "timestamp[us]": "timestamp",
}

_UTC_NAMES = {"UTC", "Etc/UTC", "+00:00", "utc", "Z"}


def _check_type(path: str, actual: pa.DataType, expected: S.LogicalType) -> list[SchemaProblem]:
    """Compare an Arrow type with a logical type, recursing into lists and structs."""
    fam = _family(actual)
    if fam == "null":  # an all-null column carries no type information; accepted
        return []
    if isinstance(expected, S.Primitive):
        want = _EXPECTED_FAMILY[expected.name]
        if expected.name == "double" and fam == "integer":
            return []  # integral nodata/scale values are still numbers
        if fam != want:
            return [SchemaProblem(path, "type", f"expected {expected}, got {actual}")]
        if want == "timestamp" and actual.tz is not None and actual.tz not in _UTC_NAMES:
            return [
                SchemaProblem(
                    path, "timezone", f"non-UTC timezone {actual.tz!r}; rasteret stores naive UTC"
                )
            ]
        return []
    if isinstance(expected, S.ListOf):
        if fam != "list":
            return [SchemaProblem(path, "type", f"expected {expected}, got {actual}")]
        return _check_type(f"{path}[]", actual.value_type, expected.item)
    if isinstance(expected, S.StructOf):
        if fam != "struct":
            return [SchemaProblem(path, "type", f"expected a struct, got {actual}")]
        return _check_struct(path, actual, expected)
    if isinstance(expected, S.BandStruct):
        if fam == "struct":
            problems: list[SchemaProblem] = []
            for i in range(actual.num_fields):
                f = actual.field(i)
                problems += _check_type(f"{path}.{f.name}", f.type, expected.value)
            return problems
        if fam == "map":
            if _family(actual.key_type) != "string":
                return [
                    SchemaProblem(path, "type", f"map keys must be strings, got {actual.key_type}")
                ]
            return _check_type(f"{path}{{}}", actual.item_type, expected.value)
        return [SchemaProblem(path, "type", f"expected a struct or map of bands, got {actual}")]
    raise TypeError(f"unknown logical type {expected!r}")


def _check_struct(path: str, actual: pa.StructType, expected: S.StructOf) -> list[SchemaProblem]:
    problems: list[SchemaProblem] = []
    present = {actual.field(i).name: actual.field(i).type for i in range(actual.num_fields)}
    for f in expected.fields:
        if f.name not in present:
            if f.required:
                problems.append(
                    SchemaProblem(f"{path}.{f.name}", "missing", "required field is missing")
                )
            continue
        problems += _check_type(f"{path}.{f.name}", present[f.name], f.type)
    return problems


def _as_table(data: Any) -> pa.Table | pa.Schema:
    if isinstance(data, pa.Schema | pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "schema") and hasattr(data, "to_table"):  # pyarrow.dataset.Dataset
        return data.schema
    raise TypeError(
        f"validate_table expects an Arrow table, batch, schema or dataset, got {type(data)!r}"
    )


def validate_table(
    data: Any, *, require_band_metadata: bool = True, check_values: bool = True
) -> list[SchemaProblem]:
    """Check a table (or schema / dataset) against the contract and return every problem.

    Args:
        data: A ``pa.Table``, ``pa.RecordBatch``, ``pa.Schema``, dataset (schema only) or
            any object exporting an Arrow stream.
        require_band_metadata: Report a problem when no ``{band}_metadata`` column exists.
        check_values: Also check values that types cannot express (tile table lengths,
            transform sizes, bbox order). Ignored when only a schema is available.

    Returns:
        A list of :class:`SchemaProblem`; empty when the table is valid.
    """
    obj = _as_table(data)
    sch = obj if isinstance(obj, pa.Schema) else obj.schema
    problems: list[SchemaProblem] = []
    for c in S.COLUMNS:
        idx = sch.get_field_index(c.name)
        if idx < 0:
            if c.required:
                problems.append(SchemaProblem(c.name, "missing", "required column is missing"))
            continue
        if c.name == S.Col.GEOMETRY and _family(sch.field(idx).type) not in ("binary", "null"):
            problems.append(
                SchemaProblem(c.name, "type", f"expected WKB binary, got {sch.field(idx).type}")
            )
            continue
        problems += _check_type(c.name, sch.field(idx).type, c.type)

    meta_cols = [n for n in sch.names if S.band_of_metadata_column(n) is not None]
    if require_band_metadata and not meta_cols:
        problems.append(
            SchemaProblem(
                "*_metadata", "missing", "no '*_metadata' band columns found (headers not indexed?)"
            )
        )
    for name in meta_cols:
        problems += _check_type(name, sch.field(name).type, S.BAND_METADATA)

    if check_values and isinstance(obj, pa.Table) and obj.num_rows:
        problems += _check_values(obj, meta_cols, {p.column for p in problems})
    return problems


def _check_values(table: pa.Table, meta_cols: Iterable[str], bad: set[str]) -> list[SchemaProblem]:
    problems: list[SchemaProblem] = []
    if S.Col.ID in table.column_names and S.Col.ID not in bad:
        n_null = table.column(S.Col.ID).null_count
        if n_null:
            problems.append(SchemaProblem(S.Col.ID, "value", f"{n_null} row(s) have a null id"))
    for name in meta_cols:
        if any(b == name or b.startswith(name + ".") for b in bad):
            continue
        col = table.column(name)  # chunked: the compute kernels need no contiguous copy
        if col.null_count == len(col):
            continue
        offsets = pc.struct_field(col, S.BandField.TILE_OFFSETS)
        counts = pc.struct_field(col, S.BandField.TILE_BYTE_COUNTS)
        n_off = pc.list_value_length(offsets)
        n_cnt = pc.list_value_length(counts)
        mismatch = pc.sum(pc.cast(pc.not_equal(n_off, n_cnt), pa.int64())).as_py() or 0
        if mismatch:
            problems.append(
                SchemaProblem(
                    f"{name}.tile_offsets",
                    "value",
                    f"{mismatch} row(s) have tile_offsets and tile_byte_counts of different lengths",
                )
            )
        tlen = pc.list_value_length(pc.struct_field(col, S.BandField.TRANSFORM))
        bad_t = pc.sum(
            pc.cast(pc.and_(pc.not_equal(tlen, 4), pc.not_equal(tlen, 6)), pa.int64())
        ).as_py()
        if bad_t:
            problems.append(
                SchemaProblem(
                    f"{name}.transform",
                    "value",
                    f"{bad_t} row(s) have a transform that is not 4 or 6 values",
                )
            )
        for fld in (S.BandField.TILE_WIDTH, S.BandField.TILE_HEIGHT):
            nonpos = pc.sum(
                pc.cast(pc.less_equal(pc.struct_field(col, fld), 0), pa.int64())
            ).as_py()
            if nonpos:
                problems.append(
                    SchemaProblem(
                        f"{name}.{fld}", "value", f"{nonpos} row(s) have a non-positive tile size"
                    )
                )
    if S.Col.BBOX in table.column_names and S.Col.BBOX not in bad:
        bb = table.column(S.Col.BBOX).combine_chunks()
        if pa.types.is_struct(bb.type):
            inverted = pc.or_(
                pc.greater(pc.struct_field(bb, "xmin"), pc.struct_field(bb, "xmax")),
                pc.greater(pc.struct_field(bb, "ymin"), pc.struct_field(bb, "ymax")),
            )
            n_inv = pc.sum(pc.cast(inverted, pa.int64())).as_py()
            if n_inv:
                problems.append(
                    SchemaProblem(S.Col.BBOX, "value", f"{n_inv} row(s) have min > max")
                )
    return problems


def ensure_valid(data: Any, **kwargs: Any) -> None:
    """Raise :class:`~rasteret_catalog.errors.SchemaError` listing every problem, if any.

    Args:
        data: What :func:`validate_table` accepts.
        **kwargs: Forwarded to :func:`validate_table`.
    """
    problems = validate_table(data, **kwargs)
    if problems:
        lines = "\n  ".join(str(p) for p in problems)
        raise SchemaError(
            f"table does not match the rasteret collection schema ({len(problems)} problem(s)):\n  {lines}",
            tuple(problems),
        )
