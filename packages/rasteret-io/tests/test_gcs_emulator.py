"""gs:// reads through a real GCS emulator on 127.0.0.1 (fake-gcs-server)."""

from __future__ import annotations

import asyncio

import numpy as np
import rasterio
import rasterio.mask
from shapely.geometry import box

from rasteret_io import create_backend, read_ranges
from rasteret_io.aoi import normalize_aois
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs


def test_gs_bytes_and_pixels_match_local(tmp_path, fake_gcs):
    path = write_cog(
        tmp_path / "g.tif", sample_array("uint16", 1, 300, 360, seed=3), nodata=0, blocksize=128
    )
    url = fake_gcs.upload(path, "cogs/g.tif")
    backend = create_backend(**fake_gcs.backend_kwargs())
    data = path.read_bytes()
    got = asyncio.run(read_ranges(backend, url, [0, 5000], [100, 9000]))
    assert bytes(got[0]) == data[:100] and bytes(got[1]) == data[5000:9000]
    row = row_for_cogs("g", {"b": (path, url)})
    aoi = [box(500_210, 4_997_330, 502_870, 4_999_950)]
    out = asyncio.run(
        read_aois([row], ["b"], normalize_aois(aoi, geometry_crs=32633), default_fetcher(backend))
    )
    with rasterio.open(path) as src:
        ref, _ = rasterio.mask.mask(src, aoi, crop=True, filled=True)
    np.testing.assert_array_equal(out.chips[0].data, ref[0])
