"""Error types and retry classification (pure)."""

from __future__ import annotations

import pickle
import random

import pytest

from rasteret_io.errors import (
    ConfigError,
    FetchError,
    ObjectNotFoundError,
    PermissionDeniedError,
    RasteretIOError,
    ShortReadError,
)
from rasteret_io.retry import RetryPolicy, classify_error, to_fetch_error


def test_hierarchy_and_pickle() -> None:
    err = ObjectNotFoundError("gone", url="s3://b/k", record_id="r", band="B1", start=0, end=10)
    assert isinstance(err, FetchError | FileNotFoundError | OSError | RasteretIOError)
    assert isinstance(PermissionDeniedError("x", url="u"), PermissionError)
    assert isinstance(ConfigError("x"), ValueError)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is ObjectNotFoundError
    assert (clone.url, clone.record_id, clone.band, str(clone)) == ("s3://b/k", "r", "B1", str(err))
    assert "bytes=0-9" in str(err)
    assert err.with_context(band="B2").band == "B2"


class GenericError(Exception):
    """Stands in for obstore.exceptions.GenericError (classified by name and text)."""


@pytest.mark.parametrize(
    ("exc", "retryable", "kind"),
    [
        (
            GenericError("Server returned non-2xx status code: 503 Service Unavailable"),
            True,
            "http",
        ),
        (
            GenericError("Server returned non-2xx status code: 500 Internal Server Error"),
            True,
            "http",
        ),
        (GenericError("Server returned non-2xx status code: 429 Too Many Requests"), True, "http"),
        (
            GenericError("Server returned non-2xx status code: 416 Range Not Satisfiable"),
            False,
            "http",
        ),
        (GenericError("Server returned non-2xx status code: 404 Not Found"), False, "not_found"),
        (GenericError("HTTP error: error sending request"), True, "other"),
        (GenericError("request or response body error"), True, "other"),
        (FileNotFoundError("nope"), False, "not_found"),
        (PermissionError("no"), False, "denied"),
        (TimeoutError(), True, "timeout"),
        (ConnectionResetError(), True, "other"),
        (ShortReadError("short", url="u", retryable=True), True, "short"),
        (ValueError("bug"), False, "other"),
    ],
)
def test_classify(exc: BaseException, retryable: bool, kind: str) -> None:
    cls = classify_error(exc)
    assert (cls.retryable, cls.kind) == (retryable, kind)


def test_to_fetch_error_redacts_and_trims() -> None:
    exc = GenericError(
        "Error performing GET https://h/x?X-Amz-Signature=SECRET in 3ms - 503\n\n"
        "Debug source:\n" + "huge dump " * 500
    )
    err = to_fetch_error(exc, url="https://h/x?X-Amz-Signature=REDACTED", attempts=3)
    assert "SECRET" not in str(err) and "Debug source" not in str(err)
    assert err.retryable and err.attempts == 3 and len(str(err)) < 600


def test_backoff_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(0)
    for attempt in range(8):
        cap = min(1.0, 0.1 * 2**attempt)
        samples = [policy.backoff(attempt, rng) for _ in range(50)]
        assert all(0 <= s <= cap for s in samples)
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
