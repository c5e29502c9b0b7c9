"""Dask integration: lazy ``get_xarray(chunks=...)`` (graph built without I/O, chunk reads
only their tiles, compute == eager), a ``LocalCluster`` with 2 worker processes, and the
sharded parallel build."""

from __future__ import annotations

import datetime as dt
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
import xarray as xr
from rasterio.warp import transform_bounds, transform_geom

import rasteret
from rasteret_testkit.cogs import sample_array, write_cog

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
PREFIX = "daskit"


def _record_table(server: Any, n: int, lonlat: Any) -> pa.Table:
    return pa.table(
        {
            "id": [f"s{i}" for i in range(n)],
            "datetime": pa.array(
                # s1 and s2 share a date: the cube mosaics them (first valid wins)
                [dt.datetime(2024, 5, 1 + 5 * min(i, 1) + 5 * max(i - 2, 0)) for i in range(n)],
                pa.timestamp("us", "UTC"),
            ),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * n,
            "assets": [
                {b: {"href": server.url(f"{PREFIX}/s{i}/{b}.tif")} for b in ("B04", "B08")}
                for i in range(n)
            ],
        }
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory, object_server_session) -> dict[str, Any]:
    """Four records x two bands (B08 at 20 m); s1 is shifted by 1,230 m and has nodata holes."""
    d = tmp_path_factory.mktemp("dask")
    for i in range(4):
        x0 = T0[2] + (1230.0 if i == 1 else 0.0)
        t10 = (10.0, 0.0, x0, 0.0, -10.0, T0[5])
        t20 = (20.0, 0.0, x0, 0.0, -20.0, T0[5])
        b4 = sample_array("uint16", 1, 300, 400, seed=40 + i)
        if i == 1:
            b4[:, 50:90, 60:200] = 0
        b8 = sample_array("uint16", 1, 150, 200, seed=60 + i)
        for band, data, t in (("B04", b4, t10), ("B08", b8, t20)):
            path = write_cog(d / f"s{i}_{band}.tif", data, transform=t, nodata=0, blocksize=64)
            dst = object_server_session.root / PREFIX / f"s{i}" / f"{band}.tif"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(Path(path).read_bytes())
    lonlat = transform_bounds("EPSG:32633", "EPSG:4326", 500_000, 4_997_000, 505_230, 5_000_000)
    return {"table": _record_table(object_server_session, 4, lonlat), "tmp": d}


@pytest.fixture(scope="module")
def coll(served, tmp_path_factory):
    return rasteret.build_from_table(
        served["table"],
        name="daskit",
        workspace_dir=tmp_path_factory.mktemp("ws"),
        enrich_cog=True,
    )


def _ll(geom_utm: Any) -> Any:
    return shapely.geometry.shape(
        transform_geom("EPSG:32633", "EPSG:4326", shapely.geometry.mapping(geom_utm))
    )


# AOI 1 crosses the shifted scene's west edge; AOI 2 is a triangle inside every scene.
AOI_A = _ll(shapely.box(500_523.0, 4_997_311.0, 503_377.0, 4_999_407.0))
AOI_B = _ll(shapely.Polygon([(501_000, 4_998_000), (502_200, 4_998_100), (501_500, 4_999_300)]))


def _server_requests(server: Any) -> int:
    return server.count(path_prefix=f"/{PREFIX}/")


@pytest.mark.parametrize(
    "chunks", [{"time": 1, "y": 64, "x": 100}, 77, "auto", {"time": 2, "y": -1, "x": 50}]
)
def test_lazy_equals_eager(coll, chunks):
    eager = coll.get_xarray([AOI_A], ["B04", "B08"])
    lazy = coll.get_xarray([AOI_A], ["B04", "B08"], chunks=chunks)
    assert all(isinstance(v.data, dask.array.Array) for v in lazy.data_vars.values())
    assert lazy.B04.dtype == eager.B04.dtype == np.uint16
    xr.testing.assert_identical(lazy.compute(), eager)


@pytest.mark.filterwarnings("ignore::dask.array.core.PerformanceWarning")
@pytest.mark.filterwarnings("ignore:In a future version of xarray:FutureWarning")
def test_lazy_equals_eager_several_aois_and_all_touched(coll):
    """AOIs on different grids are combined by xarray as in the eager path (outer join)."""
    for kw in ({}, {"all_touched": True}, {"xr_combine": "merge"}):
        eager = coll.get_xarray([AOI_A, AOI_B], ["B04"], **kw)
        lazy = coll.get_xarray([AOI_A, AOI_B], ["B04"], chunks={"y": 100, "x": 100}, **kw)
        xr.testing.assert_identical(lazy.compute(), eager)


def test_lazy_equals_eager_warped(coll):
    """target_crs resamples every record onto one grid; chunked warps equal the eager warp."""
    eager = coll.get_xarray([AOI_B], ["B04"], target_crs=3857)
    lazy = coll.get_xarray([AOI_B], ["B04"], target_crs=3857, chunks={"y": 33, "x": 45})
    assert lazy.sizes == eager.sizes
    xr.testing.assert_identical(lazy.compute(), eager)


def test_graph_building_does_no_io_and_chunks_read_only_their_tiles(coll, object_server_session):
    server = object_server_session
    before = _server_requests(server)
    lazy = coll.get_xarray([AOI_A], ["B04"], chunks={"time": 1, "y": 64, "x": 64})
    assert _server_requests(server) == before  # planning used the Parquet index only
    nchunks = lazy.B04.data.npartitions
    assert nchunks > 8
    # one chunk: one time step, a 64 x 64 corner -> a handful of 64 px tiles, not the AOI
    lazy.B04.isel(time=0, y=slice(0, 64), x=slice(0, 64)).compute()
    one = _server_requests(server) - before
    assert 1 <= one <= 4
    lazy.B04.compute()
    everything = _server_requests(server) - before - one
    assert everything > 4 * one


def test_chunk_task_pickles(coll):
    lazy = coll.get_xarray([AOI_A], ["B04"], chunks=64)
    graph = dict(lazy.B04.data.__dask_graph__())
    task = next(iter(graph.values()))
    assert pickle.loads(pickle.dumps(task)) is not None


def test_bad_chunks(coll):
    with pytest.raises(ValueError, match="chunks"):
        coll.get_xarray([AOI_A], ["B04"], chunks="big")
    with pytest.raises(ValueError, match="chunks"):
        coll.get_xarray([AOI_A], ["B04"], chunks={"band": 3})
    with pytest.raises(ValueError, match="chunks"):
        coll.get_xarray([AOI_A], ["B04"], chunks=0)


@pytest.fixture(scope="module")
def cluster_client():
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_local_cluster_compute_equals_eager(coll, cluster_client):
    eager = coll.get_xarray([AOI_A], ["B04", "B08"])
    lazy = coll.get_xarray([AOI_A], ["B04", "B08"], chunks={"time": 1, "y": 50, "x": 50})
    computed = cluster_client.compute(lazy).result(timeout=120)
    xr.testing.assert_identical(computed, eager)
    # both worker processes did work
    assert len(cluster_client.scheduler_info()["workers"]) == 2


def test_sharded_build_matches_serial_build(served, coll, cluster_client, tmp_path):
    from rasteret.integrations.dask import build_from_table_sharded

    sharded = build_from_table_sharded(
        served["table"], name="daskit", shards=3, client=cluster_client, workspace_dir=tmp_path
    )
    local = build_from_table_sharded(
        served["table"], name="daskit2", shards=2, workspace_dir=tmp_path
    )
    cols = ["id", "B04_metadata", "B08_metadata", "proj:epsg"]
    ref = coll.to_table(columns=cols).sort_by("id")
    for built in (sharded, local):
        assert built.to_table(columns=cols).sort_by("id").equals(ref)
    # a skipped record would only warn and then show up as a pixel mismatch: make it loud
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        eager = coll.get_xarray([AOI_A], ["B04"])
        xr.testing.assert_identical(sharded.get_xarray([AOI_A], ["B04"]), eager)


def _with_missing_headers(table: pa.Table, rows: int) -> pa.Table:
    """``table`` with the assets of its first ``rows`` records pointing at missing objects."""
    assets = table.column("assets").to_pylist()
    for i in range(rows):
        assets[i] = {b: {"href": a["href"].replace("/s", "/gone-s")} for b, a in assets[i].items()}
    return table.set_column(table.schema.get_field_index("assets"), "assets", pa.array(assets))


def _failures(built: Any) -> list[tuple[str, str, str]]:
    return sorted((f.url, f.record_id, f.band) for f in built.build_report.failures)


def test_sharded_build_fails_only_when_no_shard_read_a_header(served, cluster_client, tmp_path):
    from rasteret.errors import EnrichmentError, IngestWarning
    from rasteret.integrations.dask import build_from_table_sharded

    table = _with_missing_headers(served["table"], 2)  # shard 1 of 2: no header readable
    with pytest.warns(IngestWarning, match="4 of 8"):
        plain = rasteret.build_from_table(
            table, name="plain", workspace_dir=tmp_path, enrich_cog=True
        )
    assert (plain.build_report.attempted, plain.build_report.failed) == (8, 4)
    cols = ["id", "B04_metadata", "B08_metadata", "proj:epsg", "crs"]
    for label, client in (("distributed", cluster_client), ("threads", None)):
        with pytest.warns(IngestWarning, match="4 of 4"):  # the unread shard's headers
            sharded = build_from_table_sharded(
                table, name=label, shards=2, client=client, workspace_dir=tmp_path
            )
        report = sharded.build_report
        assert (report.attempted, report.failed) == (8, 4), label
        assert _failures(sharded) == _failures(plain) and all(
            "gone-s" in u for u, *_ in _failures(sharded)
        )
        assert sharded.to_table().schema.names == plain.to_table().schema.names
        assert (
            sharded.to_table(columns=cols)
            .sort_by("id")
            .equals(plain.to_table(columns=cols).sort_by("id"))
        )
    with pytest.raises(EnrichmentError, match="no COG header could be indexed") as info:
        build_from_table_sharded(
            _with_missing_headers(served["table"], 4), name="none", shards=2, workspace_dir=tmp_path
        )
    assert (info.value.report.attempted, info.value.report.failed) == (8, 8)
