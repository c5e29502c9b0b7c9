"""Builds through the public API: every failure reported, deadlines, and the object identity
(ETag / size / Last-Modified) kept by every builder path in the form the fetch layer checks."""

from __future__ import annotations

import datetime as dt
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import shapely

import rasteret
from rasteret.errors import InvalidInputError
from rasteret_ingest import IngestWarning, update_collection
from rasteret_io import (
    Fetcher,
    ObjectIdentity,
    RangeRequest,
    StaleObjectError,
    create_backend,
    run_sync,
)

_TIME = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def _table(hrefs: list[str], start: int = 0) -> pa.Table:
    n = len(hrefs)
    return pa.table(
        {
            "id": [f"s{start + i}" for i in range(n)],
            "datetime": pa.array([_TIME + dt.timedelta(days=i) for i in range(n)]),
            "geometry": [shapely.to_wkb(shapely.box(15.0, 45.0, 15.1, 45.1))] * n,
            "assets": [{"B04": {"href": h}} for h in hrefs],
        }
    )


@pytest.fixture
def http_backend(object_server: Any, cog_factory: Any) -> Any:
    """The object server serving one GDAL COG under ``trust/{n}/b.tif`` aliases."""
    cog = cog_factory(dtype="uint16", seed=5, height=300, width=400)
    pool = Path(object_server.root) / "trustpool"
    pool.mkdir(exist_ok=True)
    shutil.copy(cog, pool / "b.tif")
    object_server.alias_pattern("trust/{n}/{file}", "trustpool/{file}")
    return create_backend()


def test_build_report_lists_every_failure(
    object_server: Any, http_backend: Any, tmp_path: Path
) -> None:
    hrefs = [object_server.url(f"trust/{i}/b.tif") for i in range(10)]
    object_server.configure(missing_keys={f"trust/{i}/b.tif" for i in range(8)})
    with pytest.warns(IngestWarning, match=r"8 of 10 .*\(\+3 more\)"):
        coll = rasteret.build_from_table(
            _table(hrefs),
            name="rep",
            workspace_dir=tmp_path,
            enrich_cog=True,
            backend=http_backend,
        )
    report = coll.build_report
    assert report is not None and report.failed == 8 and len(report.failures) == 8
    assert {f.record_id for f in report.failures} == {f"s{i}" for i in range(8)}
    assert {f.status for f in report.failures} == {404}
    assert len(coll) == 10 and coll.subset(date_range=("2024-05-09", "2024-05-10")).build_report
    cached = rasteret.build_from_table(_table(hrefs), name="rep", workspace_dir=tmp_path)
    assert cached.build_report is None  # reused: nothing was read


def test_build_deadline_through_the_public_api(
    object_server: Any, http_backend: Any, tmp_path: Path
) -> None:
    hrefs = [object_server.url(f"trust/{i}/b.tif") for i in range(4)]
    object_server.configure(stall_s=30.0)
    object_server.inject("stall", 100, key="trust/2/")
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)
        coll = rasteret.build_from_table(
            _table(hrefs),
            name="dl",
            workspace_dir=tmp_path,
            enrich_cog=True,
            backend=http_backend,
            deadline=1.5,
            request_timeout=1.0,
        )
    assert time.monotonic() - t0 < 15
    report = coll.build_report
    assert report is not None
    assert [(f.record_id, f.kind) for f in report.failures] == [("s2", "DeadlineExceededError")]
    assert coll.to_table(columns=["B04_metadata"]).column(0).null_count == 1


@pytest.mark.parametrize(
    ("keyword", "value"), [("deadline", 0), ("deadline", -2.0), ("request_timeout", "3")]
)
def test_bad_bounds_are_rejected_before_any_io(
    object_server: Any, tmp_path: Path, keyword: str, value: Any
) -> None:
    with pytest.raises(InvalidInputError, match=keyword):
        rasteret.build_from_table(
            _table([object_server.url("trust/0/b.tif")]),
            name="bad",
            workspace_dir=tmp_path,
            enrich_cog=True,
            **{keyword: value},
        )
    with pytest.raises(InvalidInputError, match=keyword):
        rasteret.build_from_stac(
            name="bad", stac_api=object_server.url("none"), collection="c", **{keyword: value}
        )
    assert object_server.count() == 0


def _identities(coll: Any) -> dict[str, ObjectIdentity | None]:
    t = coll.to_table(columns=["id", "B04_metadata"])
    return {
        rid: ObjectIdentity.from_band_metadata(m)
        for rid, m in zip(t.column("id").to_pylist(), t.column(1).to_pylist(), strict=True)
    }


def test_identity_is_kept_by_every_builder_path(cog_factory: Any, tmp_path: Path) -> None:
    """Table build, update (append), export and the sharded build record the same identity,
    and it is the one the fetch layer observes for the object (no mismatch)."""
    src = Path(cog_factory(dtype="uint16", seed=6, height=300, width=400))
    files = []
    for i in range(3):
        f = tmp_path / "cogs" / f"c{i}.tif"
        f.parent.mkdir(exist_ok=True)
        shutil.copy(src, f)
        files.append(f)
    built = rasteret.build_from_table(
        _table([str(f) for f in files[:2]]), name="idt", workspace_dir=tmp_path, enrich_cog=True
    )
    path = tmp_path / "idt_records"
    update_collection(path, _table([str(files[2])], start=2), progress=False)
    updated = rasteret.load(str(path))
    updated.export(tmp_path / "exported")
    exported = rasteret.load(str(tmp_path / "exported"))
    paths: dict[str, Any] = {"built": built, "updated": updated, "exported": exported}
    try:
        from rasteret.integrations.dask import build_from_table_sharded

        paths["sharded"] = build_from_table_sharded(
            _table([str(f) for f in files]), name="idt-sharded", shards=2, workspace_dir=tmp_path
        )
    except ImportError:  # pragma: no cover - dask extra not installed
        pass

    backend = create_backend()
    observed = {f"s{i}": run_sync(backend.identify(str(f))) for i, f in enumerate(files)}
    reference = _identities(paths["updated"])
    assert set(reference) == {"s0", "s1", "s2"}
    for rid, ident in reference.items():
        assert ident is not None and ident.etag and ident.size and ident.last_modified
        assert ident.mismatch(observed[rid]) is None
    for name, coll in paths.items():
        got = _identities(coll)
        assert {k: got[k] for k in got} == {k: reference[k] for k in got}, name

    # The fetch layer accepts the recorded identity, and refuses a rewritten object.
    fetcher = Fetcher(backend)
    req = RangeRequest(str(files[1]), 0, 16, record_id="s1", band="B04", expected=reference["s1"])
    assert run_sync(fetcher.fetch([req]))[0].ok
    time.sleep(1.1)
    files[1].write_bytes(files[1].read_bytes() + b"\0" * 10)
    with pytest.raises(StaleObjectError):
        run_sync(fetcher.fetch([req]))
    stale = rasteret.load(str(path))
    from rasteret_ingest import stale_assets

    assert [(s.record_id, s.reason) for s in stale_assets(stale.to_table())] == [("s1", "etag")]
