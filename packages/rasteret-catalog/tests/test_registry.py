"""DatasetRegistry, built-in datasets, band maps and cloud configs."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from rasteret_catalog import (
    BandRegistry,
    CloudConfig,
    DatasetDescriptor,
    DatasetRegistry,
    DataSources,
    DuplicateDatasetError,
    UnknownDatasetError,
    asset_key_candidates,
    backend_config_from_cloud_config,
    resolve_band_asset,
    rewrite_url,
    s3_overrides_from_config,
)

BUILTIN_IDS = [
    "earthsearch/sentinel-2-l2a", "earthsearch/landsat-c2-l2", "earthsearch/naip",
    "earthsearch/cop-dem-glo-30", "earthsearch/cop-dem-glo-90", "pc/sentinel-2-l2a",
    "pc/io-lulc-annual-v02", "pc/alos-dem", "pc/nasadem", "pc/esa-worldcover", "pc/usda-cdl",
    "aef/v1-annual",
]  # fmt: skip
ES = "https://earth-search.aws.element84.com/v1"
PC = "https://planetarycomputer.microsoft.com/api/stac/v1"


def test_builtins_are_package_data_and_complete():
    raw = json.loads(
        resources.files("rasteret_catalog").joinpath("data/builtin_datasets.json").read_text()
    )
    assert [d["id"] for d in raw["datasets"]] == BUILTIN_IDS
    assert DatasetRegistry.ids() == BUILTIN_IDS
    for d in DatasetRegistry.list():
        assert DatasetRegistry.is_builtin(d.id) and not d.static_catalog
        if d.id.startswith("earthsearch/"):
            assert d.stac_api == ES
        if d.id.startswith("pc/"):
            assert d.stac_api == PC and d.requires_auth


def test_builtin_details():
    s2 = DatasetRegistry.require("earthsearch/sentinel-2-l2a")
    assert s2.stac_collection == "sentinel-2-l2a" and s2.band_map["B04"] == "red"
    assert s2.band_map["B8A"] == "nir08" and len(s2.band_map) == 13
    ls = DatasetRegistry.require("earthsearch/landsat-c2-l2")
    assert ls.requires_auth and ls.cloud_config["requester_pays"]
    assert ls.cloud_config["url_patterns"] == {
        "https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"
    }
    naip = DatasetRegistry.require("earthsearch/naip")
    assert naip.band_index_map == {"R": 0, "G": 1, "B": 2, "NIR": 3} and set(
        naip.band_map.values()
    ) == {"image"}
    assert DatasetRegistry.require("pc/sentinel-2-l2a").azure_asset_url.endswith("sentinel2-l2")
    assert DatasetRegistry.require("pc/nasadem").band_map == {"DEM": "elevation"}
    assert DatasetRegistry.require("pc/usda-cdl").example_bbox == (-93.8, 41.9, -93.6, 42.1)
    aef = DatasetRegistry.require("aef/v1-annual")
    assert (
        aef.band_map is None and aef.band_index_map["A63"] == 63 and len(aef.band_index_map) == 64
    )
    assert aef.field_roles["id"] == "fid" and aef.href_column == "path"
    assert aef.collection_uri.endswith("/data") and aef.build_source_uri.endswith("index.parquet")


def test_band_and_cloud_registration_follow_descriptors():
    assert BandRegistry.get("earthsearch/sentinel-2-l2a")["B04"] == "red"
    cfg = CloudConfig.get_config("EARTHSEARCH/LANDSAT-C2-L2")
    assert cfg is not None and cfg.requester_pays and cfg.region == "us-west-2"
    d = DatasetDescriptor(
        id="me/x", name="X", band_map={"A": "a"}, cloud_config={"provider": "gcp"}
    )
    DatasetRegistry.register(d)
    assert BandRegistry.get("me/x") == {"A": "a"}
    assert CloudConfig.get_config("me/x").provider == "gcp"
    DatasetRegistry.unregister("me/x")
    assert BandRegistry.get("me/x") == {} and CloudConfig.get_config("me/x") is None


def test_register_get_list_unregister_search():
    d = DatasetDescriptor(id="me/tiles", name="My tiles", description="Drone mosaics")
    DatasetRegistry.register(d)
    assert DatasetRegistry.get("me/tiles") is d and DatasetRegistry.ids()[-1] == "me/tiles"
    assert [x.id for x in DatasetRegistry.search("DRONE")] == ["me/tiles"]
    d2 = DatasetDescriptor(id="me/tiles", name="Replaced")
    DatasetRegistry.register(d2)
    assert DatasetRegistry.get("me/tiles").name == "Replaced"
    with pytest.raises(DuplicateDatasetError, match="me/tiles"):
        DatasetRegistry.register(d, overwrite=False)
    assert DatasetRegistry.unregister("me/tiles") is d2
    assert (
        DatasetRegistry.get("me/tiles") is None and DatasetRegistry.unregister("me/tiles") is None
    )
    with pytest.raises(TypeError):
        DatasetRegistry.register({"id": "x"})  # type: ignore[arg-type]


def test_unknown_id_lists_available():
    with pytest.raises(UnknownDatasetError) as ei:
        DatasetRegistry.require("earthsearch/sentinel-3")
    assert isinstance(ei.value, KeyError)
    assert "earthsearch/sentinel-2-l2a" in str(ei.value) and "sentinel-3" in str(ei.value)


def test_band_registry_returns_copies_and_resolution():
    m = BandRegistry.get(DataSources.SENTINEL2)
    m["B04"] = "mutated"
    assert BandRegistry.get(DataSources.SENTINEL2)["B04"] == "red"
    assert BandRegistry.get("nope", {"a": "b"}) == {"a": "b"} and BandRegistry.get("nope") == {}
    assert "landsat-c2-l2" in BandRegistry.list_registered()
    assert asset_key_candidates("B04", m) == ["B04", "mutated"]
    s2 = BandRegistry.get(DataSources.SENTINEL2)
    assert asset_key_candidates("red", s2) == ["red", "B04"]
    assert resolve_band_asset("B04", ["red", "nir"], s2) == "red"
    assert resolve_band_asset("B04", ["B04", "red"], s2) == "B04"
    assert resolve_band_asset("red", ["B04"], s2) == "B04"
    assert resolve_band_asset("B05", ["red"], s2) is None
    with pytest.raises(ValueError):
        BandRegistry.register("x", {"": "a"})


def test_cloud_config_helpers():
    cfg = CloudConfig.get_config("landsat-c2-l2")
    url = "https://landsatlook.usgs.gov/data/collection02/x.tif"
    assert rewrite_url(url, cfg) == "s3://usgs-landsat/collection02/x.tif"
    assert rewrite_url("https://other/x", cfg) == "https://other/x"
    assert rewrite_url(url, None) == url
    assert s3_overrides_from_config(cfg) == {
        "usgs-landsat": {"region": "us-west-2", "request_payer": "true"}
    }
    open_cfg = CloudConfig(provider="aws", url_patterns={"https://d/": "s3://open-bucket/p/"})
    assert s3_overrides_from_config(open_cfg) == {
        "open-bucket": {"region": "us-west-2", "skip_signature": "true"}
    }
    bc = backend_config_from_cloud_config(cfg)
    assert bc["default_s3_config"] == {"request_payer": "true", "region": "us-west-2"}
    assert backend_config_from_cloud_config(open_cfg)["default_s3_config"] is None
    assert backend_config_from_cloud_config(None)["url_patterns"] == {}
    with pytest.raises(TypeError):
        CloudConfig.register("x", {"provider": "aws"})  # type: ignore[arg-type]


def test_snapshot_restore_round_trip():
    before = DatasetRegistry.snapshot()
    DatasetRegistry.register(
        DatasetDescriptor(id="snap/x", name="X", band_map={"A": "a"}), local=True
    )
    CloudConfig.register("snap/y", CloudConfig(provider="aws"))
    BandRegistry._maps["sentinel-2-l2a"]["B04"] = "mutated"  # even in-place edits are undone
    assert DatasetRegistry.get("snap/x") is not None
    DatasetRegistry.restore(before)
    assert DatasetRegistry.get("snap/x") is None and not DatasetRegistry.is_local("snap/x")
    assert CloudConfig.get_config("snap/y") is None
    assert BandRegistry.get("snap/x") == {}
    assert BandRegistry.get("sentinel-2-l2a")["B04"] == "red"
    assert DatasetRegistry.snapshot() == before


def test_band_constants_and_default_identity():
    from rasteret_catalog import LANDSAT_C2L2_BANDS, SENTINEL2_BANDS

    assert SENTINEL2_BANDS["B04"] == "red" and LANDSAT_C2L2_BANDS["B4"] == "red"
    assert dict(SENTINEL2_BANDS) == BandRegistry.get("sentinel-2-l2a")
    with pytest.raises(TypeError):
        SENTINEL2_BANDS["B04"] = "x"  # type: ignore[index]
    default = {"X1": "custom"}
    assert BandRegistry.get("nope", default) is default  # 0.4.1: the caller's own object
    got = BandRegistry.get("sentinel-2-l2a")
    got["B04"] = "changed"  # a copy: the registry is untouched
    assert BandRegistry.get("sentinel-2-l2a")["B04"] == "red"
