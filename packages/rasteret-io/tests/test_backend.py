"""Backend construction: config layering, cloud configs, routing, adapters."""

from __future__ import annotations

from typing import ClassVar

import pytest

from rasteret_io import (
    ConfigError,
    ObstoreBackend,
    RangeReader,
    RangeRequest,
    RoutingBackend,
    as_range_reader,
    create_backend,
    fetch_ranges,
    get_default_backend,
    run_sync,
)
from rasteret_io.backend import backend_config_from_cloud_config
from rasteret_io.stores import StoreSettings, build_store
from rasteret_io.urls import classify


def test_s3_layering() -> None:
    s = StoreSettings(
        default_s3_config={"region": "us-east-1", "aws_endpoint": "http://127.0.0.1:9"},
        s3_overrides={"paid": {"request_payer": "true"}, "signed": {"skip_signature": "false"}},
    )
    assert s.s3_config("open") == {
        "skip_signature": True,
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9",
    }
    assert "skip_signature" not in s.s3_config("paid")
    assert s.s3_config("paid")["request_payer"] is True
    assert "skip_signature" not in s.s3_config("signed")
    assert s.s3_config("open", region="eu-west-1")["region"] == "us-east-1"
    assert StoreSettings().s3_config("b", region="eu-west-1")["region"] == "eu-west-1"
    assert "skip_signature" not in StoreSettings(credential_provider=lambda: {}).s3_config("b")
    assert s.client_for(endpoint="http://127.0.0.1:9")["allow_http"] is True
    assert "allow_http" not in s.client_for(endpoint="https://x")


class _Cfg:
    provider = "aws"
    requester_pays = True
    region = "us-west-2"
    url_patterns: ClassVar[dict[str, str]] = {"https://landsat.example/": "s3://usgs-landsat/"}


def test_cloud_config_translation() -> None:
    out = backend_config_from_cloud_config(_Cfg())
    assert out["url_patterns"] == _Cfg.url_patterns
    assert out["s3_overrides"] == {"usgs-landsat": {"region": "us-west-2", "request_payer": True}}
    assert out["default_s3_config"] == {"request_payer": True, "region": "us-west-2"}
    free = backend_config_from_cloud_config(
        {"requester_pays": False, "region": "eu-central-1", "url_patterns": {"a/": "s3://b/"}}
    )
    assert free["s3_overrides"] == {"b": {"region": "eu-central-1", "skip_signature": True}}
    assert free["default_s3_config"] == {}


def test_create_backend_original_signature() -> None:
    be = create_backend(None, _Cfg(), "eu-west-1", {"virtual_hosted_style_request": "true"})
    assert isinstance(be, RoutingBackend)
    cfg = be.settings.s3_config("usgs-landsat")
    assert cfg["request_payer"] is True and cfg["region"] == "us-west-2"
    other = be.settings.s3_config("elsewhere")
    assert other["region"] == "eu-west-1" and other["virtual_hosted_style_request"] is True
    assert be.locate("https://landsat.example/a/b.tif").store_key == ("s3", "usgs-landsat")
    assert isinstance(be, RangeReader)


@pytest.mark.parametrize(
    ("url", "store_type"),
    [
        ("s3://bkt/x", "S3Store"),
        ("https://bkt.s3.us-west-2.amazonaws.com/x", "S3Store"),
        ("gs://bkt/x", "GCSStore"),
        ("https://storage.googleapis.com/bkt/x", "GCSStore"),
        ("az://cont/x", "AzureStore"),
        ("https://acct.blob.core.windows.net/cont/x", "AzureStore"),
        ("http://127.0.0.1:1/x", "HTTPStore"),
        ("https://example.com/x", "HTTPStore"),
        ("/tmp/x", "LocalStore"),
    ],
)
def test_store_types(url: str, store_type: str) -> None:
    loc = classify(url)
    settings = StoreSettings(azure_config={"account_name": "acct"} if "az://" in url else {})
    assert type(build_store(loc, settings)).__name__ == store_type


def test_bad_store_config_is_config_error() -> None:
    with pytest.raises(ConfigError):
        build_store(classify("s3://bkt/x"), StoreSettings(default_s3_config={"no_such_key": 1}))


def test_default_backend_is_shared() -> None:
    assert get_default_backend() is get_default_backend()
    assert as_range_reader(None) is get_default_backend()


def test_legacy_backend_adapter(object_server, payload) -> None:
    key, data, _ = payload

    class Legacy:  # the original StorageBackend shape: get_range(url, start, length)
        def __init__(self) -> None:
            self.inner = get_default_backend()

        async def get_range(self, url: str, start: int, length: int) -> bytes:
            return bytes(await self.inner.get_range(url, start, length))

    reader = as_range_reader(Legacy())
    res = run_sync(fetch_ranges(reader, [RangeRequest(object_server.url(key), 7, 77)]))
    assert bytes(res[0].data) == data[7:77]
    with pytest.raises(ConfigError):
        as_range_reader(object())


def test_signed_url_reads_exact_object(object_server, payload) -> None:
    key, data, _ = payload
    url = object_server.url(key) + "?X-Amz-Signature=SECRET&X-Amz-Expires=60"
    be = create_backend()
    res = run_sync(fetch_ranges(be, [RangeRequest(url, 3, 30)]))
    assert bytes(res[0].data) == data[3:30]
    object_server.configure(missing_keys=[key])
    with pytest.raises(FileNotFoundError) as info:
        run_sync(fetch_ranges(be, [RangeRequest(url, 3, 30)]))
    assert "SECRET" not in str(info.value)


def test_obstore_backend_prefix(object_server, payload) -> None:
    from obstore.store import HTTPStore

    key, data, _ = payload
    store = HTTPStore.from_url(object_server.base_url + "/", client_options={"allow_http": True})
    be = ObstoreBackend(store, url_prefix="mem://")
    res = run_sync(be.get_ranges("mem://" + key, [0, 100], [10, 110]))
    assert [bytes(b) for b in res] == [data[0:10], data[100:110]]


def test_stores_shared_between_backends_of_equal_settings() -> None:
    """A backend built per read reuses the stores of an earlier backend with the same
    settings (value, not identity); other settings get their own stores."""
    from rasteret_io.stores import SHARED_STORES

    cfg = {"endpoint": "http://127.0.0.1:9", "region": "us-east-1", "skip_signature": "true"}
    url = "s3://shared-store-bucket/key.tif"
    a = create_backend(default_s3_config=dict(cfg))
    b = create_backend(default_s3_config=dict(reversed(list(cfg.items()))))
    c = create_backend(default_s3_config={**cfg, "region": "eu-west-1"})
    sa, sb, sc = (x.store_for(url)[0] for x in (a, b, c))
    assert sa is sb
    assert sc is not sa
    assert a.store_count == b.store_count == c.store_count == 1
    SHARED_STORES.clear()
    d = create_backend(default_s3_config=dict(cfg))
    assert d.store_for(url)[0] is not sa  # rebuilt once the shared cache forgot it
    assert a.store_for(url)[0] is sa  # a backend keeps the stores it got


def test_unhashable_provider_is_never_shared() -> None:
    class Provider:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> dict[str, str]:
            return {}

    settings = StoreSettings(credential_provider=Provider())  # type: ignore[arg-type]
    assert settings.cache_key() is None
    assert StoreSettings().cache_key() == StoreSettings().cache_key()
