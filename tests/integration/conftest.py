"""Fixtures of the read-trust tests: GDAL COGs served by the loopback object server, and
collections built from them with header enrichment (ETag / size recorded)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from rasterio.warp import transform_bounds

import rasteret
from rasteret_testkit.cogs import sample_array, write_cog

TRUST_T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
TRUST_AOI = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)  # EPSG:32633


def _serve(server: Any, key: str, path: Path) -> str:
    dst = server.root / key
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(path.read_bytes())
    return server.url(key)


def records_table(urls: list[str], lonlat: tuple[float, ...], prefix: str = "s") -> pa.Table:
    """One record per URL (band ``B04``), one day apart."""
    n = len(urls)
    return pa.table(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "datetime": pa.array(
                [dt.datetime(2024, 5, 1 + i, tzinfo=dt.UTC) for i in range(n)],
                pa.timestamp("us", "UTC"),
            ),
            "geometry": [shapely.to_wkb(shapely.box(*lonlat))] * n,
            "assets": [{"B04": {"href": u}} for u in urls],
        }
    )


@pytest.fixture(scope="session")
def serve_cog(
    tmp_path_factory: pytest.TempPathFactory, object_server_session: Any
) -> Callable[..., tuple[Path, str]]:
    """``serve_cog(key, array, **write_cog_options) -> (local path, URL)``."""
    d = tmp_path_factory.mktemp("trust-cogs")

    def make(key: str, data: np.ndarray, **kw: Any) -> tuple[Path, str]:
        kw.setdefault("transform", TRUST_T0)
        kw.setdefault("nodata", 0)
        kw.setdefault("blocksize", 128)
        path = write_cog(d / key.replace("/", "_"), data, **kw)
        return path, _serve(object_server_session, key, path)

    return make


@pytest.fixture(scope="session")
def trust_served(serve_cog: Callable[..., tuple[Path, str]]) -> dict[str, Any]:
    """Three dates of one uint16 band (400 x 500 px, 128 px DEFLATE tiles) under ``trust/``."""
    files, urls = [], []
    for i in range(3):
        path, url = serve_cog(
            f"trust/s{i}/B04.tif", sample_array("uint16", 1, 400, 500, seed=40 + i)
        )
        files.append(path)
        urls.append(url)
    import rasterio

    with rasterio.open(files[0]) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return {"files": files, "urls": urls, "lonlat": lonlat}


@pytest.fixture(scope="session")
def trust_coll(trust_served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The collection of :func:`trust_served` (records ``s0``, ``s1``, ``s2``)."""
    return rasteret.build_from_table(
        records_table(trust_served["urls"], trust_served["lonlat"]),
        name="trust",
        workspace_dir=tmp_path_factory.mktemp("trust-ws"),
        enrich_cog=True,
    )
