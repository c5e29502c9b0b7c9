"""STAC indexing against rustac serve (API), static catalogs on disk and over HTTP, faults."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pystac
import pytest

from rasteret_catalog.arrow import ensure_valid
from rasteret_catalog.schema import BAND_ALIASES_KEY, band_metadata_column
from rasteret_ingest.errors import BandMapError, IngestWarning, NoItemsError, StacSearchError
from rasteret_ingest.pipeline import build_stac_table as _build
from rasteret_ingest.specs import EnrichOptions, StacSource
from rasteret_ingest.stac import search_items


def build_stac_table_with_report(*, backend: Any, progress: bool, **source: Any) -> Any:
    """(table, report) of a STAC build (the specs written inline)."""
    return _build(StacSource(**source), EnrichOptions(backend=backend, progress=progress))


def build_stac_table(**kw: Any) -> Any:
    """The table of a STAC build."""
    return build_stac_table_with_report(**kw)[0]


@pytest.fixture
def s2_table(stac_env: dict[str, Any], backend: Any) -> Any:
    """``s2_table(**source)``: the table of a build of the test API's ``test-s2`` items."""

    def build(**source: Any) -> Any:
        return build_stac_table(
            stac_api=stac_env["url"],
            collection="test-s2",
            backend=backend,
            progress=False,
            **source,
        )

    return build


START = dt.datetime(2024, 1, 1, 10, 0)


def _items(srv: Any, h: Any, n: int = 6) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        props: dict[str, Any] = {"eo:cloud_cover": float(10 * i), "platform": "sentinel-2a"}
        if i % 2 == 0:
            props["proj:code"] = "EPSG:32633"  # odd items: CRS from the header
        hrefs = {
            "red": srv.url("pool/u16.tif"),
            "nir": srv.url("pool/u16b.tif"),
            "thumbnail": srv.url("pool/thumb.png"),
        }
        if i == 5:  # one item without nir, elsewhere
            hrefs.pop("nir")
        bbox = (10.0, 40.0, 10.1, 40.1) if i == 5 else h.UTM33_BBOX
        out.append(
            h.item_dict(
                f"item-{i}", START + dt.timedelta(days=5 * i), hrefs, bbox=bbox, properties=props
            )
        )
    return out


@pytest.fixture(scope="module")
def stac_env(
    stac_api_factory: Any, object_server_session: Any, cog_pool: Any, h: Any
) -> dict[str, Any]:
    items = _items(object_server_session, h)
    url = stac_api_factory(h.collection_dict(), items)
    return {"url": url, "items": items}


@pytest.fixture
def server_500() -> Iterator[str]:
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"code": "InternalServerError", "description": "boom"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_search_bbox_datetime_paging(stac_env: dict[str, Any], h: Any) -> None:
    url = stac_env["url"]
    got = search_items(url, "test-s2", bbox=h.UTM33_BBOX, date_range=("2024-01-01", "2024-01-11"))
    assert sorted(i["id"] for i in got) == ["item-0", "item-1", "item-2"]  # end day included
    paged = search_items(url, "test-s2", limit=2)
    assert len(paged) == 6
    capped = search_items(url, "test-s2", limit=2, query={"max_items": 3})
    assert len(capped) == 3
    with pytest.raises(NoItemsError, match="No STAC scenes matched"):
        search_items(url, "test-s2", date_range=("2030-01-01", "2030-02-01"))


def test_build_from_api_band_codes_are_asset_keys_and_crs(
    stac_env: dict[str, Any], object_server: Any, backend: Any
) -> None:
    # "test-s2" has no registered band map: the band codes are the raster assets' keys (as
    # build_from_table keeps its keys); the codes of the best-matching registered map (the
    # Sentinel-2 B04 / B08, rasteret 0.4.1's renaming) are recorded as aliases instead.
    with pytest.warns(IngestWarning, match=r"1 asset\(s\) .* not indexed .*: thumbnail"):
        table, report = build_stac_table_with_report(
            stac_api=stac_env["url"], collection="test-s2", backend=backend, progress=False
        )
    ensure_valid(table)
    assert report.failed == 0 and report.urls == 2
    assert report.left_out_assets == ("thumbnail",)
    assert object_server.count("GET") == 2  # one request per distinct COG
    cols = table.column_names
    assert cols.index(band_metadata_column("red")) < cols.index(band_metadata_column("nir"))
    assert "thumbnail_metadata" not in cols  # only raster assets
    assert json.loads(table.schema.metadata[BAND_ALIASES_KEY.encode()]) == {
        "B04": "red",
        "B08": "nir",
    }
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["item-1"]["proj:epsg"] == 32633  # from the header
    assert rows["item-0"]["crs"] == "EPSG:32633"  # from proj:code
    assert rows["item-5"]["nir_metadata"] is None and rows["item-5"]["red_metadata"] is not None
    assert rows["item-3"]["eo:cloud_cover"] == 30.0 and rows["item-3"]["collection"] == "test-s2"
    assert rows["item-2"]["datetime"] == dt.datetime(2024, 1, 11, 10, 0)
    assert rows["item-5"]["bbox"]["xmin"] == pytest.approx(10.0)
    assert rows["item-0"]["assets"]["red"]["href"].endswith("pool/u16.tif")


def test_registered_band_map_renames_and_keeps_asset_keys_as_aliases(
    stac_env: dict[str, Any], backend: Any
) -> None:
    # a registered source id (a catalog dataset's, or the built-in sentinel-2-l2a map) renames,
    # as in rasteret 0.4.1; the asset keys become aliases
    table, report = build_stac_table_with_report(
        stac_api=stac_env["url"],
        collection="test-s2",
        data_source="sentinel-2-l2a",
        backend=backend,
        progress=False,
    )
    assert [c for c in table.column_names if c.endswith("_metadata")] == [
        "B04_metadata",
        "B08_metadata",
    ]
    assert json.loads(table.schema.metadata[BAND_ALIASES_KEY.encode()]) == {
        "nir": "B08",
        "red": "B04",
    }
    assert report.left_out_assets == ("thumbnail",)


def test_explicit_band_map_fails_before_header_reads(s2_table: Any, object_server: Any) -> None:
    with pytest.raises(BandMapError, match="Missing asset keys: B11->swir16"):
        s2_table(band_map={"B04": "red", "B11": "swir16"})
    assert object_server.count() == 0


def test_explicit_band_map_and_unknown_assets(s2_table: Any) -> None:
    table = s2_table(band_map={"NIR": "nir"})
    assert [c for c in table.column_names if c.endswith("_metadata")] == ["NIR_metadata"]


def test_shared_asset_needs_band_index_map(s2_table: Any) -> None:
    with pytest.raises(NotImplementedError, match="band_index_map"):
        s2_table(band_map={"X": "red", "Y": "red"})
    table = s2_table(band_map={"X": "red", "Y": "red"}, band_index_map={"X": 0, "Y": 0})
    assert table.column("Y_metadata").null_count == 0


def test_stac_server_500(server_500: str) -> None:
    with pytest.raises(StacSearchError, match="500") as err:
        search_items(server_500, "x")
    assert isinstance(err.value, OSError)


def _write_static(tmp_path: Path, items: list[dict[str, Any]], h: Any) -> Path:
    cat = pystac.Catalog("root", "static test catalog")
    coll = pystac.Collection.from_dict(h.collection_dict())
    cat.add_child(coll)
    for d in items:
        coll.add_item(pystac.Item.from_dict(d))
    cat.normalize_hrefs(str(tmp_path / "static"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return tmp_path / "static" / "catalog.json"


def test_static_catalog_disk_and_http(
    tmp_path: Path, stac_env: dict[str, Any], object_server: Any, backend: Any, h: Any
) -> None:
    path = _write_static(tmp_path, stac_env["items"], h)
    local = search_items(
        str(path), "test-s2", static_catalog=True, date_range=("2024-01-06", "2024-01-16")
    )
    assert sorted(i["id"] for i in local) == ["item-1", "item-2", "item-3"]
    boxed = search_items(str(path), "test-s2", static_catalog=True, bbox=(9.9, 39.9, 10.2, 40.2))
    assert [i["id"] for i in boxed] == ["item-5"]

    shutil.copytree(path.parent, Path(object_server.root) / "static-cat", dirs_exist_ok=True)
    cat_url = object_server.url("static-cat/catalog.json")
    table = build_stac_table(
        stac_api=cat_url, collection="test-s2", static_catalog=True, backend=backend, progress=False
    )
    ensure_valid(table)
    assert table.num_rows == 6
    assert object_server.count("GET", "/static-cat/") >= 8  # catalog, collection, 6 items


def test_static_catalog_bbox_crossing_the_antimeridian(tmp_path: Path, h: Any) -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    item = h.item_dict("am", when, {"red": "https://x.test/am.tif"}, bbox=(179.5, 0, -179.5, 1))
    path = _write_static(tmp_path, [item], h)

    def ids(bbox: tuple[float, float, float, float]) -> list[str]:
        return [i["id"] for i in search_items(str(path), "test-s2", static_catalog=True, bbox=bbox)]

    assert ids((179.6, 0.2, 179.8, 0.4)) == ["am"]  # east of 179.5
    assert ids((-179.8, 0.2, -179.6, 0.4)) == ["am"]  # west of -179.5
    for outside in ((-179.4, 0.2, 179.4, 0.4), (179.6, 1.5, 179.8, 2.0)):  # between; too far north
        with pytest.raises(NoItemsError):
            ids(outside)


def test_static_catalog_missing(tmp_path: Path) -> None:
    with pytest.raises(StacSearchError):
        search_items(str(tmp_path / "nope.json"), "x", static_catalog=True)


def test_bad_json_catalog(object_server: Any) -> None:
    url = object_server.put("bad/catalog.json", json.dumps({"type": "Catalog"}).encode())
    with pytest.raises(StacSearchError):
        search_items(url, "x", static_catalog=True)
