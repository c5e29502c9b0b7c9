"""obstore (HTTPStore and S3Store) through the object server, plus latency, bandwidth and faults.

Timing assertions are deliberately loose: they check structure (concurrency overlaps, a cap is
roughly respected), not speed.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import obstore
import pytest
from obstore.store import HTTPStore, S3Store

from rasteret_testkit.objserver import ObjectServer
from rasteret_testkit.objserver_model import ServerConfig, sample_latency_s

NO_RETRY: dict[str, Any] = {"max_retries": 0}
SIZE = 300_000


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def key(object_server: ObjectServer, payload: bytes, request: pytest.FixtureRequest) -> str:
    k = f"bucket-a/obstore/{request.node.name}.bin"
    object_server.put(k, payload)
    return k


def http_store(srv: ObjectServer, **client: Any) -> HTTPStore:
    return HTTPStore.from_url(
        srv.base_url, client_options={"allow_http": True, **client}, retry_config=NO_RETRY
    )


def test_httpstore_ranges_and_head(object_server: ObjectServer, key: str, payload: bytes) -> None:
    store = http_store(object_server)
    assert bytes(obstore.get_range(store, key, start=5, end=70_000)) == payload[5:70_000]
    starts, ends = [0, 1000, 250_000, 10], [100, 1100, SIZE, 20]
    got = obstore.get_ranges(store, key, starts=starts, ends=ends)
    assert [bytes(b) for b in got] == [payload[s:e] for s, e in zip(starts, ends)]
    meta = obstore.head(store, key)
    assert meta["size"] == SIZE and meta["e_tag"]
    assert bytes(obstore.get(store, key).bytes()) == payload


def test_obstore_never_sends_multi_range(object_server: ObjectServer, key: str) -> None:
    """obstore coalesces nearby ranges and issues one single-range GET per coalesced run."""
    store = http_store(object_server)
    starts = [i * 40_000 for i in range(7)]
    obstore.get_ranges(store, key, starts=starts, lengths=[100] * 7, coalesce=0)
    obstore.get_ranges(store, key, starts=starts, lengths=[100] * 7)
    ranges = [r.range for r in object_server.requests]
    assert all(r is not None and "," not in r for r in ranges)
    assert len(ranges) == 8  # 7 separate requests without coalescing, then 1 coalesced


def test_s3store_path_style(object_server: ObjectServer, key: str, payload: bytes) -> None:
    bucket, obj = key.split("/", 1)
    store = S3Store(**object_server.s3_store_config(bucket), retry_config=NO_RETRY)
    assert bytes(obstore.get_range(store, obj, start=100, end=50_000)) == payload[100:50_000]
    got = obstore.get_ranges(store, obj, starts=[0, 200_000], ends=[10, 200_010])
    assert [bytes(b) for b in got] == [payload[:10], payload[200_000:200_010]]
    assert obstore.head(store, obj)["size"] == SIZE
    with pytest.raises(FileNotFoundError):  # obstore.exceptions.NotFoundError
        obstore.get(store, "obstore/does-not-exist.bin")
    # get_ranges coalesced both ranges into one GET (gap < 1 MiB default).
    assert object_server.count(path_prefix=f"/{bucket}/obstore/") == 4


def test_missing_keys_fault(object_server: ObjectServer, key: str) -> None:
    bucket, obj = key.split("/", 1)
    object_server.configure(missing_keys={key})
    store = S3Store(**object_server.s3_store_config(bucket), retry_config=NO_RETRY)
    with pytest.raises(FileNotFoundError):
        obstore.get_range(store, obj, start=0, end=10)
    (rec,) = object_server.requests
    assert (rec.status, rec.fault) == (404, "missing")


def test_concurrent_reads_overlap_latency(object_server: ObjectServer, key: str) -> None:
    object_server.configure(latency_ms=50)
    store = http_store(object_server)

    async def run() -> float:
        t0 = time.monotonic()
        await asyncio.gather(
            *(obstore.get_range_async(store, key, start=i * 100, length=100) for i in range(32))
        )
        return time.monotonic() - t0

    elapsed = asyncio.run(run())
    assert elapsed < 32 * 0.05 / 4  # overlapped, far below serial time
    recs = object_server.requests
    assert len(recs) == 32
    assert all(r.first_byte is not None and r.first_byte - r.start >= 0.045 for r in recs)


def test_latency_distribution_is_lognormal() -> None:
    cfg = ServerConfig(latency_ms=20, latency_p99_ms=100, fault_seed=1)
    rng = random.Random(7)
    draws = sorted(sample_latency_s(cfg, rng) for _ in range(4000))
    assert 0.017 < draws[2000] < 0.023
    assert 0.075 < draws[3960] < 0.13
    const = ServerConfig(latency_ms=20)
    assert sample_latency_s(const, random.Random(1)) == 0.02


def test_bandwidth_cap_is_shared(object_server: ObjectServer, key: str) -> None:
    rate = 3_000_000.0
    object_server.configure(bandwidth_bps=rate)
    store = http_store(object_server)

    async def run() -> float:
        t0 = time.monotonic()
        await asyncio.gather(
            *(obstore.get_range_async(store, key, start=0, end=SIZE) for _ in range(4))
        )
        return time.monotonic() - t0

    elapsed = asyncio.run(run())
    total = 4 * SIZE
    # The cap is aggregate: four concurrent responses cannot beat rate (small burst allowed).
    assert elapsed >= 0.8 * total / rate
    assert elapsed < 5 * total / rate


def test_fail_fault(object_server: ObjectServer, key: str) -> None:
    object_server.configure(fail_rate=1.0)
    with pytest.raises(obstore.exceptions.GenericError, match="503"):
        obstore.get_range(http_store(object_server), key, start=0, end=10)
    (rec,) = object_server.requests
    assert (rec.status, rec.fault) == (503, "fail")


def test_fail_fault_is_retried(object_server: ObjectServer, key: str, payload: bytes) -> None:
    object_server.configure(fail_rate=0.5, fault_seed=1)  # seed 1: first request fails
    store = HTTPStore.from_url(
        object_server.base_url,
        client_options={"allow_http": True},
        retry_config={
            "max_retries": 3,
            "backoff": {
                "init_backoff": timedelta(milliseconds=5),
                "max_backoff": timedelta(milliseconds=20),
                "base": 2,
            },
            "retry_timeout": timedelta(seconds=5),
        },
    )
    assert bytes(obstore.get_range(store, key, start=0, end=1000)) == payload[:1000]
    assert object_server.count(fault="fail") >= 1
    assert object_server.count(status=206) == 1


def test_truncate_fault(object_server: ObjectServer, key: str) -> None:
    object_server.configure(truncate_rate=1.0)
    with pytest.raises(obstore.exceptions.GenericError, match="body"):
        obstore.get_range(http_store(object_server), key, start=0, end=100_000)
    (rec,) = object_server.requests
    assert (rec.status, rec.fault, rec.bytes_sent) == (206, "truncate", 50_000)
    # A raw client sees the full announced length but a short body.
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", object_server.port, timeout=5)
    conn.request("GET", "/" + key)
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == str(SIZE)
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert len(info.value.partial) == SIZE // 2
    conn.close()


def test_stall_fault_hits_client_timeout(object_server: ObjectServer, key: str) -> None:
    object_server.configure(stall_rate=1.0, stall_s=5.0)
    store = http_store(object_server, timeout="300ms")
    t0 = time.monotonic()
    with pytest.raises(obstore.exceptions.GenericError):
        obstore.get_range(store, key, start=0, end=10)
    assert time.monotonic() - t0 < 3.0
    assert object_server.wait_idle(3.0)  # the handler is cancelled when the client leaves
    (rec,) = object_server.requests
    assert (rec.fault, rec.bytes_sent, rec.first_byte) == ("stall", 0, None)


def test_configure_validates_and_reset_restores(object_server: ObjectServer) -> None:
    with pytest.raises(TypeError):
        object_server.configure(latency=3)
    with pytest.raises(ValueError):
        object_server.configure(fail_rate=1.5)
    object_server.configure(latency_ms=10, fail_rate=0.2)
    assert object_server.config.fail_rate == 0.2
    object_server.reset()
    assert object_server.config.fail_rate == 0 and object_server.config.latency_ms == 0


def test_lifetime_stops_server(tmp_path: Any) -> None:
    srv = ObjectServer(tmp_path, max_lifetime_s=0.3).start()
    assert srv.running
    assert srv.wait_stopped(5.0)
    assert srv.expired and not srv.running
    srv.stop()  # idempotent


def test_stop_cuts_stalls_short(tmp_path: Any) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    with ObjectServer(tmp_path, stall_rate=1.0, stall_s=30.0) as srv:
        store = http_store(srv, timeout="200ms")
        with pytest.raises(obstore.exceptions.GenericError):
            obstore.get(store, "f")
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5.0 and not srv.running


def test_s3_list_objects_v2(object_server: ObjectServer) -> None:
    keys = ["a.bin", "x/1.tif", "x/2.tif", "y/z/3.tif", "b&<c>.bin"]
    keys += [f"many/{i:02d}" for i in range(12)]
    for k in keys:
        object_server.put(f"listbkt/{k}", b"abc")
    store = S3Store(**object_server.s3_store_config("listbkt"), retry_config=NO_RETRY)
    listed = [m["path"] for batch in obstore.list(store) for m in batch]
    assert sorted(listed) == sorted(keys)
    top = obstore.list_with_delimiter(store)
    assert top["common_prefixes"] == ["many", "x", "y"]
    assert sorted(o["path"] for o in top["objects"]) == ["a.bin", "b&<c>.bin"]
    sub = obstore.list_with_delimiter(store, "x")
    assert [(o["path"], o["size"]) for o in sub["objects"]] == [("x/1.tif", 3), ("x/2.tif", 3)]
    assert object_server.count("GET", "listbkt") == 3
    missing = S3Store(**object_server.s3_store_config("no-such-bucket"), retry_config=NO_RETRY)
    with pytest.raises(obstore.exceptions.GenericError, match="404"):
        obstore.list(missing).collect()


def test_s3_list_pagination(object_server: ObjectServer) -> None:
    """Continuation tokens page through a listing (raw ListObjectsV2, max-keys=5)."""
    keys = [f"many/{i:02d}" for i in range(12)]
    for k in keys:
        object_server.put(f"pagebkt/{k}", b"x")
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    seen: list[str] = []
    token = None
    for _ in range(10):  # bounded
        query = {"list-type": "2", "prefix": "many/", "max-keys": "5"}
        if token:
            query["continuation-token"] = token
        url = object_server.url("pagebkt") + "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=10) as resp:
            root = ElementTree.fromstring(resp.read())
        seen += [e.text or "" for e in root.iter(f"{ns}Key")]
        token = root.findtext(f"{ns}NextContinuationToken")
        if root.findtext(f"{ns}IsTruncated") != "true":
            break
    assert seen == keys
    assert object_server.count("GET", "pagebkt") == 3


def test_connection_bandwidth_cap(object_server: ObjectServer, key: str, payload: bytes) -> None:
    rate = 2_000_000.0
    object_server.configure(connection_bandwidth_bps=rate)
    store = http_store(object_server)
    t0 = time.monotonic()
    assert bytes(obstore.get_range(store, key, start=0, end=SIZE)) == payload
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.8 * (SIZE - 64 * 1024) / rate  # one 64 KiB burst of credit


def test_conditional_requests(object_server: ObjectServer, key: str, payload: bytes) -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since map to obstore's typed errors."""
    store = http_store(object_server)
    etag = obstore.head(store, key)["e_tag"]
    got = obstore.get(store, key, options={"if_match": etag, "range": (0, 10)})
    assert bytes(got.bytes()) == payload[:10]
    with pytest.raises(obstore.exceptions.PreconditionError):
        obstore.get(store, key, options={"if_match": '"other"'})
    with pytest.raises(obstore.exceptions.NotModifiedError):
        obstore.get(store, key, options={"if_none_match": etag})
    old = datetime(2000, 1, 1, tzinfo=UTC)
    with pytest.raises(obstore.exceptions.PreconditionError):
        obstore.get(store, key, options={"if_unmodified_since": old})
    assert bytes(obstore.get(store, key, options={"if_modified_since": old}).bytes()) == payload
    assert [r.status for r in object_server.requests] == [200, 206, 412, 304, 412, 200]
