"""Record tables: Parquet / GeoParquet files and dirs, remote S3 (moto), Arrow objects."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shapely

from rasteret_catalog.arrow import ensure_valid
from rasteret_catalog.cloud import CloudConfig
from rasteret_ingest.errors import RecordTableError, TableNormalizationError
from rasteret_ingest.pipeline import build_record_table as _build
from rasteret_ingest.specs import EnrichOptions, TableSource
from rasteret_ingest.table import read_record_table


def build_record_table(
    source: Any,
    *,
    enrich_cog: bool = False,
    band_codes: list[str] | None = None,
    backend: Any = None,
    progress: bool | None = None,
    **fields: Any,
) -> pa.Table:
    """The table of a record-table build (the specs written inline)."""
    opts = EnrichOptions(bands=band_codes, backend=backend, progress=progress)
    return _build(TableSource.of(source, **fields), opts if enrich_cog else None)[0]


def _records(urls: list[str]) -> pa.Table:
    n = len(urls)
    return pa.table(
        {
            "scene_id": pa.array(range(100, 100 + n), pa.int64()),
            "year": pa.array([2020 + i % 2 for i in range(n)], pa.int32()),
            "footprint": [shapely.box(15, 45, 15.01 * (1 + i / 100), 45.1).wkb for i in range(n)],
            "cog": urls,
            "cloud": [float(i * 10) for i in range(n)],
        }
    )


class StreamOnly:
    """A DuckDB / Polars-like object exposing only the Arrow C stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._t = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._t.__arrow_c_stream__(requested_schema)


COMMON = {
    "column_map": {"scene_id": "id", "year": "datetime", "footprint": "geometry"},
    "href_column": "cog",
    "band_index_map": {"R": 0, "G": 1, "B": 2},
}


def test_parquet_file_enriched_multiband(tmp_path: Path, object_server: Any, backend: Any) -> None:
    urls = [object_server.url("pool/rgb.tif")] * 3
    pq.write_table(_records(urls), tmp_path / "recs.parquet")
    table = build_record_table(
        tmp_path / "recs.parquet", enrich_cog=True, backend=backend, progress=False, **COMMON
    )
    ensure_valid(table)
    assert table.column("id").to_pylist() == ["100", "101", "102"]
    assert table.column("datetime").to_pylist()[1] == dt.datetime(2021, 1, 1)
    assert [c for c in table.column_names if c.endswith("_metadata")] == [
        "B_metadata",
        "G_metadata",
        "R_metadata",
    ]  # sorted band keys when band_codes is not given
    assert table.column("R_metadata").to_pylist()[0]["samples_per_pixel"] == 3
    assert object_server.count("GET") == 1


def test_columns_and_filter_pushdown_on_directory(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    recs = _records([f"http://x/{i}.tif" for i in range(6)])
    pq.write_table(recs.slice(0, 3), d / "a.parquet")
    pq.write_table(recs.slice(3), d / "b.parquet")
    t = read_record_table(d, columns=["scene_id", "cloud"], filter_expr=pc.field("cloud") >= 20.0)
    assert t.column_names == ["scene_id", "cloud"]
    assert sorted(t.column("scene_id").to_pylist()) == [102, 103, 104, 105]
    with pytest.raises(RecordTableError, match="not in the record table"):
        read_record_table(d, columns=["nope"])
    with pytest.raises(RecordTableError, match="not found"):
        read_record_table(tmp_path / "missing.parquet")


@pytest.mark.parametrize("kind", ["table", "batch", "reader", "dataset", "stream"])
def test_arrow_objects(kind: str) -> None:
    recs = _records([f"http://x/{i}.tif" for i in range(4)])
    obj: Any = {
        "table": recs,
        "batch": recs.to_batches()[0],
        "reader": pa.RecordBatchReader.from_batches(recs.schema, recs.to_batches()),
        "dataset": ds.dataset(recs),
        "stream": StreamOnly(recs),
    }[kind]
    t = build_record_table(obj, filter_expr=pc.field("cloud") < 25.0, **COMMON)
    assert t.column("id").to_pylist() == ["100", "101", "102"]
    assert t.column("assets").to_pylist()[0]["G"] == {"href": "http://x/0.tif", "band_index": 1}


def test_stac_geoparquet_from_rustac(
    tmp_path: Path, object_server: Any, backend: Any, h: Any
) -> None:
    rustac = pytest.importorskip("rustac")
    items = [
        h.item_dict(
            f"g{i}", dt.datetime(2024, 2, 1 + i, 9), {"red": object_server.url("pool/u16.tif")}
        )
        for i in range(3)
    ]
    path = tmp_path / "items.parquet"

    async def write() -> None:
        await rustac.write(str(path), items)

    asyncio.run(write())
    raw = pq.read_table(path)
    assert pa.types.is_timestamp(raw.schema.field("datetime").type)
    table = build_record_table(
        path, enrich_cog=True, band_codes=["red"], backend=backend, progress=False
    )
    ensure_valid(table)
    assert table.schema.field("datetime").type == pa.timestamp("us")
    assert table.column("datetime").to_pylist()[0] == dt.datetime(2024, 2, 1, 9)
    assert table.column("red_metadata").null_count == 0


def test_remote_parquet_on_moto_s3(tmp_path: Path, moto_s3: Any, moto_fs: Any) -> None:
    pq.write_table(_records(["http://x/a.tif"] * 2), tmp_path / "r.parquet")
    moto_s3.upload(tmp_path / "r.parquet", "tables/r.parquet")
    s3 = moto_fs
    t = build_record_table(f"{moto_s3.bucket}/tables/r.parquet", filesystem=s3, **COMMON)
    assert t.num_rows == 2 and t.column("id").to_pylist() == ["100", "101"]


def test_cloud_config_is_honoured(object_server: Any, backend: Any) -> None:
    recs = _records(["https://cogs.example.invalid/pool/rgb.tif"])
    cfg = CloudConfig(
        provider="aws", url_patterns={"https://cogs.example.invalid/": object_server.url("")}
    )
    t = build_record_table(
        recs, cloud_config=cfg, enrich_cog=True, backend=backend, progress=False, **COMMON
    )
    assert t.column("assets").to_pylist()[0]["R"]["href"] == object_server.url("pool/rgb.tif")
    assert t.column("R_metadata").null_count == 0


def test_naive_datetime_strings_rejected() -> None:
    t = pa.table(
        {
            "id": ["a"],
            "datetime": ["2024-01-01 10:00"],
            "geometry": [shapely.box(0, 0, 1, 1).wkb],
            "assets": [{"B": {"href": "x", "band_index": 0}}],
        }
    )
    with pytest.raises(TableNormalizationError, match="offset"):
        build_record_table(t)
