"""Planted secrets never show in the read side of the meta package: reprs and strs of read
options, backends, fetch options and batch readers (also pickled), the errors and warnings of
failing reads, and their log records. (The fetch layer's own objects are covered by
``packages/rasteret-io/tests/test_redaction.py``.)"""

from __future__ import annotations

import logging
import pickle
import warnings
from typing import Any

import pyarrow as pa
import pytest
import rasterio
import shapely
from rasterio.warp import transform_bounds

import rasteret
from rasteret.errors import FetchError, MemoryBudgetError, ReadError, StaleObjectError
from rasteret.read._adapter import batch_reader, fetcher
from rasteret.read.requests import ReadOptions
from rasteret_testkit.cogs import sample_array

SECRETS = ("PLANTEDsecretKEY", "PLANTEDsessionTOKEN", "AKIAPLANTEDID", "PLANTEDsasSIG",
           "PLANTEDpassword", "PLANTEDproviderSECRET")  # fmt: skip
SIGNED = "?X-Amz-Credential=AKIAPLANTEDID&X-Amz-Signature=PLANTEDsasSIG&X-Amz-Security-Token=PLANTEDsessionTOKEN"
AOI = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)


class LeakyProvider:
    """A credential provider whose own repr would print its secret."""

    secret = "PLANTEDproviderSECRET"

    def __call__(self) -> dict[str, Any]:
        return {"access_key_id": "AKIAPLANTEDID", "secret_access_key": self.secret,
                "token": "PLANTEDsessionTOKEN", "expires_at": None}  # fmt: skip

    def __repr__(self) -> str:
        return f"LeakyProvider(secret={self.secret!r})"


def _clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked in: {text[:400]}"


def _backend() -> Any:
    return rasteret.create_backend(
        LeakyProvider(),
        None,
        "us-east-1",
        {
            "endpoint": "http://user:PLANTEDpassword@127.0.0.1:9",
            "aws_secret_access_key": "PLANTEDsecretKEY",
            "session_token": "PLANTEDsessionTOKEN",
            "access_key_id": "AKIAPLANTEDID",
        },
    )


def test_read_side_objects_hide_secrets() -> None:
    backend = _backend()
    options = ReadOptions.build(data_source="", backend=backend, deadline=30, timeout=5)
    reader = batch_reader(["B04"], options)
    texts = [repr(options), str(options), repr(options.fetch_options()), repr(fetcher(options))]
    texts += [repr(reader), str(reader), repr(pickle.loads(pickle.dumps(reader)))]
    texts += [repr(pickle.loads(pickle.dumps(options))), repr(backend)]
    _clean(*texts)
    clone = pickle.loads(pickle.dumps(reader))  # the secrets travel (workers need them)
    assert clone.backend.settings.default_s3_config["aws_secret_access_key"] == "PLANTEDsecretKEY"
    assert "deadline=30.0" in repr(options) and "REDACTED" in repr(options)


@pytest.fixture
def signed_coll(serve_cog, tmp_path, request) -> dict[str, Any]:
    """Two records whose asset URLs carry a planted pre-signed query string."""
    urls, keys = [], []
    for i in range(2):
        key = f"signed/{request.node.name}/s{i}.tif"
        path, url = serve_cog(key, sample_array("uint16", 1, 300, 300, seed=i))
        urls.append(url + SIGNED)
        keys.append(key)
    with rasterio.open(path) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    table = pa.table({
        "id": ["s0", "s1"], "datetime": pa.array([0, 1], pa.timestamp("us")),
        "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * 2,
        "assets": [{"B04": {"href": u}} for u in urls],
    })  # fmt: skip
    coll = rasteret.build_from_table(table, name="signed", workspace_dir=tmp_path, enrich_cog=True)
    return {"coll": coll, "keys": keys}


def _reads(coll: Any, **kw: Any) -> list[Any]:
    return [
        lambda: coll.get_numpy(AOI, ["B04"], geometry_crs=32633, **kw),
        lambda: coll.sample_points(
            pa.table({"x": [500_600.0], "y": [4_998_000.0]}), ["B04"], geometry_crs=32633, **kw
        ),
        lambda: coll.read_window(
            record_ids=["s0", "s1"],
            bounds=(500_500, 4_997_500, 501_500, 4_998_500),
            res=(10.0, 10.0),
            bands=["B04"],
            **kw,
        ),
    ]


def test_failing_reads_hide_signed_urls(signed_coll, object_server, caplog) -> None:
    coll = signed_coll["coll"]
    assert coll.get_numpy(AOI, ["B04"], geometry_crs=32633).shape[0] == 2
    object_server.configure(missing_keys=[signed_coll["keys"][1]])
    texts: list[str] = [repr(coll), str(coll)]
    with caplog.at_level(logging.DEBUG, logger="rasteret_io"):
        for read in _reads(coll):  # raise: the error
            with pytest.raises(FetchError) as ei:
                read()
            texts += [str(ei.value), repr(ei.value), repr(pickle.loads(pickle.dumps(ei.value)))]
            assert "X-Amz-Signature=REDACTED" in str(ei.value) and ei.value.status == 404
        for read in _reads(coll, error_policy="skip"):  # skip: the warnings
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                read()
            assert rec
            texts += [str(w.message) for w in rec]
        object_server.configure(missing_keys=signed_coll["keys"])
        with pytest.raises(ReadError) as nothing:  # nothing readable: names the first failure
            _reads(coll, error_policy="skip")[2]()
        texts += [str(nothing.value), repr(nothing.value.__cause__)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("range fetch failed" in r.getMessage() for r in caplog.records)
    _clean(*texts)


def test_stale_and_budget_errors_hide_signed_urls(signed_coll, object_server) -> None:
    coll = signed_coll["coll"]
    with rasteret.options(memory_budget="1KB"), pytest.raises(MemoryBudgetError) as budget:
        coll.get_numpy(AOI, ["B04"], geometry_crs=32633)
    path = object_server.root / signed_coll["keys"][0]
    path.write_bytes(path.read_bytes() + b"\0" * 10)  # a different size: stale
    with pytest.raises(StaleObjectError) as stale:
        coll.get_numpy(AOI, ["B04"], geometry_crs=32633)
    _clean(str(budget.value), str(stale.value), repr(stale.value))
    assert "X-Amz-Signature=REDACTED" in str(stale.value)
