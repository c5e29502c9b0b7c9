"""Planetary Computer items: SAS tokens are never stored, every request is signed when made.

A static catalog under a ``planetarycomputer.microsoft.com`` directory stands for PC's STAC API;
its assets are GDAL COGs on the loopback object server, told to refuse any request without the
token query (``required_query``), like Azure Blob Storage without a SAS. A stand-in
``planetary_computer`` module (the real one needs PC's token endpoint) signs a URL the way the
real ``planetary_computer.sign(url)`` does: by appending a SAS query.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import rasterio.mask
import shapely
from rasterio.warp import transform_bounds

import rasteret
from rasteret.errors import MissingDependencyError
from rasteret_catalog.schema import ASSET_SIGNING_KEY
from rasteret_ingest.errors import StacSearchError
from rasteret_io import create_backend
from rasteret_testkit.cogs import sample_array, write_cog

SECRET = "PLANTEDsasSIG"
TOKEN = f"st=2026-12-01T00%3A00%3A00Z&se=2026-12-02T00%3A00%3A00Z&sp=rl&sv=2021-06-08&sig={SECRET}"
T0 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
AOI = shapely.box(500_523.0, 4_997_111.0, 502_377.0, 4_998_907.0)  # EPSG:32633


class FakePlanetaryComputer(types.ModuleType):
    """``planetary_computer`` whose ``sign`` appends a SAS query to a URL, or to every asset
    href of an item dict (as the real one does); records the URLs it signed."""

    def __init__(self) -> None:
        super().__init__("planetary_computer")
        self.calls: list[str] = []

        def sign(obj: Any) -> Any:
            if isinstance(obj, str):
                self.calls.append(obj)
                return f"{obj}?{TOKEN}"
            item = copy.deepcopy(dict(obj))
            for asset in item.get("assets", {}).values():
                asset["href"] = sign(asset["href"])
            return item

        self.sign = sign


@pytest.fixture
def fake_pc(monkeypatch: pytest.MonkeyPatch) -> FakePlanetaryComputer:
    module = FakePlanetaryComputer()
    monkeypatch.setitem(sys.modules, "planetary_computer", module)
    return module


@pytest.fixture(scope="module")
def pc_files(tmp_path_factory: pytest.TempPathFactory, object_server_session: Any) -> list[Path]:
    """Two dates of one uint16 band, served under ``pc/``."""
    d = tmp_path_factory.mktemp("pc-cogs")
    files = []
    for i in range(2):
        path = write_cog(
            d / f"s{i}.tif",
            sample_array("uint16", 1, 400, 500, seed=70 + i),
            transform=T0,
            nodata=0,
            blocksize=128,
        )
        dst = object_server_session.root / "pc" / f"s{i}" / "B04.tif"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(path.read_bytes())
        files.append(path)
    return files


@pytest.fixture
def pc_catalog(
    tmp_path: Path, pc_files: list[Path], object_server: Any
) -> Iterator[tuple[str, Any]]:
    """``(catalog.json path, object server)``; the server refuses unsigned requests."""
    with rasterio.open(pc_files[0]) as src:
        box = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    root = tmp_path / "planetarycomputer.microsoft.com"
    root.mkdir()
    links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    for i in range(len(pc_files)):
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": f"item-{i}",
            "geometry": shapely.geometry.mapping(shapely.box(*box)),
            "bbox": list(box),
            "properties": {
                "datetime": (dt.datetime(2024, 4, 1 + i, 10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "proj:epsg": 32633,
            },
            "assets": {
                "B04": {
                    "href": object_server.url(f"pc/s{i}/B04.tif"),
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                }
            },
            "links": [{"rel": "root", "href": "../catalog.json"}],
        }
        (root / f"item-{i}").mkdir()
        (root / f"item-{i}" / f"item-{i}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./item-{i}/item-{i}.json"})
    catalog = {"type": "Catalog", "stac_version": "1.0.0", "id": "pc-test", "description": "d"}
    (root / "catalog.json").write_text(json.dumps({**catalog, "links": links}))
    object_server.configure(required_query={"sig"})
    yield str(root / "catalog.json"), object_server


def _build(catalog: str, ws: Path, **kw: Any) -> Any:
    return rasteret.build_from_stac(
        name="pc",
        stac_api=catalog,
        collection="pc-test",
        static_catalog=True,
        workspace_dir=ws,
        **kw,
    )


def _files_text(ws: Path) -> list[str]:
    """Every Parquet file of ``ws``: its rows and its key-value metadata, as text."""
    out = []
    for f in sorted(ws.rglob("*.parquet")):
        table = pq.read_table(f)
        md = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        out.append(json.dumps(table.to_pylist(), default=str) + json.dumps(md))
    return out


def _mask(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        out, _ = rasterio.mask.mask(src, [AOI], crop=True, filled=True)
    return out[0]


def _tif_requests(srv: Any) -> list[Any]:
    return [r for r in srv.requests if r.path.startswith("/pc/")]


def test_build_stores_plain_hrefs_and_signs_header_reads(
    pc_catalog: tuple[str, Any], fake_pc: FakePlanetaryComputer, tmp_path: Path
) -> None:
    catalog, srv = pc_catalog
    coll = _build(catalog, tmp_path / "ws")
    # (b) the header reads went out signed (the server refuses unsigned ones)
    header_reads = _tif_requests(srv)
    assert header_reads and all(r.status == 206 for r in header_reads)
    assert all(r.path.endswith("?" + TOKEN) for r in header_reads)
    assert not coll.build_report.failures
    # (a) no token anywhere in what was written, nor in what the collection shows
    texts = _files_text(tmp_path / "ws")
    assert texts and not any(SECRET in t or "sig=" in t for t in texts)
    hrefs = [a["B04"]["href"] for a in coll.to_table(columns=["assets"])["assets"].to_pylist()]
    assert sorted(hrefs) == [srv.url(f"pc/s{i}/B04.tif") for i in range(2)]
    shown = repr(coll) + str(coll.head(2).to_pylist())
    assert SECRET not in shown and "sig=" not in shown
    # the scheme is named (a marker, not a secret), in every file's metadata
    md = pq.read_schema(next((tmp_path / "ws").rglob("*.parquet"))).metadata
    assert md[ASSET_SIGNING_KEY.encode()] == b"planetary_computer"


def test_read_without_backend_signs_each_request(
    pc_catalog: tuple[str, Any],
    fake_pc: FakePlanetaryComputer,
    pc_files: list[Path],
    tmp_path: Path,
) -> None:
    catalog, srv = pc_catalog
    _build(catalog, tmp_path / "ws")
    coll = rasteret.load(next((tmp_path / "ws").glob("*_stac")))  # a fresh session's view
    srv.reset()
    srv.configure(required_query={"sig"})
    fake_pc.calls.clear()
    arr = coll.get_numpy(AOI, ["B04"], geometry_crs=32633)
    # (c) pixels equal rasterio's, every tile request signed, the signer saw plain hrefs
    assert arr.shape[0] == 2
    for i, path in enumerate(pc_files):
        np.testing.assert_array_equal(arr[i], _mask(path))
    reads = _tif_requests(srv)
    assert reads and all(r.status == 206 and r.path.endswith("?" + TOKEN) for r in reads)
    assert fake_pc.calls and all("?" not in url for url in fake_pc.calls)


def test_explicit_backend_is_used_unchanged(
    pc_catalog: tuple[str, Any],
    fake_pc: FakePlanetaryComputer,
    pc_files: list[Path],
    tmp_path: Path,
) -> None:
    """(d) a backend given to the build or the read is used as given: nothing is signed."""
    catalog, srv = pc_catalog
    srv.configure(required_query=frozenset())  # the caller's backend brings its own access
    backend = create_backend()
    coll = _build(catalog, tmp_path / "ws", backend=backend)
    assert not coll.build_report.failures
    arr = coll.get_numpy(AOI, ["B04"], geometry_crs=32633, backend=backend)
    np.testing.assert_array_equal(arr[0], _mask(pc_files[0]))
    assert fake_pc.calls == []
    reads = _tif_requests(srv)
    assert reads and not any("?" in r.path for r in reads)
    assert not any(SECRET in t for t in _files_text(tmp_path / "ws"))


def test_missing_package_is_named(
    pc_catalog: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    catalog, srv = pc_catalog
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # not installed
    with pytest.raises(StacSearchError, match=r"rasteret\[azure\]"):
        _build(catalog, tmp_path / "nope")
    assert _tif_requests(srv) == []  # failed before any header read
    monkeypatch.setitem(sys.modules, "planetary_computer", FakePlanetaryComputer())
    coll = _build(catalog, tmp_path / "ws")
    monkeypatch.setitem(sys.modules, "planetary_computer", None)
    with pytest.raises(MissingDependencyError, match=r"rasteret\[azure\]"):
        coll.get_numpy(AOI, ["B04"], geometry_crs=32633)


def test_collection_with_stored_signed_hrefs_still_reads(
    pc_catalog: tuple[str, Any],
    fake_pc: FakePlanetaryComputer,
    pc_files: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collection written by 0.4.1 (signed hrefs stored, no signing marker) reads as before:
    its stored URLs are requested as they are, without the signing package."""
    catalog, srv = pc_catalog
    _build(catalog, tmp_path / "ws")
    (src,) = (tmp_path / "ws").glob("*_stac")
    table = rasteret.load(src).to_table()
    assets = [
        {"B04": {**a["B04"], "href": a["B04"]["href"] + "?" + TOKEN}}
        for a in table["assets"].to_pylist()
    ]
    import pyarrow as pa

    md = {k: v for k, v in table.schema.metadata.items() if k != ASSET_SIGNING_KEY.encode()}
    old = table.set_column(
        table.schema.get_field_index("assets"),
        "assets",
        pa.array(assets, table.schema.field("assets").type),
    ).replace_schema_metadata(md)
    (tmp_path / "old").mkdir()
    pq.write_table(old, tmp_path / "old" / "part-0.parquet")
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # not needed for these
    srv.reset()
    srv.configure(required_query={"sig"})
    arr = rasteret.load(tmp_path / "old").get_numpy(AOI, ["B04"], geometry_crs=32633)
    np.testing.assert_array_equal(arr[0], _mask(pc_files[0]))
    assert all(r.path.endswith("?" + TOKEN) for r in _tif_requests(srv))


def test_update_signs_new_header_reads(
    pc_catalog: tuple[str, Any], fake_pc: FakePlanetaryComputer, tmp_path: Path
) -> None:
    """An update of a Planetary Computer collection (no backend) signs its header reads from
    the collection's marker and stores plain hrefs."""
    from rasteret_ingest import update_collection

    catalog, srv = pc_catalog
    _build(catalog, tmp_path / "ws", date_range=("2024-04-01", "2024-04-01"))
    (path,) = (tmp_path / "ws").glob("*_stac")
    srv.reset()
    srv.configure(required_query={"sig"})
    result = update_collection(path, stac_api=catalog, collection="pc-test", static_catalog=True)
    assert result.added == 1 and not result.report.failures
    reads = _tif_requests(srv)
    assert reads and all(r.status == 206 and r.path.endswith("?" + TOKEN) for r in reads)
    texts = _files_text(tmp_path / "ws")
    assert not any(SECRET in t or "sig=" in t for t in texts)
    table = rasteret.load(path).to_table(columns=["id", "B04_metadata"])
    assert sorted(table["id"].to_pylist()) == ["item-0", "item-1"]
    assert table["B04_metadata"].null_count == 0


def test_export_keeps_the_signing_marker(
    pc_catalog: tuple[str, Any],
    fake_pc: FakePlanetaryComputer,
    pc_files: list[Path],
    tmp_path: Path,
) -> None:
    """An exported view is a collection of the same assets: plain hrefs, the same marker, and
    reads without a backend still sign."""
    catalog, srv = pc_catalog
    coll = _build(catalog, tmp_path / "ws")
    coll.subset(date_range=("2024-04-01", "2024-04-01")).export(tmp_path / "out")
    assert not any(SECRET in t or "sig=" in t for t in _files_text(tmp_path / "out"))
    back = rasteret.load(tmp_path / "out")
    assert back.schema.metadata[ASSET_SIGNING_KEY.encode()] == b"planetary_computer"
    srv.reset()
    srv.configure(required_query={"sig"})
    arr = back.get_numpy(AOI, ["B04"], geometry_crs=32633)
    np.testing.assert_array_equal(arr[0], _mask(pc_files[0]))
    assert all(r.path.endswith("?" + TOKEN) for r in _tif_requests(srv))
