"""Planetary Computer items are prepared with plain hrefs and a signing marker; the enrich step
signs header requests only when no backend is given."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from rasteret_catalog.schema import ASSET_SIGNING_KEY
from rasteret_ingest.errors import StacSearchError
from rasteret_ingest.pipeline import resolve_backend
from rasteret_ingest.specs import StacSource
from rasteret_ingest.stac import asset_signing, prepare_stac
from rasteret_io import IdentifiedSigningReader, create_backend

TOKEN = "se=2030-01-01&sig=PLANTEDsasSIG"


def _sign(obj: Any) -> Any:
    if isinstance(obj, str):
        return f"{obj}?{TOKEN}"
    item = json.loads(json.dumps(obj))
    for asset in item.get("assets", {}).values():
        asset["href"] = _sign(asset["href"])
    return item


@pytest.fixture
def pc_catalog(tmp_path: Path, h: Any) -> str:
    """A static catalog under a ``planetarycomputer.microsoft.com`` directory."""
    root = tmp_path / "planetarycomputer.microsoft.com"
    root.mkdir()
    links = [{"rel": "root", "href": "./catalog.json"}]
    for i in range(2):
        item = h.item_dict(
            f"item-{i}",
            dt.datetime(2024, 1, 1 + i, 10),
            {"B04": f"https://acct.blob.core.windows.net/c/s{i}/B04.tif"},
            properties={"proj:code": "EPSG:32633"},
        )
        (root / f"item-{i}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./item-{i}.json"})
    catalog = {"type": "Catalog", "stac_version": "1.0.0", "id": "test-s2", "description": "d"}
    (root / "catalog.json").write_text(json.dumps({**catalog, "links": links}))
    return str(root / "catalog.json")


@pytest.fixture
def fake_pc(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("planetary_computer")
    module.sign = _sign  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "planetary_computer", module)


def _source(catalog: str) -> StacSource:
    return StacSource(stac_api=catalog, collection="test-s2", static_catalog=True)


def test_asset_signing_names_planetary_computer() -> None:
    assert asset_signing("https://planetarycomputer.microsoft.com/api/stac/v1") == (
        "planetary_computer"
    )
    assert asset_signing("https://earth-search.aws.element84.com/v1") is None
    assert asset_signing(None) is None


@pytest.mark.usefixtures("fake_pc")
def test_prepared_records_keep_plain_hrefs_and_name_the_scheme(pc_catalog: str) -> None:
    prepared = prepare_stac(_source(pc_catalog))
    hrefs = [a["B04"]["href"] for a in prepared.table.column("assets").to_pylist()]
    assert hrefs == [f"https://acct.blob.core.windows.net/c/s{i}/B04.tif" for i in range(2)]
    assert prepared.asset_signing == "planetary_computer"
    md = prepared.table.schema.metadata
    assert md[ASSET_SIGNING_KEY.encode()] == b"planetary_computer"
    assert b"sig=" not in b"".join(md.values())


def test_credentialed_build_needs_no_package(
    pc_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "planetary_computer", None)
    with pytest.raises(StacSearchError, match=r"rasteret\[azure\]"):
        prepare_stac(_source(pc_catalog))
    prepared = prepare_stac(_source(pc_catalog), credentialed=True)
    assert prepared.asset_signing == "planetary_computer"  # readers without backend sign


@pytest.mark.usefixtures("fake_pc")
def test_resolve_backend_signs_only_without_backend() -> None:
    given = create_backend()
    assert resolve_backend(given, None, "planetary_computer") is given
    reader = resolve_backend(None, None, "planetary_computer")
    assert isinstance(reader, IdentifiedSigningReader) and reader.sign is _sign
    assert resolve_backend(None, None) is None
