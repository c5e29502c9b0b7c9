"""Top-level functions: validation, routing, load / as_collection / register_local."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import rasteret
from rasteret.errors import AuthRequiredError, RasteretError

# -- build validation -------------------------------------------------------------------------


def test_build_unknown_dataset_lists_available_ids() -> None:
    with pytest.raises(KeyError) as info:
        rasteret.build("nope/sentinel", name="x")
    msg = str(info.value)
    assert "nope/sentinel" in msg and "earthsearch/sentinel-2-l2a" in msg
    assert isinstance(info.value, RasteretError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bbox": (10, 0, 5, 1)}, "west"),
        ({"bbox": (0, 5, 1, 5)}, "south"),
        ({"bbox": (0, 0, 1)}, "4 numbers"),
        ({"date_range": ("2024-02-01", "2024-01-01")}, "after its end"),
        ({"date_range": ("someday", "2024-01-01")}, "ISO"),
    ],
)
def test_build_validates_bbox_and_dates_before_anything(kwargs, match) -> None:
    for fn, extra in (
        (rasteret.build, {"dataset": "earthsearch/sentinel-2-l2a", "name": "x"}),
        (
            rasteret.build_from_stac,
            {"name": "x", "stac_api": "http://127.0.0.1:9", "collection": "c"},
        ),
    ):
        with pytest.raises(ValueError, match=match):
            fn(**extra, **kwargs)


def test_build_stac_dataset_requires_bbox_and_dates() -> None:
    with pytest.raises(ValueError, match="requires bbox and date_range"):
        rasteret.build("earthsearch/sentinel-2-l2a", name="x", bbox=(0, 0, 1, 1))


def test_build_auth_dataset_without_credentials_is_a_clear_error(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "obstore.auth.planetary_computer", None)  # import fails
    with pytest.raises(AuthRequiredError, match=r"pc/sentinel-2-l2a.*create_backend"):
        rasteret.build(
            "pc/sentinel-2-l2a",
            name="x",
            bbox=(0, 0, 1, 1),
            date_range=("2024-01-01", "2024-01-02"),
        )


def test_build_dataset_with_collection_uri_loads_and_subsets(legacy_dir: Path) -> None:
    rasteret.register_local("local/legacy", legacy_dir, persist=False)
    c = rasteret.build("local/legacy", name="mine", date_range=("2024-01-30", "2024-01-31"))
    assert c.name == "mine" and c.data_source == "local/legacy"
    assert len(c) == 3


def test_build_from_record_table_dataset_pushes_filters(tmp_path: Path, make_records) -> None:
    t = make_records(4)
    src = tmp_path / "src.parquet"
    pq.write_table(t.drop_columns(["B04_metadata", "B08_metadata"]), src)
    rasteret.register(
        rasteret.DatasetDescriptor(id="test/table", name="T", record_table_uri=str(src))
    )
    calls = {}

    def fake(spec):  # stand-in for the ingest build: capture the routed table build
        calls.update(
            enrich_cog=spec.enrich is not None,
            workspace_dir=spec.destination.workspace_dir,
            filter_expr=spec.source.filter_expr,
        )
        return rasteret.as_collection(t)

    import rasteret.builds.functions as builds

    orig = builds._run_table
    builds._run_table = fake
    try:
        rasteret.build(
            "test/table",
            name="t",
            bbox=(0.5, 0.0, 1.5, 1.0),
            date_range=("2024-01-30", "2024-01-31"),
            workspace_dir=tmp_path / "ws",
        )
    finally:
        builds._run_table = orig
    assert calls["enrich_cog"] is True
    assert calls["workspace_dir"] == f"{tmp_path / 'ws'}/t_records"
    kept = ds.dataset(src).to_table(filter=calls["filter_expr"]).column("id").to_pylist()
    assert kept == ["rec-0", "rec-1"]  # bbox overlap and whole-day end pushed down


# -- load ---------------------------------------------------------------------------------------


def test_load_missing_path() -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        rasteret.load("/tmp/does-not-exist-rasteret")


def test_load_single_file_and_non_hive_dir(tmp_path: Path, make_records) -> None:
    t = make_records(3)
    pq.write_table(t, tmp_path / "one.parquet")
    c = rasteret.load(tmp_path / "one.parquet")
    assert len(c) == 3 and c.name == "one"
    (tmp_path / "flat").mkdir()
    pq.write_table(t, tmp_path / "flat" / "a.parquet")
    assert len(rasteret.load(tmp_path / "flat")) == 3


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda t: t.drop_columns(["assets", "geometry"]), r"missing required columns: \['geometry', 'assets'\]"),
        (lambda t: t.drop_columns(["bbox"]), "bbox"),
        (lambda t: t.set_column(1, "datetime", pa.array([str(v) for v in t["datetime"].to_pylist()])), "non-timestamp 'datetime'"),
        (lambda t: t.set_column(1, pa.field("datetime", pa.timestamp("us", "Europe/Paris")), t["datetime"].cast(pa.timestamp("us", "Europe/Paris"))), "non-UTC 'datetime' timezone"),
    ],
)  # fmt: skip
def test_load_rejects_contract_violations(tmp_path: Path, make_records, mutate, match) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(mutate(make_records(2)), path)
    with pytest.raises(ValueError, match=match) as info:
        rasteret.load(path)
    assert str(path) in str(info.value)


def test_load_accepts_utc_timestamps(tmp_path: Path, make_records) -> None:
    t = make_records(2)
    t = t.set_column(
        1,
        pa.field("datetime", pa.timestamp("us", "UTC")),
        t["datetime"].cast(pa.timestamp("us", "UTC")),
    )
    pq.write_table(t, tmp_path / "utc.parquet")
    c = rasteret.load(tmp_path / "utc.parquet")
    assert len(c.subset(date_range=("2024-01-30", "2024-01-30"))) == 1


def test_load_corrupt_parquet(tmp_path: Path) -> None:
    bad = tmp_path / "bad_records"
    bad.mkdir()
    (bad / "part-0.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet collection"):
        rasteret.load(bad)


# -- as_collection --------------------------------------------------------------------------


def test_as_collection_accepts_arrow_inputs(make_records) -> None:
    t = make_records(3)

    class Stream:
        def __arrow_c_stream__(self, requested_schema=None):
            return t.__arrow_c_stream__(requested_schema)

    class Array:
        def __arrow_c_array__(self, requested_schema=None):
            return t.to_batches()[0].__arrow_c_array__(requested_schema)

    class Relation:
        def fetch_arrow_table(self):
            return t

    for obj in (t, t.to_batches()[0], t.to_reader(), ds.dataset(t), Stream(), Array(), Relation()):
        c = rasteret.as_collection(obj, name="n")
        assert len(c) == 3 and c.bands == ["B04", "B08"], type(obj)
    assert rasteret.Collection.from_arrow(t).data_source == "sentinel-2-l2a"  # inferred


def test_as_collection_validation(make_records) -> None:
    t = make_records(2)
    with pytest.raises(ValueError, match="missing required columns"):
        rasteret.as_collection(t.drop_columns(["bbox"]))
    no_meta = t.drop_columns(["B04_metadata", "B08_metadata"])
    with pytest.raises(ValueError, match=r"No '\*_metadata' columns found"):
        rasteret.as_collection(no_meta)
    assert len(rasteret.as_collection(no_meta, require_band_metadata=False)) == 2
    broken = t.set_column(
        t.schema.get_field_index("B04_metadata"), "B04_metadata", pa.array([{"dtype": "u1"}] * 2)
    )
    with pytest.raises(ValueError, match=r"B04_metadata\.tile_offsets"):
        rasteret.as_collection(broken)
    with pytest.raises(TypeError, match="start_date"):
        rasteret.as_collection(t, start_date="2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Arrow"):
        rasteret.as_collection([1, 2, 3])
    c = rasteret.as_collection(
        t, start_date=dt.datetime(2024, 1, 1), end_date=dt.datetime(2024, 2, 1)
    )
    assert "2024-01-01..2024-02-01" in repr(c)


# -- registry ----------------------------------------------------------------------------------


def test_register_local_round_trip(legacy_dir: Path, tmp_path: Path) -> None:
    reg = tmp_path / "reg.json"
    d = rasteret.register_local("local/s2", legacy_dir, registry_path=reg, description="mine")
    assert d.collection_uri == str(legacy_dir.resolve())
    assert d.spatial_coverage == "local" and d.requires_auth is False
    assert d.temporal_range == ("2024-01-30", "2024-02-03")
    assert d.stac_collection == "sentinel-2-l2a" and d.band_map["B04"] == "red"
    assert d.name == "legacy" and d.description == "mine"
    saved = json.loads(reg.read_text())
    assert [e["id"] for e in saved] == ["local/s2"]
    c = rasteret.load("local/s2")
    assert c.data_source == "local/s2" and len(c) == 6
    with pytest.raises(ValueError, match="built-in"):
        rasteret.register_local("earthsearch/naip", legacy_dir, persist=False)


def test_create_backend_is_the_io_backend() -> None:
    backend = rasteret.create_backend(region="us-east-1")
    from rasteret_io import RoutingBackend

    assert isinstance(backend, RoutingBackend)
