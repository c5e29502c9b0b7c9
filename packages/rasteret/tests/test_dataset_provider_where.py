"""DatasetProvider.to_table(where=...): narrowing the scanned table keeps the scan filter's rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from rasteret.core.dataset_provider import DatasetProvider
from rasteret.query.filters import overlap


def _dataset(tmp_path: Path) -> ds.Dataset:
    boxes = [
        {"xmin": 0.0, "ymin": 0.0, "xmax": 1.0, "ymax": 1.0},
        {"xmin": 5.0, "ymin": 5.0, "xmax": 6.0, "ymax": 6.0},
        None,
        {"xmin": 0.5, "ymin": 0.5, "xmax": 2.0, "ymax": 2.0},
    ]
    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "bbox": pa.array(boxes),
            "B1_metadata": pa.array([{"tile_offsets": [i, i + 1]} for i in range(4)]),
            "cloud": [1.0, 2.0, 3.0, 4.0],
            "month": [1, 1, 2, 2],
        }
    )
    part = ds.partitioning(pa.schema([("month", pa.int64())]), flavor="hive")
    ds.write_dataset(table, tmp_path, format="parquet", partitioning=part)
    return ds.dataset(tmp_path, format="parquet", partitioning=part)


@pytest.mark.parametrize(
    "box", [(0.0, 0.0, 10.0, 10.0), (0.2, 0.2, 0.8, 0.8), (5.5, 5.5, 7.0, 7.0), (50, 50, 60, 60)]
)
def test_narrowed_table_equals_the_scan_filter(tmp_path: Path, box: tuple) -> None:
    dataset = _dataset(tmp_path)
    cols = ["id", "bbox", "B1_metadata"]
    got = DatasetProvider(dataset).to_table(cols, where=overlap(box))
    want = dataset.to_table(columns=cols, filter=overlap(box))
    assert got.to_pylist() == want.to_pylist()  # same rows, same order; null bbox dropped
    assert got.schema == want.schema


def test_a_where_on_other_columns_and_a_view_filter_still_apply(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    cols = ["id", "bbox"]
    cheap = pc.field("cloud") < 3.0  # not projected: filtered in the scan
    assert DatasetProvider(dataset).to_table(cols, where=cheap).column("id").to_pylist() == [
        "a",
        "b",
    ]
    view = DatasetProvider(dataset, pc.field("month") == 2)
    got = view.to_table(cols, where=overlap((0.0, 0.0, 10.0, 10.0)))
    assert got.column("id").to_pylist() == ["d"]


def test_a_bad_where_raises_as_the_scan_does(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    bad = pc.field("id") > 3.0
    with pytest.raises(pa.ArrowException) as scan:
        dataset.to_table(columns=["id"], filter=bad)
    with pytest.raises(type(scan.value)):
        DatasetProvider(dataset).to_table(["id"], where=bad)
