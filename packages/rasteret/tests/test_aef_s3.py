"""``aef/v1-annual`` end to end on moto's S3 server: the published descriptor (its bucket,
layout and URL-rewrite pattern unchanged) routed to the loopback endpoint, the index planning
every query, only the matching wide shards opened, and pixels equal to GDAL's (rasterio) on
the same 64-band south-up planar COGs, bands chosen by ``A00``..``A63`` through the band map."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.mask
import shapely

import rasteret
from rasteret_catalog import DatasetRegistry
from rasteret_testkit.aef import AEF_BANDS, AefRecord
from rasteret_testkit.aef_serve import AefS3

AEF = "aef/v1-annual"


@pytest.fixture
def aef_on_moto(aef_s3: AefS3, monkeypatch: pytest.MonkeyPatch) -> AefS3:
    """The built-in descriptor with the test bucket's URIs, S3 clients pointed at moto.

    ``AWS_ENDPOINT_URL`` is what a user sets to read a public dataset from a mirror; the
    anonymous pyarrow S3 filesystem rasteret opens for catalog datasets (Parquet) follows it.
    Pixel reads take a backend on that endpoint.
    """
    d = DatasetRegistry.get(AEF)
    assert d is not None
    rasteret.register(dataclasses.replace(d, **aef_s3.descriptor_overrides()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aef_s3.endpoint)
    return aef_s3


def _record(aef: AefS3, tile: str, year: int) -> AefRecord:
    return next(r for r in aef.collection.records if r.tile == tile and r.year == year)


def _sf_box(aef: AefS3) -> tuple[float, float, float, float]:
    """A lon/lat box inside the two San Francisco tiles (not Los Angeles)."""
    a, b = _record(aef, "sf-a", 2022), _record(aef, "sf-b", 2022)
    return (a.bbox[0] + 0.002, a.bbox[1] + 0.002, b.bbox[2] - 0.002, b.bbox[3] - 0.002)


def test_build_aef_from_the_catalog_reads_equal_gdal(aef_on_moto: AefS3) -> None:
    aef = aef_on_moto
    coll = rasteret.build(
        AEF, name="aef-sf", bbox=_sf_box(aef), date_range=("2023-01-01", "2023-12-31")
    )
    assert coll.data_source == AEF and coll.name == "aef-sf"
    assert len(coll) == 2 and coll.bands == list(AEF_BANDS)
    assert coll.epsg == [32610] and coll.crs == ["EPSG:32610"]
    head = coll.head(5)
    assert sorted(head.column("id").to_pylist()) == sorted(
        [_record(aef, "sf-a", 2023).id, _record(aef, "sf-b", 2023).id]
    )
    # the index's https path, rewritten by the descriptor's pattern, is the bucket href
    assert (
        head.column("assets")[0]
        .as_py()["A00"]["href"]
        .startswith("s3://us-west-2.opendata.source.coop/tge-labs/aef/v1/annual/2023/10N/")
    )

    rec = _record(aef, "sf-b", 2023)
    tile = next(t for t in aef.collection.spec.tiles if t.name == rec.tile)
    aoi = shapely.box(tile.x0 + 215, tile.y0 + 35, tile.x0 + 1234, tile.y0 + 1707)
    backend = rasteret.create_backend(
        region=aef.region, default_s3_config={"endpoint": aef.endpoint}
    )
    arr = coll.get_numpy(aoi, ["A00", "A31", "A63"], geometry_crs=rec.epsg, backend=backend)
    assert arr.shape[:2] == (1, 3) and arr.dtype == np.int8  # only sf-b meets the AOI
    with rasterio.open(rec.local_cog) as src:
        ref, _ = rasterio.mask.mask(src, [aoi], crop=True, filled=True, indexes=[1, 32, 64])
        ref17, _ = rasterio.mask.mask(src, [aoi], crop=True, filled=True, indexes=18)
        pts = [(tile.x0 + 5.0, tile.y0 + 5.0), (tile.x0 + 1999.0, tile.y0 + 777.0)]
        expect = [int(v[0]) for v in src.sample(pts, indexes=18)]
    np.testing.assert_array_equal(arr[0], ref)
    assert (arr[0] == -128).any()  # the south-west nodata block is inside the AOI

    xr = coll.get_xarray(aoi, ["A17"], geometry_crs=rec.epsg, backend=backend)
    np.testing.assert_array_equal(xr.A17.isel(time=0, geometry=0).values, ref17)
    assert xr.y.values[0] < xr.y.values[-1]  # rows keep the file's south-up order

    table = pa.table({"x": [p[0] for p in pts], "y": [p[1] for p in pts]})
    sampled = coll.sample_points(table, ["A17"], geometry_crs=rec.epsg, backend=backend)
    got = sampled.filter(pa.compute.equal(sampled["record_id"], rec.id))
    assert [int(v) for v in got.column("value").to_pylist()] == expect


def test_s3_subset_and_read_open_only_the_matching_shard(aef_on_moto: AefS3, counting_fs) -> None:
    aef = aef_on_moto
    fs, log = counting_fs(aef.pyarrow_filesystem())
    d = DatasetRegistry.get(AEF)
    assert d is not None and d.field_roles and d.band_index_map
    coll = rasteret.Collection.from_parquet(
        aef.collection_uri,
        record_index_path=aef.index_uri,
        record_index_field_roles=d.field_roles,
        record_index_band_index_map=d.band_index_map,
        record_index_url_rewrite_patterns=aef.url_rewrite_patterns,
        record_index_filesystem=fs,
        surface_fields=d.surface_fields,
        filter_capabilities=d.filter_capabilities,
        data_source=AEF,
    )
    data = aef.collection_uri.removeprefix("s3://")
    assert len(coll) == 6 and coll.bands == list(AEF_BANDS) and coll.head(2).num_rows == 2
    assert log.files(data) == set()
    rec = _record(aef, "la-a", 2022)
    view = coll.subset(bbox=rec.bbox, date_range=("2022", "2022"))
    assert len(view) == 1 and log.files(data) == set()
    backend = rasteret.create_backend(
        region=aef.region, default_s3_config={"endpoint": aef.endpoint}
    )
    tile = next(t for t in aef.collection.spec.tiles if t.name == rec.tile)
    aoi = shapely.box(tile.x0 + 400, tile.y0 + 400, tile.x0 + 900, tile.y0 + 1100)
    arr = view.get_numpy(aoi, ["A05"], geometry_crs=rec.epsg, backend=backend)
    with rasterio.open(rec.local_cog) as src:
        ref, _ = rasterio.mask.mask(src, [aoi], crop=True, filled=True, indexes=6)
    np.testing.assert_array_equal(arr[0], ref)
    assert log.files(data) == {f"{data}/{rec.source_part}"}
    assert len(aef.collection.shard_paths) == 3
