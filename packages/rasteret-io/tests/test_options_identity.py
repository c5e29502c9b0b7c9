"""Pure values of the fetch layer: FetchOptions, Deadline, ObjectIdentity and the new errors."""

from __future__ import annotations

import datetime as dt
import pickle
import time

import pytest

from rasteret_io import (
    ConfigError,
    Deadline,
    DeadlineExceededError,
    FetchError,
    FetchOptions,
    FetchTimeoutError,
    ObjectIdentity,
    RetryPolicy,
    ShortRangeError,
    ShortReadError,
    StaleObjectError,
)
from rasteret_io.retry import classify_error, to_fetch_error


class GenericError(Exception):
    """Stands in for obstore.exceptions.GenericError (classified by name and text)."""


def test_fetch_options_are_frozen_hashable_values() -> None:
    a = FetchOptions(concurrency=8, retry=RetryPolicy(timeout=2.0), deadline=10.0)
    b = FetchOptions(concurrency=8, retry=RetryPolicy(timeout=2.0), deadline=10.0)
    assert a == b and hash(a) == hash(b) and len({a, b, FetchOptions()}) == 2
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.deadline = 1.0  # type: ignore[misc]
    assert FetchOptions().staleness == "raise" and FetchOptions().deadline is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 0},
        {"concurrency": -5},
        {"concurrency": True},
        {"deadline": 0},
        {"deadline": -1.0},
        {"deadline": float("nan")},
        {"staleness": "ignore"},
        {"max_size": 0},
        {"retry": {"max_attempts": 2}},
    ],
)
def test_fetch_options_reject_bad_values(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        FetchOptions(**kwargs)


def test_deadline_clock() -> None:
    d = Deadline.after(0.2)
    assert 0.1 < d.remaining() <= 0.2 and not d.expired
    time.sleep(0.25)
    assert d.expired and d.remaining() < 0 and d.elapsed() >= 0.2
    assert FetchOptions().start_deadline() is None
    assert FetchOptions(deadline=3).start_deadline().seconds == 3.0  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        Deadline.after(0)


def test_identity_mismatch_rules() -> None:
    t0 = dt.datetime(2024, 5, 1, 12, 0, 0)
    ref = ObjectIdentity('"abc"', 1000, t0)
    assert ref.mismatch(ObjectIdentity('"abc"', 1000, t0)) is None
    assert ref.mismatch(ObjectIdentity('W/"abc"', 1000, t0)) is None  # weak prefix ignored
    assert "ETag" in (ref.mismatch(ObjectIdentity('"xyz"', 1000, t0)) or "")
    assert "size 1000 is now 999" in (ref.mismatch(ObjectIdentity('"abc"', 999)) or "")
    assert ref.mismatch(ObjectIdentity()) is None  # nothing observed, nothing contradicts
    # Last-Modified only counts when ETags cannot be compared; one second of tolerance.
    later = t0 + dt.timedelta(seconds=5)
    assert ref.mismatch(ObjectIdentity('"abc"', 1000, later)) is None
    no_etag = ObjectIdentity(None, 1000, t0)
    assert (
        no_etag.mismatch(ObjectIdentity('"abc"', 1000, t0 + dt.timedelta(milliseconds=400))) is None
    )
    assert "Last-Modified" in (no_etag.mismatch(ObjectIdentity(None, 1000, later)) or "")
    aware = dt.datetime(2024, 5, 1, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert ObjectIdentity(last_modified=aware).last_modified == t0  # normalised to naive UTC


def test_identity_from_metadata() -> None:
    meta = {"e_tag": '"e"', "size": 12, "last_modified": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}
    assert ObjectIdentity.from_meta(meta) == ObjectIdentity('"e"', 12, dt.datetime(2024, 1, 1))
    row = {"etag": '"e"', "file_size": 12, "last_modified": dt.datetime(2024, 1, 1), "x": 1}
    assert ObjectIdentity.from_band_metadata(row) == ObjectIdentity(
        '"e"', 12, dt.datetime(2024, 1, 1)
    )
    assert ObjectIdentity.from_band_metadata({"tile_offsets": [1]}) is None  # 0.4.1 collections
    assert ObjectIdentity.from_band_metadata(None) is None
    assert ObjectIdentity(etag="").etag is None


def test_new_errors_carry_status_and_pickle() -> None:
    ident = ObjectIdentity('"a"', 10)
    errors: list[FetchError] = [
        FetchError("boom", url="s3://b/k", status=503, attempts=5, start=0, end=8),
        FetchTimeoutError("request timed out after 2 s", url="u", timeout=2.0, retryable=True),
        DeadlineExceededError("deadline", url="u", deadline=1.0, elapsed=1.01, status=503),
        StaleObjectError("changed", url="u", expected=ident, observed=ObjectIdentity('"b"', 10)),
        ShortRangeError("short", url="u", retryable=True),
    ]
    for err in errors:
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err) and str(clone) == str(err)
        assert clone.__dict__ == err.__dict__
        ctx = err.with_context(record_id="r1", band="B04")
        assert type(ctx) is type(err) and "record=r1" in str(ctx) and "band=B04" in str(ctx)
    assert "status=503" in str(errors[0]) and "attempts=5" in str(errors[0])
    assert isinstance(errors[1], TimeoutError | OSError) and isinstance(errors[2], TimeoutError)
    assert errors[3].with_context(band="b").expected == ident  # type: ignore[attr-defined]
    assert ShortReadError is ShortRangeError


def test_to_fetch_error_keeps_the_status() -> None:
    exc = GenericError(
        "Generic S3 error: Error performing GET http://h/b/k in 1ms - Server returned "
        "non-2xx status code: 503 Service Unavailable: <Error>"
    )
    err = to_fetch_error(exc, url="s3://b/k", start=0, end=10, attempts=5)
    assert err.status == 503 and "status=503" in str(err) and err.retryable
    timeout = to_fetch_error(TimeoutError(), url="u", attempts=2, timeout=1.5)
    assert isinstance(timeout, FetchTimeoutError) and "after 1.5 s" in str(timeout)
    missing = to_fetch_error(FileNotFoundError("no such file"), url="/data/x.tif")
    assert missing.status is None  # a local file has no HTTP status
    short = to_fetch_error(GenericError("Generic HTTP error: Requested 0..10, got 0..5"), url="u")
    assert isinstance(short, ShortRangeError) and short.retryable
    past_end = GenericError("Generic LocalFileSystem error: Requested range was invalid")
    assert classify_error(past_end).kind == "range" and not classify_error(past_end).retryable
