"""HTTP semantics of the object server, checked byte for byte with a plain HTTP client."""

from __future__ import annotations

import email.parser
import http.client
import os
from pathlib import Path

import pytest

from rasteret_testkit.objserver import ObjectServer
from rasteret_testkit.objserver_http import parse_range

SIZE = 200_003


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def blob(object_server: ObjectServer, payload: bytes, request: pytest.FixtureRequest) -> str:
    key = f"http/{request.node.name}/blob.bin"
    object_server.put(key, payload)
    return key


def _get(
    srv: ObjectServer, key: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, "/" + key, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, [(0, 4)]),
        ("bytes=5-", 10, [(5, 9)]),
        ("bytes=-3", 10, [(7, 9)]),
        ("bytes=-30", 10, [(0, 9)]),
        ("bytes=8-100", 10, [(8, 9)]),
        ("bytes=10-20", 10, []),
        ("bytes=-0", 10, []),
        ("bytes=0-1, 4-5", 10, [(0, 1), (4, 5)]),
        ("bytes=5-4", 10, None),
        ("bytes=a-b", 10, None),
        ("items=0-4", 10, None),
        ("bytes=0-0", 0, []),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_full_get_and_headers(object_server: ObjectServer, blob: str, payload: bytes) -> None:
    status, headers, body = _get(object_server, blob)
    assert status == 200
    assert body == payload
    assert headers["Content-Length"] == str(SIZE)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"].startswith('"') and "Last-Modified" in headers
    # ETag is stable across requests.
    assert _get(object_server, blob, method="HEAD")[1]["ETag"] == headers["ETag"]


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("0-0", 0, 0),
        ("10-65545", 10, 65545),
        ("150000-", 150000, SIZE - 1),
        ("-777", SIZE - 777, SIZE - 1),
        ("199999-999999", 199999, SIZE - 1),
    ],
)
def test_single_ranges_are_byte_exact(
    object_server: ObjectServer, blob: str, payload: bytes, spec: str, first: int, last: int
) -> None:
    status, headers, body = _get(object_server, blob, {"Range": f"bytes={spec}"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert headers["Content-Length"] == str(last - first + 1)
    assert body == payload[first : last + 1]


def test_head(object_server: ObjectServer, blob: str) -> None:
    status, headers, body = _get(object_server, blob, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(SIZE)
    status, headers, _ = _get(object_server, blob, {"Range": "bytes=0-99"}, method="HEAD")
    assert status == 206 and headers["Content-Length"] == "100"
    assert object_server.count("HEAD") == 2


def test_404_and_416(object_server: ObjectServer, blob: str) -> None:
    status, headers, body = _get(object_server, "http/nope/missing.bin")
    assert status == 404
    assert b"<Code>NoSuchKey</Code>" in body and headers["Content-Type"] == "application/xml"
    status, headers, body = _get(object_server, blob, {"Range": f"bytes={SIZE}-{SIZE + 10}"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"
    assert b"InvalidRange" in body
    assert _get(object_server, "http/")[0] == 404  # directories are not objects
    assert object_server.count(status=404) == 2 and object_server.count(status=416) == 1


def test_path_traversal_and_methods_rejected(object_server: ObjectServer, tmp_path: Path) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"x")
    rel = os.path.relpath(outside, object_server.root)
    assert _get(object_server, rel)[0] == 404
    assert _get(object_server, "%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert _get(object_server, "http/x", method="PUT")[0] == 405


def test_multi_range_is_multipart(object_server: ObjectServer, blob: str, payload: bytes) -> None:
    status, headers, body = _get(object_server, blob, {"Range": "bytes=0-9, 1000-1999, -5"})
    assert status == 206
    ctype = headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    assert headers["Content-Length"] == str(len(body))
    msg = email.parser.BytesParser().parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    parts = msg.get_payload()
    assert [p["Content-Range"] for p in parts] == [
        f"bytes 0-9/{SIZE}",
        f"bytes 1000-1999/{SIZE}",
        f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}",
    ]
    got = [p.get_payload(decode=True) for p in parts]
    assert got == [payload[0:10], payload[1000:2000], payload[-5:]]


def test_aliases_map_many_urls_to_one_file(
    object_server: ObjectServer, blob: str, payload: bytes
) -> None:
    object_server.put("pool/B08.tif", payload[:1000])
    object_server.alias("exact/name.tif", blob)
    object_server.alias_pattern("scenes/{i}/B04.tif", blob)
    object_server.alias_pattern("scenes/{i}/{band}.tif", "pool/{band}.tif")
    assert _get(object_server, "exact/name.tif")[2] == payload
    for i in range(5):
        status, _, body = _get(object_server, f"scenes/S{i}/B04.tif", {"Range": "bytes=0-99"})
        assert (status, body) == (206, payload[:100])
        assert _get(object_server, f"scenes/S{i}/B08.tif")[2] == payload[:1000]
    assert _get(object_server, "scenes/a/b/B04.tif")[0] == 404  # one segment per placeholder
    assert _get(object_server, "scenes/1/B02.tif")[0] == 404  # pool/B02.tif does not exist
    assert object_server.count(path_prefix="scenes/") == 12
    assert {r.physical for r in object_server.requests if r.status == 206} == {blob}
    object_server.reset()
    assert _get(object_server, "exact/name.tif")[0] == 404


def test_request_log_records(object_server: ObjectServer, blob: str) -> None:
    _get(object_server, blob, {"Range": "bytes=0-99"})
    (rec,) = object_server.requests
    assert (rec.method, rec.path, rec.range, rec.status, rec.bytes_sent) == (
        "GET",
        "/" + blob,
        "bytes=0-99",
        206,
        100,
    )
    assert rec.start <= (rec.first_byte or 0) <= rec.end and rec.fault is None
    with pytest.raises(AttributeError):
        rec.status = 200  # type: ignore[misc]
    assert object_server.count("get", blob) == 1
    object_server.reset()
    assert object_server.requests == []


def test_gdal_vsicurl_and_vsis3_read_through_server(object_server: ObjectServer) -> None:
    """GDAL (the pixel oracle) can read COGs through the server, over HTTP and S3 path-style."""
    np = pytest.importorskip("numpy")
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window

    arr = (np.arange(512 * 512, dtype=np.uint32) % 65521).astype(np.uint16).reshape(512, 512)
    path = object_server.root / "gdalbkt" / "cog.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "COG", "width": 512, "height": 512, "count": 1, "dtype": "uint16"}
    with rasterio.open(
        path,
        "w",
        **profile,
        compress="DEFLATE",
        blocksize=256,
        crs="EPSG:32633",
        transform=rasterio.Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0),
    ) as ds:
        ds.write(arr, 1)
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}
    with (
        rasterio.Env(**env),
        rasterio.open("/vsicurl/" + object_server.url("gdalbkt/cog.tif")) as ds,
    ):
        assert (ds.read(1, window=Window(100, 50, 300, 400)) == arr[50:450, 100:400]).all()
    s3env = {
        "AWS_S3_ENDPOINT": f"127.0.0.1:{object_server.port}",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_NO_SIGN_REQUEST": "YES",
    }
    with rasterio.Env(**env, **s3env), rasterio.open("/vsis3/gdalbkt/cog.tif") as ds:
        assert (ds.read(1) == arr).all()
    assert object_server.count("GET", "gdalbkt/", status=206) >= 2


def test_required_query_refuses_unsigned_requests(object_server: ObjectServer, blob: str) -> None:
    """``required_query`` acts like a store that only serves signed URLs: a request without
    the parameter is refused (403), one with it is served, and the log keeps the query."""
    object_server.configure(required_query={"sig"})
    status, _, body = _get(object_server, blob, {"Range": "bytes=0-9"})
    assert status == 403 and b"AuthenticationFailed" in body
    status, _, body = _get(object_server, blob + "?se=x&sig=abc", {"Range": "bytes=0-9"})
    assert status == 206 and len(body) == 10
    assert [r.status for r in object_server.requests] == [403, 206]
    assert object_server.requests[1].path.endswith("?se=x&sig=abc")
    object_server.reset()
    assert _get(object_server, blob, {"Range": "bytes=0-9"})[0] == 206
