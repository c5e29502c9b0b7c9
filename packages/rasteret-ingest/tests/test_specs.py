"""Pipeline specs are frozen values: mappings frozen, hashable, user objects outside equality."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

import rasteret_ingest as ingest
from rasteret_catalog import CloudConfig, FrozenMap
from rasteret_ingest.errors import BuildSpecError
from rasteret_ingest.specs import Destination, EnrichOptions, StacSource, TableSource


def test_specs_freeze_their_mappings_and_hash_by_value() -> None:
    a = StacSource(
        "http://api",
        "s2",
        band_map={"B04": "red"},
        query={"eo:cloud_cover": {"lt": 10}},
        bbox=[0, 0, 1, 1],  # type: ignore[arg-type]
        cloud_config=CloudConfig(provider="aws"),
    )
    b = StacSource(
        "http://api",
        "s2",
        band_map={"B04": "red"},
        query={"eo:cloud_cover": {"lt": 10}},
        bbox=(0, 0, 1, 1),
        cloud_config=CloudConfig(provider="aws"),
    )
    assert a == b and hash(a) == hash(b) and a.source_id == "s2"
    assert isinstance(a.band_map, FrozenMap) and a.bbox == (0, 0, 1, 1)
    assert hash(EnrichOptions(bands=["B04"])) == hash(EnrichOptions(bands=("B04",)))  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.collection = "other"  # type: ignore[misc]
    assert Destination("x", Path("/tmp/ws")).workspace_dir == "/tmp/ws"


def test_table_source_compares_paths_not_arrow_objects(tmp_path: Path) -> None:
    path = TableSource.of(tmp_path / "r.parquet", column_map={"a": "id"})
    assert path == TableSource.of(str(tmp_path / "r.parquet"), column_map={"a": "id"})
    assert path.location == str(tmp_path / "r.parquet") and path.source == path.location
    t = pa.table({"x": [1]})
    mem = TableSource.of(t)
    assert mem.data is t and mem.location is None and mem.source is t
    hash(mem)


def test_write_step_checks_partition_columns() -> None:
    t = pa.table({"id": ["a"]})
    with pytest.raises(BuildSpecError, match=r"cannot partition by \['nope'\]"):
        ingest.write_records(
            t, ingest.WriteTarget(None, "x", partition_by=("nope",), require_band_metadata=None)
        )
    path, out = ingest.write_records(
        t, ingest.WriteTarget(None, "x", partition_by=(), require_band_metadata=None)
    )
    assert path is None and out.schema.metadata[b"name"] == b"x"
    assert ingest.Prepared(t, ("B04",)).bands == ("B04",)
