"""Shared helpers for rasteret-ingest tests (servers come from the rasteret_testkit plugin)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rasteret_io import create_backend
from rasteret_io.retry import RetryPolicy
from rasteret_testkit.cogs import sample_array, write_cog

#: Fast retries: transient faults are retried quickly; a dead port fails fast.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.02, timeout=5.0)

#: Footprints (lon/lat) of the two UTM zones used by the fixture COGs.
UTM33_BBOX = (14.99, 45.14, 15.03, 45.17)


def s3_backend(object_server: Any) -> Any:
    """A routing backend reading ``s3://bucket/key`` from the object server (path-style)."""
    return create_backend(
        default_s3_config={
            "endpoint": object_server.base_url,
            "skip_signature": "true",
            "allow_http": "true",
            "region": "us-east-1",
        }
    )


@pytest.fixture
def moto_fs(moto_s3: Any) -> Any:
    """A pyarrow S3 filesystem on the moto server (for remote tables and workspaces)."""
    from pyarrow import fs as pafs

    return pafs.S3FileSystem(
        access_key=moto_s3.access_key_id,
        secret_key=moto_s3.secret_access_key,
        endpoint_override=moto_s3.endpoint,
        region=moto_s3.region,
        scheme="http",
    )


@pytest.fixture
def backend(object_server: Any, cog_pool: dict[str, Path]) -> Any:
    """Backend for HTTP and S3 URLs of the object server (the COG pool exists)."""
    return s3_backend(object_server)


@pytest.fixture(scope="session")
def cog_pool(object_server_session: Any) -> dict[str, Path]:
    """GDAL COGs under ``pool/`` of the object server root (written once per session)."""
    root = Path(object_server_session.root) / "pool"
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    specs: dict[str, dict[str, Any]] = {
        "u16": {"data": sample_array("uint16", 1, 300, 400, seed=1), "nodata": 0},
        "u16b": {"data": sample_array("uint16", 1, 300, 400, seed=2), "nodata": 0},
        "f32_4326": {
            "data": sample_array("float32", 1, 200, 200, seed=3),
            "crs": "EPSG:4326",
            "transform": (0.0001, 0.0, 15.0, 0.0, -0.0001, 45.17),
        },
        "planar": {
            "data": sample_array("uint16", 3, 300, 400, seed=4),
            "driver": "GTiff",
            "interleave": "BAND",
            "blocksize": 128,
        },
        "rgb": {"data": sample_array("uint8", 3, 256, 256, seed=5), "blocksize": 128},
    }
    for name, spec in specs.items():
        spec = dict(spec)
        data = spec.pop("data")
        spec.setdefault("transform", (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0))
        out[name] = write_cog(root / f"{name}.tif", data, **spec)
    return out


def item_dict(
    item_id: str,
    when: dt.datetime,
    hrefs: dict[str, str],
    *,
    bbox: tuple[float, float, float, float] = UTM33_BBOX,
    properties: dict[str, Any] | None = None,
    collection: str = "test-s2",
) -> dict[str, Any]:
    """A minimal STAC item dict with one asset per ``hrefs`` entry."""
    x0, y0, x1, y1 = bbox
    props = {"datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), **(properties or {})}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        },
        "bbox": list(bbox),
        "properties": props,
        "links": [],
        "assets": {
            k: {"href": v, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
            for k, v in hrefs.items()
        },
    }


def collection_dict(cid: str = "test-s2") -> dict[str, Any]:
    """A minimal STAC collection dict."""
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": "test collection",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


@pytest.fixture
def make_items() -> Callable[..., list[dict[str, Any]]]:
    """``make(n, hrefs_for(i) -> dict, start=date, step_days=5, **item_kwargs)``."""

    def make(
        n: int,
        hrefs_for: Callable[[int], dict[str, str]],
        *,
        start: dt.datetime = dt.datetime(2024, 1, 1, 10, 0),
        step_days: int = 5,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        return [
            item_dict(f"item-{i}", start + dt.timedelta(days=step_days * i), hrefs_for(i), **kwargs)
            for i in range(n)
        ]

    return make


class Helpers:
    """Non-fixture helpers, reachable from tests through the ``h`` fixture (importlib mode)."""

    FAST_RETRY = FAST_RETRY
    UTM33_BBOX = UTM33_BBOX
    item_dict = staticmethod(item_dict)
    collection_dict = staticmethod(collection_dict)
    s3_backend = staticmethod(s3_backend)


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    """The :class:`Helpers` namespace."""
    return Helpers
