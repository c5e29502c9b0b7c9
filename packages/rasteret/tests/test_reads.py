"""Pixel-read methods: argument checks up front, then one call into the engine hook."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest

import rasteret


class FakeEngine(types.SimpleNamespace):
    """Records each engine call as (method, view, params)."""

    def __init__(self) -> None:
        super().__init__(calls=[])
        for name in ("get_numpy", "get_xarray", "get_gdf", "sample_points", "read_window"):
            setattr(self, name, self._recorder(name))

    def _recorder(self, name: str):
        def call(view, **params):
            self.calls.append((name, view, params))
            return name

        return call

    async def iterate_rasters(self, view, **params):
        self.calls.append(("iterate_rasters", view, params))
        for rid in view.to_table(["id"]).column(0).to_pylist():
            yield rid


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(rasteret.Collection, "_read_engine", lambda self: fake)
    return fake


@pytest.fixture
def coll(make_records) -> rasteret.Collection:
    return rasteret.as_collection(make_records(4), name="c")


@pytest.mark.parametrize("method", ["get_numpy", "get_xarray", "get_gdf"])
def test_aoi_reads_forward_normalised_arguments(engine, coll, method) -> None:
    with rasteret.options(progress=True):
        out = getattr(coll, method)((0, 0, 1, 1), "B04", cloud_cover_lt=25, max_concurrent=8)
    assert out == method
    name, view, params = engine.calls[-1]
    assert name == method
    assert len(view) == 3  # **filters went through subset
    assert params["bands"] == ["B04"] and params["progress"] is True
    assert params["data_source"] == "sentinel-2-l2a"  # inferred from the collection column
    assert params["geometries"] == (0, 0, 1, 1) and params["max_concurrent"] == 8
    assert params["geometry_crs"] == "auto" and params["all_touched"] is False
    if method == "get_xarray":
        assert params["xr_combine"] == "combine_first"


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
        coll.sample_points([(0.5, 0.5)], "B08", split_column="split", bbox=(0, 0, 1.5, 1))
        == "sample_points"
    )
    _, view, params = engine.calls[-1]
    assert len(view) == 2 and params["bands"] == ["B08"] and params["match"] == "all"


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
    _, _, params = engine.calls[-1]
    assert params["record_ids"] == ["rec-1", "rec-0"] and params["bounds"] == (0.0, 0.0, 10.0, 10.0)


def test_iterate_rasters_and_first_raster(engine, coll, make_records) -> None:
    async def collect():
        return [r async for r in coll.subset(cloud_cover_lt=15).iterate_rasters()]

    assert asyncio.run(collect()) == ["rec-0", "rec-1"]
    assert asyncio.run(coll.get_first_raster()) == "rec-0"
    with pytest.raises(ValueError, match="no records"):
        asyncio.run(coll.subset(cloud_cover_lt=0).get_first_raster())


def test_missing_engine_is_a_clear_error(coll, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "rasteret._engine", None)
    with pytest.raises(NotImplementedError, match="read engine"):
        coll.get_numpy((0, 0, 1, 1), ["B04"])
