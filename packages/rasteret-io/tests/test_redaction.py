"""Planted secrets never show in reprs, strs, pickled copies, log records or error messages."""

from __future__ import annotations

import logging
import pickle

import pytest
from obstore.store import S3Store

from rasteret_cog import TileSpec
from rasteret_io import (
    ConfigError,
    Fetcher,
    FetchError,
    FetchOptions,
    ObstoreBackend,
    RangeRequest,
    RangeResult,
    create_backend,
    fetch_ranges,
    run_sync,
)
from rasteret_io.aoi_plan import AoiTask
from rasteret_io.grid import Window
from rasteret_io.retry import RetryPolicy, to_fetch_error
from rasteret_io.sources import BandSource, LevelRef, RecordSources
from rasteret_io.stores import StoreCache
from rasteret_io.tiles import WindowRequest
from rasteret_io.urls import classify, redact_mapping

SECRETS = (
    "PLANTEDsecretKEY",
    "PLANTEDsessionTOKEN",
    "AKIAPLANTEDID",
    "PLANTEDaccountKEY",
    "PLANTEDsasSIG",
    "PLANTEDbearer",
    "PLANTEDpassword",
    "PLANTEDclientSECRET",
    "PLANTEDproviderSECRET",
)


class LeakyProvider:
    """A credential provider whose own repr would print its secret (the worst case)."""

    def __init__(self) -> None:
        self.secret = "PLANTEDproviderSECRET"

    def __call__(self) -> dict[str, str | None]:
        return {
            "access_key_id": "AKIAPLANTEDID",
            "secret_access_key": self.secret,
            "token": "PLANTEDsessionTOKEN",
            "expires_at": None,
        }

    def __repr__(self) -> str:
        return f"LeakyProvider(secret={self.secret!r})"


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked in: {text[:300]}"


def _planted_backend(endpoint: str = "http://127.0.0.1:9"):
    return create_backend(
        credential_provider=LeakyProvider(),
        default_s3_config={
            "endpoint": endpoint.replace("http://", "http://user:PLANTEDpassword@"),
            "region": "us-east-1",
            "access_key_id": "AKIAPLANTEDID",
            "aws_secret_access_key": "PLANTEDsecretKEY",
            "session_token": "PLANTEDsessionTOKEN",
        },
        s3_overrides={
            "other": {"secret_access_key": "PLANTEDsecretKEY", "token": "PLANTEDsessionTOKEN"}
        },
        gcs_config={"service_account_key": '{"private_key": "PLANTEDaccountKEY"}'},
        azure_config={
            "account_name": "acct",
            "account_key": "PLANTEDaccountKEY",
            "sas_key": "sv=2024&sig=PLANTEDsasSIG",
            "client_secret": "PLANTEDclientSECRET",
            "bearer_token": "PLANTEDbearer",
        },
        client_options={"default_headers": {"Authorization": "Bearer PLANTEDbearer"}},
    )


def test_backend_and_settings_reprs_hide_secrets() -> None:
    backend = _planted_backend()
    clone = pickle.loads(pickle.dumps(backend))
    settings = clone.settings
    assert settings.default_s3_config["aws_secret_access_key"] == "PLANTEDsecretKEY"  # kept
    assert isinstance(settings.credential_provider, LeakyProvider)
    texts = [repr(backend), str(backend), repr(backend.settings), str(backend.settings)]
    texts += [repr(clone), repr(settings), repr(pickle.loads(pickle.dumps(backend.settings)))]
    texts += [repr(StoreCache(backend.settings))]
    _assert_clean(*texts)
    text = repr(backend.settings)
    assert "<LeakyProvider>" in text and "us-east-1" in text and "REDACTED" in text
    assert "acct" in text  # non-secret values stay readable


def test_redact_mapping_rules() -> None:
    cfg = {
        "skip_signature": True,
        "region": "eu-west-1",
        "max_retries": 0,
        "endpoint": "https://user:PLANTEDpassword@minio.local:9000",
        "nested": {"Authorization": "Bearer PLANTEDbearer", "retry": {"n": 1}},
        "url": "https://h/x?X-Amz-Signature=PLANTEDsasSIG&a=1",
    }
    red = redact_mapping(cfg)
    _assert_clean(repr(red))
    assert red["skip_signature"] is True and red["region"] == "eu-west-1"
    assert red["nested"]["retry"] == {"n": 1} and red["max_retries"] == 0
    assert "minio.local:9000" in red["endpoint"] and "a=1" in red["url"]


def test_signed_urls_are_redacted_in_value_reprs() -> None:
    signed = "https://bkt.s3.amazonaws.com/k.tif?X-Amz-Credential=AKIAPLANTEDID&X-Amz-Signature=PLANTEDsasSIG"
    sas = "https://acct.blob.core.windows.net/c/k.tif?sv=2024&sig=PLANTEDsasSIG"
    req = RangeRequest(signed, 0, 10, record_id="r")
    texts = [repr(classify(signed)), repr(classify(sas)), repr(req), repr(RangeResult(req))]
    store = S3Store(
        "b", config={"secret_access_key": "PLANTEDsecretKEY", "access_key_id": "AKIAPLANTEDID"}
    )
    texts += [repr(ObstoreBackend(store, url_prefix="s3://b/")), repr(Fetcher(_planted_backend()))]
    texts += [repr(FetchOptions())]
    _assert_clean(*texts)
    assert "bkt.s3.amazonaws.com" in repr(req) and "X-Amz-Signature=REDACTED" in repr(req)


def test_read_plan_values_hide_signed_urls() -> None:
    """Band sources, window requests, AOI tasks and record sources hold the (possibly signed)
    COG URL: none of their reprs prints the secret."""
    sas = "https://acct.blob.core.windows.net/c/k.tif?sv=2024&sig=PLANTEDsasSIG"
    userinfo = "https://svc:PLANTEDpassword@data.example.com/k.tif"
    spec = TileSpec(width=256, height=256, tile_width=256, tile_height=256, dtype="uint16")
    offsets, counts = (100,), (50,)
    lv = LevelRef(256, 256, 256, 256, (10.0, 0, 0, 0, -10.0, 0), offsets, counts)
    texts = []
    for url in (sas, userinfo):
        src = BandSource("r", "B1", url, spec, 0, 32633, None, (lv,))
        rec = RecordSources(0, "r", None, 32633, {"B1": src})
        task = AoiTask(rec, src, 0, None, None, 0, Window(0, 0, 1, 1))
        texts += [repr(src), repr(WindowRequest(src, Window(0, 0, 1, 1))), repr(rec), repr(task)]
    _assert_clean(*texts)
    assert "acct.blob.core.windows.net" in texts[0] and "band='B1'" in texts[0]


def test_long_backend_messages_are_redacted_before_they_are_shortened() -> None:
    """A secret-bearing URL that straddles the message length limit is still redacted."""
    url = "https://svc-user:PLANTEDpassword@data.example.com/cogs/scene.tif"
    for pad in range(220, 300):
        msg = "Generic HTTP error: " + "x" * pad + " GET " + url + " failed"
        err = to_fetch_error(OSError(msg), url="https://data.example.com/cogs/scene.tif")
        for text in (str(err), repr(err)):
            assert "PLANTEDp" not in text, text  # not even the start of the password


def test_store_build_errors_hide_secrets() -> None:
    backend = create_backend(
        default_s3_config={
            "secret_access_key": "PLANTEDsecretKEY",
            "not_an_s3_option": "x",
        }
    )
    with pytest.raises(ConfigError) as info:
        backend.store_for("s3://bucket/key.tif")
    _assert_clean(str(info.value), repr(info.value))


def test_logs_and_errors_of_failing_fetches_hide_secrets(
    object_server, payload, caplog: pytest.LogCaptureFixture
) -> None:
    key, _, _ = payload
    signed = (
        object_server.url(key) + "?X-Amz-Credential=AKIAPLANTEDID&X-Amz-Signature=PLANTEDsasSIG"
    )
    s3_url = "s3://iobkt/" + key.partition("/")[2]
    object_server.configure(broken_keys={key}, fail_status=503)
    backend = _planted_backend(object_server.base_url)
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)
    reqs = [
        RangeRequest(signed, 0, 100, record_id="r1"),
        RangeRequest(s3_url, 0, 100, record_id="r2"),
    ]
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="rasteret_io"):
        results = run_sync(
            fetch_ranges(backend, reqs, retry=retry, error_policy="skip"), timeout=60
        )
        with pytest.raises(FetchError) as info:
            run_sync(fetch_ranges(backend, reqs[:1], retry=retry), timeout=60)
    errors = [r.error for r in results]
    assert all(isinstance(e, FetchError) and e.status == 503 for e in errors), errors
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [str(info.value), repr(info.value), repr(pickle.loads(pickle.dumps(info.value)))]
    texts += [rec.getMessage() for rec in caplog.records]
    assert any("retrying" in rec.getMessage() for rec in caplog.records)
    assert any("range fetch failed" in rec.getMessage() for rec in caplog.records)
    _assert_clean(*texts)
    assert info.value.status == 503 and "X-Amz-Signature=REDACTED" in str(info.value)
    assert info.value.__cause__ is None
