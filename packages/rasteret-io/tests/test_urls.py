"""URL classification, rewriting and redaction."""

from __future__ import annotations

import os

import pytest

from rasteret_io.errors import ConfigError
from rasteret_io.urls import classify, redact_text, redact_url, rewrite_url


@pytest.mark.parametrize(
    ("url", "kind", "key", "path"),
    [
        ("s3://bucket/a/b.tif", "s3", ("s3", "bucket"), "a/b.tif"),
        ("https://bucket.s3.amazonaws.com/a/b.tif", "s3", ("s3", "bucket"), "a/b.tif"),
        ("https://bucket.s3.us-west-2.amazonaws.com/a%20b.tif", "s3", ("s3", "bucket"), "a b.tif"),
        ("https://bucket.s3-eu-west-1.amazonaws.com/x.tif", "s3", ("s3", "bucket"), "x.tif"),
        ("https://s3.us-west-2.amazonaws.com/bucket/x.tif", "s3", ("s3", "bucket"), "x.tif"),
        ("gs://bkt/x.tif", "gcs", ("gcs", "bkt"), "x.tif"),
        ("https://storage.googleapis.com/bkt/d/x.tif", "gcs", ("gcs", "bkt"), "d/x.tif"),
        ("az://cont/x.tif", "azure", ("azure", "", "cont"), "x.tif"),
        (
            "abfss://cont@acct.dfs.core.windows.net/d/x.tif",
            "azure",
            ("azure", "acct", "cont"),
            "d/x.tif",
        ),
        (
            "https://acct.blob.core.windows.net/cont/d/x.tif",
            "azure",
            ("azure", "acct", "cont"),
            "d/x.tif",
        ),
        ("http://127.0.0.1:9000/bkt/x.tif", "http", ("http", "http://127.0.0.1:9000"), "bkt/x.tif"),
        ("https://example.com/x.tif", "http", ("http", "https://example.com"), "x.tif"),
        ("file:///tmp/x.tif", "local", ("local",), "/tmp/x.tif"),
        ("file://localhost/tmp/x.tif", "local", ("local",), "/tmp/x.tif"),
        ("/tmp/x.tif", "local", ("local",), "/tmp/x.tif"),
    ],
)
def test_classify(url: str, kind: str, key: tuple[str, ...], path: str) -> None:
    loc = classify(url)
    assert (loc.kind, loc.store_key, loc.path) == (kind, key, path)


def test_classify_region_and_account() -> None:
    assert classify("https://b.s3.us-west-2.amazonaws.com/x").region == "us-west-2"
    assert classify("https://b.s3.amazonaws.com/x").region is None
    assert classify("https://acct.blob.core.windows.net/c/x").account == "acct"


def test_relative_path_resolves_against_cwd() -> None:
    assert classify("data/x.tif").path == os.path.join(os.getcwd(), "data", "x.tif")


def test_signed_url_is_its_own_store() -> None:
    a = classify("https://acct.blob.core.windows.net/c/x.tif?sv=1&sig=SECRET")
    b = classify("https://acct.blob.core.windows.net/c/y.tif?sv=1&sig=OTHER")
    assert a.kind == b.kind == "http"
    assert a.store_key != b.store_key
    assert a.signed_url is not None


@pytest.mark.parametrize("url", ["ftp://x/y", "file://remotehost/x", "s3:///key", ""])
def test_classify_rejects(url: str) -> None:
    with pytest.raises(ConfigError):
        classify(url)


def test_rewrite_first_match_once() -> None:
    patterns = {"https://a.example/": "s3://bucket/", "s3://bucket/": "s3://other/"}
    assert rewrite_url("https://a.example/x/y.tif", patterns) == "s3://bucket/x/y.tif"
    assert rewrite_url("gs://z/y.tif", patterns) == "gs://z/y.tif"
    assert rewrite_url("https://a.example/https://a.example/", patterns).count("a.example") == 1


def test_redact_url() -> None:
    url = (
        "https://user:pass@acct.blob.core.windows.net/c/x.tif?sv=2020&sig=SECRETSIG&"
        "X-Amz-Credential=AKIA/x&X-Amz-Signature=abc&X-Amz-Security-Token=tok&page=2"
    )
    red = redact_url(url)
    for secret in ("user", "pass", "SECRETSIG", "AKIA", "abc", "tok"):
        assert secret not in red
    assert "page=2" in red
    assert red.startswith("https://REDACTED@acct.blob.core.windows.net/c/x.tif?")
    assert redact_url("/local/path") == "/local/path"


def test_redact_text() -> None:
    text = (
        "Error performing GET https://h/x?sig=SECRET1 in 3ms; "
        "secret_access_key=SECRET2 token: SECRET3"
    )
    red = redact_text(text)
    assert "SECRET" not in red
    assert "https://h/x?sig=REDACTED" in red
