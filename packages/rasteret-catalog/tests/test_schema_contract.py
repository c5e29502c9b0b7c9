"""The schema contract: golden column list, Arrow rendering, validation of good and bad tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rasteret_catalog import SchemaError, schema
from rasteret_catalog.arrow import (
    band_metadata_type,
    ensure_valid,
    to_pyarrow_schema,
    validate_table,
)

GOLDEN_COLUMNS = [
    ("id", "string"),
    ("datetime", "timestamp[us]"),
    ("geometry", "binary"),
    ("assets", "struct<B04: struct<href: string, band_index: int32>>"),
    ("bbox", "struct<xmin: double, ymin: double, xmax: double, ymax: double>"),
    ("proj:epsg", "int32"),
    ("crs", "string"),
    ("eo:cloud_cover", "double"),
    ("collection", "string"),
    ("year", "int32"),
    ("month", "int32"),
]

# rasteret 0.4.1's {band}_metadata struct, in its order (reference §3.2).
LEGACY_FIELDS = [
    ("image_width", "int32"), ("image_height", "int32"), ("tile_width", "int32"),
    ("tile_height", "int32"), ("dtype", "string"), ("transform", "list<item: double>"),
    ("predictor", "int32"), ("compression", "int32"), ("tile_offsets", "list<item: int64>"),
    ("tile_byte_counts", "list<item: int64>"), ("pixel_scale", "list<item: double>"),
    ("tiepoint", "list<item: double>"), ("nodata", "double"), ("samples_per_pixel", "int32"),
    ("planar_configuration", "int32"), ("photometric", "int32"),
    ("extra_samples", "list<item: int32>"),
]  # fmt: skip


def test_golden_columns():
    sch = to_pyarrow_schema(["B04"])
    got = [(f.name, str(f.type)) for f in sch][: len(GOLDEN_COLUMNS)]
    assert got == GOLDEN_COLUMNS
    assert sch.names[-1] == "B04_metadata"
    assert sch.metadata[b"rasteret_schema_version"] == schema.SCHEMA_VERSION.encode()


def test_band_metadata_starts_with_legacy_fields_in_order():
    t = band_metadata_type()
    got = [(t.field(i).name, str(t.field(i).type)) for i in range(len(LEGACY_FIELDS))]
    assert got == LEGACY_FIELDS
    assert list(schema.LEGACY_BAND_FIELDS) == [n for n, _ in LEGACY_FIELDS]
    # everything after the legacy fields is nullable, so old readers are unaffected
    for i in range(len(LEGACY_FIELDS), t.num_fields):
        assert t.field(i).nullable


def test_declaration_matches_rendering():
    sch = to_pyarrow_schema(["B04", "B08"])
    for col in schema.COLUMNS:
        assert col.name in sch.names
    assert set(schema.REQUIRED_COLUMNS) == {"id", "datetime", "geometry", "assets", "bbox"}
    assert set(schema.REQUIRED_BAND_FIELDS) == {
        "tile_width", "tile_height", "dtype", "transform", "tile_offsets", "tile_byte_counts",
    }  # fmt: skip
    assert schema.band_metadata_column("B04") == "B04_metadata"
    assert schema.band_of_metadata_column("B04_metadata") == "B04"
    assert schema.band_of_metadata_column("assets") is None
    with pytest.raises(ValueError):
        schema.band_metadata_column("")


def _meta(n_tiles=4, transform=(10.0, 500000.0, -10.0, 4200000.0), counts=None):
    return {
        "image_width": 512, "image_height": 512, "tile_width": 256, "tile_height": 256,
        "dtype": "uint16", "transform": list(transform), "predictor": 2, "compression": 8,
        "tile_offsets": [1000 + i * 10 for i in range(n_tiles)],
        "tile_byte_counts": counts if counts is not None else [10] * n_tiles,
        "pixel_scale": [10.0, 10.0, 0.0], "tiepoint": [0, 0, 0, 500000.0, 4200000.0, 0],
        "nodata": 0.0, "samples_per_pixel": 1, "planar_configuration": 1, "photometric": 1,
        "extra_samples": [],
    }  # fmt: skip


def good_table(bands=("B04",), **meta_kw):
    sch = to_pyarrow_schema(list(bands))
    row = {
        "id": "scene-1",
        "datetime": pa.scalar(1_700_000_000_000_000, pa.timestamp("us")).as_py(),
        "geometry": b"\x01\x03\x00\x00\x00",
        "assets": {b: {"href": f"https://x/{b}.tif", "band_index": None} for b in bands},
        "bbox": {"xmin": 1.0, "ymin": 2.0, "xmax": 3.0, "ymax": 4.0},
        "proj:epsg": 32633, "crs": "EPSG:32633", "eo:cloud_cover": 5.0, "collection": "s2",
        "year": 2023, "month": 11,
    }  # fmt: skip
    for b in bands:
        row[f"{b}_metadata"] = _meta(**meta_kw)
    return pa.Table.from_pylist([row], schema=sch)


def test_valid_table_has_no_problems():
    t = good_table(("B04", "B08"))
    assert validate_table(t) == []
    ensure_valid(t)
    assert validate_table(t.schema) == []


def test_legacy_layout_table_is_valid():
    """A table exactly as rasteret 0.4.1 writes it (17-field struct) passes validation."""
    legacy = pa.struct([pa.field(n, _type(t)) for n, t in LEGACY_FIELDS])
    t = good_table()
    t = t.drop_columns(["B04_metadata", "crs", "eo:cloud_cover", "collection", "year", "month"])
    row = _meta()
    t = t.append_column(pa.field("B04_metadata", legacy), pa.array([row], legacy))
    assert validate_table(t) == []


def _type(t: str) -> pa.DataType:
    if t.startswith("list<item: "):
        return pa.list_(pa.type_for_alias(t[len("list<item: ") : -1]))
    return pa.type_for_alias(t)


def test_each_defect_is_reported_and_all_at_once():
    t = good_table()
    t = t.drop_columns(["geometry"])  # missing required column
    t = t.set_column(t.schema.get_field_index("datetime"), "datetime",
                     pa.array([1], pa.timestamp("us", tz="Europe/Paris")))  # fmt: skip
    t = t.set_column(t.schema.get_field_index("proj:epsg"), "proj:epsg", pa.array(["32633"]))
    bad_meta = pa.array([{"tile_width": 256, "dtype": 5, "transform": [1.0, 2.0, 3.0, 4.0]}])
    t = t.set_column(t.schema.get_field_index("B04_metadata"), "B04_metadata", bad_meta)
    problems = validate_table(t)
    kinds = {(p.column, p.kind) for p in problems}
    assert ("geometry", "missing") in kinds
    assert ("datetime", "timezone") in kinds
    assert ("proj:epsg", "type") in kinds
    assert ("B04_metadata.dtype", "type") in kinds
    for f in ("tile_height", "tile_offsets", "tile_byte_counts"):
        assert (f"B04_metadata.{f}", "missing") in kinds
    with pytest.raises(SchemaError) as ei:
        ensure_valid(t)
    assert len(ei.value.problems) == len(problems)
    assert isinstance(ei.value, ValueError)
    assert "geometry" in str(ei.value) and "Europe/Paris" in str(ei.value)


def test_value_defects():
    t = good_table(counts=[1, 2, 3], transform=(1.0, 2.0, 3.0))
    bb = pa.array([{"xmin": 5.0, "ymin": 2.0, "xmax": 3.0, "ymax": 4.0}], pa.struct(
        [(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")]))  # fmt: skip
    t = t.set_column(t.schema.get_field_index("bbox"), "bbox", bb)
    t = t.set_column(0, "id", pa.array([None], pa.string()))
    cols = {p.column for p in validate_table(t)}
    assert {"B04_metadata.tile_offsets", "B04_metadata.transform", "bbox", "id"} <= cols


def test_missing_metadata_columns_and_wrong_shapes():
    t = good_table().drop_columns(["B04_metadata"])
    assert [p.column for p in validate_table(t)] == ["*_metadata"]
    assert validate_table(t, require_band_metadata=False) == []
    t2 = good_table()
    t2 = t2.set_column(t2.schema.get_field_index("bbox"), "bbox", pa.array([[1.0, 2.0, 3.0, 4.0]]))
    t2 = t2.set_column(t2.schema.get_field_index("assets"), "assets", pa.array(["x"]))
    t2 = t2.set_column(t2.schema.get_field_index("geometry"), "geometry", pa.array(["POINT (1 2)"]))
    kinds = {(p.column, p.kind) for p in validate_table(t2)}
    assert {("bbox", "type"), ("assets", "type"), ("geometry", "type")} <= kinds


def test_lenient_types_accepted():
    """Equivalent encodings (large types, maps for assets, UTC tz, all-null columns) are fine."""
    t = good_table()
    t = t.set_column(0, "id", pa.array(["a"], pa.large_string()))
    t = t.set_column(1, "datetime", pa.array([1], pa.timestamp("ms", tz="UTC")))
    assets = pa.array([[("B04", {"href": "x", "band_index": 0})]],
                      pa.map_(pa.string(), pa.struct([("href", pa.string()), ("band_index", pa.int64())])))  # fmt: skip
    t = t.set_column(3, "assets", assets)
    t = t.set_column(t.schema.get_field_index("crs"), "crs", pa.nulls(1))
    coll = pa.array(["s2"]).dictionary_encode()
    t = t.set_column(t.schema.get_field_index("collection"), "collection", coll)
    assert validate_table(t) == []


def test_validate_accepts_batches_and_streams():
    t = good_table()
    assert validate_table(t.to_batches()[0]) == []

    class Stream:
        def __arrow_c_stream__(self, requested_schema=None):
            return t.__arrow_c_stream__(requested_schema)

    assert validate_table(Stream()) == []
    with pytest.raises(TypeError):
        validate_table(42)
