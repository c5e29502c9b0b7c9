"""Typed requests: built once from the public keywords, frozen and hashable by value."""

from __future__ import annotations

import dataclasses
import importlib
import pickle

import pyarrow as pa
import pytest
import shapely

import rasteret
from rasteret.errors import (
    ROOTS,
    BandNotFoundError,
    CatalogError,
    CogError,
    IngestError,
    InvalidInputError,
    NoDataError,
    RasteretError,
    RasteretIOError,
    UnknownDatasetError,
)
from rasteret.read.backends import backend_for_config, read_backend
from rasteret.read.requests import (
    AoiRequest,
    Chunking,
    GridRequest,
    PointRequest,
    ReadOptions,
    XarrayOptions,
    check_bands,
)
from rasteret_catalog import CloudConfig


def test_read_options_resolve_once_and_hash_by_value() -> None:
    cfg = CloudConfig(provider="aws", url_patterns={"https://x/": "s3://b/"})
    a = ReadOptions.build(data_source="s2", max_concurrent=8, cloud_config=cfg)
    b = ReadOptions.build(
        data_source="s2",
        max_concurrent=8,
        cloud_config=CloudConfig("aws", url_patterns={"https://x/": "s3://b/"}),
    )
    assert a == b and hash(a) == hash(b) and a.progress is False
    with rasteret.options(progress=True):
        assert ReadOptions.build(data_source="").progress is True  # None -> global option
    assert ReadOptions.build(data_source="", cloud_config={"provider": "gcp"}).cloud_config == (
        CloudConfig(provider="gcp")
    )
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(InvalidInputError, match="max_concurrent"):
            ReadOptions.build(data_source="", max_concurrent=bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.max_concurrent = 1  # type: ignore[misc]


def test_aoi_request_normalises_geometries_at_the_top() -> None:
    req = AoiRequest.build((0, 0, 1, 1), ("B04",), what="get_numpy")
    same = AoiRequest.build(shapely.box(0, 0, 1, 1), ("B04",), what="get_numpy")
    assert req == same and hash(req) == hash(same)
    assert req.lonlat_bounds() == (0.0, 0.0, 1.0, 1.0)
    table = pa.table({"geometry": [shapely.box(0, 0, 1, 1).wkb], "name": ["a"]})
    with_attrs = AoiRequest.build(table, ("B04",), what="get_gdf", geometry_column="geometry",
                                  geometry_crs=4326)  # fmt: skip
    assert with_attrs.attributes.column_names == ["name"] and with_attrs == req
    with pytest.raises(InvalidInputError, match="get_numpy needs geometries"):
        AoiRequest.build(None, ("B04",), what="get_numpy")
    with pytest.raises(TypeError, match="Polygon"):
        AoiRequest.build(shapely.Point(0, 0), ("B04",), what="get_numpy")


def test_xarray_options_parse_chunks_once() -> None:
    assert XarrayOptions.build().chunks is None
    assert XarrayOptions.build(chunks="auto").chunks == Chunking(1, 1024, 1024)
    assert XarrayOptions.build(chunks=-1).chunks == Chunking(None, None, None)
    assert XarrayOptions.build(chunks={"y": 256, "x": -1}).chunks == Chunking(1, 256, None)
    hash(XarrayOptions.build(chunks={"time": 2}))
    for bad in (0, "big", {"z": 1}, {"y": 0}):
        with pytest.raises(InvalidInputError, match="chunks"):
            XarrayOptions.build(chunks=bad)
    with pytest.raises(InvalidInputError, match="Unknown xr_combine"):
        XarrayOptions.build(xr_combine="mean")


def test_point_and_grid_requests() -> None:
    pts = PointRequest.build([shapely.Point(1, 2), shapely.Point(3, 4)], ("B04",))
    assert pts.epsg == 4326 and list(pts.xs) == [1.0, 3.0] and list(pts.ys) == [2.0, 4.0]
    hash(pts)
    grid = GridRequest.build(pa.array(["b", "a"]), ("B04",), bounds=(0, 0, 10, 10), res=(1, 2))
    assert grid.record_ids == ("b", "a") and grid.res == (1.0, 2.0)
    assert pickle.loads(pickle.dumps(grid)) == grid


def test_check_bands_resolves_through_the_band_map() -> None:
    assert check_bands("red", ["B04"], {"B04": "red"}) == ("red",)
    assert check_bands(["B04"], [], None) == ("B04",)  # nothing to check against
    with pytest.raises(BandNotFoundError, match=r"Band\(s\) not found: \['B99'\]"):
        check_bands(["B99"], ["B04"], None)


def test_backends_are_cached_on_the_config_value() -> None:
    one = backend_for_config(CloudConfig(provider="aws", region="eu-west-1"))
    assert backend_for_config(CloudConfig(provider="aws", region="eu-west-1")) is one
    assert backend_for_config(CloudConfig(provider="aws", region="us-east-1")) is not one
    mine = object()
    assert read_backend(ReadOptions(backend=mine)) is mine  # type: ignore[arg-type]
    assert read_backend(ReadOptions(data_source="no-such-source")) is None


def test_nothing_to_read_is_a_no_data_error(make_records) -> None:
    coll = rasteret.as_collection(make_records(3))
    with pytest.raises(NoDataError, match="no record intersects") as info:
        coll.get_numpy((100.0, 50.0, 100.5, 50.5), ["B04"])
    assert isinstance(info.value, ValueError)


def test_errors_of_every_package_are_reexported_with_one_root_each() -> None:
    import rasteret.errors as errors

    assert (RasteretError, IngestError, RasteretIOError, CogError, CatalogError) == ROOTS
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, ROOTS), name
    with pytest.raises(UnknownDatasetError) as info:  # the catalog's class, a KeyError
        rasteret.build("nope/nothing", name="x")
    assert isinstance(info.value, KeyError) and isinstance(info.value, RasteretError)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("rasteret.catalog", ["DatasetDescriptor", "DatasetRegistry", "export_local_descriptor"]),
        ("rasteret.cloud", ["CloudConfig", "StorageBackend", "ObstoreBackend"]),
        ("rasteret.constants", ["BandRegistry", "DataSources"]),
        ("rasteret.types", ["POINT_SAMPLES_SCHEMA", "POINT_SAMPLES_NEIGHBORHOOD_SCHEMA"]),
        ("rasteret.core.collection", ["Collection"]),
        ("rasteret.integrations.torchgeo", ["RasteretGeoDataset"]),
    ],
)
def test_0_4_1_module_paths(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is not None
    assert rasteret.core.collection.Collection is rasteret.Collection
