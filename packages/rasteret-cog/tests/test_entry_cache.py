"""Decoded IFD entry tables are shared between files of one layout; their values never are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import tifffile

from rasteret_cog import ifd, open_header
from rasteret_testkit.cogs import write_cog


def test_same_layout_files_share_decoding_not_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    a = write_cog(
        tmp_path / "a.tif",
        rng.integers(0, 1000, (1, 600, 700), dtype=np.uint16),
        transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 4600000.0),
        blocksize=128,
    )
    b = write_cog(
        tmp_path / "b.tif",
        rng.integers(0, 60000, (1, 600, 700), dtype=np.uint16),  # other tile sizes
        transform=(10.0, 0.0, 300000.0, 0.0, -10.0, 5000000.0),  # other tiepoint
        blocksize=128,
    )
    ifd._DECODED.clear()
    ha = open_header(a)
    cached = len(ifd._DECODED)
    hb = open_header(b)
    # b's entry tables are a's byte for byte (hits), except where a one-tile overview holds
    # its tile's offset and size inline
    assert cached <= len(ifd._DECODED) < 2 * cached
    for path, header in ((a, ha), (b, hb)):
        with tifffile.TiffFile(path) as tf:
            for lv in header.ifds:
                page = tf.pages[lv.ifd_index]
                assert tuple(lv.tile_offsets) == tuple(page.dataoffsets)
                assert tuple(lv.tile_byte_counts) == tuple(page.databytecounts)
        with rasterio.open(path) as ds:
            assert header.transform == tuple(ds.transform)[:6]
    assert tuple(ha.full.tile_byte_counts) != tuple(hb.full.tile_byte_counts)
    assert ha.transform != hb.transform
