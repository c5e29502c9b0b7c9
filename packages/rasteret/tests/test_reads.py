"""Pixel-read methods: argument checks up front, then one call into the read components."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pyproj
import pytest
import shapely

import rasteret


class FakeEngine(types.SimpleNamespace):
    """Records each read call as (method, records, request, options[, output])."""

    def __init__(self) -> None:
        super().__init__(calls=[])
        for name in ("get_numpy", "get_xarray", "get_gdf", "sample_points", "read_window"):
            setattr(self, name, self._recorder(name))

    def _recorder(self, name: str):
        def call(records, request, *rest):
            self.calls.append((name, records, request, *rest))
            return name

        return call

    async def iterate_rasters(self, records, data_source):
        self.calls.append(("iterate_rasters", records, data_source))
        for rid in records.to_table(["id"]).column(0).to_pylist():
            yield rid


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(rasteret.Collection, "_readers", lambda self: fake)
    return fake


@pytest.fixture
def coll(make_records) -> rasteret.Collection:
    return rasteret.as_collection(make_records(4), name="c")


@pytest.mark.parametrize("method", ["get_numpy", "get_xarray", "get_gdf"])
def test_aoi_reads_forward_normalised_arguments(engine, coll, method) -> None:
    with rasteret.options(progress=True):
        out = getattr(coll, method)((0, 0, 1, 1), "B04", cloud_cover_lt=25, max_concurrent=8)
    assert out == method
    name, records, request, *rest = engine.calls[-1]
    options = rest[-1]
    assert name == method
    assert records.to_table().num_rows == 3  # **filters went through subset
    assert request.bands == ("B04",) and options.progress is True
    assert options.data_source == "sentinel-2-l2a"  # inferred from the collection column
    assert request.geometries == (shapely.box(0, 0, 1, 1),) and options.max_concurrent == 8
    assert request.crs == pyproj.CRS.from_epsg(4326)  # geometry_crs="auto" on a bbox tuple
    assert request.all_touched is False
    if method == "get_xarray":
        assert rest[0].xr_combine == "combine_first"


def test_band_check_happens_before_the_engine(engine, coll) -> None:
    with pytest.raises(
        ValueError, match=r"Band\(s\) not found: \['B99'\]\. Available bands: \['B04', 'B08'\]"
    ):
        coll.get_numpy((0, 0, 1, 1), ["B04", "B99"])
    coll.get_numpy((0, 0, 1, 1), ["red"])  # alias through the sentinel-2 band map
    assert len(engine.calls) == 1


def test_bad_filters_and_options_fail_early(engine, coll) -> None:
    with pytest.raises(ValueError, match="after its end"):
        coll.get_gdf((0, 0, 1, 1), ["B04"], date_range=("2025-01-01", "2024-01-01"))
    with pytest.raises(TypeError, match="unexpected keyword"):
        coll.get_gdf((0, 0, 1, 1), ["B04"], cloudcover=3)
    with pytest.raises(ValueError, match="Unknown xr_combine"):
        coll.get_xarray((0, 0, 1, 1), ["B04"], xr_combine="mean")
    with pytest.raises(ValueError, match="max_concurrent"):
        coll.get_numpy((0, 0, 1, 1), ["B04"], max_concurrent=0)
    assert engine.calls == []


def test_sample_points_validation_and_forwarding(engine, coll) -> None:
    with pytest.raises(ValueError, match="match"):
        coll.sample_points([(0.5, 0.5)], ["B04"], match="first")
    with pytest.raises(ValueError, match="max_distance_pixels"):
        coll.sample_points([(0.5, 0.5)], ["B04"], max_distance_pixels=-1)
    with pytest.raises(ValueError, match="return_neighbourhood"):
        coll.sample_points([(0.5, 0.5)], ["B04"], return_neighbourhood="sometimes")
    with pytest.raises(ValueError, match="must be > 0 when return_neighbourhood"):
        coll.sample_points([(0.5, 0.5)], ["B04"], return_neighbourhood="always")
    assert (
        coll.sample_points(
            [shapely.Point(0.5, 0.5)], "B08", split_column="split", bbox=(0, 0, 1.5, 1)
        )
        == "sample_points"
    )
    _, records, request, _options = engine.calls[-1]
    assert records.to_table().num_rows == 2 and request.bands == ("B08",)
    assert request.match == "all"


def test_read_window_validation_and_forwarding(engine, coll) -> None:
    kw: dict[str, Any] = {"bounds": (0, 0, 10, 10), "res": (1, 1), "bands": ["B04"]}
    with pytest.raises(ValueError, match="record_ids"):
        coll.read_window(record_ids=[], **kw)
    with pytest.raises(ValueError, match="xmin < xmax"):
        coll.read_window(record_ids=["rec-0"], **{**kw, "bounds": (10, 0, 0, 10)})
    with pytest.raises(ValueError, match="res"):
        coll.read_window(record_ids=["rec-0"], **{**kw, "res": (0, 1)})
    with pytest.raises(ValueError, match="group_by"):
        coll.read_window(record_ids=["rec-0"], group_by="month", **kw)
    import pyarrow as pa

    assert (
        coll.read_window(record_ids=pa.array(["rec-1", "rec-0"]), group_by="id", **kw)
        == "read_window"
    )
    _, _, request, _options = engine.calls[-1]
    assert request.record_ids == ("rec-1", "rec-0") and request.bounds == (0.0, 0.0, 10.0, 10.0)


def test_iterate_rasters_and_first_raster(engine, coll, make_records) -> None:
    async def collect():
        return [r async for r in coll.subset(cloud_cover_lt=15).iterate_rasters()]

    assert asyncio.run(collect()) == ["rec-0", "rec-1"]
    assert asyncio.run(coll.get_first_raster()) == "rec-0"
    with pytest.raises(ValueError, match="no records"):
        asyncio.run(coll.subset(cloud_cover_lt=0).get_first_raster())


def test_missing_engine_is_a_clear_error(coll, monkeypatch) -> None:
    import sys

    import rasteret.read

    monkeypatch.setitem(sys.modules, "rasteret.read.entry", None)
    # an earlier read in this process left the submodule as an attribute of its package
    monkeypatch.delattr(rasteret.read, "entry", raising=False)
    with pytest.raises(NotImplementedError, match="read engine"):
        coll.get_numpy((0, 0, 1, 1), ["B04"])
