"""Bounded reads: the memory budget refuses oversized reads before any request (also under
``RLIMIT_AS``, where the read must raise, not be killed), deadlines and attempt timeouts bound
a server that never answers, COGs rewritten after the build are refused by name, and bad
AOIs / CRSs get typed errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import rasterio.merge
import shapely
from rasterio.warp import transform_bounds

import rasteret
from rasteret.errors import (
    DeadlineExceededError,
    FetchTimeoutError,
    InvalidInputError,
    MemoryBudgetError,
    ReadError,
    StaleObjectError,
    StaleObjectWarning,
)
from rasteret_testkit.cogs import sample_array

AOI = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)  # EPSG:32633
BOUNDS = (500_500.0, 4_997_000.0, 503_060.0, 4_999_560.0)
PTS = pa.table(
    {"x": [500_555.0, 501_234.0, 503_999.0], "y": [4_999_001.0, 4_997_777.0, 4_996_500.0]}
)


def _reads(coll: Any, **kw: Any) -> dict[str, Any]:
    return {
        "get_numpy": lambda: coll.get_numpy(AOI, ["B04"], geometry_crs=32633, **kw),
        "get_xarray": lambda: coll.get_xarray(AOI, ["B04"], geometry_crs=32633, **kw),
        "get_gdf": lambda: coll.get_gdf(AOI, ["B04"], geometry_crs=32633, **kw),
        "sample_points": lambda: coll.sample_points(PTS, ["B04"], geometry_crs=32633, **kw),
        "read_window": lambda: coll.read_window(
            record_ids=["s0"], bounds=BOUNDS, res=(10.0, 10.0), bands=["B04"], **kw
        ),
    }


# -- memory budget ------------------------------------------------------------------------------


def test_tiny_res_fails_fast_with_the_size_and_no_request(trust_coll, object_server) -> None:
    t0 = time.monotonic()
    with pytest.raises(MemoryBudgetError) as ei:
        trust_coll.read_window(
            record_ids=["s0"], bounds=(500_000.0, 4_996_000.0, 504_000.0, 5_000_000.0),
            res=(0.003, 0.003), bands=["B04"],
        )  # fmt: skip
    assert time.monotonic() - t0 < 10
    err = ei.value
    assert isinstance(err, MemoryError) and err.needed > 1.9 * 2**40 > err.budget
    assert "TiB" in str(err) and "coarser res" in str(err) and "memory_budget" in str(err)
    assert object_server.count() == 0  # refused from the index alone


@pytest.mark.parametrize(
    "read", ["get_numpy", "get_xarray", "get_gdf", "sample_points", "read_window"]
)
def test_every_read_checks_the_budget_before_fetching(trust_coll, object_server, read) -> None:
    if read == "get_gdf":
        pytest.importorskip("geopandas")
    with rasteret.options(memory_budget="16KiB"), pytest.raises(MemoryBudgetError) as ei:
        _reads(trust_coll)[read]()
    assert "16.0 KiB" in str(ei.value) and "set_options(memory_budget" in str(ei.value)
    assert object_server.count() == 0
    assert _reads(trust_coll)[read]() is not None  # the default budget lets it through


def test_a_small_aoi_of_one_big_strip_counts_the_decoded_strip(
    serve_cog, object_server, tmp_path
) -> None:
    """A few pixels of a one-strip DEFLATE GeoTIFF decode the whole strip: ``get_numpy`` and
    ``get_xarray`` refuse the read before any request when the strip does not fit, and read
    GDAL's pixels when it does."""
    arr = sample_array("uint16", 1, 1500, 1400, seed=7)
    path, url = serve_cog(
        "limits/one-strip/B04.tif", arr, driver="GTiff", tiled=False, compress="DEFLATE",
        blockysize=1500, overviews=False,
    )  # fmt: skip
    with rasterio.open(path) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        aoi = shapely.box(*src.xy(700, 700, offset="ul"), *src.xy(697, 703, offset="ul"))
        aoi = shapely.box(*aoi.bounds)
        expected, _ = rasterio.mask.mask(src, [aoi], crop=True)
    records = pa.table(
        {
            "id": ["strip0"],
            "datetime": pa.array([np.datetime64("2024-05-01", "us")], pa.timestamp("us")),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))],
            "assets": [{"B04": {"href": url}}],
        }
    )
    coll = rasteret.build_from_table(
        records, name="one-strip", workspace_dir=tmp_path / "ws", enrich_cog=True
    )
    before = object_server.count()
    for read in ("get_numpy", "get_xarray"):
        # the 3 x 3 px output fits easily; the 4.0 MiB decoded strip does not
        with rasteret.options(memory_budget="1MiB"), pytest.raises(MemoryBudgetError) as ei:
            getattr(coll, read)(aoi, ["B04"], geometry_crs=32633)
        assert ei.value.needed > 1500 * 1400 * 2 and "strip" in str(ei.value)
    assert object_server.count() == before
    got = coll.get_numpy(aoi, ["B04"], geometry_crs=32633)
    np.testing.assert_array_equal(got[0], expected[0])


def test_budget_advice_names_the_way_to_chunk(trust_coll) -> None:
    with rasteret.options(memory_budget="200KB"):
        with pytest.raises(MemoryBudgetError, match=r"chunks="):
            trust_coll.get_numpy(AOI, ["B04"], geometry_crs=32633)
        with pytest.raises(MemoryBudgetError, match=r"chunks="):
            trust_coll.get_xarray(AOI, ["B04"], geometry_crs=32633)
    rasteret.set_options(memory_budget="off")
    try:
        assert trust_coll.get_numpy(AOI, ["B04"], geometry_crs=32633).shape[0] == 3
    finally:
        rasteret.set_options(memory_budget="auto")


def test_lazy_cube_chunks_are_checked_when_computed(trust_coll) -> None:
    pytest.importorskip("dask")
    eager = trust_coll.get_xarray(AOI, ["B04"], geometry_crs=32633)
    with rasteret.options(memory_budget="300KB"):
        small = trust_coll.get_xarray(AOI, ["B04"], geometry_crs=32633, chunks={"y": 64, "x": 64})
        np.testing.assert_array_equal(small.B04.values, eager.B04.values)
        whole = trust_coll.get_xarray(AOI, ["B04"], geometry_crs=32633, chunks=-1)
        with pytest.raises(MemoryBudgetError, match="smaller chunks="):
            whole.B04.values  # noqa: B018


def test_neighbourhoods_are_checked(trust_coll) -> None:
    with rasteret.options(memory_budget="100MB"), pytest.raises(MemoryBudgetError, match="1001"):
        trust_coll.sample_points(PTS, ["B04"], geometry_crs=32633, max_distance_pixels=500,
                                 return_neighbourhood="always")  # fmt: skip


_RLIMIT_SCRIPT = r"""
import datetime as dt, json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import pyarrow as pa, shapely
import rasteret
from rasteret.errors import MemoryBudgetError

n, tile = 60_000, 512  # a 60000 x 60000 uint16 image in the index (7.2 GB decoded)
tiles = -(-n // tile) ** 2
meta = {"image_width": n, "image_height": n, "tile_width": tile, "tile_height": tile,
        "dtype": "uint16", "transform": [10.0, 500000.0, -10.0, 5000000.0], "predictor": 1,
        "compression": 8, "tile_offsets": list(range(1000, 1000 + tiles)),
        "tile_byte_counts": [1] * tiles, "nodata": 0.0, "samples_per_pixel": 1,
        "planar_configuration": 1, "photometric": 1}
table = pa.table({"id": ["big"], "datetime": [dt.datetime(2024, 1, 1)],
                  "geometry": [shapely.to_wkb(shapely.box(14.9, 39.0, 18.0, 45.2))],
                  "assets": [{"B04": {"href": "http://127.0.0.1:9/never.tif"}}],
                  "bbox": [{"xmin": 14.9, "ymin": 39.0, "xmax": 18.0, "ymax": 45.2}],
                  "proj:epsg": pa.array([32633], pa.int32()), "B04_metadata": [meta]})
coll = rasteret.as_collection(table, name="big")
out = {}
try:
    coll.get_numpy(shapely.box(500_000, 4_500_000, 1_000_000, 5_000_000), ["B04"],
                   geometry_crs=32633)
except MemoryBudgetError as e:
    out["get_numpy"] = [e.needed, e.budget, str(e)]
try:
    coll.read_window(record_ids=["big"], bounds=(500_000, 4_999_000, 501_000, 5_000_000),
                     res=(0.001, 0.001), bands=["B04"])
except MemoryBudgetError as e:
    out["read_window"] = [e.needed, e.budget, str(e)]
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics are Linux's")
def test_under_rlimit_as_reads_raise_instead_of_dying(tmp_path: Path) -> None:
    script = tmp_path / "rlimit_read.py"
    script.write_text(textwrap.dedent(_RLIMIT_SCRIPT))
    limit = 4 * 2**30
    proc = subprocess.run(
        [sys.executable, str(script), str(limit)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) == {"get_numpy", "read_window"}
    for needed, budget, msg in out.values():
        assert budget == limit // 4 < needed  # 25 % of the address-space limit
        assert "RLIMIT_AS" in msg
    assert out["get_numpy"][0] > 5 * 10**9  # the 7.2 GB window was refused, not allocated


# -- deadlines and attempt timeouts -------------------------------------------------------------


def test_a_server_that_never_answers_is_bounded_by_the_deadline(trust_coll, object_server) -> None:
    object_server.configure(stall_rate=1.0, stall_s=60.0)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError) as ei:
        trust_coll.get_numpy(AOI, ["B04"], geometry_crs=32633, deadline=1.5)
    elapsed = time.monotonic() - t0
    assert 1.4 < elapsed < 12
    assert isinstance(ei.value, TimeoutError) and "deadline of 1.5 s" in str(ei.value)
    assert "trust/s" in str(ei.value)
    with rasteret.options(deadline=1.0):  # the option, for every read of a block
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            trust_coll.read_window(record_ids=["s0"], bounds=BOUNDS, res=(10.0, 10.0),
                                   bands=["B04"])  # fmt: skip
        assert time.monotonic() - t0 < 12


def test_attempt_timeout_is_configurable(trust_coll, object_server) -> None:
    object_server.configure(stall_rate=1.0, stall_s=60.0)
    t0 = time.monotonic()
    with pytest.raises(FetchTimeoutError, match=r"timed out after 0.3 s") as ei:
        trust_coll.sample_points(PTS, ["B04"], geometry_crs=32633, timeout=0.3)
    assert time.monotonic() - t0 < 20  # 5 attempts of 0.3 s plus backoff, not 5 x 30 s
    assert ei.value.attempts == 5


def test_bad_limit_values_are_refused(trust_coll) -> None:
    for kw in ({"deadline": 0}, {"deadline": -1}, {"timeout": float("nan")},
               {"staleness": "sometimes"}):  # fmt: skip
        with pytest.raises(InvalidInputError):
            trust_coll.get_numpy(AOI, ["B04"], geometry_crs=32633, **kw)
    with pytest.raises(InvalidInputError, match="memory_budget"):
        rasteret.set_options(memory_budget="lots")


# -- objects rewritten after the build -----------------------------------------------------------


@pytest.fixture
def stale_coll(serve_cog, object_server, tmp_path, request) -> dict[str, Any]:
    """One uncompressed COG (no overviews), built; the test rewrites it."""
    key = f"stale/{request.node.name}/B04.tif"
    data = sample_array("uint16", 1, 300, 300, seed=3)
    path, url = serve_cog(key, data, compress=None, overviews=False)
    with rasterio.open(path) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)

    table = pa.table({
        "id": ["s0"], "datetime": pa.array([0], pa.timestamp("us")),
        "geometry": [shapely.to_wkb(shapely.box(*lonlat))], "assets": [{"B04": {"href": url}}],
    })  # fmt: skip
    coll = rasteret.build_from_table(table, name="stale", workspace_dir=tmp_path, enrich_cog=True)
    return {"coll": coll, "path": object_server.root / key, "url": url, "local": path}


def _rewrite(target: Path, data: bytes) -> None:
    st = target.stat()
    target.write_bytes(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))  # a new ETag


def _shifted(stale: dict[str, Any]) -> bytes:
    """Same size, every tile's bytes moved 2 bytes earlier (offsets in the header unchanged)."""
    raw = stale["path"].read_bytes()
    first = stale["coll"].to_table().column("B04_metadata")[0].as_py()["tile_offsets"][0]
    return raw[:first] + raw[first + 2 :] + b"\0\0"


def _mask(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        out, _ = rasterio.mask.mask(src, [AOI], crop=True, filled=True)
    return out[0]


def test_rewritten_same_size_is_refused_by_name(stale_coll, tmp_path) -> None:
    coll = stale_coll["coll"]
    before = coll.get_numpy(AOI, ["B04"], geometry_crs=32633)
    np.testing.assert_array_equal(before[0], _mask(stale_coll["local"]))
    shifted = _shifted(stale_coll)
    assert len(shifted) == stale_coll["path"].stat().st_size
    _rewrite(stale_coll["path"], shifted)
    for read in ("get_numpy", "get_xarray", "read_window", "sample_points"):
        with pytest.raises(StaleObjectError) as ei:
            _reads(coll)[read]()
        msg = str(ei.value)
        assert stale_coll["url"] in msg and "record=s0" in msg and "band=B04" in msg
        assert "ETag" in msg and "rebuild or update" in msg
    # off: the check is skipped -- and the pixels are the byte-shifted ones it protects against
    off = coll.get_numpy(AOI, ["B04"], geometry_crs=32633, staleness="off")
    assert not np.array_equal(off, before)
    # warn: one warning, the header is read again, and the read gives today's file's pixels
    local = tmp_path / "now.tif"
    local.write_bytes(shifted)
    with pytest.warns(StaleObjectWarning, match="B04.tif"):
        now = coll.get_numpy(AOI, ["B04"], geometry_crs=32633, staleness="warn")
    np.testing.assert_array_equal(now[0], _mask(local))


@pytest.mark.parametrize("read", ["get_numpy", "sample_points", "read_window"])
def test_rewritten_different_size_raises_or_rereads(stale_coll, serve_cog, tmp_path, read) -> None:
    coll = stale_coll["coll"]
    new, _ = serve_cog(f"stale/new-{read}.tif", sample_array("uint16", 1, 300, 300, seed=99),
                       compress="DEFLATE", blocksize=64)  # fmt: skip
    _rewrite(stale_coll["path"], new.read_bytes())
    with pytest.raises(StaleObjectError, match=r"size \d+ is now \d+ bytes"):
        _reads(coll)[read]()
    with pytest.warns(StaleObjectWarning):
        got = _reads(coll, staleness="warn")[read]()
    if read == "get_numpy":
        np.testing.assert_array_equal(got[0], _mask(new))
    elif read == "read_window":
        ref, _ = rasterio.merge.merge([str(new)], bounds=BOUNDS, res=10.0)
        np.testing.assert_array_equal(got[0], ref[0])
    else:
        with rasterio.open(new) as src:
            xy = list(zip(PTS["x"].to_pylist(), PTS["y"].to_pylist(), strict=True))
            expect = [float(v[0]) for v in src.sample(xy)]
        assert got["value"].to_pylist() == expect[: got.num_rows]


# -- typed errors for bad inputs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.get_numpy((float("nan"), 0.0, 1.0, 1.0), ["B04"]), "non-finite"),
        (lambda c: c.get_numpy(shapely.Polygon(), ["B04"]), "empty Polygon"),
        (lambda c: c.get_xarray(shapely.box(0, 0, 1, 1), ["B04"], geometry_crs="EPSG:99999"),
         r"geometry_crs='EPSG:99999' is not a coordinate reference system"),
        (lambda c: c.get_gdf(shapely.box(0, 0, 1, 1), ["B04"], target_crs="nope"),
         r"target_crs='nope'"),
        (lambda c: c.sample_points(PTS, ["B04"], geometry_crs="EPSG:0"), "geometry_crs="),
        (lambda c: c.read_window(record_ids=["s0"], bounds=(0, 0, float("inf"), 1),
                                 res=(1, 1), bands=["B04"]), "finite"),
        (lambda c: c.read_window(record_ids=["s0"], bounds=BOUNDS, res=(10, 10), bands=["B04"],
                                 target_crs="EPSG:123456"), "target_crs="),
    ],
)  # fmt: skip
def test_bad_aois_and_crs_are_typed_errors(trust_coll, call, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        call(trust_coll)


def test_read_window_nothing_readable_names_url_and_status(trust_coll, object_server) -> None:
    object_server.configure(missing_keys=[f"trust/s{i}/B04.tif" for i in range(3)])
    with pytest.raises(ReadError) as ei:
        trust_coll.read_window(record_ids=["s0", "s1"], bounds=BOUNDS, res=(10.0, 10.0),
                               bands=["B04"], error_policy="skip")  # fmt: skip
    msg = str(ei.value)
    assert "nothing readable" in msg and "trust/s0/B04.tif" in msg and "status=404" in msg
    assert "record 's0' band 'B04'" in msg
