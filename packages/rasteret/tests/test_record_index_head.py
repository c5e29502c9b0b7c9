"""``head`` of a record index with many row groups: the rows of ``Dataset.head`` (same order,
across row groups, with and without filters), from a single index file or a directory."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import rasteret
from rasteret_catalog import DatasetRegistry
from rasteret_testkit.aef_scale import ScaleIndex, write_scale_record_index


@pytest.fixture(scope="module")
def small_scale(tmp_path_factory: pytest.TempPathFactory) -> ScaleIndex:
    """3,000 records in 12 shards; the index in row groups of 100 rows (30 of them)."""
    return write_scale_record_index(
        tmp_path_factory.mktemp("scale"),
        rows=3_000,
        shards=12,
        years=(2021, 2022, 2023),
        bands=1,
        index_row_group_size=100,
    )


def _open(s: ScaleIndex, index: Path) -> rasteret.Collection:
    d = DatasetRegistry.get("aef/v1-annual")
    assert d is not None
    return rasteret.Collection.from_parquet(
        str(s.data_dir),
        record_index_path=str(index),
        record_index_field_roles=d.field_roles,
        record_index_band_index_map=d.band_index_map,
        surface_fields=d.surface_fields,
        filter_capabilities=d.filter_capabilities,
    )


def _expected_fids(s: ScaleIndex, year: int | None, south_of: float | None) -> list[str]:
    t = pq.read_table(s.index_path, columns=["fid", "year", "bbox"])
    mask = pa.array([True] * t.num_rows)
    if year is not None:
        mask = pc.and_(mask, pc.equal(t["year"], year))
    if south_of is not None:
        mask = pc.and_(mask, pc.less_equal(pc.struct_field(t["bbox"], "ymin"), south_of))
    return [str(f) for f in t.filter(mask).column("fid").to_pylist()]


@pytest.mark.parametrize("layout", ["file", "directory"])
def test_head_matches_the_index_order_across_row_groups(
    small_scale: ScaleIndex, layout: str, tmp_path: Path
) -> None:
    s = small_scale
    index = s.index_path
    if layout == "directory":  # the same rows split over three files
        table = pq.read_table(s.index_path)
        index = tmp_path / "index"
        index.mkdir()
        for k, lo in enumerate(range(0, table.num_rows, 1_000)):
            pq.write_table(table.slice(lo, 1_000), index / f"part-{k}.parquet", row_group_size=100)
    coll = _open(s, index)
    assert len(coll) == 3_000

    everything = _expected_fids(s, None, None)
    assert coll.head(5).column("id").to_pylist() == everything[:5]
    assert coll.head(250).column("id").to_pylist() == everything[:250]  # three row groups
    assert coll.head(5_000).num_rows == 3_000

    # 2022 starts in the 11th row group: the first ten are skipped by their statistics
    view = coll.subset(date_range=("2022-01-01", "2022-12-31"))
    in_2022 = _expected_fids(s, 2022, None)
    assert view.head(3).column("id").to_pylist() == in_2022[:3]
    assert view.head(1_500).column("id").to_pylist() == in_2022

    # a bbox in the south: matches in a few row groups of each year, none of them the first
    south = coll.subset(bbox=(-180.0, -60.0, 180.0, -50.0), date_range=("2023", "2023"))
    expected = _expected_fids(s, 2023, -50.0)
    assert 0 < len(expected) < 1_000
    got = south.head(len(expected) + 10)
    assert got.column("id").to_pylist() == expected
    assert got.schema == coll.head(1).schema  # the contract columns, as for any head

    none = coll.subset(bbox=(10.0, 80.0, 11.0, 81.0))  # north of every record
    empty = none.head(5)
    assert empty.num_rows == 0 and empty.column_names == coll.head(1).column_names


def test_single_file_index_reads_its_footer_once(small_scale: ScaleIndex, counting_fs) -> None:
    s = small_scale
    fs, log = counting_fs()
    d = DatasetRegistry.get("aef/v1-annual")
    assert d is not None
    coll = rasteret.Collection.from_parquet(
        str(s.data_dir),
        record_index_path=str(s.index_path),
        record_index_field_roles=d.field_roles,
        record_index_filesystem=fs,
    )
    opened_at_open = list(log.opened)
    assert opened_at_open == [str(s.index_path)]
    assert len(coll) == 3_000  # answered from the kept footer: no file opened
    assert log.opened == opened_at_open
    view = coll.subset(date_range=("2021", "2021"))
    assert view.head(2).num_rows == 2
    assert {str(p) for p in log.opened} == {str(s.index_path)}
