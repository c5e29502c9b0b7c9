"""Failed tiles, failed internal masks and the decode working set of ``read_windows``."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.mask
from shapely.geometry import box

from rasteret_io import (
    Fetcher,
    MemoryBudget,
    MemoryBudgetError,
    WindowRequest,
    create_backend,
    read_windows,
    run_sync,
)
from rasteret_io.aoi import normalize_aois
from rasteret_io.arrow_sources import records_from_arrow
from rasteret_io.backend import as_range_reader
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_io.errors import ReadError
from rasteret_io.grid import Window
from rasteret_testkit.cogs import write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table


def _serve(object_server, tmp_path: Path, name: str, arr: np.ndarray, **kw) -> tuple[dict, str]:
    """Write a COG, put it on the object server and return its row and key."""
    path = write_cog(tmp_path / f"{name}.tif", arr, overviews=False, **kw)
    key = f"tiles-failures/{name}.tif"
    (object_server.root / key).parent.mkdir(parents=True, exist_ok=True)
    (object_server.root / key).write_bytes(path.read_bytes())
    return row_for_cogs("r0", {"b": (path, object_server.url(key))}), key


def test_tiles_failing_in_two_threads_stay_invalid(object_server, tmp_path, monkeypatch) -> None:
    """Two decode threads fail tiles of one window at the same moment: each one's invalid
    marks must land in the one validity array the result returns."""
    arr = np.full((1, 512, 512), 7, dtype="uint8")
    row, key = _serve(object_server, tmp_path, "race", arr, blocksize=64)
    object_server.configure(missing_keys=frozenset({key}))  # every tile: 404
    src = records_from_arrow(rows_table([row]), ["b"])[0].bands["b"]
    # two pool tasks for the COG's 64 tiles, in two threads that both fail their first tile
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    barrier = threading.Barrier(2)
    real_ones = np.ones
    met: list[str] = []

    def ones(shape, dtype=None, **kw):  # type: ignore[no-untyped-def]
        # Hold the first validity array back until the other thread asks for one too (a
        # bounded wait: with the array created under a lock, the other thread never asks).
        if dtype is bool and threading.current_thread().name.startswith("race-decode"):
            try:
                if barrier.wait(timeout=1.5) == 0:
                    met.append("both")
                    time.sleep(0.3)  # the other thread marks its tile first
            except threading.BrokenBarrierError:
                pass
        return real_ones(shape, dtype=dtype, **kw)

    monkeypatch.setattr(np, "ones", ones)
    with ThreadPoolExecutor(2, thread_name_prefix="race-decode") as pool:
        fetcher = Fetcher(as_range_reader(create_backend()), error_policy="nodata", max_gap=-1)
        (res,) = run_sync(read_windows([WindowRequest(src, Window(0, 0, 512, 512))], fetcher,
                                       executor=pool))  # fmt: skip
    assert res.error is not None and res.data is not None
    assert res.valid_mask is not None
    assert int(res.valid_mask.sum()) == 0, f"{int(res.valid_mask.sum())} failed px marked valid"
    assert (res.data == res.fill).all()


def _masked_cog(object_server, tmp_path: Path, name: str, broken: list[int]) -> tuple[dict, Path]:
    """A 256 x 256 uint16 COG with an internal mask (4 mask tiles of 128 x 128), served with
    the mask tiles ``broken`` overwritten by bytes that do not inflate."""
    arr = np.arange(256 * 256, dtype="uint16").reshape(1, 256, 256)
    mask = np.full((256, 256), 255, dtype="uint8")
    mask[:, :100] = 0
    mask[200:, :] = 0
    row, key = _serve(object_server, tmp_path, name, arr, mask=mask, blocksize=128)
    src = records_from_arrow(rows_table([row]), ["b"])[0].bands["b"]
    assert src.mask is not None
    served = object_server.root / key
    raw = bytearray(served.read_bytes())
    offsets, counts = list(src.mask.tile_offsets), list(src.mask.tile_byte_counts)
    assert len(offsets) == 4
    for t in broken:
        raw[offsets[t] : offsets[t] + counts[t]] = b"\xff" * counts[t]
    served.write_bytes(bytes(raw))
    return row, tmp_path / f"{name}.tif"


_WHOLE = [box(500_000, 5_000_000 - 2560, 500_000 + 2560, 5_000_000)]


@pytest.mark.parametrize("broken", [[0], [0, 1, 2, 3]], ids=["one-mask-tile", "whole-mask"])
def test_failed_internal_mask_is_a_failure(object_server, tmp_path, broken) -> None:
    """Mask tiles that cannot be read: the window reports the error; under "nodata" the pixels
    whose mask was lost are invalid fill, the others masked as GDAL masks them; under "skip"
    the window is dropped; under "raise" the read raises."""
    row, path = _masked_cog(object_server, tmp_path, f"mask{len(broken)}", broken)
    table = rows_table([row])
    aois = normalize_aois(_WHOLE, geometry_crs=32633)
    with rasterio.open(path) as ds:
        ref = ds.read(1)
        gdal_valid = ds.read_masks(1) != 0
    ref[~gdal_valid] = 0
    lost = np.zeros((256, 256), dtype=bool)
    for t in broken:
        lost[128 * (t // 2) : 128 * (t // 2 + 1), 128 * (t % 2) : 128 * (t % 2 + 1)] = True

    out = run_sync(read_aois(table, ["b"], aois, default_fetcher(error_policy="nodata")))
    assert [(f.record_id, f.band) for f in out.failures] == [("r0", "b")]
    assert "mask" in str(out.failures[0].error) or "decode" in str(out.failures[0].error)
    (chip,) = out.chips
    np.testing.assert_array_equal(chip.valid, gdal_valid & ~lost)
    np.testing.assert_array_equal(chip.data, np.where(lost, 0, ref))

    out = run_sync(read_aois(table, ["b"], aois, default_fetcher(error_policy="skip")))
    assert not out.chips and [(f.record_id, f.band) for f in out.failures] == [("r0", "b")]

    with pytest.raises(ReadError):
        run_sync(read_aois(table, ["b"], aois, default_fetcher()))


def test_budget_counts_the_decoded_strip(object_server, tmp_path) -> None:
    """A 4 x 4 px AOI of a one-strip GeoTIFF decodes the whole 2000 x 2000 strip: the budget
    counts it (and the fetched bytes) and refuses the read before any request; with room for
    the strip the same read gives GDAL's pixels."""
    arr = np.arange(2000 * 2000, dtype="uint32").reshape(1, 2000, 2000).astype("uint8")
    row, _key = _serve(object_server, tmp_path, "strip", arr, driver="GTiff", tiled=False,
                       blockysize=2000)  # fmt: skip
    src = records_from_arrow(rows_table([row]), ["b"])[0].bands["b"]
    assert (src.spec.tile_height, src.spec.tile_width) == (2000, 2000)
    table = rows_table([row])
    g = [box(500_000, 5_000_000 - 40, 500_040, 5_000_000)]  # 4 x 4 px
    aois = normalize_aois(g, geometry_crs=32633)
    object_server.reset()
    small = MemoryBudget(1 << 20, "test")  # the 4 x 4 window fits; the 3.8 MiB strip not
    with pytest.raises(MemoryBudgetError, match="2000 x 2000 uint8") as ei:
        run_sync(read_aois(table, ["b"], aois, default_fetcher(), budget=small))
    assert ei.value.needed > 2000 * 2000  # the decoded strip (and its fetched bytes)
    reqs = [WindowRequest(src, Window(0, 0, 4, 4))]
    with pytest.raises(MemoryBudgetError, match=r"1 window.*2000 x 2000 uint8"):
        run_sync(read_windows(reqs, default_fetcher(), budget=small))
    assert object_server.count() == 0
    out = run_sync(read_aois(table, ["b"], aois, default_fetcher(), budget=MemoryBudget(1 << 26)))
    with rasterio.open(tmp_path / "strip.tif") as ds:
        ref, _ = rasterio.mask.mask(ds, g, crop=True, filled=True)
    np.testing.assert_array_equal(out.chips[0].data, ref[0])
    assert out.chips[0].all_valid


def test_grid_reads_count_the_decoded_strip(object_server, tmp_path) -> None:
    """``read_grid`` (``Collection.read_window``) of a 4 x 4 px grid over a one-strip GeoTIFF
    counts the decoded 2000 x 2000 strip too: refused before any request when it does not fit,
    GDAL's pixels when it does."""
    from rasteret_io.grid import Grid
    from rasteret_io.grid_read import read_grid

    arr = (np.arange(2000 * 2000, dtype="uint32") % 251).reshape(1, 2000, 2000).astype("uint8")
    row, _key = _serve(object_server, tmp_path, "grid-strip", arr, driver="GTiff",
                       tiled=False, blockysize=2000)  # fmt: skip
    table = rows_table([row])
    grid = Grid(32633, (10.0, 0.0, 500_100.0, 0.0, -10.0, 4_999_900.0), 4, 4)  # aligned
    object_server.reset()
    small = MemoryBudget(1 << 20, "test")  # the 4 x 4 grid fits; the 3.8 MiB strip not
    with pytest.raises(MemoryBudgetError, match="2000 x 2000 uint8"):
        run_sync(read_grid(table, ["b"], grid, default_fetcher(), budget=small))
    assert object_server.count() == 0
    out = run_sync(read_grid(table, ["b"], grid, default_fetcher(), budget=MemoryBudget(1 << 26)))
    with rasterio.open(tmp_path / "grid-strip.tif") as ds:
        ref = ds.read(1, window=((10, 14), (10, 14)))
    np.testing.assert_array_equal(out.data[0], ref)
