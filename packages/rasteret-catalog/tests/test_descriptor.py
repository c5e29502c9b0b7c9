"""DatasetDescriptor fields, derived values and validation errors."""

from __future__ import annotations

import dataclasses

import pytest

from rasteret_catalog import DatasetDescriptor, DescriptorError

# Every field of rasteret 0.4.1's descriptor (reference §5.1).
ORIGINAL_FIELDS = {
    "id", "name", "description", "stac_api", "stac_collection", "record_table_uri", "index_uri",
    "collection_uri", "geoparquet_uri", "field_roles", "surface_fields", "filter_capabilities",
    "column_map", "href_column", "band_index_map", "bbox_columns", "band_map", "separate_files",
    "spatial_coverage", "temporal_range", "requires_auth", "license", "license_url",
    "commercial_use", "static_catalog", "s3_credentials_url", "azure_asset_url", "cloud_config",
    "example_bbox", "example_date_range", "torchgeo_class", "torchgeo_verified",
}  # fmt: skip


def test_has_every_original_field_with_defaults():
    names = {f.name for f in dataclasses.fields(DatasetDescriptor)}
    assert names == ORIGINAL_FIELDS
    d = DatasetDescriptor(id="x/y", name="X")
    assert d.description == "" and d.separate_files is True and d.commercial_use is True
    assert d.requires_auth is False and d.static_catalog is False and d.band_map is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"  # type: ignore[misc]


def test_uri_mirroring_and_derived_properties():
    d = DatasetDescriptor(id="a", name="A", geoparquet_uri="s3://b/t.parquet")
    assert d.record_table_uri == "s3://b/t.parquet" and d.build_source_uri == "s3://b/t.parquet"
    d2 = DatasetDescriptor(id="a", name="A", record_table_uri="r", index_uri="i")
    assert d2.build_source_uri == "r" and d2.runtime_index_uri == "i" and d2.geoparquet_uri is None


def test_field_roles_completion():
    d = DatasetDescriptor(
        id="a", name="A", column_map={"fid": "id", "geom": "geometry"}, href_column="path"
    )
    assert d.field_roles == {"id": "fid", "geometry": "geom", "href": "path", "bbox": "bbox"}
    assert d.source_field("id") == "fid" and d.source_field("datetime") == "datetime"
    d2 = DatasetDescriptor(
        id="a", name="A", field_roles={"id": "fid", "href": "url", "datetime": "year"}
    )
    assert d2.href_column == "url"
    assert d2.column_map == {"fid": "id", "year": "datetime"}


def test_surface_hints():
    d = DatasetDescriptor(
        id="a", name="A",
        surface_fields={"index": ["year", "year", "bbox"]},
        filter_capabilities={"collection": ["year"]},
    )  # fmt: skip
    assert d.surface_fields == {"index": ["year", "bbox"]}
    assert d.surface_has_field("index", "year") and not d.surface_has_field("index", "split")
    assert d.surface_has_field("record_table", "anything")
    assert d.surface_supports_filter("collection", "year")
    assert not d.surface_supports_filter("collection", "utm_zone")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"id": ""}, "invalid dataset id"),
        ({"id": "has space"}, "invalid dataset id"),
        ({"id": "/lead"}, "invalid dataset id"),
        ({"id": "a//b"}, "invalid dataset id"),
        ({"id": 5}, "invalid dataset id"),
        ({"name": ""}, "'name'"),
        ({"name": None}, "'name'"),
        ({"band_map": {"B04": ""}}, "band_map"),
        ({"band_map": ["B04"]}, "band_map"),
        ({"field_roles": {"id": ""}}, "field_roles must map non-empty"),
        ({"band_index_map": {"R": -1}}, "band_index_map"),
        ({"band_index_map": {"R": True}}, "band_index_map"),
        ({"bbox_columns": {"minx": "a"}}, "bbox_columns"),
        ({"surface_fields": {"wide": ["x"]}}, "surface_fields contains unsupported surface names"),
        ({"filter_capabilities": {"index": "year"}}, "filter_capabilities"),
        ({"temporal_range": ("2020-01-01",)}, "temporal_range"),
        ({"example_bbox": (1, 2, 0, 3)}, "west < east"),
        ({"example_bbox": (1, 2, 3)}, "example_bbox"),
        ({"cloud_config": {"provder": "aws"}}, "unknown keys"),
        ({"static_catalog": True}, "static_catalog"),
        ({"requires_auth": "yes"}, "requires_auth"),
        ({"stac_api": 3}, "stac_api"),
    ],
)
def test_malformed_fields_raise_typed_errors(kwargs, needle):
    base = {"id": "ok/id", "name": "Ok"}
    base.update(kwargs)
    with pytest.raises(DescriptorError, match=needle) as ei:
        DatasetDescriptor(**base)
    assert isinstance(ei.value, ValueError)


def test_dict_round_trip_and_unknown_keys():
    d = DatasetDescriptor(id="a", name="A", temporal_range=("2020-01-01", "2021-01-01"),
                          example_bbox=(0, 0, 1, 1), band_map={"B1": "b"})  # fmt: skip
    data = d.to_dict()
    assert data["temporal_range"] == ["2020-01-01", "2021-01-01"]
    assert DatasetDescriptor.from_dict(data) == d
    with pytest.raises(DescriptorError, match="unknown descriptor field"):
        DatasetDescriptor.from_dict({**data, "future_field": 1})
    with pytest.raises(DescriptorError, match="missing"):
        DatasetDescriptor.from_dict({"id": "a"})
    with pytest.raises(DescriptorError, match="JSON object"):
        DatasetDescriptor.from_dict(["a"])  # type: ignore[arg-type]
