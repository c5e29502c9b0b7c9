"""The TCP delay proxy in front of the object server."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Callable
from typing import Any

import obstore
import pytest
from obstore.store import HTTPStore

from rasteret_testkit.latency_proxy import LatencyProxy
from rasteret_testkit.objserver import ObjectServer


def _timed_get(port: int, path: str, n: int) -> tuple[list[float], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, body = [], b""
    try:
        for _ in range(n):
            t0 = time.monotonic()
            conn.request("GET", path, headers={"Range": "bytes=0-999"})
            body = conn.getresponse().read()
            times.append(time.monotonic() - t0)
    finally:
        conn.close()
    return times, body


def test_delay_applies_per_direction_on_keepalive(
    object_server: ObjectServer, latency_proxy: Callable[..., LatencyProxy]
) -> None:
    object_server.put("proxy/a.bin", bytes(range(256)) * 8)
    proxy = latency_proxy(object_server, up_delay_ms=10, down_delay_ms=30)
    times, body = _timed_get(proxy.port, "/proxy/a.bin", 4)
    assert body == (bytes(range(256)) * 8)[:1000]
    # Each round trip pays both directions (40 ms); keep-alive requests must not pay more
    # (no Nagle/delayed-ACK stalls).
    assert all(0.035 <= t < 0.2 for t in times), times
    assert proxy.connections == 1


def test_concurrent_obstore_reads_through_proxy(
    object_server: ObjectServer, latency_proxy: Callable[..., LatencyProxy]
) -> None:
    data = bytes(range(256)) * 64
    object_server.put("proxy/b.bin", data)
    proxy = latency_proxy(object_server.base_url, delay_ms=25)  # URL form of the upstream
    store = HTTPStore.from_url(
        proxy.base_url, client_options={"allow_http": True}, retry_config={"max_retries": 0}
    )

    async def run() -> tuple[float, list[Any]]:
        t0 = time.monotonic()
        got = await asyncio.gather(
            *(
                obstore.get_range_async(store, "proxy/b.bin", start=i * 512, length=512)
                for i in range(16)
            )
        )
        return time.monotonic() - t0, got

    elapsed, got = asyncio.run(run())
    assert [bytes(g) for g in got] == [data[i * 512 : (i + 1) * 512] for i in range(16)]
    assert 0.05 <= elapsed < 16 * 0.05 / 2


def test_bandwidth_per_connection(
    object_server: ObjectServer, latency_proxy: Callable[..., LatencyProxy]
) -> None:
    object_server.put("proxy/c.bin", b"x" * 400_000)
    proxy = latency_proxy(("127.0.0.1", object_server.port), bandwidth_bps=2_000_000)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    t0 = time.monotonic()
    conn.request("GET", "/proxy/c.bin")
    assert len(conn.getresponse().read()) == 400_000
    conn.close()
    elapsed = time.monotonic() - t0
    assert 0.15 <= elapsed < 2.0  # ~0.2 s at 2 MB/s


def test_rejects_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LatencyProxy(("10.0.0.1", 80))


def test_lifetime_and_unreachable_upstream(tmp_path: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    proxy = LatencyProxy(("127.0.0.1", dead_port), max_lifetime_s=0.5).start()
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, OSError)):
        conn.request("GET", "/")
        conn.getresponse()
    conn.close()
    assert proxy.wait_stopped(5.0) and proxy.expired
    proxy.stop()
