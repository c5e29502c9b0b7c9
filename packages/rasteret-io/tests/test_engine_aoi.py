"""AOI reads compared pixel-for-pixel with GDAL (rasterio.mask / rasterio.warp)."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
import rasterio
import rasterio.mask
import rasterio.warp
from affine import Affine
from rasterio.features import geometry_mask as gdal_geometry_mask
from shapely.geometry import MultiPolygon, Point, Polygon, box

from rasteret_io.aoi import normalize_aois
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_io.errors import UnsupportedGeometryError
from rasteret_io.fetch import Fetcher
from rasteret_io.grid import Grid
from rasteret_io.rasterize import geometry_mask
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs, rows_table


def _same_outcome(a, b):
    """Two read outcomes hold identical chips and failures."""
    assert [(c.record_id, c.aoi_index, c.band) for c in a.chips] == [
        (c.record_id, c.aoi_index, c.band) for c in b.chips
    ]
    for x, y in zip(a.chips, b.chips, strict=True):
        assert x.data.dtype == y.data.dtype and x.transform == y.transform and x.crs == y.crs
        np.testing.assert_array_equal(x.data, y.data)
        np.testing.assert_array_equal(x.valid, y.valid)
    assert [(f.record_id, f.band) for f in a.failures] == [
        (f.record_id, f.band) for f in b.failures
    ]


def _read(rows, bands, geoms, crs, fetcher=None, *, form="both", **kw):
    """Read through the engine's Arrow input (two record batches) and, with ``form="both"``,
    through row dicts too, checking both give identical outcomes."""
    aois = normalize_aois(geoms, geometry_crs=crs)

    def run(r):
        return asyncio.run(read_aois(r, bands, aois, fetcher or default_fetcher(), **kw))

    if form == "dicts":
        return run(rows)
    out = run(rows_table(rows, chunks=2))
    if form == "both":
        _same_outcome(out, run(rows))
    return out


def _random_aois(transform, rng, n):
    out = []
    for k in range(n):
        x0 = transform.c + rng.uniform(-400, 4200)
        y0 = transform.f - rng.uniform(-400, 3200)
        if k % 3 == 0:
            out.append(box(x0, y0 - rng.uniform(40, 1500), x0 + rng.uniform(40, 1500), y0))
        elif k % 3 == 1:
            out.append(
                Polygon(
                    [(x0, y0), (x0 + 700, y0 - 90), (x0 + 500, y0 - 1100), (x0 - 150, y0 - 600)]
                )
            )
        else:
            outer = box(x0, y0 - 1200, x0 + 1200, y0)
            out.append(outer.difference(box(x0 + 300, y0 - 800, x0 + 700, y0 - 300)))
    return out


def test_rasterize_matches_gdal_on_random_polygons():
    rng = random.Random(7)
    for trial in range(150):
        t = (10.0, 0.0, 500000.0 + rng.uniform(-5, 5), 0.0, -10.0, 4200000.0 + rng.uniform(-5, 5))
        cx, cy = t[2] + 200, t[5] - 180
        n = rng.randint(3, 9)
        pts = [
            (
                cx + rng.uniform(50, 260) * np.cos(2 * np.pi * i / n),
                cy + rng.uniform(50, 260) * np.sin(2 * np.pi * i / n),
            )
            for i in range(n)
        ]
        g = Polygon(pts)
        if trial % 4 == 0:
            g = box(cx - 123.4, cy - 77.7, cx + 55.5, cy + 201.3)
        if trial % 5 == 0:  # a hole exactly on pixel borders
            g = g.difference(box(cx - 30, cy - 30, cx + 30, cy + 30))
        if not g.is_valid or g.is_empty:
            continue
        for at in (False, True):
            ref = ~gdal_geometry_mask([g], out_shape=(37, 41), transform=Affine(*t), all_touched=at)
            np.testing.assert_array_equal(geometry_mask(g, t, (37, 41), all_touched=at), ref)


CASES = [
    # dtype, bands, options, band_index
    ("uint16", 1, {"compress": "DEFLATE", "predictor": 2, "nodata": 0}, None),
    ("int16", 1, {"compress": "ZSTD", "predictor": 2, "nodata": -9999, "blocksize": 128}, None),
    ("float32", 1, {"compress": "LZW", "predictor": 3, "nodata": float("nan")}, None),
    ("uint8", 3, {"compress": "DEFLATE", "interleave": "PIXEL"}, 1),
    ("uint16", 3, {"compress": "DEFLATE", "interleave": "BAND", "nodata": 7}, 2),
    ("float64", 1, {"compress": "NONE"}, None),
]


@pytest.mark.parametrize(("dtype", "bands", "opts", "band_index"), CASES)
def test_native_reads_equal_rasterio_mask(tmp_path, dtype, bands, opts, band_index):
    data = sample_array(dtype, bands, 420, 530, seed=5)
    path = write_cog(tmp_path / "x.tif", data, **opts)
    spec = (path, str(path)) if band_index is None else (path, str(path), band_index)
    row = row_for_cogs("r", {"b": spec})
    rng = random.Random(11)
    with rasterio.open(path) as src:
        geoms = _random_aois(src.transform, rng, 12)
        for at in (False, True):
            out = _read([row], ["b"], geoms, src.crs.to_epsg(), all_touched=at)
            chips = {c.aoi_index: c for c in out.chips}
            for i, g in enumerate(geoms):
                try:
                    ref, ref_t = rasterio.mask.mask(
                        src, [g], crop=True, all_touched=at, filled=True
                    )
                except ValueError:
                    assert i not in chips
                    continue
                chip = chips[i]
                expect = ref[band_index or 0]
                assert chip.data.dtype == expect.dtype
                np.testing.assert_array_equal(chip.data, expect)
                assert chip.transform == tuple(ref_t)[:6]


def test_reads_identical_through_http_s3_and_local(tmp_path, object_server, moto_s3):
    from rasteret_io import create_backend

    data = sample_array("uint16", 1, 300, 380, seed=2)
    path = write_cog(
        tmp_path / "s.tif", data, compress="DEFLATE", predictor=2, blocksize=128, nodata=0
    )
    (object_server.root / "cogs").mkdir(exist_ok=True)
    (object_server.root / "cogs" / "s.tif").write_bytes(path.read_bytes())
    s3_url = moto_s3.upload(path, "engine/s.tif")
    geoms = [box(500_300, 4_998_100, 502_100, 4_999_700)]
    results = []
    for href, backend in (
        (str(path), None),
        (object_server.url("cogs/s.tif"), None),
        (
            s3_url,
            create_backend(region=moto_s3.region, default_s3_config={"endpoint": moto_s3.endpoint}),
        ),
    ):
        row = row_for_cogs("r", {"b": (path, href)})
        out = _read([row], ["b"], geoms, 32633, fetcher=default_fetcher(backend))
        results.append(out.chips[0].data)
    with rasterio.open(path) as src:
        ref, _ = rasterio.mask.mask(src, geoms, crop=True, filled=True)
    for arr in results:
        np.testing.assert_array_equal(arr, ref[0])
    # the HTTP read asked for tiles only: no header request at read time
    gets = [r for r in object_server.requests if r.path.endswith("s.tif")]
    assert gets and all(r.range and not r.range.startswith("bytes=0-") for r in gets)


def test_request_count_one_per_coalesced_group(tmp_path, object_server):
    data = sample_array("uint16", 1, 512, 512, seed=1)
    path = write_cog(
        tmp_path / "c.tif", data, compress="DEFLATE", predictor=2, blocksize=128, overviews=False
    )
    (object_server.root / "c.tif").write_bytes(path.read_bytes())
    row = row_for_cogs("r", {"b": (path, object_server.url("c.tif"))})
    geoms = [box(500_000 + 100, 5_000_000 - 3000, 500_000 + 3000, 5_000_000 - 100)]  # 3x3 tiles
    object_server.reset()
    f = Fetcher(default_fetcher().reader, max_gap=1 << 20)
    _read([row], ["b"], geoms, 32633, fetcher=f, form="arrow")
    assert object_server.count(path_prefix="/c.tif") == 1
    object_server.reset()
    f = Fetcher(default_fetcher().reader, max_gap=0, max_size=1)
    _read([row], ["b"], geoms, 32633, fetcher=f, form="arrow")
    assert object_server.count(path_prefix="/c.tif") == 9


def test_faults_do_not_change_pixels(tmp_path, object_server):
    from rasteret_io import RetryPolicy

    data = sample_array("int16", 1, 512, 640, seed=9)
    path = write_cog(
        tmp_path / "f.tif", data, compress="ZSTD", predictor=2, blocksize=64, nodata=-1
    )
    (object_server.root / "f.tif").write_bytes(path.read_bytes())
    row = row_for_cogs("r", {"b": (path, object_server.url("f.tif"))})
    geoms = [
        box(
            500_000 + 15 + 300 * k,
            5_000_000 - 4000 - 50 * k,
            500_000 + 1200 + 300 * k,
            5_000_000 - 10,
        )
        for k in range(6)
    ]
    clean = _read([row], ["b"], geoms, 32633)
    object_server.configure(
        fail_rate=0.05, truncate_rate=0.03, stall_rate=0.02, stall_s=2.0, fault_seed=3
    )
    retry = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, timeout=0.5)
    f = Fetcher(default_fetcher().reader, retry=retry, max_gap=0, max_size=1)
    faulty = _read([row], ["b"], geoms, 32633, fetcher=f)
    assert [r.fault for r in object_server.requests if r.fault]  # faults really happened
    for a, b in zip(clean.chips, faulty.chips, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_error_policies_with_missing_object(tmp_path, object_server):
    from rasteret_io import FetchError

    data = sample_array("uint16", 1, 200, 200, seed=4)
    path = write_cog(tmp_path / "m.tif", data, nodata=3)
    (object_server.root / "ok.tif").write_bytes(path.read_bytes())
    rows = [
        row_for_cogs("good", {"b": (path, object_server.url("ok.tif"))}),
        row_for_cogs("gone", {"b": (path, object_server.url("missing.tif"))}),
    ]
    g = [box(500_100, 4_998_500, 501_500, 4_999_900)]
    with pytest.raises(FetchError) as ei:
        _read(rows, ["b"], g, 32633)
    assert "missing.tif" in str(ei.value) and "gone" in str(ei.value)
    skip = _read(rows, ["b"], g, 32633, fetcher=default_fetcher(error_policy="skip"))
    assert [c.record_id for c in skip.chips] == ["good"]
    assert [f.record_id for f in skip.failures] == ["gone"]
    nod = _read(rows, ["b"], g, 32633, fetcher=default_fetcher(error_policy="nodata"))
    assert [c.record_id for c in nod.chips] == ["good", "gone"]
    assert (nod.chips[1].data == 3).all() and not nod.chips[1].valid.any()


def test_stack_layout_scene_edge_stacks_and_matches_inside(tmp_path):
    data = sample_array("uint16", 1, 400, 400, seed=6)
    t1 = (10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    t2 = (10.0, 0.0, 502_000.0, 0.0, -10.0, 5_000_000.0)  # shifted 200 px east, same phase
    p1 = write_cog(tmp_path / "1.tif", data, transform=t1, nodata=0)
    p2 = write_cog(tmp_path / "2.tif", data, transform=t2, nodata=0)
    rows = [row_for_cogs("a", {"b": (p1, str(p1))}), row_for_cogs("b", {"b": (p2, str(p2))})]
    g = [box(503_500, 4_997_000, 505_000, 4_999_000)]  # crosses the east edge of scene a
    native = _read(rows, ["b"], g, 32633)
    assert native.chips[0].data.shape != native.chips[1].data.shape
    stacked = _read(rows, ["b"], g, 32633, layout="stack")
    a, b = stacked.chips
    assert a.data.shape == b.data.shape and a.transform == b.transform
    with rasterio.open(p2) as src:
        ref, _ = rasterio.mask.mask(src, g, crop=True, filled=True)
    np.testing.assert_array_equal(b.data, ref[0])  # fully inside scene b: identical
    with rasterio.open(p1) as src:
        ref_a, _ = rasterio.mask.mask(src, g, crop=True, filled=True)
    w = ref_a.shape[2]
    np.testing.assert_array_equal(a.data[:, :w], ref_a[0])  # inside part of scene a
    assert (a.data[:, w:] == 0).all() and not a.valid[:, w:].any()


def test_stack_layout_multi_crs_matches_gdal_nearest(tmp_path):
    data = sample_array("uint16", 1, 300, 300, seed=8)
    p1 = write_cog(tmp_path / "utm.tif", data, nodata=0)
    with rasterio.open(p1) as src:
        dst_t, w, h = rasterio.warp.calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
        arr3857 = np.zeros((1, h, w), np.uint16)
        rasterio.warp.reproject(data, arr3857, src_transform=src.transform, src_crs=src.crs,
                                dst_transform=dst_t, dst_crs="EPSG:3857", resampling=rasterio.warp.Resampling.nearest,
                                src_nodata=0, dst_nodata=0)  # fmt: skip
    p2 = write_cog(tmp_path / "merc.tif", arr3857, crs="EPSG:3857", transform=dst_t, nodata=0)
    rows = [row_for_cogs("utm", {"b": (p1, str(p1))}), row_for_cogs("merc", {"b": (p2, str(p2))})]
    g = [box(500_500, 4_998_000, 502_000, 4_999_500)]
    out = _read(rows, ["b"], g, 32633, layout="stack", target_crs=32633, resolution=(10.0, 10.0))
    a, b = out.chips
    assert a.data.shape == b.data.shape and a.crs == 32633
    grid = Grid(32633, a.transform, a.data.shape[1], a.data.shape[0])
    inside = geometry_mask(g[0], grid.transform, grid.shape)
    for chip, p in ((a, p1), (b, p2)):
        ref = np.zeros(grid.shape, np.uint16)
        with rasterio.open(p) as src:
            rasterio.warp.reproject(rasterio.band(src, 1), ref, dst_transform=Affine(*grid.transform), dst_crs="EPSG:32633",
                                    resampling=rasterio.warp.Resampling.nearest, dst_nodata=0, tolerance=0)  # fmt: skip
        ref[~inside] = 0
        np.testing.assert_array_equal(chip.data, ref, err_msg=p.name)


def test_coarse_resolution_reads_an_overview(tmp_path, object_server):
    data = sample_array("uint16", 1, 1024, 1024, seed=12)
    path = write_cog(tmp_path / "ov.tif", data, blocksize=256, overviews=2, nodata=0)
    (object_server.root / "ov.tif").write_bytes(path.read_bytes())
    row = row_for_cogs("r", {"b": (path, object_server.url("ov.tif"))})
    g = [box(500_000, 5_000_000 - 10_240, 500_000 + 10_240, 5_000_000)]
    object_server.reset()
    out = _read([row], ["b"], g, 32633, layout="stack", resolution=(40.0, 40.0), form="arrow")
    chip = out.chips[0]
    assert chip.data.shape == (256, 256)
    with rasterio.open(path, overview_level=1) as ov:
        np.testing.assert_array_equal(chip.data, ov.read(1))
    got = sum(r.bytes_sent for r in object_server.requests)
    assert got < path.stat().st_size / 8  # far less than the full-resolution tiles


def test_geometry_validation():
    row = {"id": "r"}
    with pytest.raises(UnsupportedGeometryError, match="Point"):
        _read([row], ["b"], [Point(1, 2)], 4326, form="dicts")
    aois = normalize_aois((0.0, 1.0, 2.0, 3.0))
    assert aois.crs.to_epsg() == 4326 and aois.geometries[0].bounds == (0.0, 1.0, 2.0, 3.0)
    mp = MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)])
    assert normalize_aois([mp.wkb], geometry_crs=32633).geometries[0].equals(mp)
    assert normalize_aois(
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    ).geometries
    with pytest.raises(ValueError):
        normalize_aois((2.0, 1.0, 0.0, 3.0))
    with pytest.raises(TypeError):
        normalize_aois([box(0, 0, 1, 1)], geometry_column="g")


def test_internal_mask_applied_like_gdal_masked_read(cog_factory):
    path = cog_factory(dtype="uint16", height=300, width=400, mask=True, nodata=None, blocksize=128)
    row = row_for_cogs("r", {"b": (path, str(path))})
    assert row["b_metadata"]["mask"] is not None
    g = [box(500_000 + 5, 5_000_000 - 2900, 500_000 + 3900, 5_000_000 - 7)]
    out = _read([row], ["b"], g, 32633)
    with rasterio.open(path) as src:
        ref, _ = rasterio.mask.mask(src, g, crop=True, filled=True)
        gdal_mask = src.read_masks(1)
    np.testing.assert_array_equal(out.chips[0].data, ref[0])
    assert not out.chips[0].valid[gdal_mask[: ref.shape[1], : ref.shape[2]] == 0].any()


def test_rasterize_edges_on_pixel_centres_match_gdal():
    """Horizontal edges exactly on scanline centres (GDAL fills bottom edges only)."""
    from shapely import orient_polygons

    t = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)

    def poly(pts):
        return Polygon([(500_000 + 10 * x + 5, 4_200_000 - 10 * y - 5) for x, y in pts])

    shapes = [
        poly([(1, 1), (8, 1), (8, 8), (1, 8)]),
        poly([(1, 1), (8, 1), (8, 8), (5, 8), (5, 4), (3, 4), (3, 8), (1, 8)]),
        poly([(1, 8), (8, 8), (8, 1), (5, 1), (5, 5), (3, 5), (3, 1), (1, 1)]),
        box(500_015, 4_199_855, 500_085, 4_199_985).difference(
            box(500_035, 4_199_935, 500_055, 4_199_955)
        ),
        Polygon([(500_015, 4_199_995), (500_125, 4_199_995), (500_070, 4_199_905)]),
    ]
    for s in shapes:
        for g in (orient_polygons(s), orient_polygons(s, exterior_cw=True)):
            for at in (False, True):
                ref = ~gdal_geometry_mask(
                    [g], out_shape=(14, 14), transform=Affine(*t), all_touched=at
                )
                np.testing.assert_array_equal(geometry_mask(g, t, (14, 14), all_touched=at), ref)


def test_corrupt_tile_raises_or_is_reported(tmp_path, object_server):
    """A tile that does not decode: ``raise`` names the URL; ``skip`` drops only that record."""
    from rasteret_io import ReadError

    data = sample_array("uint16", 1, 256, 256, seed=5)
    path = write_cog(tmp_path / "k.tif", data, compress="DEFLATE", blocksize=128, overviews=False)
    row = row_for_cogs("bad", {"b": (path, object_server.url("bad.tif"))})
    raw = bytearray(path.read_bytes())
    off, n = row["b_metadata"]["tile_offsets"][0], row["b_metadata"]["tile_byte_counts"][0]
    raw[off : off + n] = b"\x00" * n  # not a DEFLATE stream any more
    (object_server.root / "bad.tif").write_bytes(bytes(raw))
    (object_server.root / "good.tif").write_bytes(path.read_bytes())
    good = row_for_cogs("good", {"b": (path, object_server.url("good.tif"))})
    g = [box(500_000 + 10, 5_000_000 - 2500, 500_000 + 2500, 5_000_000 - 10)]
    with pytest.raises(ReadError, match=r"bad\.tif"):
        _read([good, row], ["b"], g, 32633)
    out = _read([good, row], ["b"], g, 32633, fetcher=default_fetcher(error_policy="skip"))
    assert [c.record_id for c in out.chips] == ["good"]
    assert [f.record_id for f in out.failures] == ["bad"]
    nod = _read([good, row], ["b"], g, 32633, fetcher=default_fetcher(error_policy="nodata"))
    bad = nod.chips[1]
    edge = 128 - round((bad.transform[2] - 500_000) / 10)  # tile 0 ends here in the window
    assert not bad.valid[:edge, :edge].any() and bad.valid[edge:, edge:].all()
    with rasterio.open(path) as src:
        ref, _ = rasterio.mask.mask(src, g, crop=True, filled=True)
    np.testing.assert_array_equal(bad.data[edge:, edge:], ref[0][edge:, edge:])
