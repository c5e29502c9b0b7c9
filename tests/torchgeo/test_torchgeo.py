"""TorchGeo adapter against TorchGeo's own ``RasterDataset`` over the same GDAL-written files.

Runs only where torch + torchgeo >= 0.9 import (``tools/ci/torchgeo_env.sh`` builds that
environment); the main suite skips this module.

The collection is built in a *subprocess* and only loaded here, so this process does no
object-store I/O before the fork-based ``DataLoader`` test runs: that is the realistic
training setup (build once, train later) and the one the fork caveat in
``docs/integrations.md`` is about. That test is first in the file on purpose.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torchgeo = pytest.importorskip("torchgeo")
from torchgeo.datasets import GeoDataset, RasterDataset, stack_samples  # noqa: E402
from torchgeo.samplers import GridGeoSampler, RandomGeoSampler  # noqa: E402

if not hasattr(GeoDataset, "_slice_to_tensor"):  # pragma: no cover
    pytest.skip("torchgeo >= 0.9 (GeoSlice API) required", allow_module_level=True)

from rasterio.enums import Resampling  # noqa: E402

import rasteret  # noqa: E402
from rasteret_testkit.cogs import sample_array, write_cog  # noqa: E402

DATES = ("20240501", "20240511", "20240521")
BANDS = ("B04", "B08")
PREFIX = "tgeo"


class LocalTiles(RasterDataset):
    """TorchGeo's reference reader over the same files (read locally with rasterio)."""

    filename_glob = "T33_*_B04.tif"
    filename_regex = r"^T33_(?P<date>\d{8})_(?P<band>B\d\d)\.tif$"
    date_format = "%Y%m%d"
    is_image = True
    separate_files = True
    all_bands = BANDS

    @property
    def resampling(self) -> Any:
        # TorchGeo picks bilinear because its *output* is float32; the adapter keeps integer
        # values (nearest for integer sources), so compare against nearest.
        return Resampling.nearest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, object_server_session) -> dict[str, Any]:
    """3 dates x 2 bands of uint16 COGs; scenes shifted so they overlap partly; date 1 has
    nodata holes (the mosaic must fill them from later dates, as rasterio.merge does)."""
    local = tmp_path_factory.mktemp("tg_local")
    records = []
    for i, date in enumerate(DATES):
        x0 = 500_000.0 + 640.0 * i
        y0 = 5_000_000.0 - 320.0 * i
        transform = (10.0, 0.0, x0, 0.0, -10.0, y0)
        assets = {}
        for j, band in enumerate(BANDS):
            data = sample_array("uint16", 1, 320, 384, seed=100 + 10 * i + j)
            if i == 0:
                data[:, 40:120, 200:330] = 0
            name = f"T33_{date}_{band}.tif"
            write_cog(local / name, data, transform=transform, nodata=0, blocksize=64)
            dst = object_server_session.root / PREFIX / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes((local / name).read_bytes())
            assets[band] = {"href": object_server_session.url(f"{PREFIX}/{name}")}
        records.append(
            {
                "id": f"T33_{date}",
                "datetime": dt.datetime.strptime(date, "%Y%m%d").isoformat(),
                "x0": x0,
                "y0": y0,
                "assets": assets,
            }
        )
    return {"local": local, "records": records}


_BUILD = textwrap.dedent(
    """
    import datetime as dt, json, sys
    import pyarrow as pa, shapely
    from pyproj import Transformer
    import rasteret
    records, ws = json.loads(sys.argv[1]), sys.argv[2]
    tr = Transformer.from_crs(32633, 4326, always_xy=True)
    def lonlat(r):
        xs, ys = tr.transform([r["x0"], r["x0"] + 3840], [r["y0"] - 3200, r["y0"]])
        return shapely.to_wkb(shapely.box(min(xs), min(ys), max(xs), max(ys)))
    table = pa.table({
        "id": [r["id"] for r in records],
        "datetime": pa.array([dt.datetime.fromisoformat(r["datetime"]) for r in records],
                             pa.timestamp("us")),
        "geometry": [lonlat(r) for r in records],
        "assets": [r["assets"] for r in records],
        "split": ["train", "train", "val"],
    })
    c = rasteret.build_from_table(table, name="tgeo", workspace_dir=ws, enrich_cog=True)
    print(c.dataset.files[0] if hasattr(c.dataset, "files") else "")
    """
)


@pytest.fixture(scope="module")
def coll(corpus, tmp_path_factory):
    """The collection, built in a child process; this process only opens the Parquet."""
    ws = tmp_path_factory.mktemp("tg_ws")
    subprocess.run(
        [sys.executable, "-c", _BUILD, json.dumps(corpus["records"]), str(ws)],
        check=True,
        timeout=120,
    )
    (path,) = [p for p in Path(ws).iterdir() if p.name.startswith("tgeo")]
    return rasteret.load(path)


@pytest.fixture(scope="module")
def reference(corpus):
    return LocalTiles(paths=corpus["local"], bands=list(BANDS))


def _dataset(coll: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # uint16 -> int32 note
        return coll.to_torchgeo_dataset(bands=list(BANDS), **kw)


def _ref_query(q: Any) -> Any:
    """Our query for TorchGeo's dataset: its file intervals span the whole day of the date."""
    x, y, *t = q
    if not t:
        return (x, y)
    day = t[0].start.normalize()
    return (x, y, slice(day, day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)))


def _same_chip(ours: dict[str, Any], theirs: dict[str, Any], key: str = "image") -> None:
    np.testing.assert_array_equal(ours[key].numpy().astype(np.float64), theirs[key].numpy())
    # spatial part of the bounds (x/y start, stop, step) and the transform
    torch.testing.assert_close(ours["bounds"][:6], theirs["bounds"][:6].to(ours["bounds"].dtype))
    torch.testing.assert_close(ours["transform"], theirs["transform"].to(ours["transform"].dtype))


# -- 1. DataLoader with worker processes (first: this process has done no object-store I/O) --


def test_dataloader_fork_workers_match_rasterdataset(coll, reference):
    ds = _dataset(coll)
    assert not any(
        type(m).__name__ == "ObstoreBackend" for m in ds.__dict__.values()
    )  # nothing live held
    queries = list(RandomGeoSampler(ds, size=64, length=12))  # fixed, to compare afterwards
    loader = torch.utils.data.DataLoader(
        ds, sampler=queries, batch_size=4, num_workers=2, collate_fn=stack_samples
    )
    batches = list(loader)
    assert len(batches) == 3
    for i, batch in enumerate(batches):
        assert batch["image"].shape == (4, 2, 64, 64)
        assert batch["image"].dtype == torch.int32
        for k in range(4):
            ours = {key: batch[key][k] for key in ("image", "bounds", "transform")}
            _same_chip(ours, reference[_ref_query(queries[4 * i + k])])


def test_dataloader_spawn_workers(coll):
    ds = _dataset(coll)
    ds[501_300.0:501_940.0, 4_997_500.0:4_998_140.0]
    # the parent has now read: fork would be unsafe; spawn is always fine
    sampler = GridGeoSampler(ds, size=128, stride=128)
    loader = torch.utils.data.DataLoader(
        ds,
        sampler=sampler,
        batch_size=8,
        num_workers=2,
        collate_fn=stack_samples,
        multiprocessing_context="spawn",
    )
    n = sum(b["image"].shape[0] for b in loader)
    assert n == len(sampler)


# -- 2. index and single samples ---------------------------------------------------------------


def test_index_crs_res_bounds_match_rasterdataset(coll, reference):
    ds = _dataset(coll)
    assert isinstance(ds, GeoDataset)
    assert len(ds) == len(reference) == 3
    assert ds.index.index.name == "datetime" and ds.index.index.closed == "both"
    assert list(ds.index["id"]) == [f"T33_{d}" for d in DATES]
    assert ds.crs == reference.crs
    assert ds.res == pytest.approx(reference.res)
    for a, b in zip(ds.bounds[:2], reference.bounds[:2], strict=True):
        assert (a.start, a.stop, a.step) == pytest.approx((b.start, b.stop, b.step))
    np.testing.assert_allclose(ds.index.total_bounds, reference.index.total_bounds)


MOSAIC = (500_000.0, 4_996_800.0, 502_560.0, 5_000_000.0)  # over the nodata holes of date 1
OFFGRID = (501_234.0, 4_997_001.0, 502_514.0, 4_998_281.0)  # off the pixel grid, date 1 valid
EDGE = (504_000.0, 4_995_000.0, 506_000.0, 4_997_000.0)  # partly outside every scene

_MERGE_GAP = pytest.mark.xfail(
    strict=True,
    reason="rasteret_io.grid_read resamples every source pointwise onto the query grid; "
    "rasterio.merge resamples each source over its own rounded window, so where a *later* "
    "record fills a gap when upsampling (7.5 m from 10 m) the picked source pixels differ "
    "(engine issue, reported)",
)


@pytest.mark.parametrize(
    ("box", "res"),
    [
        (MOSAIC, 10.0),
        (OFFGRID, 10.0),
        (OFFGRID, 20.0),
        (OFFGRID, 7.5),
        (EDGE, 10.0),
        (MOSAIC, 20.0),
        pytest.param(MOSAIC, 7.5, marks=_MERGE_GAP),
    ],
)
def test_chips_equal_rasterdataset(coll, reference, box, res):
    ds = _dataset(coll)
    x0, y0, x1, y1 = box
    _same_chip(ds[x0:x1:res, y0:y1:res], reference[x0:x1:res, y0:y1:res])


def test_grid_sampler_covers_like_rasterdataset(coll, reference):
    ds = _dataset(coll)
    ours = list(GridGeoSampler(ds, size=256, stride=200))
    theirs = list(GridGeoSampler(reference, size=256, stride=200))
    assert len(ours) == len(theirs)
    for q in ours[:: max(1, len(ours) // 6)]:
        _same_chip(ds[q], reference[_ref_query(q)])


def test_time_series_and_mask(coll, corpus):
    ts = LocalTiles(paths=corpus["local"], bands=list(BANDS), time_series=True)
    ds = _dataset(coll, time_series=True)
    q = (slice(501_300.0, 502_580.0, 10.0), slice(4_997_100.0, 4_998_380.0, 10.0))
    ours, theirs = ds[q], ts[q]
    assert ours["image"].shape == (3, 2, 128, 128)
    _same_chip(ours, theirs)
    masks = coll.to_torchgeo_dataset(bands=["B04"], is_image=False, time_series=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m = masks[q]["mask"]
    assert m.shape == (3, 128, 128)
    np.testing.assert_array_equal(m.numpy(), ours["image"][:, 0].numpy())


def test_filters_labels_pickle_and_errors(coll):
    ds = _dataset(coll, split="train", label_field="split")
    assert len(ds) == 2
    again = pickle.loads(pickle.dumps(ds))
    q = (slice(500_700.0, 501_340.0, 10.0), slice(4_998_000.0, 4_998_640.0, 10.0))
    a, b = ds[q], again[q]
    torch.testing.assert_close(a["image"], b["image"])
    assert a["label"] == "train"
    with pytest.raises(IndexError):
        ds[0.0:10.0:1.0, 0.0:10.0:1.0]
    with pytest.raises(ValueError, match="bands"):
        coll.to_torchgeo_dataset(bands=[])
    boxed = _dataset(coll, geometries=[(500_100.0, 4_999_000.0, 500_200.0, 4_999_100.0)],
                     geometries_crs=32633)  # fmt: skip
    assert list(boxed.index["id"]) == ["T33_20240501"]


def test_intersection_with_rasterdataset(coll, reference):
    ds = _dataset(coll, split="val")
    both = ds & reference
    assert len(both) >= 1
    q = next(iter(RandomGeoSampler(both, size=32, length=1)))
    sample = both[q]
    assert sample["image"].shape[-2:] == (32, 32)


def test_target_crs_reprojects_every_record(coll):
    ds = _dataset(coll, target_crs=3857)
    assert ds.crs.to_epsg() == 3857
    assert 12.0 < ds.res[0] < 16.0 and 12.0 < ds.res[1] < 16.0  # 10 m at ~45° N in 3857
    q = next(iter(GridGeoSampler(ds, size=64, stride=64)))
    chip = ds[q]["image"]
    assert chip.shape == (2, 64, 64)
    assert (chip > 0).float().mean() > 0.5
