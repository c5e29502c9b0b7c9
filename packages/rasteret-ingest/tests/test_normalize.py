"""Record-table normalisation: ids, datetimes, assets, footprints, bbox, partitions, CRS sidecars."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
import shapely
from pyproj import CRS, Transformer

from rasteret_catalog.schema import AssetField, Col
from rasteret_ingest.errors import TableNormalizationError
from rasteret_ingest.normalize import normalize_datetime, normalize_table

BOX = shapely.box(15.0, 45.0, 15.1, 45.1)


def _table(**cols: object) -> pa.Table:
    n = len(next(iter(cols.values())))  # type: ignore[arg-type]
    base = {
        Col.ID.value: [f"r{i}" for i in range(n)],
        Col.GEOMETRY.value: [BOX.wkb] * n,
        Col.ASSETS.value: [
            {"B1": {"href": f"http://h/{i}.tif", "band_index": 0}} for i in range(n)
        ],
    }
    base.update(cols)  # type: ignore[arg-type]
    return pa.table(base)


def test_datetime_variants_to_naive_utc() -> None:
    want = dt.datetime(2024, 1, 1, 8, 0)
    assert normalize_datetime(pa.array(["2024-01-01T10:00:00+02:00"])).to_pylist() == [want]
    assert normalize_datetime(pa.array(["2024-01-01T08:00:00Z"])).to_pylist() == [want]
    aware = pa.array([dt.datetime(2024, 1, 1, 10, 0)], pa.timestamp("ns", "Europe/Berlin"))
    # Arrow stores the UTC instant; the Berlin wall clock is 11:00.
    assert normalize_datetime(aware).to_pylist() == [dt.datetime(2024, 1, 1, 10, 0)]
    ms_utc = pa.array([want.replace(tzinfo=dt.UTC)], pa.timestamp("ms", "UTC"))
    assert normalize_datetime(ms_utc).type == pa.timestamp("us")
    assert normalize_datetime(pa.array([2021, 2023], pa.int16())).to_pylist() == [
        dt.datetime(2021, 1, 1),
        dt.datetime(2023, 1, 1),
    ]
    assert normalize_datetime(pa.nulls(2)).type == pa.timestamp("us")
    assert normalize_datetime(pa.array([dt.date(2024, 5, 6)])).to_pylist() == [
        dt.datetime(2024, 5, 6)
    ]


def test_naive_strings_and_bad_types_rejected() -> None:
    with pytest.raises(TableNormalizationError, match="explicit UTC offset"):
        normalize_datetime(pa.array(["2024-01-01T10:00:00"]))
    with pytest.raises(TableNormalizationError, match="unsupported type"):
        normalize_datetime(pa.array([1.5]))


def test_missing_required_columns_listed_at_once() -> None:
    with pytest.raises(TableNormalizationError) as err:
        normalize_table(pa.table({"x": [1]}))
    for col in ("id", "datetime", "geometry", "assets"):
        assert col in str(err.value)
    with pytest.raises(TableNormalizationError, match="band_index_map"):
        normalize_table(
            pa.table({"id": [1], "datetime": [2020], "geometry": [BOX.wkb], "u": ["x"]}),
            href_column="u",
        )


def test_column_map_ids_bbox_partitions() -> None:
    t = pa.table(
        {
            "scene": [7, 8],
            "when": ["2024-03-05T00:00:00Z", "2023-12-31T23:30:00-01:00"],
            "footprint": [BOX.wkb, shapely.box(1, 2, 3, 4).wkb],
            "url": ["https://old.example/a.tif", None],
        }
    )
    out = normalize_table(
        t,
        column_map={"scene": "id", "when": "datetime", "footprint": "geometry"},
        href_column="url",
        band_index_map={"B04": 0, "B08": 1},
        url_rewrite_patterns={"https://old.example/": "s3://bucket/"},
    )
    assert "scene" in out.column_names  # sources kept
    assert out.column("id").to_pylist() == ["7", "8"]
    rows = out.to_pylist()
    assert rows[0]["assets"]["B08"] == {
        AssetField.HREF: "s3://bucket/a.tif",
        AssetField.BAND_INDEX: 1,
    }
    assert rows[1]["assets"]["B04"] is None
    assert rows[1]["bbox"] == {"xmin": 1.0, "ymin": 2.0, "xmax": 3.0, "ymax": 4.0}
    assert (rows[0]["year"], rows[0]["month"]) == (2024, 3)
    assert (rows[1]["year"], rows[1]["month"]) == (2024, 1)  # 2024-01-01T00:30Z
    assert out.schema.field("year").type == pa.int32()


def test_href_column_missing() -> None:
    with pytest.raises(TableNormalizationError, match="href_column 'nope'"):
        normalize_table(
            _table(datetime=[2020]).drop_columns(["assets"]),
            href_column="nope",
            band_index_map={"B": 0},
        )


def test_null_bbox_rows_filled_from_geometry() -> None:
    bb = pa.array([{"xmin": 1.0, "ymin": 2.0, "xmax": 3.0, "ymax": 4.0}, None])
    out = normalize_table(_table(datetime=[2020, 2021], bbox=bb))
    rows = out.column("bbox").to_pylist()
    assert rows[0]["xmin"] == 1.0 and rows[1]["xmin"] == pytest.approx(15.0)


def test_list_bbox_converted() -> None:
    out = normalize_table(_table(datetime=[2020], bbox=[[1.0, 2.0, 3.0, 4.0]]))
    assert out.column("bbox").to_pylist() == [{"xmin": 1.0, "ymin": 2.0, "xmax": 3.0, "ymax": 4.0}]


def test_geoarrow_utm_footprint_reprojected_to_crs84() -> None:
    utm = shapely.box(500_000, 4_990_000, 504_000, 4_994_000)
    crs = CRS.from_epsg(32633).to_json_dict()
    field = pa.field(
        "geometry",
        pa.binary(),
        metadata={
            b"ARROW:extension:name": b"geoarrow.wkb",
            b"ARROW:extension:metadata": json.dumps({"crs": crs}).encode(),
        },
    )
    t = pa.table(
        {
            "id": ["a"],
            "datetime": [2024],
            "assets": [{"B1": {"href": "x", "band_index": 0}}],
            "bbox": [{"xmin": 0.0, "ymin": 0.0, "xmax": 0.0, "ymax": 0.0}],  # stale, recomputed
        }
    ).append_column(field, pa.array([utm.wkb], pa.binary()))
    out = normalize_table(t)
    bb = out.column("bbox").to_pylist()[0]
    tr = Transformer.from_crs(32633, "OGC:CRS84", always_xy=True)
    lon, lat = tr.transform(500_000, 4_990_000)
    assert bb["xmin"] == pytest.approx(lon, abs=1e-3)
    assert bb["ymin"] == pytest.approx(lat, abs=1e-3)
    assert out.schema.field("geometry").type == pa.binary()


def test_crs_sidecars_candidates_and_user_defined() -> None:
    wkt = CRS.from_proj4(
        "+proj=tmerc +lat_0=0 +lon_0=7 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m"
    ).to_wkt()
    t = _table(
        datetime=[2020, 2020, 2020, 2020],
        **{
            "proj:code": ["EPSG:32633", None, None, None],
            "proj:epsg": [None, 4326, None, 32767],
            "proj:wkt2": [None, None, wkt, None],
        },
    )
    out = normalize_table(t)
    assert out.column("proj:epsg").to_pylist() == [32633, 4326, None, None]
    crs = out.column("crs").to_pylist()
    assert crs[:2] == ["EPSG:32633", "EPSG:4326"]
    assert "Transverse Mercator" in crs[2] or "TM" in crs[2]  # kept as WKT, never 32767
    assert crs[3] is None
    assert out.schema.field("proj:epsg").type == pa.int32()
