"""Warping compared pixel for pixel with GDAL (``rasterio.warp.reproject``).

GDAL is the oracle: synthetic COGs are written with GDAL's COG driver, warped by
``rasterio.warp.reproject`` from the whole band and by :func:`rasteret_io.resampling.warp_into`
from the source window :func:`~rasteret_io.resampling.plan_warp` says GDAL reads. Integer
bands must be identical for every kernel and CRS pair. Float bands must be identical for
nearest/mode/min/max/med/q1/q3; average, bilinear and cubic may differ by one float32 ulp on a
few pixels (see ``docs/read-engine.md``: the double-precision results straddle a float32
rounding midpoint after PROJ last-bit differences between pyproj's and GDAL's PROJ builds).
"""

from __future__ import annotations

import asyncio
import logging
import re

import numpy as np
import pytest
import rasterio
import rasterio.warp
from affine import Affine
from pyproj import Transformer
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow
from shapely.geometry import box

from rasteret_io.aoi import normalize_aois, to_crs
from rasteret_io.engine import default_fetcher, read_aois
from rasteret_io.grid import Grid, Window
from rasteret_io.rasterize import geometry_mask
from rasteret_io.resampling import Resampling, WarpOptions, plan_warp, warp_into
from rasteret_io.warp import reproject_array
from rasteret_testkit.cogs import sample_array, write_cog
from rasteret_testkit.rows import row_for_cogs

KINDS = [k.value for k in Resampling]
#: Kernels GDAL computes in double precision and rounds to float32 (see module docstring).
FLOAT_ROUNDED = {"average", "bilinear", "cubic"}

UTM = (10.0, 0.0, 300_000.0, 0.0, -10.0, 7_000_000.0)  # far from the central meridian


def _source(path, crs, transform, shape, dtype, nodata, seed):
    data = sample_array(dtype, 1, shape[0], shape[1], seed=seed)
    if nodata is not None:
        rng = np.random.default_rng(seed)
        data[0][rng.random(shape) < 0.03] = nodata  # scattered holes
        data[0][: shape[0] // 6, : shape[1] // 5] = nodata  # and a corner block
    return write_cog(path, data, crs=crs, transform=transform, nodata=nodata)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("warp")
    return {
        "utm_u16": _source(d / "utm_u16.tif", "EPSG:32633", UTM, (180, 200), "uint16", 0, 1),
        "utm_f32": _source(d / "utm_f32.tif", "EPSG:32633", UTM, (240, 250), "float32", -9999.0, 2),
        "utm_i16": _source(d / "utm_i16.tif", "EPSG:32633", UTM, (240, 250), "int16", None, 3),
        "geo_u16": _source(
            d / "geo_u16.tif",
            "EPSG:4326",
            (1e-4, 0, 10.0, 0, -1e-4, 50.0),
            (400, 500),
            "uint16",
            0,
            4,
        ),
        "ps_i16": _source(
            d / "ps_i16.tif",
            "EPSG:3413",
            (100.0, 0, -300_000.0, 0, -100.0, -1_000_000.0),
            (180, 170),
            "int16",
            -32768,
            5,
        ),
        "geo_ant": _source(
            d / "geo_ant.tif",
            "EPSG:4326",
            (0.5, 0, -180.0, 0, -0.5, -70.0),
            (40, 720),
            "uint16",
            0,
            6,
        ),
    }


def _grid_over(path, dst_crs, res):
    """A target grid in ``dst_crs`` at ``res`` covering the whole source raster."""
    with rasterio.open(path) as src:
        w, b, r, t = src.bounds
        crs = src.crs
    n = 40
    xs = np.concatenate([np.linspace(w, r, n), np.full(n, r), np.linspace(w, r, n), np.full(n, w)])
    ys = np.concatenate([np.full(n, b), np.linspace(b, t, n), np.full(n, t), np.linspace(b, t, n)])
    x, y = Transformer.from_crs(crs, dst_crs, always_xy=True).transform(xs, ys)
    x0, y1 = float(np.min(x)), float(np.max(y))
    w = int(np.ceil((np.max(x) - x0) / res))
    h = int(np.ceil((y1 - np.min(y)) / res))
    return Grid(dst_crs, (res, 0.0, x0, 0.0, -res, y1), w, h)


#: (case id, source, target CRS, target resolution, or a fixed target grid)
PAIRS = [
    ("utm33-utm33-coarser", "utm_u16", "EPSG:32633", 23.0),  # resolution change, same CRS
    ("utm33-utm33-finer", "utm_u16", "EPSG:32633", 7.0),
    ("utm33-utm32", "utm_u16", "EPSG:32632", 10.0),
    ("utm33-utm32-coarse", "utm_u16", "EPSG:32632", 27.0),
    ("utm33-4326", "utm_u16", "EPSG:4326", 0.00015),
    ("utm33-4326-coarse", "utm_u16", "EPSG:4326", 0.0006),
    ("4326-3857", "geo_u16", "EPSG:3857", 12.0),
    ("4326-3857-coarse", "geo_u16", "EPSG:3857", 45.0),
    ("3413-4326", "ps_i16", "EPSG:4326", 0.004),
    ("3413-32624", "ps_i16", "EPSG:32624", 250.0),
    ("4326-3031-pole", "geo_ant", "EPSG:3031", None),
]
POLE_GRID = Grid("EPSG:3031", (44_000.0, 0.0, -2_200_000.0, 0.0, -44_000.0, 2_200_000.0), 100, 100)


def _target(sources, src_key, crs, res):
    return POLE_GRID if res is None else _grid_over(sources[src_key], crs, res)


def _gdal(path, grid, kind, dtype=None, level=None, **kw):
    with rasterio.open(path, overview_level=level) as src:
        ref = np.zeros(grid.shape, dtype or src.dtypes[0])
        rasterio.warp.reproject(
            rasterio.band(src, 1),
            ref,
            dst_transform=Affine(*grid.transform),
            dst_crs=grid.crs,
            resampling=getattr(rasterio.warp.Resampling, kind),
            dst_nodata=src.nodata,
            **kw,
        )
    return ref


def _ours(path, grid, kind, dtype=None, options=None, level=None):
    with rasterio.open(path, overview_level=level) as src:
        sgrid = Grid(src.crs.to_string(), tuple(src.transform)[:6], src.width, src.height)
        out = np.empty(grid.shape, dtype or src.dtypes[0])
        plan = plan_warp(
            sgrid,
            grid,
            kind,
            src_dtype=src.dtypes[0],
            dst_dtype=out.dtype,
            src_nodata=src.nodata,
            options=options,
        )
        win = plan.source_window or Window(0, 0, 0, 0)
        data = src.read(1, window=RioWindow(win.col_off, win.row_off, win.width, win.height))
        return warp_into(
            data, sgrid, grid, kind, src_window=win, nodata=src.nodata, out=out, plan=plan
        )


def _assert_gdal_equal(ours, ref, kind, what):
    if ref.dtype.kind == "f" and kind in FLOAT_ROUNDED:
        diff = ~((ours == ref) | (np.isnan(ours) & np.isnan(ref)))
        ulp = np.spacing(np.abs(ref).astype(np.float32))
        assert (np.abs(ours[diff] - ref[diff]) <= ulp[diff]).all(), what
        assert diff.mean() <= 1e-4, f"{what}: {diff.sum()} pixels differ by one ulp"
    else:
        np.testing.assert_array_equal(ours, ref, err_msg=what)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("case", "src_key", "crs", "res"), PAIRS, ids=[p[0] for p in PAIRS])
def test_matches_gdal_reproject(sources, kind, case, src_key, crs, res):
    grid = _target(sources, src_key, crs, res)
    ref = _gdal(sources[src_key], grid, kind)
    ours, valid = _ours(sources[src_key], grid, kind)
    _assert_gdal_equal(ours, ref, kind, f"{case} {kind}")
    assert valid.any() and not valid.all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("res", [0.00015, 0.0006])
def test_float_band_with_nodata(sources, kind, res):
    grid = _grid_over(sources["utm_f32"], "EPSG:4326", res)
    ref = _gdal(sources["utm_f32"], grid, kind)
    ours, _ = _ours(sources["utm_f32"], grid, kind)
    _assert_gdal_equal(ours, ref, kind, f"float32 {kind} @ {res}")


@pytest.mark.parametrize("kind", KINDS)
def test_band_without_nodata_uses_gdal_unmasked_kernels(sources, kind):
    grid = _grid_over(sources["utm_i16"], "EPSG:32632", 13.0)
    ref = _gdal(sources["utm_i16"], grid, kind)
    ours, _ = _ours(sources["utm_i16"], grid, kind)
    _assert_gdal_equal(ours, ref, kind, f"int16 no nodata {kind}")


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "average"])
def test_float_target_of_integer_band(sources, kind):
    """GDAL's working type follows the target: no rounding into a float64 target.

    Unrounded float64 results expose the ~1e-11 px coordinate differences left by PROJ
    builds (pyproj's vs GDAL's) on a few scanlines, hence the relative tolerance.
    """
    grid = _grid_over(sources["utm_u16"], "EPSG:4326", 0.0002)
    ref = _gdal(sources["utm_u16"], grid, kind, dtype="float64")
    ours, _ = _ours(sources["utm_u16"], grid, kind, dtype="float64")
    if kind == "nearest":
        np.testing.assert_array_equal(ours, ref)
    else:
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


def test_rasterio_ignores_tolerance_keyword(sources):
    """Why the default threshold is 0.125: rasterio's reproject cannot turn it off."""
    grid = _grid_over(sources["utm_u16"], "EPSG:4326", 0.0001)
    default = _gdal(sources["utm_u16"], grid, "nearest")
    np.testing.assert_array_equal(_gdal(sources["utm_u16"], grid, "nearest", tolerance=0), default)
    approx, _ = _ours(sources["utm_u16"], grid, "nearest")
    exact, _ = _ours(sources["utm_u16"], grid, "nearest", options=WarpOptions(error_threshold=0))
    np.testing.assert_array_equal(approx, default)
    assert (exact != default).any()  # the approximation is visible far from the meridian


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "mode"])
def test_exact_transformer_matches_warped_vrt(sources, kind):
    """``error_threshold=0`` is GDAL's exact transformer (``gdalwarp -et 0``).

    rasterio cannot build a WarpedVRT with ``tolerance=0`` (GDAL returns no dataset), so the
    oracle uses a vanishing tolerance, which makes GDAL subdivide every scanline down to
    exactly transformed points.
    """
    grid = _grid_over(sources["utm_u16"], "EPSG:4326", 0.00012)
    with (
        rasterio.open(sources["utm_u16"]) as src,
        WarpedVRT(
            src,
            crs=grid.crs,
            transform=Affine(*grid.transform),
            width=grid.width,
            height=grid.height,
            resampling=getattr(rasterio.warp.Resampling, kind),
            tolerance=1e-12,
        ) as vrt,
    ):
        ref = vrt.read(1)
    ours, _ = _ours(sources["utm_u16"], grid, kind, options=WarpOptions(error_threshold=0.0))
    np.testing.assert_array_equal(ours, ref)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.chunks: list[tuple[int, ...]] = []

    def emit(self, record):
        m = re.search(
            r"Src=(\d+),(\d+),(\d+)x(\d+) Dst=(\d+),(\d+),(\d+)x(\d+)", record.getMessage()
        )
        if m:
            self.chunks.append(tuple(int(v) for v in m.groups()))


def _gdal_chunks(path, grid, **kw):
    cap = _Capture()
    log = logging.getLogger("rasterio._err")
    log.addHandler(cap)
    old = log.level
    log.setLevel(logging.DEBUG)
    try:
        with rasterio.Env(CPL_DEBUG=True):
            ref = _gdal(path, grid, "nearest", **kw)
    finally:
        log.removeHandler(cap)
        log.setLevel(old)
    return sorted(cap.chunks), ref


@pytest.mark.parametrize(
    ("case", "mem_mib", "res", "pad"),
    [("memory-split", 1, 1.8, 0.0), ("fill-ratio-split", 64, 20.0, 6000.0)],
)
def test_chunks_match_gdal_debug_log(sources, case, mem_mib, res, pad):
    """GDAL splits big targets (memory) and targets mostly off the source (fill ratio)."""
    path = sources["utm_u16"]
    g = _grid_over(path, "EPSG:32632", res)
    a, _b, c, _d, e, f = g.transform
    grid = Grid(
        g.crs,
        (a, 0.0, c - pad, 0.0, e, f + pad),
        g.width + int(2 * pad / res),
        g.height + int(2 * pad / res),
    )
    expected, ref = _gdal_chunks(path, grid, warp_mem_limit=mem_mib)
    assert len(expected) > 1, case
    with rasterio.open(path) as src:
        sgrid = Grid("EPSG:32633", tuple(src.transform)[:6], src.width, src.height)
    opts = WarpOptions(mem_limit=mem_mib * 1024 * 1024)
    plan = plan_warp(sgrid, grid, "nearest", src_dtype="uint16", src_nodata=0, options=opts)
    got = sorted(
        (c.sx, c.sy, c.sw, c.sh, c.dx, c.dy, c.dw, c.dh) for c in plan.chunks if c.sw and c.sh
    )
    assert got == expected
    ours, _ = _ours(path, grid, "nearest", options=opts)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("kind", ["nearest", "average", "bilinear"])
def test_overview_level_matches_gdal_warping_that_overview(tmp_path, kind):
    """Reading at a coarse resolution warps an overview: same as GDAL warping the overview."""
    data = sample_array("uint16", 1, 1024, 1024, seed=9)
    path = write_cog(tmp_path / "ov.tif", data, transform=UTM, nodata=0, overviews=2)
    grid = _grid_over(path, "EPSG:4326", 0.0005)
    ref = _gdal(path, grid, kind, level=1)  # the overview's own nodata (0) and dtype
    ours, _ = _ours(path, grid, kind, level=1)
    np.testing.assert_array_equal(ours, ref)


def test_window_read_equals_whole_raster(sources):
    """Reading only the planned source window gives the same pixels as the whole raster."""
    path = sources["utm_u16"]
    with rasterio.open(path) as src:
        full = src.read(1)
        sgrid = Grid("EPSG:32633", tuple(src.transform)[:6], src.width, src.height)
    aoi = Grid("EPSG:4326", (0.0002, 0.0, 11.05, 0.0, -0.0001, 63.07), 60, 70)
    for kind in ("nearest", "cubic", "q3"):
        plan = plan_warp(sgrid, aoi, kind, src_dtype="uint16", src_nodata=0)
        win = plan.source_window
        assert win is not None and win.width < sgrid.width
        part = full[win.row_off : win.row_end, win.col_off : win.col_end]
        a, va = warp_into(part, sgrid, aoi, kind, src_window=win, nodata=0, plan=plan)
        b, vb = warp_into(full, sgrid, aoi, kind, nodata=0, plan=plan)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(a, _gdal(path, aoi, kind))


def test_reproject_array_legacy_entry_point(sources):
    path = sources["utm_u16"]
    grid = _grid_over(path, "EPSG:32632", 15.0)
    with rasterio.open(path) as src:
        data, t = src.read(1), tuple(src.transform)[:6]
    out, _ = reproject_array(data, data != 0, t, "EPSG:32633", grid, fill=0)
    np.testing.assert_array_equal(out, _gdal(path, grid, "nearest"))
    bil, bvalid = reproject_array(
        data, None, t, "EPSG:32633", grid, fill=np.nan, resampling="bilinear", nodata=0
    )
    assert bil.dtype == np.float64 and np.isnan(bil[~bvalid]).all()
    ref = np.where(bvalid, _gdal(path, grid, "bilinear", "float64"), np.nan)
    np.testing.assert_allclose(bil, ref, rtol=1e-10, atol=0)  # float64: PROJ last bits
    with pytest.raises(ValueError):
        reproject_array(data, None, t, "EPSG:32633", grid, fill=0, resampling="lanczos")


def test_engine_read_at_4326_nearest_is_exact(tmp_path):
    """End to end: a UTM scene read through the engine onto EPSG:4326 equals GDAL's warp."""
    data = sample_array("uint16", 1, 1500, 1500, seed=11)
    data[0][:200, :300] = 0
    path = write_cog(tmp_path / "scene.tif", data, transform=UTM, nodata=0)
    row = row_for_cogs("r", {"b": (path, str(path))})
    geoms = [box(300_500, 6_985_500, 314_000, 6_999_000)]
    aois = normalize_aois(geoms, geometry_crs=32633)
    out = asyncio.run(
        read_aois([row], ["b"], aois, default_fetcher(), layout="stack", target_crs=4326)
    )
    chip = out.chips[0]
    assert chip.data.dtype == np.uint16
    grid = Grid(4326, chip.transform, chip.data.shape[1], chip.data.shape[0])
    ref = _gdal(path, grid, "nearest")
    inside = geometry_mask(to_crs(geoms, 32633, 4326)[0], grid.transform, grid.shape)
    ref[~inside] = 0
    np.testing.assert_array_equal(chip.data, ref)
    np.testing.assert_array_equal(chip.valid, inside & (ref != 0))


def test_engine_average_matches_gdal_float_target(tmp_path):
    """Non-nearest kernels through the engine: GDAL warping into a float64 target."""
    data = sample_array("uint16", 1, 600, 600, seed=12)
    path = write_cog(tmp_path / "scene.tif", data, transform=UTM, nodata=0, overviews=False)
    row = row_for_cogs("r", {"b": (path, str(path))})
    geoms = [box(300_500, 6_995_000, 305_000, 6_999_000)]
    aois = normalize_aois(geoms, geometry_crs=32633)
    out = asyncio.run(
        read_aois(
            [row], ["b"], aois, default_fetcher(), layout="stack", target_crs=32632,
            resolution=(30.0, 30.0), resampling="average",
        )
    )  # fmt: skip
    chip = out.chips[0]
    grid = Grid(32632, chip.transform, chip.data.shape[1], chip.data.shape[0])
    ref = _gdal(path, grid, "average", dtype="float64")
    inside = geometry_mask(to_crs(geoms, 32633, 32632)[0], grid.transform, grid.shape)
    np.testing.assert_allclose(chip.data[chip.valid], ref[chip.valid], rtol=1e-10, atol=0)
    assert (chip.valid == (inside & (ref != 0))).all()


def test_resampling_names():
    assert [r.value for r in Resampling] == KINDS
    assert Resampling("q1") is Resampling.Q1 and Resampling.CUBIC.radius == 2
    assert Resampling.AVERAGE.is_area and not Resampling.BILINEAR.is_area
    with pytest.raises(ValueError):
        Resampling("lanczos")


@pytest.mark.parametrize("dtype", ["uint16", "int16"])
@pytest.mark.parametrize("kind", ["bilinear", "cubic", "average", "med"])
def test_computed_values_equal_to_nodata_are_nudged_like_gdal(tmp_path, dtype, kind):
    """Values 0 and 2 around a nodata of 1: averages of 1 must not read as nodata."""
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 2, (1, 120, 130)) * 2).astype(dtype)
    data[0][rng.random((120, 130)) < 0.1] = 1
    path = write_cog(tmp_path / "n.tif", data, transform=UTM, nodata=1)
    grid = _grid_over(path, "EPSG:32632", 17.0)
    ref = _gdal(path, grid, kind)
    ours, valid = _ours(path, grid, kind)
    np.testing.assert_array_equal(ours, ref)
    assert not (valid & (ours == 1)).any()


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "cubic"])
@pytest.mark.parametrize(
    "grid",
    [
        Grid("EPSG:4326", (0.5, 0.0, -200.0, 0.0, -0.5, 90.0), 800, 70),  # crosses +-180
        Grid("EPSG:3413", (80_000.0, 0.0, -4e6, 0.0, -80_000.0, 4e6), 100, 100),  # pole inside
    ],
    ids=["4326-4326-antimeridian", "4326-3413-pole"],
)
def test_global_geographic_source(tmp_path, kind, grid):
    """A whole-world source: longitudes wrap around the source's centre as in GDAL."""
    path = _source(
        tmp_path / "world.tif",
        "EPSG:4326",
        (1.0, 0, -180.0, 0, -1.0, 90.0),
        (180, 360),
        "uint16",
        0,
        3,
    )
    np.testing.assert_array_equal(_ours(path, grid, kind)[0], _gdal(path, grid, kind))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("res", [6.0, 10.0, 33.0])
def test_same_crs_shifted_grid(sources, kind, res):
    """Reading at another resolution / phase in the source CRS (no reprojection)."""
    c, f = UTM[2], UTM[5]
    grid = Grid(
        "EPSG:32633", (res, 0.0, c + 3.3, 0.0, -res, f - 7.1), int(1700 / res), int(1500 / res)
    )
    ref = _gdal(sources["utm_u16"], grid, kind)
    np.testing.assert_array_equal(_ours(sources["utm_u16"], grid, kind)[0], ref)
