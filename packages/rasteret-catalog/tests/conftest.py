from __future__ import annotations

import pytest

from rasteret_catalog import DatasetRegistry


@pytest.fixture(autouse=True)
def isolated_registry(tmp_path, monkeypatch):
    """Every test sees only built-ins plus a private, initially absent local registry file."""
    path = tmp_path / "home" / ".rasteret" / "datasets.local.json"
    monkeypatch.setenv("RASTERET_LOCAL_DATASETS_PATH", str(path))
    before = DatasetRegistry.snapshot()
    DatasetRegistry.reset()
    yield path
    DatasetRegistry.restore(before)
