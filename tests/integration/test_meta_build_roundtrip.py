"""End to end through the meta package: real GDAL COGs, ingest enrichment, STAC API on loopback.

build -> subset -> export -> load, checked against rasterio's view of the same files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import rasteret

rasterio = pytest.importorskip("rasterio")
shapely = pytest.importorskip("shapely")


def _lonlat_box(path: Path) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        return tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds))  # type: ignore[return-value]


@pytest.fixture
def cogs(cog_factory: Any) -> dict[str, Path]:
    return {
        "B04": cog_factory(dtype="uint16", seed=1, height=300, width=400),
        "B08": cog_factory(dtype="uint16", seed=2, height=300, width=400),
    }


def _record_table(cogs: dict[str, Path], n: int = 3) -> pa.Table:
    box = _lonlat_box(cogs["B04"])
    start = dt.datetime(2024, 3, 31, 8, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": [f"scene-{i}" for i in range(n)],
            "datetime": pa.array(
                [start + dt.timedelta(hours=12 * i) for i in range(n)], pa.timestamp("us", "UTC")
            ),
            "geometry": [shapely.to_wkb(shapely.box(*box))] * n,
            "assets": [{b: {"href": str(p)} for b, p in cogs.items()} for _ in range(n)],
            "eo:cloud_cover": [5.0, 50.0, 15.0][:n],
        }
    )


def test_build_from_table_enriches_local_cogs(cogs: dict[str, Path], tmp_path: Path) -> None:
    c = rasteret.build_from_table(
        _record_table(cogs),
        name="local-cogs",
        data_source="local",
        workspace_dir=tmp_path / "ws",
        enrich_cog=True,
    )
    assert c.name == "local-cogs" and len(c) == 3
    assert sorted(c.bands) == ["B04", "B08"]
    assert c.epsg == [32633] and c.crs == ["EPSG:32633"]
    with rasterio.open(cogs["B04"]) as src:
        assert c.native_res("B04") == (abs(src.res[0]), abs(src.res[1]))
        fp = c.footprints(band="B04")
        assert fp.crs.to_epsg() == 32633
        assert fp.geometry.iloc[0].bounds == pytest.approx(tuple(src.bounds))
    # subset (the date-only end keeps the 20:00 scene of 03-31) -> export -> load
    view = c.subset(date_range=("2024-03-31", "2024-03-31"), cloud_cover_lt=60)
    assert view.to_table(["id"]).column(0).to_pylist() == ["scene-0", "scene-1"]
    view.name = "march"
    view.export(tmp_path / "ws" / "march_records")
    back = rasteret.load(tmp_path / "ws" / "march_records")
    assert (back.name, back.data_source, len(back)) == ("march", "local", 2)
    meta = back.to_table(["B08_metadata"]).column(0).to_pylist()[0]
    with rasterio.open(cogs["B08"]) as src:
        assert (meta["image_width"], meta["image_height"]) == (src.width, src.height)
        assert meta["dtype"] == src.dtypes[0]
    listing = {d["name"] for d in rasteret.Collection.list_collections(tmp_path / "ws")}
    assert listing == {"local-cogs", "march"}


@pytest.fixture
def stac_api(cogs: dict[str, Path], object_server: Any, stac_api_factory: Any) -> tuple[str, tuple]:
    """A loopback STAC API with two items whose red/nir assets are served over HTTP."""
    urls = {b: object_server.put(f"meta-stac/{b}.tif", p.read_bytes()) for b, p in cogs.items()}
    box = _lonlat_box(cogs["B04"])
    poly = shapely.geometry.mapping(shapely.box(*box))
    items = [
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": f"item-{i}",
            "geometry": poly,
            "bbox": list(box),
            "properties": {
                "datetime": f"2024-04-0{i + 1}T10:00:00Z",
                "eo:cloud_cover": 10.0 * i,
                "proj:epsg": 32633,
            },
            "assets": {
                "red": {"href": urls["B04"], "type": "image/tiff"},
                "nir": {"href": urls["B08"], "type": "image/tiff"},
            },
            "links": [],
        }
        for i in range(2)
    ]
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "test-s2",
        "description": "test",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [list(box)]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }
    return stac_api_factory(collection, items), box


def test_build_from_stac_and_cache_reuse(stac_api: tuple[str, tuple], tmp_path: Path) -> None:
    api, box = stac_api
    kwargs: dict[str, Any] = {
        "name": "My S2",
        "collection": "test-s2",
        "band_map": {"B04": "red", "B08": "nir"},
        "bbox": box,
        "date_range": ("2024-04-01", "2024-04-02"),
        "workspace_dir": tmp_path / "ws",
    }
    c = rasteret.build_from_stac(stac_api=api, **kwargs)
    assert len(c) == 2 and c.bands == ["B04", "B08"] and c.data_source == "test-s2"
    assert c.name == "my-s2_202404-04_test-s2"
    assert (tmp_path / "ws" / "my-s2_202404-04_test-s2_stac").is_dir()
    # cached: an unreachable API is never contacted
    again = rasteret.build_from_stac(stac_api="http://127.0.0.1:9/unreachable", **kwargs)
    assert len(again) == 2 and again.name == c.name
    assert len(again.subset(cloud_cover_lt=5)) == 1


def test_catalog_build_and_cli_route_to_stac(stac_api: tuple[str, tuple], tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from rasteret_catalog import save_local_descriptor

    api, box = stac_api
    d = rasteret.DatasetDescriptor(
        id="loopback/s2",
        name="Loopback S2",
        stac_api=api,
        stac_collection="test-s2",
        band_map={"B04": "red", "B08": "nir"},
    )
    rasteret.register(d)
    try:
        c = rasteret.build(
            "loopback/s2",
            name="cat",
            bbox=box,
            date_range=("2024-04-01", "2024-04-01"),
            workspace_dir=tmp_path / "ws",
        )
        assert len(c) == 1 and c.data_source == "loopback/s2" and c.bands == ["B04", "B08"]
    finally:
        rasteret.DatasetRegistry.unregister("loopback/s2")
    registry = tmp_path / "datasets.local.json"
    save_local_descriptor(d, registry)
    env = dict(os.environ, RASTERET_LOCAL_DATASETS_PATH=str(registry), HOME=str(tmp_path))
    bbox_arg = ",".join(str(v) for v in box)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rasteret.cli",
            "datasets",
            "build",
            "loopback/s2",
            "cli",
            "--bbox",
            bbox_arg,
            "--date-range",
            "2024-04-01,2024-04-02",
            "--workspace-dir",
            str(tmp_path / "ws"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["scene_count"] == 2
    assert info["path"] == str(tmp_path / "ws" / "cli_202404-04_loopback-s2_stac")
