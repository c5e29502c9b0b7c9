"""Shared helpers for rasteret-cog tests (GDAL via rasterio is the oracle)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from rasteret_cog import CogHeader, open_header
from rasteret_cog.local import read_window

# Fuzz tests: reproducible (derandomized, no example database), no per-example deadline, and
# fixtures built once per test (the seed files) are fine to share between examples. Tests
# take it as ``@settings(settings.get_profile("fuzz"), max_examples=...)``.
settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _rasterio_levels(path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    import rasterio

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            n_ov = len(src.overviews(1))
            names = [{f.name for f in flags} for flags in src.mask_flag_enums]
            has_mask = any("per_dataset" in n and "alpha" not in n for n in names)
            out.append((src.read(), src.dataset_mask() if has_mask else None))
        for i in range(n_ov):
            with rasterio.open(path, overview_level=i) as src:
                out.append((src.read(), src.dataset_mask() if has_mask else None))
    return out


def _compare_header_fields(path: Path, header: CogHeader) -> None:
    """Tile tables against tifffile; transform, nodata, CRS against rasterio."""
    import math

    import rasterio
    import tifffile

    with tifffile.TiffFile(path) as tf:
        assert len(header.ifds) == len(tf.pages)
        for lv in header.ifds:
            page = tf.pages[lv.ifd_index]
            assert tuple(lv.tile_offsets) == tuple(page.dataoffsets)
            assert tuple(lv.tile_byte_counts) == tuple(page.databytecounts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            assert header.transform == tuple(src.transform)[:6]
            nd = src.nodata
            if nd is None:
                assert header.nodata is None
            elif math.isnan(nd):
                assert math.isnan(header.nodata)
            else:
                assert header.nodata == nd
            assert header.epsg == (src.crs.to_epsg() if src.crs else None)


def compare_all_levels(path: Path, *, atol: float = 0, exact_float: bool = True) -> CogHeader:
    """Decode every level (and mask) of ``path`` and compare with rasterio's reads."""
    header = open_header(path)
    _compare_header_fields(path, header)
    ref_levels = _rasterio_levels(path)
    assert len(header.levels) == len(ref_levels), "overview count differs from GDAL"
    for i, (ref, ref_mask) in enumerate(ref_levels):
        ours = read_window(path, header, level=i)
        assert ours.shape == ref.shape, f"level {i}: shape {ours.shape} != {ref.shape}"
        if atol == 0:
            if ours.dtype != ref.dtype:
                # GDAL < 3.11 exposes float16 (NBITS=16) as float32.
                assert ours.dtype == np.float16 and ref.dtype == np.float32
                ours = ours.astype(np.float32)
            np.testing.assert_array_equal(ours, ref, err_msg=f"level {i}")
        else:
            diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
            assert diff.max() <= atol, f"level {i}: max abs diff {diff.max()} > {atol}"
        if ref_mask is not None:
            assert header.masks[i] is not None, f"level {i}: internal mask not found"
            m = read_window(path, header, level=i, mask=True)
            np.testing.assert_array_equal(m[0], ref_mask, err_msg=f"mask of level {i}")
    return header


@pytest.fixture
def check_levels() -> Callable[..., CogHeader]:
    """``check_levels(path, atol=0)``: decode all levels and compare with rasterio."""
    return compare_all_levels


def mutated(
    data: bytes, mutations: list[tuple[int, int, int]], span: int, truncate: int | None
) -> bytearray:
    """``data`` with each ``(pos, width, value)`` mutation applied at ``pos % span`` (width 0
    flips a byte, else ``value`` is written little-endian over ``width`` bytes), then cut at
    ``truncate`` (None: not cut)."""
    out = bytearray(data)
    for pos, width, value in mutations:
        pos %= span
        if width == 0:
            out[pos] ^= 0xFF
        else:
            chunk = (value % (1 << (8 * width))).to_bytes(width, "little")
            out[pos : pos + width] = chunk[: max(0, len(out) - pos)]
    return out if truncate is None else out[:truncate]


@pytest.fixture
def mutate() -> Callable[..., bytearray]:
    """:func:`mutated`: fuzz mutations of a file's bytes."""
    return mutated
