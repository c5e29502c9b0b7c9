"""One band-naming rule for every builder (issue #13 item 5), on a static STAC catalog and COGs
served on loopback.

Without a band map the band codes are the asset keys (STAC and table builds alike); a band map
(explicit, or registered for the data source / catalog dataset) renames; both names resolve
at read time; assets that are not indexed are named in a warning and the build report.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pystac
import pytest
import rasterio
import rasterio.mask
import shapely
from rasterio.warp import transform_bounds, transform_geom

import rasteret
from rasteret_ingest import IngestWarning
from rasteret_testkit.cogs import sample_array, write_cog

T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
T_PAN = (5.0, 0.0, 500_000.0, 0.0, -5.0, 5_000_000.0)
AOI_UTM = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)
AOI = shapely.geometry.shape(
    transform_geom("EPSG:32633", "EPSG:4326", shapely.geometry.mapping(AOI_UTM))
)


def _item(i: int, assets: dict[str, dict[str, Any]], lonlat: tuple[float, ...]) -> pystac.Item:
    item = pystac.Item(
        f"scene-{i}",
        shapely.geometry.mapping(shapely.box(*lonlat)),
        list(lonlat),
        dt.datetime(2024, 3, 1 + 10 * i, tzinfo=dt.UTC),
        {"proj:code": "EPSG:32633"},
    )
    for key, spec in assets.items():
        item.add_asset(key, pystac.Asset.from_dict(spec))
    return item


@pytest.fixture(scope="module")
def served(tmp_path_factory, object_server_session) -> dict[str, Any]:
    """COGs (red, nir at 10 m, pan at 5 m) and two static catalogs over them, on loopback."""
    srv = object_server_session
    d = tmp_path_factory.mktemp("bands")
    files: dict[str, Path] = {}
    for i in range(2):
        for band, transform, shape in (("red", T0, (400, 500)), ("nir", T0, (400, 500)),
                                       ("pan", T_PAN, (800, 1000))):  # fmt: skip
            path = write_cog(
                d / f"s{i}_{band}.tif",
                sample_array("uint16", 1, *shape, seed=60 + 3 * i + len(band)),
                transform=transform,
                nodata=0,
                blocksize=128,
            )
            files[f"{i}/{band}"] = path
            dst = srv.root / "bands" / f"s{i}" / f"{band}.tif"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(path.read_bytes())
    (srv.root / "bands" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with rasterio.open(files["0/red"]) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"

    def catalog(name: str, asset_sets: list[dict[str, dict[str, Any]]]) -> str:
        cat = pystac.Catalog(f"{name}-root", "test catalog")
        coll = pystac.Collection(
            name,
            "test collection",
            pystac.Extent(
                pystac.SpatialExtent([list(lonlat)]),
                pystac.TemporalExtent([[dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None]]),
            ),
        )
        cat.add_child(coll)
        for i, assets in enumerate(asset_sets):
            coll.add_item(_item(i, assets, lonlat))
        root = d / name
        cat.normalize_hrefs(str(root))
        cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        shutil.copytree(root, srv.root / "cats" / name, dirs_exist_ok=True)
        return srv.url(f"cats/{name}/catalog.json")

    def keyed(i: int) -> dict[str, dict[str, Any]]:  # Earth Search style: common-name keys
        return {
            band: {"href": srv.url(f"bands/s{i}/{band}.tif"), "type": cog, "roles": ["data"]}
            for band in ("red", "nir", "pan")
        } | {
            "thumbnail": {
                "href": srv.url("bands/thumb.png"),
                "type": "image/png",
                "roles": ["thumbnail"],
            },
            "metadata": {"href": srv.url("bands/meta.xml"), "type": "application/xml"},
        }

    def coded(i: int) -> dict[str, dict[str, Any]]:  # Planetary Computer style: codes + eo:bands
        return {
            "B04": {
                "href": srv.url(f"bands/s{i}/red.tif"),
                "type": cog,
                "roles": ["data"],
                "eo:bands": [{"name": "B04", "common_name": "red"}],
            },
        }

    return {
        "files": files,
        "keyed": catalog("my-keyed", [keyed(0), keyed(1)]),
        "coded": catalog("my-coded", [coded(0), coded(1)]),
        "href": lambda i, band: srv.url(f"bands/s{i}/{band}.tif"),
        "lonlat": lonlat,
    }


def _mask(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        data, _ = rasterio.mask.mask(src, [AOI_UTM], crop=True, filled=True, nodata=src.nodata)
    return data[0]


def _stac(served: dict[str, Any], tmp_path: Path, url: str, collection: str, **kw: Any) -> Any:
    return rasteret.build_from_stac(
        name=collection,
        stac_api=url,
        collection=collection,
        static_catalog=True,
        workspace_dir=tmp_path,
        **kw,
    )


def test_stac_without_band_map_keeps_asset_keys_and_resolves_aliases(served, tmp_path) -> None:
    with pytest.warns(IngestWarning, match=r"1 asset\(s\) .* not indexed .*: thumbnail") as rec:
        coll = _stac(served, tmp_path, served["keyed"], "my-keyed")
    assert "metadata" not in str(rec[0].message)  # documents are not data assets
    assert coll.bands == ["red", "nir", "pan"]  # nothing renamed, nothing dropped
    red = coll.get_numpy(AOI, ["red"])
    assert np.array_equal(red[0], _mask(served["files"]["0/red"]))  # GDAL is the oracle
    # the Sentinel-2 codes of these common-name keys resolve too (0.4.1 code keeps working)
    assert np.array_equal(coll.get_numpy(AOI, ["B04"]), red)
    assert np.array_equal(coll.get_numpy(AOI, ["B08"]), coll.get_numpy(AOI, ["nir"]))
    x = coll.get_xarray(AOI, ["B04", "pan"])
    assert set(x.data_vars) == {"B04", "pan"}
    pan = coll.get_numpy(AOI, ["pan"])
    assert np.array_equal(pan[0], _mask(served["files"]["0/pan"]))
    with pytest.raises(rasteret.errors.BandNotFoundError, match="Available bands"):
        coll.get_numpy(AOI, ["swir16"])
    # the aliases live in the collection: a reload resolves them as well
    again = rasteret.load(next(tmp_path.glob("*_stac")))
    assert np.array_equal(again.get_numpy(AOI, ["B04"]), red)


def test_build_from_table_follows_the_same_rule(served, tmp_path) -> None:
    table = pa.table(
        {
            "id": ["scene-0"],
            "datetime": pa.array([dt.datetime(2024, 3, 1)], pa.timestamp("us")),
            "geometry": [shapely.to_wkb(shapely.box(*served["lonlat"]))],
            "assets": [{b: {"href": served["href"](0, b)} for b in ("red", "nir", "pan")}],
        }
    )
    coll = rasteret.build_from_table(table, name="t", workspace_dir=tmp_path, enrich_cog=True)
    assert sorted(coll.bands) == ["nir", "pan", "red"]
    stac = _stac(served, tmp_path / "s", served["keyed"], "my-keyed")
    assert np.array_equal(coll.get_numpy(AOI, ["red"]), stac.get_numpy(AOI, ["red"])[:1])


def test_common_names_of_coded_assets_resolve(served, tmp_path) -> None:
    coll = _stac(served, tmp_path, served["coded"], "my-coded")
    assert coll.bands == ["B04"]
    assert np.array_equal(coll.get_numpy(AOI, ["red"]), coll.get_numpy(AOI, ["B04"]))


def test_band_maps_rename_and_both_names_resolve(served, tmp_path) -> None:
    with pytest.warns(
        IngestWarning, match=r"3 asset\(s\) .*not in the band_map given.*nir, pan, thumbnail"
    ):
        explicit = _stac(
            served, tmp_path / "e", served["keyed"], "my-keyed", band_map={"RED": "red"}
        )
    assert explicit.bands == ["RED"]
    assert np.array_equal(explicit.get_numpy(AOI, ["red"]), explicit.get_numpy(AOI, ["RED"]))
    # a registered data source (the built-in Sentinel-2 map, as catalog datasets have) renames
    # exactly as rasteret 0.4.1 did
    with pytest.warns(IngestWarning, match="registered for 'sentinel-2-l2a'.*pan"):
        s2 = _stac(
            served, tmp_path / "r", served["keyed"], "my-keyed", data_source="sentinel-2-l2a"
        )
    assert s2.bands == ["B04", "B08"]
    assert np.array_equal(s2.get_numpy(AOI, ["red"]), s2.get_numpy(AOI, ["B04"]))
