"""S3 protocol against moto's server mode: anonymous, signed, provider, requester-pays."""

from __future__ import annotations

import random

import pytest

from rasteret_io import (
    ObjectNotFoundError,
    ObstoreBackend,
    RangeRequest,
    create_backend,
    fetch_ranges,
    run_sync,
)


@pytest.fixture(scope="module")
def s3_object(moto_s3, tmp_path_factory):
    data = random.Random(5).randbytes(2_500_000)
    path = tmp_path_factory.mktemp("moto") / "obj.bin"
    path.write_bytes(data)
    url = moto_s3.upload(path, "io/obj.bin")
    return url, data


def _read_all(backend, url: str, data: bytes, **kw) -> None:
    rng = random.Random(3)
    starts = sorted(rng.sample(range(len(data) - 70_000), 40))
    reqs = [RangeRequest(url, s, s + rng.randint(1, 65_000)) for s in starts]
    results = run_sync(fetch_ranges(backend, reqs, **kw))
    for r in results:
        assert bytes(r.data) == data[r.request.start : r.request.end]


def test_anonymous_public_bucket(moto_s3, s3_object) -> None:
    url, data = s3_object
    backend = create_backend(
        region=moto_s3.region, default_s3_config={"endpoint": moto_s3.endpoint}
    )
    _read_all(backend, url, data)
    assert backend.settings.s3_config(moto_s3.bucket)["skip_signature"] is True


def test_signed_per_bucket_override(moto_s3, s3_object) -> None:
    url, data = s3_object
    cfg = moto_s3.store_config()
    backend = create_backend(
        default_s3_config={"endpoint": moto_s3.endpoint, "region": moto_s3.region},
        s3_overrides={
            moto_s3.bucket: {
                "skip_signature": False,
                "access_key_id": cfg["access_key_id"],
                "secret_access_key": cfg["secret_access_key"],
            }
        },
    )
    assert "skip_signature" not in backend.settings.s3_config(moto_s3.bucket)
    _read_all(backend, url, data, max_gap=1 << 20)


def test_credential_provider_and_requester_pays(moto_s3, s3_object) -> None:
    url, data = s3_object
    cfg = moto_s3.store_config()
    calls = []

    def provider() -> dict:
        calls.append(1)
        return {
            "access_key_id": cfg["access_key_id"],
            "secret_access_key": cfg["secret_access_key"],
            "token": None,
            "expires_at": None,
        }

    backend = create_backend(
        credential_provider=provider,
        region=moto_s3.region,
        default_s3_config={"endpoint": moto_s3.endpoint, "request_payer": "true"},
    )
    s3cfg = backend.settings.s3_config(moto_s3.bucket)
    assert s3cfg["request_payer"] is True and "skip_signature" not in s3cfg
    _read_all(backend, url, data)
    assert calls


def test_explicit_store_backend(moto_s3, s3_object) -> None:
    from obstore.store import S3Store

    url, data = s3_object
    cfg = moto_s3.store_config()
    store = S3Store(**cfg)
    backend = ObstoreBackend(store, url_prefix=f"s3://{moto_s3.bucket}/")
    _read_all(backend, url, data)
    assert bytes(run_sync(backend.get_range(url, 5, 10))) == data[5:15]


def test_missing_object_error_has_no_secrets(moto_s3) -> None:
    cfg = moto_s3.store_config()
    backend = create_backend(
        default_s3_config={
            "endpoint": moto_s3.endpoint,
            "region": moto_s3.region,
            "access_key_id": cfg["access_key_id"],
            "secret_access_key": "TOPSECRETVALUE",
        }
    )
    url = f"s3://{moto_s3.bucket}/io/does-not-exist.bin"
    with pytest.raises(OSError) as info:
        run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 10, record_id="r", band="b")]))
    text = str(info.value) + repr(info.value)
    assert "TOPSECRETVALUE" not in text
    assert url in text or "io/does-not-exist.bin" in text
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert isinstance(info.value, ObjectNotFoundError | PermissionError)
