"""Collection reads under a flaky object server: every public read survives transient faults
with the pixels of a fault-free read, and permanent failures follow the error policy —
``raise`` (default) names URL, record, band and HTTP status; ``skip`` leaves the record out
and says which; ``nodata`` keeps it, filled — never a silently shorter time series."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import shapely

from rasteret.errors import FetchError, NoDataError, ObjectNotFoundError

TRUST_AOI = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)  # EPSG:32633
KEY = "trust/s1/B04.tif"  # faults hit record s1 only
BOUNDS = (500_500.0, 4_997_000.0, 503_060.0, 4_999_560.0)
_rng = np.random.default_rng(7)
POINTS = pa.table(
    {"x": _rng.uniform(500_050, 504_950, 20), "y": _rng.uniform(4_996_050, 4_999_950, 20)}
)


def _numpy(coll: Any, **kw: Any) -> Any:
    return coll.get_numpy(TRUST_AOI, ["B04"], geometry_crs=32633, **kw)


def _xarray(coll: Any, **kw: Any) -> Any:
    ds = coll.get_xarray(TRUST_AOI, ["B04"], geometry_crs=32633, **kw)
    return ds.B04.values[:, 0]


def _gdf(coll: Any, **kw: Any) -> Any:
    pytest.importorskip("geopandas")
    gdf = coll.get_gdf(TRUST_AOI, ["B04"], geometry_crs=32633, **kw)
    return {r.record_id: r.data for r in gdf.itertuples()}


def _points(coll: Any, **kw: Any) -> Any:
    t = coll.sample_points(POINTS, ["B04"], geometry_crs=32633, **kw)
    return sorted(zip(t["record_id"].to_pylist(), t["point_index"].to_pylist(),
                      t["value"].to_pylist(), strict=True))  # fmt: skip


def _window(coll: Any, **kw: Any) -> Any:
    return coll.read_window(
        record_ids=["s0", "s1", "s2"], bounds=BOUNDS, res=(10.0, 10.0), bands=["B04"],
        group_by="id", **kw,
    )  # fmt: skip


READS: dict[str, Callable[..., Any]] = {
    "get_numpy": _numpy,
    "get_xarray": _xarray,
    "get_gdf": _gdf,
    "sample_points": _points,
    "read_window": _window,
}


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    elif isinstance(a, list):
        assert a == b or (  # NaN == NaN for point values
            len(a) == len(b)
            and all(x[:2] == y[:2] and np.isclose(x[2], y[2], equal_nan=True) for x, y in zip(a, b, strict=True))
        )  # fmt: skip
    else:
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def clean(trust_coll: Any) -> dict[str, Any]:
    """Every read's fault-free result."""
    return {name: fn(trust_coll) for name, fn in READS.items()}


def test_fault_free_reads_match_gdal(trust_coll, trust_served, clean) -> None:
    with rasterio.open(trust_served["files"][1]) as src:
        ref, _ = rasterio.mask.mask(src, [TRUST_AOI], crop=True, filled=True)
    np.testing.assert_array_equal(clean["get_numpy"][1], ref[0])
    np.testing.assert_array_equal(clean["get_xarray"][1], ref[0])


TRANSIENT = [
    ("fail", 3, {}),  # a burst of 503 SlowDown
    ("fail", 2, {"fail_status": 500}),
    ("fail", 2, {"fail_status": 429}),
    ("truncate", 2, {}),  # full Content-Length announced, connection closed halfway
    ("short", 2, {}),  # a valid 206 for half of the range
    ("reset", 2, {}),  # TCP reset before any byte
    ("stall", 2, {"stall_s": 20.0}),  # no first byte within the attempt timeout
    ("body_stall", 1, {"stall_s": 20.0}),  # the body stops halfway
]


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize(("fault", "count", "config"), TRANSIENT)
def test_transient_faults_give_the_fault_free_pixels(
    trust_coll, clean, object_server, read, fault, count, config
) -> None:
    object_server.configure(**config)
    object_server.inject(fault, count=count, key=KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing to warn about
        got = READS[read](trust_coll, timeout=0.5)
    _same(got, clean[read])
    assert object_server.pending_faults == 0
    assert object_server.count(fault=fault) == count


def test_random_fault_mix_gives_the_fault_free_pixels(trust_coll, clean, object_server) -> None:
    object_server.configure(
        fail_rate=0.05, truncate_rate=0.03, reset_rate=0.02, short_rate=0.02, fault_seed=3
    )
    for _ in range(3):
        for read in sorted(READS):
            _same(READS[read](trust_coll, timeout=2.0), clean[read])
    assert sum(1 for r in object_server.requests if r.fault) >= 1


PERMANENT = [
    ({"missing_keys": [KEY]}, ObjectNotFoundError, "404"),
    ({"broken_keys": [KEY]}, FetchError, "503"),
    ({"broken_keys": [KEY], "fail_status": 403}, PermissionError, "403"),
]


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize(("config", "exc", "status"), PERMANENT)
def test_permanent_failure_raises_by_default(
    trust_coll, object_server, read, config, exc, status
) -> None:
    object_server.configure(**config)
    with pytest.raises(exc) as ei:
        READS[read](trust_coll)
    msg = str(ei.value)
    assert "s1/B04.tif" in msg and "record=s1" in msg and "band=B04" in msg
    assert f"status={status}" in msg
    assert isinstance(ei.value, FetchError) and ei.value.status == int(status)


@pytest.mark.parametrize("read", sorted(READS))
def test_skip_leaves_the_record_out_and_says_which(trust_coll, clean, object_server, read) -> None:
    object_server.configure(missing_keys=[KEY])
    with pytest.warns(RuntimeWarning, match=r"s1") as rec:
        got = READS[read](trust_coll, error_policy="skip")
    assert any("error_policy='skip'" in str(w.message) for w in rec)
    ref = clean[read]
    if read in ("get_numpy", "get_xarray"):
        np.testing.assert_array_equal(got, ref[[0, 2]])
    elif read == "get_gdf":
        _same(got, {k: v for k, v in ref.items() if k != "s1"})
    elif read == "sample_points":
        assert got == [r for r in ref if r[0] != "s1"]
    else:  # read_window, group_by="id": the step stays, empty (no shift)
        np.testing.assert_array_equal(got[[0, 2]], ref[[0, 2]])
        assert got.shape == ref.shape and not got[1].any()


@pytest.mark.parametrize("read", sorted(READS))
def test_nodata_keeps_the_record_filled(trust_coll, clean, object_server, read) -> None:
    object_server.configure(broken_keys=[KEY], fail_status=500)
    with pytest.warns(RuntimeWarning, match=r"filled with nodata.*s1"):
        got = READS[read](trust_coll, error_policy="nodata", timeout=1.0)
    ref = clean[read]
    if read == "get_gdf":
        assert got.keys() == ref.keys() and not got["s1"].any()
        _same({k: got[k] for k in ("s0", "s2")}, {k: ref[k] for k in ("s0", "s2")})
    elif read == "sample_points":
        assert [r[:2] for r in got] == [r[:2] for r in ref]
        assert all(np.isnan(r[2]) for r in got if r[0] == "s1")
    else:
        assert got.shape == ref.shape and not got[1].any()
        np.testing.assert_array_equal(got[[0, 2]], ref[[0, 2]])


@pytest.mark.parametrize(
    ("policy", "done"), [("nodata", "filled with nodata"), ("skip", "left out")]
)
def test_lazy_chunks_say_which_records_failed(trust_coll, clean, object_server, policy, done):
    """Chunked get_xarray warns like the eager read under both policies; the failed step
    stays (its time coordinate was planned from the index) and holds the fill."""
    object_server.configure(missing_keys=[KEY])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = _xarray(trust_coll, error_policy=policy, chunks={"x": 64, "y": 64})
    msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
    mine = [m for m in msgs if "Some records failed to load in a get_xarray chunk" in m]
    assert mine and all(f"(error_policy={policy!r}): 1 record(s) {done}: ['s1']" in m for m in mine)
    assert all("record_id='s1' band='B04'" in m and "status=404" in m for m in mine)
    ref = clean["get_xarray"]
    assert got.shape == ref.shape and not got[1].any()
    np.testing.assert_array_equal(got[[0, 2]], ref[[0, 2]])


def test_get_numpy_returns_the_ids_of_what_it_read(trust_coll, clean, object_server) -> None:
    arr, ids = trust_coll.get_numpy(TRUST_AOI, ["B04"], geometry_crs=32633, return_ids=True)
    np.testing.assert_array_equal(arr, clean["get_numpy"])
    assert ids.column_names == ["record_id", "datetime", "geometry_id"]
    assert ids["record_id"].to_pylist() == ["s0", "s1", "s2"]
    assert ids["geometry_id"].to_pylist() == [1, 1, 1]
    assert [d.day for d in ids["datetime"].to_pylist()] == [1, 2, 3]
    object_server.configure(missing_keys=[KEY])
    with pytest.warns(RuntimeWarning, match="s1"):
        arr, ids = trust_coll.get_numpy(
            TRUST_AOI, ["B04"], geometry_crs=32633, return_ids=True, error_policy="skip"
        )
    assert ids["record_id"].to_pylist() == ["s0", "s2"] and arr.shape[0] == 2


def test_every_record_failing_is_no_data_under_skip(trust_coll, object_server) -> None:
    object_server.configure(missing_keys=[f"trust/s{i}/B04.tif" for i in range(3)])
    with pytest.raises(NoDataError, match=r"record_id='s0'.*status=404"):
        _numpy(trust_coll, error_policy="skip")


def test_read_window_unknown_ids_raise_or_warn(trust_coll) -> None:
    with pytest.raises(ValueError, match=r"not in the collection: \['nope'\]"):
        trust_coll.read_window(record_ids=["s0", "nope"], bounds=BOUNDS, res=(10.0, 10.0),
                               bands=["B04"], group_by="id")  # fmt: skip
    with pytest.warns(RuntimeWarning, match="nope"):
        got = trust_coll.read_window(record_ids=["s0", "nope"], bounds=BOUNDS, res=(10.0, 10.0),
                                     bands=["B04"], group_by="id", error_policy="skip")  # fmt: skip
    assert got.shape[0] == 1


def test_unknown_error_policy_is_refused(trust_coll) -> None:
    with pytest.raises(ValueError, match="error_policy must be one of"):
        _numpy(trust_coll, error_policy="ignore")


def test_many_records_under_latency_and_faults_lose_nothing(
    trust_served, object_server, tmp_path
) -> None:
    """48 records (aliases of the three COGs), 20 ms first-byte latency, 8 % faulty requests:
    every record comes back, each equal to its COG's fault-free pixels."""
    import rasteret

    n = 48
    for k in range(3):
        object_server.alias_pattern(f"load/{{i}}/s{k}.tif", f"trust/s{k}/B04.tif")
    urls = [object_server.url(f"load/{i}/s{i % 3}.tif") for i in range(n)]
    table = pa.table({
        "id": [f"r{i:02d}" for i in range(n)],
        "datetime": pa.array(list(range(n)), pa.timestamp("s")),
        "geometry": [shapely.to_wkb(shapely.box(*trust_served["lonlat"]))] * n,
        "assets": [{"B04": {"href": u}} for u in urls],
    })  # fmt: skip
    coll = rasteret.build_from_table(table, name="load", workspace_dir=tmp_path, enrich_cog=True)
    clean = [_numpy(coll.where(pa.compute.field("id") == f"r{k:02d}"))[0] for k in range(3)]
    object_server.configure(
        latency_ms=20, fail_rate=0.04, truncate_rate=0.02, reset_rate=0.02, fault_seed=5
    )
    arr, ids = coll.get_numpy(TRUST_AOI, ["B04"], geometry_crs=32633, max_concurrent=16,
                              timeout=2.0, return_ids=True)  # fmt: skip
    assert ids["record_id"].to_pylist() == [f"r{i:02d}" for i in range(n)]
    for i in range(n):
        np.testing.assert_array_equal(arr[i], clean[i % 3])
    assert sum(1 for r in object_server.requests if r.fault) >= 1
