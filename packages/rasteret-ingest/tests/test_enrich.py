"""Header enrichment against GDAL-written COGs on the loopback HTTP / S3 servers and moto."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import rasterio
import shapely

from rasteret_catalog.arrow import ensure_valid
from rasteret_catalog.schema import BandField, band_metadata_column
from rasteret_ingest.enrich import enrich_table
from rasteret_ingest.errors import EnrichmentError, IngestWarning
from rasteret_ingest.normalize import normalize_table
from rasteret_io import create_backend
from rasteret_io.errors import ReadError
from rasteret_io.header_meta import slice_plane


def _table(assets: list[dict[str, Any]]) -> pa.Table:
    n = len(assets)
    return normalize_table(
        pa.table(
            {
                "id": [f"r{i}" for i in range(n)],
                "datetime": ["2024-01-01T00:00:00Z"] * n,
                "geometry": [shapely.box(15, 45, 15.1, 45.1).wkb] * n,
                "assets": assets,
            }
        )
    )


def _gdal_offsets(path: Path, bidx: int, n: int) -> list[int]:
    with rasterio.open(path) as src:
        cols = math.ceil(src.width / src.block_shapes[0][1])
        out = []
        for i in range(n):
            y, x = divmod(i, cols)
            out.append(int(src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=bidx)))
        return out


def test_http_and_s3_one_request_per_header(
    object_server: Any, backend: Any, cog_pool: dict[str, Path], h: Any
) -> None:
    t = _table(
        [
            {
                "B1": {"href": object_server.url("pool/u16.tif"), "band_index": 0},
                "B2": {"href": "s3://pool/u16b.tif", "band_index": 0},
            },
            {"B1": {"href": object_server.url("pool/u16.tif"), "band_index": 0}, "B2": None},
        ]
    )
    out, report = enrich_table(t, ["B1", "B2"], backend=backend, progress=False, retry=h.FAST_RETRY)
    ensure_valid(out)
    assert (report.attempted, report.failed, report.urls) == (3, 0, 2)
    assert report.requests == 2 == object_server.count("GET")  # one request per COG header
    m = out.column(band_metadata_column("B1")).to_pylist()[0]
    with rasterio.open(cog_pool["u16"]) as src:
        assert (m["image_width"], m["image_height"]) == (src.width, src.height)
        assert (m["tile_width"], m["tile_height"]) == (
            src.block_shapes[0][1],
            src.block_shapes[0][0],
        )
        a = src.transform
        assert m["transform"] == [a.a, a.c, a.e, a.f]
        assert m["dtype"] == src.dtypes[0]
        assert m["nodata"] == src.nodata == 0
        assert len(m["overviews"]) == len(src.overviews(1))
    assert m["tile_offsets"] == _gdal_offsets(cog_pool["u16"], 1, len(m["tile_offsets"]))
    assert m[BandField.FILE_SIZE] == cog_pool["u16"].stat().st_size
    assert m[BandField.ETAG] and m[BandField.LAST_MODIFIED] is not None
    assert out.column(band_metadata_column("B2")).to_pylist()[1] is None  # no asset: null
    assert out.column("proj:epsg").to_pylist() == [32633, 32633]  # backfilled from the headers
    assert out.column("crs").to_pylist() == ["EPSG:32633", "EPSG:32633"]


def test_planar_bands_sliced_like_gdal(
    object_server: Any, backend: Any, cog_pool: dict[str, Path]
) -> None:
    url = object_server.url("pool/planar.tif")
    t = _table([{b: {"href": url, "band_index": i} for i, b in enumerate(["R", "G", "B"])}])
    out, report = enrich_table(t, ["R", "G", "B"], backend=backend, progress=False)
    # GTiff layout (overviews appended after the data): a second request reaches their IFDs.
    assert report.urls == 1 and report.requests == object_server.count("GET") <= 2
    for i, band in enumerate(["R", "G", "B"]):
        m = out.column(band_metadata_column(band)).to_pylist()[0]
        assert m["planar_configuration"] == 2
        assert len(m["tile_offsets"]) == 12
        assert m["tile_offsets"] == _gdal_offsets(cog_pool["planar"], i + 1, 12)
        for ov in m["overviews"]:
            assert len(ov["tile_offsets"]) == len(ov["tile_byte_counts"])


def test_slice_plane_rule() -> None:
    offs = list(range(12))
    assert slice_plane(offs, offs, 4, 2) == ([8, 9, 10, 11], [8, 9, 10, 11])
    assert slice_plane(offs, offs, 12, 0) == (offs, offs)  # exactly n: unchanged
    assert slice_plane(offs, offs, 5, 1) == (offs, offs)  # not a multiple: unchanged
    with pytest.raises(ReadError, match="3 planes"):
        slice_plane(offs, offs, 4, 3)


def test_local_paths_and_moto_s3(moto_s3: Any, cog_pool: dict[str, Path]) -> None:
    s3_url = moto_s3.upload(cog_pool["f32_4326"], "enrich/f32.tif")
    be = create_backend(
        default_s3_config={
            "endpoint": moto_s3.endpoint,
            "region": moto_s3.region,
            "access_key_id": moto_s3.access_key_id,
            "secret_access_key": moto_s3.secret_access_key,
        }
    )
    t = _table(
        [
            {"A": {"href": s3_url, "band_index": 0}},
            {"A": {"href": str(cog_pool["u16"]), "band_index": 0}},
            {"A": {"href": cog_pool["u16b"].as_uri(), "band_index": 0}},
        ]
    )
    out, report = enrich_table(t, ["A"], backend=be, progress=False)
    assert report.failed == 0
    assert out.column("proj:epsg").to_pylist() == [4326, 32633, 32633]
    metas = out.column("A_metadata").to_pylist()
    assert metas[0]["dtype"] == "float32" and metas[0][BandField.ETAG]
    assert all(m[BandField.FILE_SIZE] for m in metas)


def test_failure_policy_null_metadata_and_summary(
    object_server: Any, backend: Any, cog_pool: dict[str, Path], h: Any
) -> None:
    bad = object_server.put("pool/corrupt.tif", b"II*\x00" + b"\xff" * 60)
    notiff = object_server.put("pool/text.tif", b"hello world, not a tiff at all" * 10)
    t = _table(
        [
            {"B": {"href": object_server.url("pool/u16.tif"), "band_index": 0}},
            {"B": {"href": object_server.url("pool/missing.tif"), "band_index": 0}},
            {"B": {"href": bad, "band_index": 0}},
            {"B": {"href": notiff, "band_index": 0}},
            {"B": {"href": "http://user:secret@127.0.0.1:9/x.tif?sig=abc", "band_index": 0}},
            {"B": {"href": object_server.url("pool/u16.tif"), "band_index": 5}},
        ]
    )
    with pytest.warns(IngestWarning, match=r"5 of 6 asset header\(s\) could not be read") as rec:
        out, report = enrich_table(t, ["B"], backend=backend, progress=False, retry=h.FAST_RETRY)
    metas = out.column("B_metadata").to_pylist()
    assert metas[0] is not None and all(m is None for m in metas[1:])
    assert report.failed == 5 and len(report.failures) == 5
    by_record = {f.record_id: f for f in report.failures}
    assert "not found" in by_record["r1"].error.lower()
    assert by_record["r5"].band == "B" and "band_index 5" in by_record["r5"].error
    msg = str(rec[0].message)
    assert "secret" not in msg and "sig=abc" not in msg
    assert "secret" not in by_record["r4"].url and "abc" not in by_record["r4"].url


def test_all_failed_raises(object_server: Any, backend: Any) -> None:
    t = _table([{"B": {"href": object_server.url("pool/none.tif"), "band_index": 0}}])
    with pytest.raises(EnrichmentError) as err:
        enrich_table(t, ["B"], backend=backend, progress=False)
    assert err.value.report.failed == 1
    assert "pool/none.tif" in str(err.value)


def test_transient_503_retried(object_server: Any, backend: Any, h: Any) -> None:
    object_server.configure(fail_rate=0.5, fault_seed=3)
    urls = [
        object_server.url("pool/u16.tif"),
        object_server.url("pool/u16b.tif"),
        object_server.url("pool/rgb.tif"),
    ]
    t = _table([{"B": {"href": u, "band_index": 0}} for u in urls])
    retry = h.FAST_RETRY.__class__(max_attempts=10, base_delay=0.001, max_delay=0.01, timeout=5.0)
    _out, report = enrich_table(t, ["B"], backend=backend, progress=False, retry=retry)
    assert report.failed == 0
    assert report.requests == object_server.count("GET") > 3


def test_no_urls_warns_and_returns_table(backend: Any) -> None:
    t = _table([{"B": None}])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out, report = enrich_table(t, ["B"], backend=backend, progress=False)
    assert report.attempted == 0 and out.equals(t)
    assert any(issubclass(w.category, IngestWarning) for w in rec)


def test_stale_assets_detects_changed_cog(
    object_server: Any, backend: Any, cog_pool: dict[str, Path]
) -> None:
    from rasteret_ingest.verify import stale_assets

    object_server.put("pool/mut_a.tif", cog_pool["u16"].read_bytes())
    object_server.put("pool/mut_b.tif", cog_pool["u16b"].read_bytes())
    t = _table(
        [
            {"B": {"href": object_server.url("pool/mut_a.tif"), "band_index": 0}},
            {"B": {"href": object_server.url("pool/mut_b.tif"), "band_index": 0}},
        ]
    )
    out, _ = enrich_table(t, ["B"], backend=backend, progress=False)
    assert stale_assets(out, backend=backend) == []
    object_server.put("pool/mut_a.tif", cog_pool["rgb"].read_bytes())  # replaced under the index
    (Path(object_server.root) / "pool/mut_b.tif").unlink()
    stale = {s.record_id: s for s in stale_assets(out, backend=backend)}
    assert stale["r0"].reason in ("etag", "size") and stale["r0"].band == "B"
    assert stale["r1"].reason.startswith("missing")
    assert object_server.count("HEAD") >= 4


def test_conflicting_header_crs_in_one_record(object_server: Any, backend: Any) -> None:
    from rasteret_ingest.errors import CrsResolutionError

    t = _table(
        [
            {
                "A": {"href": object_server.url("pool/u16.tif"), "band_index": 0},
                "B": {"href": object_server.url("pool/f32_4326.tif"), "band_index": 0},
            }
        ]
    )
    with pytest.raises(CrsResolutionError, match="record 'r0'"):
        enrich_table(t, ["A", "B"], backend=backend, progress=False)


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrent_bounds_header_reads(
    object_server: Any, backend: Any, cog_pool: dict[str, Path], h: Any, limit: int
) -> None:
    data = cog_pool["u16"].read_bytes()
    urls = [object_server.put(f"conc/{limit}/{i}.tif", data) for i in range(8)]
    object_server.configure(latency_ms=30.0)
    t = _table([{"B": {"href": u, "band_index": 0}} for u in urls])
    out, report = enrich_table(
        t, ["B"], backend=backend, progress=False, retry=h.FAST_RETRY, max_concurrent=limit
    )
    assert (report.attempted, report.failed, report.urls) == (8, 0, 8)
    assert all(m is not None for m in out.column("B_metadata").to_pylist())
    spans = [(r.start, r.end) for r in object_server.requests if r.method == "GET"]
    assert len(spans) == 8
    most = max(sum(1 for s, e in spans if s <= t0 < e) for t0, _ in spans)
    assert most <= limit  # never more in flight than the bound
    assert limit == 1 or most > 1  # and the reads do overlap
