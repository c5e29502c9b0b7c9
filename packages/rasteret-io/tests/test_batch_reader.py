"""BatchReader: picklable, and a spawned worker process reads what the parent reads."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pyarrow as pa
from shapely.geometry import box

from rasteret_io.batch import BatchReader
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs


def test_batch_reader_pickles_and_reads_in_spawned_workers(tmp_path, object_server):
    data = sample_array("uint16", 1, 256, 256, seed=1)
    path = write_cog(tmp_path / "b.tif", data, nodata=0, blocksize=128)
    (object_server.root / "b.tif").write_bytes(path.read_bytes())
    rows = [row_for_cogs(f"r{i}", {"b": (path, object_server.url("b.tif"))}) for i in range(3)]
    table = pa.Table.from_pylist(rows)
    reader = BatchReader(("b",), max_concurrent=8)
    bounds = (500_100.0, 4_998_000.0, 501_500.0, 4_999_900.0)
    eager = reader.read_grid(table, 32633, bounds, (10.0, 10.0), group_by="id").data
    assert eager.shape == (3, 1, 190, 140)
    aoi = reader.read_aois(table.to_batches()[0], [box(*bounds)], geometry_crs=32633)
    assert len(aoi.chips) == 3 and aoi.chips[0].data.shape == (190, 140)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone == reader
    # A function importable by name (the bound method's class), so spawned workers can load it.
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        args = [
            (reader, rows[:2], 32633, bounds, (10.0, 10.0)),
            (reader, rows[2:], 32633, bounds, (10.0, 10.0)),
        ]
        parts = pool.starmap_async(BatchReader.read_grid, args).get(timeout=120)
    for part, sub in zip(parts, (rows[:2], rows[2:]), strict=True):
        np.testing.assert_array_equal(
            part.data, reader.read_grid(sub, 32633, bounds, (10.0, 10.0)).data
        )
        np.testing.assert_array_equal(part.data, eager[0])
