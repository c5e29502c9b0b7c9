"""The pieces of ``rasteret demo``: the no-GDAL COG writer and generator (checked against GDAL
through rasterio), the loopback Range server, the STAC writer, failure handling and cleanup."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasteret import demo
from rasteret.demo import _data as _demo_data
from rasteret.demo._server import DemoServer, parse_range
from rasteret.demo._tiff import write_cog

rasterio = pytest.importorskip("rasterio")

T = (10.0, 0.0, 600_000.0, 0.0, -10.0, 5_810_240.0)


@pytest.mark.parametrize(
    ("dtype", "nodata"), [("uint16", 0), ("int16", -9999), ("float32", -1.5), ("uint8", None)]
)
def test_write_cog_matches_gdal(tmp_path: Path, dtype: str, nodata: float | None) -> None:
    rng = np.random.default_rng(7)
    data = (rng.normal(300, 800, (700, 900))).astype(dtype)  # edge tiles are partial
    ov = data[::2, ::2].copy()
    path = write_cog(tmp_path / "a.tif", data, T, 32633, nodata=nodata, tile=256, overviews=[ov])
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32633
        assert tuple(src.transform)[:6] == T
        assert src.nodata == nodata
        assert src.block_shapes == [(256, 256)] and src.overviews(1) == [2]
        assert src.profile["compress"] == "deflate"
        np.testing.assert_array_equal(src.read(1), data)
    with rasterio.open(path, overview_level=0) as src:
        np.testing.assert_array_equal(src.read(1), ov)


def test_generated_series_matches_gdal_and_rasteret_cog(tmp_path: Path) -> None:
    from rasteret_cog.fetch import open_header

    dates = (_demo_data.DATES[5], _demo_data.DATES[7])  # 1 July has a no-data wedge
    files, marks = _demo_data.generate_series(tmp_path, dates=dates)
    assert len(files) == 4 and {f.band for f in files} == set(_demo_data.BANDS)
    again, _ = _demo_data.generate_series(tmp_path / "again", dates=dates[:1])
    assert again[0].path.read_bytes() == files[0].path.read_bytes()  # seeded
    for f in files:
        with rasterio.open(f.path) as src:
            ref = src.read(1)
            assert src.crs.to_epsg() == _demo_data.EPSG and src.nodata == 0
            assert tuple(src.transform)[:6] == marks.transform
            assert src.block_shapes == [(512, 512)] and src.overviews(1) == [2]
            assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
            ov = src.read(1, out_shape=(512, 512))
        header = open_header(f.path)
        assert header.crs is not None and header.crs.epsg == _demo_data.EPSG
        assert header.transform == marks.transform and header.full.nodata == 0
        assert [lv.width for lv in header.levels] == [1024, 512]
        assert [lv.is_overview for lv in header.levels] == [False, True]
        # COG layout: every IFD before the first tile (the data starts right after them), so
        # one small read indexes the file
        assert min(min(lv.tile_offsets) for lv in header.levels) < 4096
        assert 0 < ref.mean() < 10000 and ref.std() > 300  # not flat
        np.testing.assert_array_equal(ov, _demo_data._decimate(ref, 2, 0))
        if f.date == dt.date(2024, 7, 1):
            assert (ref == 0).mean() > 0.05 and ref[0, 0] == 0
        else:
            assert (ref == 0).sum() == 0
    assert files[2].cloud_cover == 0.0 and 0 < files[0].cloud_cover < 10


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=95-", 100) == (95, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=-500", 100) == (0, 99)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    assert parse_range("bytes=-0", 100) == "unsatisfiable"
    assert parse_range("bytes=0-1,5-6", 100) is None  # several ranges: whole file
    assert parse_range("items=0-1", 100) is None


def _get(port: int, path: str, method: str = "GET", **headers: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_demo_server_honours_range(tmp_path: Path) -> None:
    body = bytes(range(256)) * 40
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.tif").write_bytes(body)
    (tmp_path / "secret.txt").write_text("no")
    with DemoServer(tmp_path / "d", max_lifetime=30) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        assert server.base_url.startswith("http://127.0.0.1:")
        status, h, data = _get(port, "/f.tif", Range="bytes=10-19")
        assert status == 206 and data == body[10:20]
        assert h["Content-Range"] == f"bytes 10-19/{len(body)}" and h["Content-Length"] == "10"
        etag = h["ETag"]
        status, h, data = _get(port, "/f.tif", Range="bytes=-5")
        assert status == 206 and data == body[-5:] and h["ETag"] == etag
        status, h, data = _get(port, "/f.tif")
        assert status == 200 and data == body and h["Accept-Ranges"] == "bytes"
        status, h, data = _get(port, "/f.tif", Range=f"bytes={len(body)}-")
        assert status == 416 and h["Content-Range"] == f"bytes */{len(body)}"
        status, h, data = _get(port, "/f.tif", "HEAD")
        assert status == 200 and data == b"" and h["Content-Length"] == str(len(body))
        assert _get(port, "/missing.tif")[0] == 404
        assert _get(port, "/../secret.txt")[0] == 404
        assert _get(port, "/%2e%2e/secret.txt")[0] == 404
        traffic = server.traffic()
        assert traffic.requests == 8 and traffic.range_requests == 3
        assert traffic.bytes_sent == 10 + 5 + len(body)
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018
    with pytest.raises(OSError):
        _get(port, "/f.tif")


def test_demo_server_stops_by_itself(tmp_path: Path) -> None:
    server = DemoServer(tmp_path, max_lifetime=0.2).start()
    port = int(server.base_url.rsplit(":", 1)[1])
    server._timer.join(5)  # type: ignore[union-attr]
    with pytest.raises(OSError):
        _get(port, "/x")
    server.stop()


def test_stac_catalog_items(tmp_path: Path) -> None:
    import pystac

    from rasteret.demo._stac import COLLECTION_ID, write_catalog

    files = [
        _demo_data.SceneFile("a", dt.date(2024, 5, 2), b, tmp_path / f"a_{b}.tif", 1.5)
        for b in _demo_data.BANDS
    ]
    cat = write_catalog(
        tmp_path / "stac", files, lambda p: f"http://127.0.0.1:1/{p.name}", T, (1024, 1024)
    )
    root = pystac.Catalog.from_file(str(cat))
    coll = root.get_child(COLLECTION_ID)
    (item,) = list(coll.get_items())
    assert item.properties["eo:cloud_cover"] == 1.5 and item.properties["proj:code"] == "EPSG:32633"
    assert item.assets["B04"].href == "http://127.0.0.1:1/a_B04.tif"
    lon, lat = item.geometry["coordinates"][0][0]
    assert 16.4 < lon < 16.7 and 52.3 < lat < 52.5
    json.loads(cat.read_text())  # plain JSON


def _demo_dirs(tmp: Path) -> list[Path]:
    return [p for p in tmp.iterdir() if p.name.startswith("rasteret-demo-")]


def test_run_demo_cleans_up_on_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def boom(directory: Path, **_kw: object) -> None:
        directory.mkdir(parents=True)
        (directory / "partial.tif").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(_demo_data, "generate_series", boom)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path / "out.png")
    assert _demo_dirs(tmp_path) == [] and not (tmp_path / "out.png").exists()


def test_cli_bad_output_fails_fast(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "rasteret.cli", "demo", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasteret: error: --output ")
    assert _demo_dirs(tmp_path) == []


def test_demo_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from rasteret.cli import main\n"
        f"sys.exit(main(['demo', '--output', {str(tmp_path / 'x.png')!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "rasteret[demo]" in proc.stderr and "matplotlib" in proc.stderr
    assert _demo_dirs(tmp_path) == [] and not (tmp_path / "x.png").exists()
