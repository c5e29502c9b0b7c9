"""SigningReader: every request goes out signed, the caller never sees the token.

The loopback object server is told to refuse requests without the token query
(``required_query``), like a store that only serves SAS-signed URLs.
"""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections.abc import Iterator

import pytest

from rasteret_io import (
    ConfigError,
    FetchError,
    FetchOptions,
    IdentifiedSigningReader,
    ObjectIdentity,
    RangeRequest,
    RetryPolicy,
    SigningReader,
    create_backend,
    fetch_ranges,
    run_sync,
    scheme_signer,
    signing_reader,
)
from rasteret_testkit.objserver import ObjectServer

TOKEN = "se=2030-01-01&sp=rl&sig=PLANTEDsasSIG"


def sign(url: str) -> str:
    """A module-level signer (pickles by name), appending a SAS-like query."""
    return f"{url}?{TOKEN}"


class OnlyRanges:
    """A reader without object identities (``get_ranges`` only)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def get_ranges(self, url: str, starts: list[int], ends: list[int]) -> list[bytes]:
        self.urls.append(url)
        return [b"x" * (e - s) for s, e in zip(starts, ends, strict=True)]


@pytest.fixture
def signed_server(object_server: ObjectServer) -> Iterator[tuple[ObjectServer, bytes]]:
    payload = os.urandom(70_000)
    object_server.put("sas/blob.bin", payload)
    object_server.configure(required_query={"sig"})
    yield object_server, payload


def _fetch(reader: object, url: str, ranges: list[tuple[int, int]], **kw: object) -> list:
    options = FetchOptions(retry=RetryPolicy(max_attempts=1, timeout=10))
    reqs = [RangeRequest(url, s, e, **kw) for s, e in ranges]  # type: ignore[arg-type]
    return run_sync(fetch_ranges(reader, reqs, options=options))  # type: ignore[arg-type]


def test_requests_are_signed_and_bytes_match(signed_server: tuple[ObjectServer, bytes]) -> None:
    srv, payload = signed_server
    url = srv.url("sas/blob.bin")
    with pytest.raises(FetchError) as unsigned:  # the server refuses plain URLs
        _fetch(create_backend(), url, [(0, 10)])
    assert unsigned.value.status == 403
    srv.reset()
    srv.configure(required_query={"sig"})
    reader = signing_reader(None, sign)
    assert isinstance(reader, IdentifiedSigningReader)
    results = _fetch(reader, url, [(0, 100), (60_000, 70_000)])
    assert [bytes(r.data) for r in results] == [payload[:100], payload[60_000:]]
    assert srv.requests and all(r.path.endswith("?" + TOKEN) for r in srv.requests)
    assert all(r.status == 206 for r in srv.requests)
    assert all(r.request.url == url for r in results)  # the caller's URL stays plain


def test_identity_checks_go_out_signed(signed_server: tuple[ObjectServer, bytes]) -> None:
    srv, payload = signed_server
    url = srv.url("sas/blob.bin")
    reader = signing_reader(create_backend(), sign)
    identity = run_sync(reader.identify(url))  # a HEAD of the signed URL
    assert identity.size == len(payload)
    expected = ObjectIdentity(identity.etag, identity.size, identity.last_modified)
    (result,) = _fetch(reader, url, [(5, 50)], expected=expected)
    assert bytes(result.data) == payload[5:50]
    assert {r.method for r in srv.requests} == {"HEAD", "GET"}
    assert all(r.status in (200, 206) and r.path.endswith(TOKEN) for r in srv.requests)


def test_errors_and_reprs_never_show_the_token(signed_server: tuple[ObjectServer, bytes]) -> None:
    srv, _ = signed_server
    missing = srv.url("sas/missing.bin")
    reader = signing_reader(None, sign)
    with pytest.raises(FetchError) as err:
        _fetch(reader, missing, [(0, 10)])
    assert err.value.status == 404 and "PLANTEDsasSIG" not in str(err.value)
    assert err.value.url == missing
    assert "PLANTEDsasSIG" not in repr(reader) and "sign" in repr(reader)
    copy = pickle.loads(pickle.dumps(reader))
    assert isinstance(copy, IdentifiedSigningReader) and copy.sign is sign


def test_reader_without_identities_stays_plain() -> None:
    inner = OnlyRanges()
    reader = signing_reader(inner, sign)
    assert type(reader) is SigningReader and not hasattr(reader, "identify")
    (result,) = _fetch(reader, "https://example.invalid/a.tif", [(0, 4)])
    assert bytes(result.data) == b"xxxx"
    assert inner.urls == [f"https://example.invalid/a.tif?{TOKEN}"]


def test_scheme_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown URL signing scheme 'nope'"):
        scheme_signer("nope")
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # not installed
    with pytest.raises(ImportError, match="planetary-computer") as err:
        scheme_signer("planetary_computer")
    assert err.value.name == "planetary_computer"
    fake = types.ModuleType("planetary_computer")
    fake.sign = sign  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "planetary_computer", fake)
    assert scheme_signer("planetary_computer") is sign
