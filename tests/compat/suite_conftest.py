"""conftest.py for rasteret 0.4.1's own tests, run against this package.

The runner (``rasteret041.py``) copies this file next to the test files it extracts from the
0.4.1 sdist, as ``conftest.py``. It keeps the sdist conftest's options and markers
(``--network`` / ``--network-strict``, the ``network`` marker, the async-tiff fixture lookup);
the one adapted piece is the registry reset: 0.4.1's conftest copies and rebinds its private
class dicts, ours snapshots and restores through the public ``DatasetRegistry.snapshot`` /
``restore`` (built-ins load lazily here, so a copy taken before first use would be empty).

Tests that this package does not run are skipped with the reason given in ``skips.json``
(written by the runner from its table, which ``docs/compat.md`` lists).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rasteret_catalog import DatasetRegistry

_HERE = Path(__file__).resolve().parent


def _find_async_tiff_fixtures() -> Path | None:
    env = os.environ.get("ASYNC_TIFF_FIXTURES")
    if env and Path(env).is_dir():
        return Path(env)
    return None


ASYNC_TIFF_FIXTURES = _find_async_tiff_fixtures()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--network",
        action="store_true",
        default=False,
        help="Run tests marked with @pytest.mark.network (skipped by default).",
    )
    parser.addoption(
        "--network-strict",
        action="store_true",
        default=False,
        help="Fail if any `-m network` test is skipped.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "network: needs the internet (run with --network)")


def _skips() -> dict[str, str]:
    path = _HERE / "skips.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = _skips()
    run_network = config.getoption("--network") or config.getoption("--network-strict")
    for item in items:
        key = f"{Path(str(item.fspath)).name}::{item.name}"
        if key in skips:
            item.add_marker(pytest.mark.skip(reason=f"rasteret compat: {skips[key]}"))
        elif "network" in item.keywords and not run_network:
            item.add_marker(pytest.mark.skip(reason="pass --network to run network tests"))


@pytest.fixture
def async_tiff_fixtures() -> Path:
    """Path to the async-tiff image fixtures (not shipped in the sdist), or skip."""
    if ASYNC_TIFF_FIXTURES is None:
        pytest.skip("async-tiff fixtures not available (set ASYNC_TIFF_FIXTURES)")
    return ASYNC_TIFF_FIXTURES


@pytest.fixture
def async_tiff_bigtiff_fixtures(async_tiff_fixtures: Path) -> Path:
    """Path to the async-tiff BigTIFF fixtures, or skip."""
    p = async_tiff_fixtures / "bigtiff"
    if not p.is_dir():
        pytest.skip("async-tiff BigTIFF fixtures not available")
    return p


@pytest.fixture(autouse=True)
def _clean_registries() -> Iterator[None]:
    """Snapshot and restore the global registries around each test (the adapted fixture)."""
    before = DatasetRegistry.snapshot()
    yield
    DatasetRegistry.restore(before)
