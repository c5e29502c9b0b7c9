"""Fault injection of the object server, seen by a plain HTTP client (no retries)."""

from __future__ import annotations

import http.client
import os
import time

import pytest

from rasteret_testkit.lifecycle import ServerLifecycle
from rasteret_testkit.objserver import Fault, ObjectServer
from rasteret_testkit.objserver_http import NO_RESPONSE
from rasteret_testkit.objserver_model import FaultScript, ServerConfig

SIZE = 100_000


@pytest.fixture
def blob(object_server: ObjectServer, request: pytest.FixtureRequest) -> tuple[str, bytes]:
    data = os.urandom(SIZE)
    key = f"faults/{request.node.name}/blob.bin"
    object_server.put(key, data)
    return key, data


def _get(srv: ObjectServer, key: str, rng: str | None = "bytes=1000-8999", timeout: float = 10):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        conn.request("GET", "/" + key, headers={"Range": rng} if rng else {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_short_answers_half_the_range_validly(object_server, blob) -> None:
    key, data = blob
    object_server.inject("short")
    status, headers, body = _get(object_server, key)
    assert status == 206
    assert headers["Content-Range"] == f"bytes 1000-4999/{SIZE}"
    assert body == data[1000:5000]
    assert _get(object_server, key)[2] == data[1000:9000]  # one-shot
    assert object_server.count(fault="short") == 1


def test_reset_drops_the_connection_before_any_byte(object_server, blob) -> None:
    key, _ = blob
    object_server.inject(Fault.RESET)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        _get(object_server, key)
    rec = object_server.requests[-1]
    assert (rec.fault, rec.status, rec.bytes_sent) == (Fault.RESET, NO_RESPONSE, 0)


def test_body_stall_sends_half_then_waits(object_server, blob) -> None:
    key, data = blob
    object_server.configure(stall_s=0.4)
    object_server.inject("body_stall")
    t0 = time.monotonic()
    status, _, body = _get(object_server, key, rng=None)
    assert status == 200 and body == data
    assert time.monotonic() - t0 >= 0.35
    object_server.inject("body_stall")
    with pytest.raises(TimeoutError):  # a client with a shorter read timeout gives up
        _get(object_server, key, rng=None, timeout=0.1)
    assert object_server.wait_idle(5.0)


def test_bursts_run_in_order_and_by_key(object_server, blob) -> None:
    key, data = blob
    object_server.configure(fail_status=500)
    object_server.inject("fail", count=2, key="faults/")
    object_server.inject("short", key="elsewhere/")  # never matches
    assert [_get(object_server, key)[0] for _ in range(3)] == [500, 500, 206]
    assert object_server.pending_faults == 1
    object_server.reset()
    assert object_server.pending_faults == 0
    assert _get(object_server, key)[2] == data[1000:9000]


def test_broken_keys_always_fail(object_server, blob) -> None:
    key, _ = blob
    object_server.configure(broken_keys={key}, fail_status=502)
    assert {_get(object_server, key)[0] for _ in range(4)} == {502}
    assert object_server.count(fault="broken") == 4


def test_body_faults_spare_head_and_multipart(object_server, blob) -> None:
    key, _ = blob
    object_server.inject("short")
    conn = http.client.HTTPConnection("127.0.0.1", object_server.port, timeout=10)
    conn.request("HEAD", "/" + key, headers={"Range": "bytes=0-99"})
    assert conn.getresponse().status == 206
    conn.close()
    object_server.inject("short")
    status, headers, _ = _get(object_server, key, rng="bytes=0-9,20-29")
    assert status == 206 and headers["Content-Type"].startswith("multipart/byteranges")
    assert object_server.count(fault="short") == 0


def test_config_validation_and_seeded_draws() -> None:
    with pytest.raises(ValueError, match="must not exceed 1"):
        ServerConfig(fail_rate=0.6, reset_rate=0.5)
    with pytest.raises(ValueError, match="fail_status"):
        ServerConfig(fail_status=200)
    script = FaultScript()
    script.add("stall", 2)
    assert [script.take("k"), script.take("k"), script.take("k")] == [Fault.STALL] * 2 + [None]


def test_every_server_shares_the_lifecycle() -> None:
    from rasteret_testkit.fake_gcs import FakeGCS
    from rasteret_testkit.hub import HubEmulator
    from rasteret_testkit.latency_proxy import LatencyProxy
    from rasteret_testkit.moto_s3 import MotoS3
    from rasteret_testkit.stac_api import StacApiServer

    for cls in (ObjectServer, LatencyProxy, MotoS3, StacApiServer, FakeGCS, HubEmulator):
        assert issubclass(cls, ServerLifecycle)
