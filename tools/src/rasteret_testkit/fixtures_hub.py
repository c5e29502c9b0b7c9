"""Fixtures for record-index / AEF / ``hf://`` tests: the Hub emulator and synthetic AEF data.

- ``hf_hub_session`` (session): a started :class:`~rasteret_testkit.hub.HubEmulator`.
- ``hf_hub`` (function): the same emulator with a clean request log, and ``huggingface_hub``
  pointed at it for the test (:func:`~rasteret_testkit.hub_client.use_hub`, download cache in
  the test's tmp dir). Repos registered with ``hf_hub.add_dataset`` live for the session: use
  unique repo ids. Skips when ``huggingface_hub`` is not installed.
- ``aef_collection`` (session): :class:`~rasteret_testkit.aef.AefCollection` built with the
  default :class:`~rasteret_testkit.aef.AefSpec` (6 records, 3 shards), asset hrefs on
  ``s3://us-west-2.opendata.source.coop/`` (the descriptor's rewrite) and S3 ETags stored.
- ``aef_local`` (session): the same COGs and records, asset hrefs rewritten to ``file://`` URIs
  (no server needed).
- ``aef_factory`` (session): ``make(spec=None, *, url_rewrite_patterns=None, etags=False) ->
  AefCollection``, cached by arguments, for other sizes.
- ``aef_s3`` (function): :class:`~rasteret_testkit.aef_serve.AefS3`: ``aef_collection``
  uploaded to moto (``moto_s3``) under the descriptor layout (re-uploaded if the bucket was
  wiped).
- ``aef_hf_repo`` (function): :class:`~rasteret_testkit.aef_serve.AefHubRepo`:
  ``aef_collection`` served as ``hf://datasets/rasteret/aef-v1-annual-mini`` on ``hf_hub`` (its
  asset hrefs point at ``aef_s3``, which it also sets up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rasteret_testkit.fixtures_servers import SESSION_LIFETIME_S
from rasteret_testkit.hub import HubEmulator

if TYPE_CHECKING:
    from rasteret_testkit.aef import AefCollection, AefSpec
    from rasteret_testkit.aef_serve import AefHubRepo, AefS3
    from rasteret_testkit.moto_s3 import MotoS3

__all__ = [
    "aef_collection",
    "aef_factory",
    "aef_hf_repo",
    "aef_local",
    "aef_s3",
    "hf_hub",
    "hf_hub_session",
]


AefFactory = Callable[..., "AefCollection"]


@pytest.fixture(scope="session")
def hf_hub_session() -> Iterator[HubEmulator]:
    """A loopback Hub + CDN for the whole session (repos persist; see ``hf_hub``)."""
    hub = HubEmulator(max_lifetime_s=SESSION_LIFETIME_S).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def hf_hub(hf_hub_session: HubEmulator, tmp_path: Path) -> Iterator[HubEmulator]:
    """The session Hub with a clean log, ``huggingface_hub`` pointed at it for this test."""
    pytest.importorskip("huggingface_hub")
    from rasteret_testkit.hub_client import use_hub

    hf_hub_session.reset()
    try:
        with use_hub(hf_hub_session.endpoint, cache_dir=tmp_path / "hf-cache"):
            yield hf_hub_session
    finally:
        hf_hub_session.reset()


@pytest.fixture(scope="session")
def aef_factory(tmp_path_factory: pytest.TempPathFactory) -> AefFactory:
    """``make(spec=None, *, url_rewrite_patterns=None, etags=False)``: cached AEF builds."""
    from rasteret_testkit.aef import build_aef_collection

    cache: dict[str, AefCollection] = {}

    def make(
        spec: AefSpec | None = None,
        *,
        url_rewrite_patterns: Mapping[str, str] | None = None,
        etags: bool = False,
    ) -> AefCollection:
        key = repr((spec, sorted((url_rewrite_patterns or {}).items()), etags))
        if key not in cache:
            root = tmp_path_factory.mktemp("aef")
            cache[key] = build_aef_collection(
                root, spec, url_rewrite_patterns=url_rewrite_patterns, etags=etags
            )
        return cache[key]

    return make


@pytest.fixture(scope="session")
def aef_collection(aef_factory: AefFactory) -> AefCollection:
    """The default synthetic AEF collection (hrefs on the descriptor's S3 bucket, ETags)."""
    return aef_factory(etags=True)


@pytest.fixture(scope="session")
def aef_local(
    aef_collection: AefCollection, tmp_path_factory: pytest.TempPathFactory
) -> AefCollection:
    """``aef_collection``'s COGs and records with ``file://`` asset hrefs."""
    from rasteret_testkit.aef import AEF_SOURCE_PREFIX, build_aef_collection

    target = aef_collection.objects.as_uri() + "/"
    return build_aef_collection(
        tmp_path_factory.mktemp("aef-local"),
        aef_collection.spec,
        url_rewrite_patterns={AEF_SOURCE_PREFIX: target},
        objects=aef_collection.objects,
    )


@pytest.fixture
def aef_s3(moto_s3: MotoS3, aef_collection: AefCollection) -> AefS3:
    """``aef_collection`` on moto under the descriptor's bucket and layout."""
    from rasteret_testkit.aef_serve import upload_aef_to_s3

    return upload_aef_to_s3(moto_s3, aef_collection)


@pytest.fixture
def aef_hf_repo(hf_hub: HubEmulator, aef_s3: AefS3) -> AefHubRepo:
    """``aef_collection`` as ``hf://datasets/rasteret/aef-v1-annual-mini`` (pixels on moto)."""
    from rasteret_testkit.aef_serve import serve_aef_on_hub

    return serve_aef_on_hub(hf_hub, aef_s3.collection)
