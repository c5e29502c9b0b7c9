"""Workspace builds: STAC and table builders, cache reuse without network, force, updates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from rasteret_catalog.schema import MetaKey
from rasteret_ingest import builders
from rasteret_ingest.specs import Destination, EnrichOptions, StacSource, TableSource
from rasteret_ingest.update import update_collection
from rasteret_ingest.writer import read_collection

DEAD = "http://127.0.0.1:9"  # nothing listens: any network access would fail


def _scene_items(srv: Any, h: Any, n: int, start: int = 0) -> list[dict[str, Any]]:
    """Items with per-item COG URLs (aliases of the pool), so each header is a distinct URL."""
    srv.alias_pattern("scenes/{item}/{file}", "pool/{file}")
    return [
        h.item_dict(
            f"item-{i}",
            dt.datetime(2024, 1, 1, 10) + dt.timedelta(days=5 * i),
            {"red": srv.url(f"scenes/{i}/u16.tif"), "nir": srv.url(f"scenes/{i}/u16b.tif")},
            properties={"proj:code": "EPSG:32633", "eo:cloud_cover": 5.0},
        )
        for i in range(start, start + n)
    ]


def test_stac_build_reuse_force_and_update(
    tmp_path: Path, object_server: Any, backend: Any, stac_api_factory: Any, h: Any
) -> None:
    api = stac_api_factory(h.collection_dict(), _scene_items(object_server, h, 6))
    common = {
        "collection": "test-s2",
        "workspace_dir": tmp_path,
        "backend": backend,
        "progress": False,
    }
    res = build_stac_collection(
        name="My S2", stac_api=api, date_range=("2024-01-01", "2024-01-11"), **common
    )
    assert Path(res.path) == tmp_path / "my-s2_202401-01_test-s2_stac"
    assert not res.reused and res.report is not None and res.report.requests == 6
    assert sorted(res.table.column("id").to_pylist()) == ["item-0", "item-1", "item-2"]
    md = pq.read_schema(next(Path(res.path).rglob("*.parquet"))).metadata
    assert md[b"name"] == b"my-s2_202401-01_test-s2"
    assert md[b"description"] == b"STAC collection indexed from test-s2"
    assert md[b"date_range"] == b"2024-01-01,2024-01-11"
    # The identity the fetch layer checks at read time is recorded for every asset.
    from rasteret_io import ObjectIdentity

    size = (Path(object_server.root) / "pool" / "u16.tif").stat().st_size
    # (the "red" asset: without a registered band map, band codes are asset keys, issue #13)
    for struct in res.table.column("red_metadata").to_pylist():
        ident = ObjectIdentity.from_band_metadata(struct)
        assert ident is not None and ident.etag and ident.size == size and ident.last_modified

    # Cache hit: no STAC server and no COG access needed.
    object_server.reset()
    object_server.alias_pattern("scenes/{item}/{file}", "pool/{file}")
    again = build_stac_collection(
        name="My S2", stac_api=DEAD, date_range=("2024-01-01", "2024-01-11"), **common
    )
    assert again.reused and again.report is None and again.name == res.name
    assert again.table.num_rows == 3 and object_server.count() == 0

    # Incremental update with a later range: only the new items' headers are read.
    up = update_collection(
        res.path,
        stac_api=api,
        collection="test-s2",
        date_range=("2024-01-12", "2024-01-31"),
        backend=backend,
        progress=False,
    )
    assert not up.reused and up.report.urls == 6
    requested = {r.path for r in object_server.requests}
    assert requested == {f"/scenes/{i}/{f}" for i in (3, 4, 5) for f in ("u16.tif", "u16b.tif")}
    back = read_collection(res.path)
    assert sorted(back.column("id").to_pylist()) == [f"item-{i}" for i in range(6)]
    # no registered band map for "test-s2": the band codes are the asset keys (issue #13)
    assert back.column("red_metadata").null_count == 0
    assert back.schema.metadata[MetaKey.DATE_RANGE.value.encode()] == b"2024-01-01,2024-01-31"

    # Nothing new: nothing written, nothing read.
    object_server.reset()
    same = update_collection(
        res.path, stac_api=api, collection="test-s2", backend=backend, progress=False
    )
    assert same.reused and object_server.count() == 0

    # force rebuilds (atomically) from the API.
    object_server.alias_pattern("scenes/{item}/{file}", "pool/{file}")
    forced = build_stac_collection(
        name="My S2", stac_api=api, date_range=("2024-01-01", "2024-01-06"), force=True, **common
    )
    assert not forced.reused and forced.table.num_rows == 2
    assert read_collection(res.path).num_rows == 2


def build_stac_collection(
    *,
    name: str,
    workspace_dir: Any,
    force: bool = False,
    backend: Any,
    progress: bool,
    **source: Any,
) -> Any:
    """A STAC build with the specs written inline."""
    return builders.build_stac_collection(
        StacSource(**source),
        EnrichOptions(backend=backend, progress=progress),
        Destination(name, workspace_dir, force),
    )


def build_table_collection(
    table: Any,
    *,
    name: str = "",
    workspace_dir: Any = None,
    force: bool = False,
    workspace_filesystem: Any = None,
    enrich_cog: bool = False,
    backend: Any = None,
    progress: bool | None = None,
    **fields: Any,
) -> Any:
    """A record-table build with the specs written inline."""
    return builders.build_table_collection(
        TableSource.of(table, **fields),
        EnrichOptions(backend=backend, progress=progress) if enrich_cog else None,
        Destination(name, workspace_dir, force, filesystem=workspace_filesystem),
    )


def _rec_table(urls: list[str], first_id: int = 0) -> pa.Table:
    n = len(urls)
    return pa.table(
        {
            "id": [f"rec-{first_id + i}" for i in range(n)],
            "datetime": pa.array([dt.datetime(2023, 6, 1 + i, tzinfo=dt.UTC) for i in range(n)]),
            "geometry": [shapely.box(15, 45, 15.1, 45.1).wkb] * n,
            "url": urls,
        }
    )


def test_table_build_persist_rules_and_update(
    tmp_path: Path, object_server: Any, backend: Any
) -> None:
    object_server.alias_pattern("recs/{n}/{file}", "pool/{file}")
    urls = [object_server.url(f"recs/{i}/u16.tif") for i in range(3)]
    kw = {"href_column": "url", "band_index_map": {"B1": 0}, "backend": backend, "progress": False}

    mem = build_table_collection(_rec_table(urls), enrich_cog=True, **kw)
    assert mem.path is None and mem.name == "record_table"  # no name, no workspace: in memory
    assert mem.table.schema.metadata[b"name"] == b"record_table"

    res = build_table_collection(
        _rec_table(urls), name="aef", workspace_dir=tmp_path, enrich_cog=True, **kw
    )
    assert Path(res.path) == tmp_path / "aef_records"
    object_server.reset()
    again = build_table_collection(
        _rec_table(urls), name="aef", workspace_dir=tmp_path, enrich_cog=True, **kw
    )
    assert again.reused and object_server.count() == 0

    object_server.alias_pattern("recs/{n}/{file}", "pool/{file}")
    more = [object_server.url(f"recs/{i}/u16.tif") for i in range(3, 5)]
    up = update_collection(
        res.path,
        _rec_table(urls + more),
        href_column="url",
        band_index_map={"B1": 0},
        backend=backend,
        progress=False,
    )
    assert {r.path for r in object_server.requests} == {"/recs/3/u16.tif", "/recs/4/u16.tif"}
    assert up.table.num_rows == 5 and up.table.column("B1_metadata").null_count == 0


def test_table_build_contract_problems_reported_together(tmp_path: Path) -> None:
    from rasteret_catalog import SchemaError

    t = pa.table(
        {
            "id": pa.array([None], pa.string()),
            "datetime": [2020],
            "geometry": [shapely.box(0, 0, 1, 1).wkb],
            "assets": [{"B": {"href": "x", "band_index": 0}}],
            "bbox": [{"xmin": 2.0, "ymin": 0.0, "xmax": 1.0, "ymax": 1.0}],
        }
    )
    with pytest.raises(SchemaError) as err:
        build_table_collection(t, name="bad", workspace_dir=tmp_path)
    assert "null id" in str(err.value) and "min > max" in str(err.value)
    assert not (tmp_path / "bad_records").exists()


def test_table_build_into_remote_workspace(moto_s3: Any, moto_fs: Any) -> None:
    s3 = moto_fs
    t = _rec_table(["s3://b/a.tif", "s3://b/b.tif"])
    kw = {"href_column": "url", "band_index_map": {"B1": 0}, "workspace_filesystem": s3}
    ws = f"{moto_s3.bucket}/ws-remote"
    res = build_table_collection(t, name="remote", workspace_dir=ws, **kw)
    assert res.path == f"{ws}/remote_records" and not res.reused
    again = build_table_collection(t, name="remote", workspace_dir=ws, **kw)
    assert again.reused and again.table.num_rows == 2
    assert again.table.schema.metadata[b"name"] == b"remote"
    forced = build_table_collection(
        t.slice(0, 1), name="remote", workspace_dir=ws, force=True, **kw
    )
    assert read_collection(forced.path, filesystem=s3).num_rows == 1
