"""COG fixture builders (GDAL via rasterio, written at test time).

``cog_factory`` (session): ``make(*, dtype="uint16", bands=1, height=300, width=400, seed=0,
mask=False, blank_tiles=False, **write_cog_options) -> Path`` writes a GDAL COG/GeoTIFF of
:func:`~rasteret_testkit.cogs.sample_array` data into a session tmp dir and caches it by
options, so identical requests share one file.

- ``mask=True`` writes a GDAL internal mask (a diagonal stripe and a corner block invalid).
- ``blank_tiles=True`` sets the top-left 1.5 x 1.5 tiles to nodata (or 0), so that with
  ``sparse_ok=True`` GDAL omits those tiles (byte count 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rasteret_testkit.cogs import sample_array, write_cog

__all__ = ["cog_factory", "make_cog_factory"]

CogFactory = Callable[..., Path]


def _validity_mask(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    valid = np.abs(yy - xx) > max(3, min(height, width) // 20)
    valid[: height // 4, -(width // 4) :] = False
    return valid


def make_cog_factory(root: Path) -> CogFactory:
    """Build a caching COG writer into ``root`` (usable outside pytest, e.g. in bench/)."""
    cache: dict[str, Path] = {}

    def make(
        *,
        dtype: str = "uint16",
        bands: int = 1,
        height: int = 300,
        width: int = 400,
        seed: int = 0,
        mask: bool = False,
        blank_tiles: bool = False,
        **options: Any,
    ) -> Path:
        key_src = repr(
            (
                dtype,
                bands,
                height,
                width,
                seed,
                mask,
                blank_tiles,
                sorted(options.items(), key=repr),
            )
        )
        key = hashlib.sha1(key_src.encode()).hexdigest()[:16]
        if key in cache and cache[key].exists():
            return cache[key]
        data = sample_array(dtype, bands, height, width, seed=seed)
        if blank_tiles:
            bs = int(options.get("blocksize", 256))
            nd = options.get("nodata")
            data[:, : bs + bs // 2, : bs + bs // 2] = 0 if nd is None else nd
        path = root / f"{key}.tif"
        write_cog(path, data, mask=_validity_mask(height, width) if mask else None, **options)
        cache[key] = path
        return path

    return make


@pytest.fixture(scope="session")
def cog_factory(tmp_path_factory: pytest.TempPathFactory) -> CogFactory:
    """Session-scoped, option-keyed cache of GDAL-written COGs (see module docstring)."""
    return make_cog_factory(tmp_path_factory.mktemp("cogs"))
