"""rustac STAC API: search by bbox and datetime, paging, through pystac-client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

pystac_client = pytest.importorskip("pystac_client")


def _item(i: int) -> dict[str, Any]:
    x, y = (15.0, 50.5) if i != 3 else (-100.0, 40.0)
    day = datetime(2024, 1, 1) + timedelta(days=5 * i)
    poly = [
        [x - 0.05, y - 0.05],
        [x + 0.05, y - 0.05],
        [x + 0.05, y + 0.05],
        [x - 0.05, y + 0.05],
        [x - 0.05, y - 0.05],
    ]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"item-{i}",
        "geometry": {"type": "Polygon", "coordinates": [poly]},
        "bbox": [x - 0.05, y - 0.05, x + 0.05, y + 0.05],
        "properties": {"datetime": day.strftime("%Y-%m-%dT00:00:00Z"), "eo:cloud_cover": 10 * i},
        "assets": {"B04": {"href": f"http://127.0.0.1:1/scenes/{i}/B04.tif", "type": "image/tiff"}},
        "links": [],
    }


COLLECTION: dict[str, Any] = {
    "type": "Collection",
    "stac_version": "1.0.0",
    "id": "test-s2",
    "description": "testkit collection",
    "license": "proprietary",
    "extent": {
        "spatial": {"bbox": [[-100.05, 39.95, 15.05, 50.55]]},
        "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-01-26T00:00:00Z"]]},
    },
    "links": [{"rel": "item", "href": "./item-0/item-0.json"}],  # dropped by the factory
}


@pytest.fixture(scope="module")
def stac_url(stac_api_factory: Callable[[dict[str, Any], list[dict[str, Any]]], str]) -> str:
    return stac_api_factory(COLLECTION, [_item(i) for i in range(6)])


def test_search_bbox_datetime(stac_url: str) -> None:
    client = pystac_client.Client.open(stac_url)
    search = client.search(
        collections=["test-s2"], bbox=[14.9, 50.4, 15.2, 50.6], datetime="2024-01-01/2024-01-12"
    )
    assert sorted(it.id for it in search.items()) == ["item-0", "item-1", "item-2"]
    only3 = client.search(collections=["test-s2"], bbox=[-101, 39, -99, 41])
    assert [it.id for it in only3.items()] == ["item-3"]


def test_paging(stac_url: str) -> None:
    client = pystac_client.Client.open(stac_url)
    search = client.search(collections=["test-s2"], limit=2)
    pages = [[it["id"] for it in page["features"]] for page in search.pages_as_dicts()]
    assert len(pages) == 3 and all(len(p) == 2 for p in pages)
    assert sorted(i for p in pages for i in p) == [f"item-{i}" for i in range(6)]


def test_each_call_starts_a_new_server(
    stac_api_factory: Callable[[dict[str, Any], list[dict[str, Any]]], str], stac_url: str
) -> None:
    other = stac_api_factory({**COLLECTION, "id": "other"}, [_item(0)])
    assert other != stac_url
    client = pystac_client.Client.open(other)
    assert [it.id for it in client.search(collections=["other"]).items()] == ["item-0"]
