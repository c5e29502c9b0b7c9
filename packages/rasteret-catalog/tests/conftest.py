from __future__ import annotations

import pytest

from rasteret_catalog import BandRegistry, CloudConfig, DatasetRegistry


@pytest.fixture(autouse=True)
def isolated_registry(tmp_path, monkeypatch):
    """Every test sees only built-ins plus a private, initially absent local registry file."""
    path = tmp_path / "home" / ".rasteret" / "datasets.local.json"
    monkeypatch.setenv("RASTERET_LOCAL_DATASETS_PATH", str(path))
    bands = dict(BandRegistry._maps)
    clouds = dict(CloudConfig._configs)
    DatasetRegistry.reset()
    yield path
    DatasetRegistry.reset()
    BandRegistry._maps.clear()
    BandRegistry._maps.update(bands)
    CloudConfig._configs.clear()
    CloudConfig._configs.update(clouds)
