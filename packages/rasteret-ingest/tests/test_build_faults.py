"""Header enrichment under faults on the loopback object server.

Every build either produces exactly the records of a fault-free build or reports the
(record, band) pairs it could not index: nothing wrong, nothing silently dropped, and a
deadline bounds a build whose server never answers.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import shapely

from rasteret_catalog.schema import band_metadata_column
from rasteret_ingest.enrich import EnrichReport, enrich_table
from rasteret_ingest.errors import EnrichmentError, IngestWarning
from rasteret_ingest.normalize import normalize_table
from rasteret_io import RetryPolicy

N = 6
BANDS = ("B1", "B2")
RETRY = RetryPolicy(max_attempts=4, base_delay=0.005, max_delay=0.02, timeout=2.0)


def _records(srv: Any, n: int = N) -> pa.Table:
    """``n`` records, each band a distinct URL (aliases of the pool COGs)."""
    srv.alias_pattern("recs/{n}/{file}", "pool/{file}")
    return normalize_table(
        pa.table(
            {
                "id": [f"r{i}" for i in range(n)],
                "datetime": ["2024-01-01T00:00:00Z"] * n,
                "geometry": [shapely.box(15, 45, 15.1, 45.1).wkb] * n,
                "assets": [
                    {
                        "B1": {"href": srv.url(f"recs/{i}/u16.tif"), "band_index": 0},
                        "B2": {"href": srv.url(f"recs/{i}/u16b.tif"), "band_index": 0},
                    }
                    for i in range(n)
                ],
            }
        )
    )


def _enrich(table: pa.Table, backend: Any, **kw: Any) -> tuple[pa.Table, EnrichReport]:
    kw.setdefault("retry", RETRY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)
        return enrich_table(table, list(BANDS), backend=backend, progress=False, **kw)


def _structs(table: pa.Table) -> dict[tuple[str, str], Any]:
    ids = table.column("id").to_pylist()
    out = {}
    for band in BANDS:
        for rid, value in zip(
            ids, table.column(band_metadata_column(band)).to_pylist(), strict=True
        ):
            out[(rid, band)] = value
    return out


@pytest.fixture
def reference(object_server: Any, backend: Any) -> dict[tuple[str, str], Any]:
    """The fault-free build's band structs (identities included)."""
    out, report = _enrich(_records(object_server), backend)
    assert report.failed == 0
    object_server.reset()
    return _structs(out)


def _check(
    out: pa.Table, report: EnrichReport, ref: dict[tuple[str, str], Any]
) -> set[tuple[str, str]]:
    """Every pair equals the fault-free build or is a reported failure (and null)."""
    failed = {(f.record_id, f.band) for f in report.failures}
    assert len(failed) == report.failed == len(report.failures)
    for key, value in _structs(out).items():
        if key in failed:
            assert value is None, key
        else:
            assert value == ref[key], key
    return failed


@pytest.mark.parametrize(
    ("fault", "count"),
    [("fail", 3), ("truncate", 3), ("short", 3), ("reset", 3), ("fail", 2 * N)],
)
def test_transient_faults_give_the_fault_free_records(
    object_server: Any, backend: Any, reference: Any, fault: str, count: int
) -> None:
    table = _records(object_server)
    object_server.inject(fault, count)
    out, report = _enrich(table, backend)
    assert object_server.pending_faults == 0
    assert _check(out, report, reference) == set()
    assert report.requests > report.urls  # the faults were retried


@pytest.mark.parametrize("fault", ["stall", "body_stall"])
def test_stalls_are_cut_by_the_attempt_timeout(
    object_server: Any, backend: Any, reference: Any, fault: str
) -> None:
    table = _records(object_server)
    object_server.configure(stall_s=20.0)
    object_server.inject(fault, 2, key="recs/1/")
    t0 = time.monotonic()
    out, report = _enrich(table, backend, retry=RETRY, deadline=None)
    assert time.monotonic() - t0 < 15  # two 2 s attempts, never the 20 s stall
    assert _check(out, report, reference) == set()


def test_missing_and_broken_objects_are_reported(
    object_server: Any, backend: Any, reference: Any
) -> None:
    table = _records(object_server)
    object_server.configure(
        missing_keys={"recs/2/u16.tif"}, broken_keys={"recs/4/u16b.tif"}, fail_status=503
    )
    out, report = _enrich(table, backend)
    assert _check(out, report, reference) == {("r2", "B1"), ("r4", "B2")}
    by = {(f.record_id, f.band): f for f in report.failures}
    assert (by["r2", "B1"].kind, by["r2", "B1"].status) == ("ObjectNotFoundError", 404)
    assert by["r4", "B2"].status == 503 and "recs/4/u16b.tif" in by["r4", "B2"].url
    assert object_server.count(path_prefix="recs/4/u16b.tif") == RETRY.max_attempts


def test_seeded_fault_mix(object_server: Any, backend: Any, reference: Any) -> None:
    table = _records(object_server)
    object_server.configure(
        fail_rate=0.1, truncate_rate=0.1, short_rate=0.1, reset_rate=0.1, fault_seed=7
    )
    out, report = _enrich(table, backend, retry=RetryPolicy(max_attempts=3, base_delay=0.005))
    _check(out, report, reference)  # equal, or reported: whichever the draw gave


def test_every_failure_is_in_the_report_and_the_warning_carries_it(
    object_server: Any, backend: Any
) -> None:
    table = _records(object_server, 12)
    object_server.configure(missing_keys={f"recs/{i}/u16.tif" for i in range(12)})
    with pytest.warns(IngestWarning) as caught:
        out, report = enrich_table(table, list(BANDS), backend=backend, progress=False)
    assert report.failed == 12 and len(report.failures) == 12
    assert {f.record_id for f in report.failures} == {f"r{i}" for i in range(12)}
    message = str(caught[0].message)
    assert "12 of 24" in message and "(+7 more)" in message
    assert caught[0].message.report is report  # type: ignore[union-attr]
    assert len(report.to_dict()["failures"]) == 12
    assert out.column(band_metadata_column("B2")).null_count == 0


def test_deadline_bounds_a_build_whose_server_never_answers(
    object_server: Any, backend: Any
) -> None:
    table = _records(object_server)
    object_server.configure(stall_rate=1.0, stall_s=30.0)
    t0 = time.monotonic()
    with pytest.raises(EnrichmentError) as err:
        _enrich(table, backend, deadline=1.0)
    elapsed = time.monotonic() - t0
    assert elapsed < 10  # not 4 x 2 s per asset, nor the 30 s stall
    report = err.value.report
    assert isinstance(report, EnrichReport)
    assert report.failed == report.attempted == 2 * N
    assert report.deadline_exceeded == 2 * N
    assert all("deadline" in f.error for f in report.failures)


def test_deadline_reports_what_it_cut_and_keeps_the_rest(
    object_server: Any, backend: Any, reference: Any
) -> None:
    table = _records(object_server)
    object_server.configure(stall_s=30.0)
    object_server.inject("stall", 50, key="recs/3/")
    out, report = _enrich(table, backend, deadline=1.5)
    assert _check(out, report, reference) == {("r3", "B1"), ("r3", "B2")}
    assert report.deadline_exceeded == 2


def test_request_timeout_option(object_server: Any, backend: Any, reference: Any) -> None:
    from rasteret_ingest.pipeline import enrich_records, header_retry
    from rasteret_ingest.specs import EnrichOptions, Prepared

    options = EnrichOptions(backend=backend, progress=False, request_timeout=0.5, retry=RETRY)
    assert header_retry(options).timeout == 0.5
    assert header_retry(EnrichOptions()).timeout == 30.0
    table = _records(object_server)
    object_server.configure(stall_s=20.0)
    object_server.inject("stall", 1, key="recs/0/u16.tif")
    t0 = time.monotonic()
    out, report = enrich_records(Prepared(table, BANDS), options)
    assert time.monotonic() - t0 < 10
    assert _check(out, report, reference) == set()


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), "5", True])
def test_bad_deadlines_are_rejected(value: Any) -> None:
    from rasteret_ingest.errors import BuildSpecError
    from rasteret_ingest.specs import EnrichOptions

    with pytest.raises(BuildSpecError):
        EnrichOptions(deadline=value)
    with pytest.raises(BuildSpecError):
        EnrichOptions(request_timeout=value)


def test_small_files_are_read_to_their_end(object_server: Any, h: Any) -> None:
    """A file shorter than the first request is complete, not truncated (no retries)."""
    from rasteret_testkit.cogs import sample_array, write_cog

    (Path(object_server.root) / "small").mkdir(exist_ok=True)
    small = write_cog(
        Path(object_server.root) / "small" / "s.tif",
        sample_array("uint8", 1, 128, 128, seed=3),
        transform=(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
        blocksize=128,
    )
    assert small.stat().st_size < 64 * 1024
    t = normalize_table(
        pa.table(
            {
                "id": ["s"],
                "datetime": ["2024-01-01T00:00:00Z"],
                "geometry": [shapely.box(15, 45, 15.1, 45.1).wkb],
                "assets": [{"B1": {"href": object_server.url("small/s.tif"), "band_index": 0}}],
            }
        )
    )
    out, report = enrich_table(
        t, ["B1"], backend=h.s3_backend(object_server), progress=False, retry=RETRY
    )
    assert report.failed == 0 and report.requests == 1
    assert out.column("B1_metadata").to_pylist()[0]["file_size"] == small.stat().st_size
