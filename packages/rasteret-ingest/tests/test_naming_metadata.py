"""Cache names, workspace paths, collection metadata, GeoParquet and GeoArrow tags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import shapely

from rasteret_catalog.schema import SCHEMA_VERSION, Col, MetaKey
from rasteret_ingest import metadata, naming


def test_create_name_verified_example() -> None:
    name = naming.create_name(
        "S2 Bangalore", ("2024-01-01", "2024-01-31"), "earthsearch/sentinel-2-l2a"
    )
    assert name == "s2-bangalore_202401-01_earthsearch-sentinel-2-l2a"


@pytest.mark.parametrize(
    ("custom", "dates", "source", "expected"),
    [
        (
            "My_S2  test!",
            ("2023-11-05", "2024-02-01"),
            "sentinel-2-l2a",
            "my-s2-test_202311-202402_sentinel",
        ),
        ("", ("2024-03-01", "2024-06-30"), "landsat-c2-l2", "collection_202403-06_landsat"),
        ("x", ("2024-03-01", "2024-03-02"), "Some Source/v1", "x_202403-03_some-source-v1"),
        ("x", ("2024-03-01", "2024-03-02"), "", "x_202403-03_source"),
    ],
)
def test_create_name_tokens(
    custom: str, dates: tuple[str, str], source: str, expected: str
) -> None:
    assert naming.create_name(custom, dates, source) == expected


def test_create_name_without_dates_keeps_underscores() -> None:
    assert naming.create_name("My Cat_1", None, "local/static") == "my-cat_1_local-static"


def test_parse_name_roundtrip_and_fallback() -> None:
    parsed = naming.parse_name("s2-bangalore_202401-01_earthsearch-sentinel-2-l2a_stac")
    assert parsed["custom_name"] == "s2-bangalore"
    assert parsed["data_source"] == "earthsearch-sentinel-2-l2a"
    assert naming.parse_name("weird") == {
        "name": "weird",
        "custom_name": "weird",
        "data_source": None,
    }
    assert naming.parse_name("a_b_c")["data_source"] is None  # date part must be a-b


def test_workspace_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    d = naming.stac_collection_dir(None, "S2", ("2024-01-01", "2024-01-31"), "sentinel-2-l2a")
    assert d == tmp_path / "rasteret_workspace" / "s2_202401-01_sentinel_stac"
    static = naming.stac_collection_dir(tmp_path, "My Cat", None, "local/static")
    assert static == tmp_path / "my-cat_local-static_stac"
    assert naming.records_collection_dir(tmp_path, "aef") == tmp_path / "aef_records"
    assert naming.records_collection_dir(tmp_path / "x_records", "aef") == tmp_path / "x_records"
    assert naming.records_collection_dir("s3://b/ws", "aef") == "s3://b/ws/aef_records"


def test_collection_metadata_keys() -> None:
    md = metadata.collection_metadata(
        name="n", description="d", data_source="s", date_range=("2024-01-01", "2024-02-01")
    )
    assert md[MetaKey.DATE_RANGE] == "2024-01-01,2024-02-01"
    assert md[MetaKey.COLLECTION_VERSION] == "1"
    assert md[MetaKey.SCHEMA_VERSION] == SCHEMA_VERSION
    assert set(md) >= {MetaKey.NAME, MetaKey.DESCRIPTION, MetaKey.DATA_SOURCE, MetaKey.CREATED}
    assert metadata.collection_metadata(name="n")[MetaKey.DATE_RANGE] == ""


def test_geoparquet_metadata_scans_types_and_covering() -> None:
    geoms = [shapely.box(0, 0, 1, 1), shapely.Point(2, 3), shapely.Point(1, 2, 3)]
    table = pa.table(
        {
            Col.GEOMETRY.value: pa.array([g.wkb for g in geoms] + [None], pa.binary()),
            Col.BBOX.value: pa.array(
                [{"xmin": 0.0, "ymin": 0.0, "xmax": 1.0, "ymax": 1.0}, None, None, None]
            ),
        }
    )
    geo = json.loads(metadata.geoparquet_metadata(table))
    col = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    assert col["encoding"] == "WKB"
    assert col["geometry_types"] == ["Point", "Point Z", "Polygon"]
    assert col["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert "crs" not in col


def test_tag_geoarrow_wkb() -> None:
    schema = pa.schema([pa.field("id", pa.string()), pa.field("geometry", pa.binary())])
    tagged = metadata.tag_geoarrow_wkb(schema)
    md = tagged.field("geometry").metadata
    assert md[b"ARROW:extension:name"] == b"geoarrow.wkb"
    crs = json.loads(md[b"ARROW:extension:metadata"])["crs"]
    assert crs["id"]["code"] == "CRS84"
    assert schema.field("geometry").metadata is None  # input untouched


def test_import_is_lazy() -> None:
    code = (
        "import sys, rasteret_ingest; "
        "bad = [m for m in ('pyarrow', 'pystac', 'pystac_client', 'obstore', 'shapely') if m in sys.modules]; "
        "print(','.join(bad)); "
        "rasteret_ingest.create_name; assert 'pyarrow' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
