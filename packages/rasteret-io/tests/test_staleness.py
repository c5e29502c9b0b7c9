"""Read-time staleness check: objects rewritten between build and read never yield bytes.

The expected identity is taken the way a build records it (one HEAD through the backend),
then the object is rewritten on the loopback object server (or the local disk) and read
with that identity carried by every range request.
"""

from __future__ import annotations

import os
import random
import warnings

import pytest

from rasteret_io import (
    FetchOptions,
    ObjectIdentity,
    RangeRequest,
    StaleObjectError,
    StaleObjectWarning,
    fetch_ranges,
    run_sync,
)
from rasteret_io.backend import as_range_reader
from rasteret_io.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)
SIZE = 400_000


@pytest.fixture
def obj(object_server, object_urls, request: pytest.FixtureRequest):
    """(path, {kind: url}, original bytes) of a fresh object under bucket ``stale``."""
    name = request.node.name.replace("[", "_").replace("]", "_")
    key = f"stale/{name}.bin"
    data = random.Random(name).randbytes(SIZE)
    path = object_server.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, object_urls(key), data


def _rewrite(path, data: bytes) -> None:
    """Replace the object and move its mtime (ETags of HTTP and local stores derive from it)."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))


def _requests(url: str, expected: ObjectIdentity | None) -> list[RangeRequest]:
    spans = [(0, 1000), (5000, 9000), (100_000, 180_000), (250_000, 260_000)]
    return [
        RangeRequest(url, s, e, record_id="rec-1", band="B04", tag=i, expected=expected)
        for i, (s, e) in enumerate(spans)
    ]


def _read(backend, reqs, **kw):
    return run_sync(fetch_ranges(backend, reqs, retry=FAST, max_gap=-1, **kw), timeout=60)


@pytest.mark.parametrize("kind", ["http", "s3", "local"])
def test_unchanged_object_reads_with_no_extra_request(
    object_server, object_backend, obj, kind: str
) -> None:
    _path, urls, data = obj
    backend = object_backend()
    expected = run_sync(backend.identify(urls[kind]))
    assert expected.size == SIZE and expected.etag
    object_server.reset()
    results = _read(backend, _requests(urls[kind], expected))
    for r in results:
        assert r.ok and bytes(r.data) == data[r.request.start : r.request.end]
    if kind != "local":
        assert object_server.count("GET") == 4 and object_server.count("HEAD") == 0


@pytest.mark.parametrize("kind", ["http", "s3", "local"])
@pytest.mark.parametrize("change", ["same_size", "larger", "smaller"])
def test_rewritten_object_raises_naming_the_asset(
    object_server, object_backend, obj, kind, change
) -> None:
    path, urls, data = obj
    backend = object_backend()
    expected = run_sync(backend.identify(urls[kind]))
    new = {
        "same_size": bytes(reversed(data)),
        "larger": data[:1000] + os.urandom(4096) + data[1000:],  # offsets shifted by 4 KiB
        "smaller": data[:300_000],
    }[change]
    _rewrite(path, new)
    with pytest.raises(StaleObjectError) as info:
        _read(backend, _requests(urls[kind], expected))
    err = info.value
    assert isinstance(err, OSError) and not err.retryable
    msg = str(err)
    assert "changed since it was indexed" in msg and "record=rec-1" in msg and "band=B04" in msg
    assert (urls[kind] if kind != "local" else str(path)) in msg
    assert err.expected == expected and err.observed is not None
    assert err.observed != expected


def test_size_alone_detects_a_rewrite(object_server, object_backend, obj) -> None:
    """Stores without ETags: the size recorded at build time still catches a rewrite."""
    path, urls, data = obj
    _rewrite(path, data + b"tail")
    with pytest.raises(StaleObjectError, match="size 400000 is now 400004"):
        _read(object_backend(), _requests(urls["http"], ObjectIdentity(size=SIZE)))


def test_range_past_the_new_end_is_reported_as_stale(object_server, object_backend, obj) -> None:
    """A shrunk object answers 416 (no metadata): one HEAD tells it apart from a fault."""
    path, urls, data = obj
    backend = object_backend()
    expected = run_sync(backend.identify(urls["s3"]))
    _rewrite(path, data[:50_000])
    object_server.reset()
    reqs = [RangeRequest(urls["s3"], 300_000, 310_000, record_id="r", expected=expected)]
    with pytest.raises(StaleObjectError, match="size 400000 is now 50000") as info:
        _read(backend, reqs)
    assert info.value.status == 416
    assert object_server.count("HEAD") == 1


def test_policies_warn_off_and_skip(object_server, object_backend, obj) -> None:
    path, urls, data = obj
    backend = object_backend()
    url = urls["http"]
    expected = run_sync(backend.identify(url))
    new = bytes(reversed(data))
    _rewrite(path, new)
    reqs = _requests(url, expected)

    with pytest.warns(StaleObjectWarning, match="changed since it was indexed") as caught:
        results = _read(backend, reqs, options=FetchOptions(staleness="warn"))
    assert len([w for w in caught if issubclass(w.category, StaleObjectWarning)]) == 1
    assert all(not r.ok and isinstance(r.error, StaleObjectError) for r in results)

    results = _read(backend, reqs, error_policy="skip")
    assert all(isinstance(r.error, StaleObjectError) for r in results)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = _read(backend, reqs, options=FetchOptions(staleness="off"))
    assert all(bytes(r.data) == new[r.request.start : r.request.end] for r in results)


def test_requests_without_identity_or_reader_support_are_not_checked(
    object_server, object_backend, obj
) -> None:
    path, urls, data = obj
    backend = object_backend()
    expected = run_sync(backend.identify(urls["http"]))
    new = bytes(reversed(data))
    _rewrite(path, new)
    plain = _read(backend, _requests(urls["http"], None))
    assert all(bytes(r.data) == new[r.request.start : r.request.end] for r in plain)

    class OldStyle:  # an original-library backend: no object metadata to check against
        async def get_range(self, url: str, start: int, length: int) -> bytes:
            return (await backend.get_ranges(url, [start], [start + length]))[0]

    legacy = _read(as_range_reader(OldStyle()), _requests(urls["http"], expected))
    assert all(r.ok for r in legacy)


def test_identity_groups_are_not_merged(object_server, object_backend, obj) -> None:
    """Requests of one URL with different expected identities are checked separately."""
    _path, urls, data = obj
    backend = object_backend()
    good = run_sync(backend.identify(urls["http"]))
    bad = ObjectIdentity('"0000"', SIZE)
    reqs = [
        RangeRequest(urls["http"], 0, 100, tag="good", expected=good),
        RangeRequest(urls["http"], 100, 200, tag="bad", expected=bad),
    ]
    results = _read(backend, reqs, error_policy="skip")
    assert results[0].ok and bytes(results[0].data) == data[:100]
    assert isinstance(results[1].error, StaleObjectError)
