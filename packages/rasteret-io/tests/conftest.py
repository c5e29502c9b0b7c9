"""Shared helpers for rasteret-io tests (servers come from the rasteret_testkit plugin)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from rasteret_io import RoutingBackend, create_backend
from rasteret_io.retry import RetryPolicy

#: Fast retries for tests: many attempts, tiny backoff, short per-attempt timeout.
FAST_RETRY = RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.05, timeout=1.0)


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """Retry policy for tests."""
    return FAST_RETRY


@pytest.fixture
def layout():
    """The :func:`tile_layout` helper."""
    return tile_layout


def random_bytes(n: int, seed: int) -> bytes:
    """Deterministic pseudo-random payload."""
    return random.Random(seed).randbytes(n)


def tile_layout(size: int, n: int, seed: int) -> tuple[list[int], list[int]]:
    """``n`` tile-like ranges (2-60 KB, small gaps) inside an object of ``size`` bytes."""
    rng = random.Random(seed)
    starts, ends, pos = [], [], 0
    while len(starts) < n and pos < size:
        length = rng.randint(2_000, 60_000)
        if pos + length > size:
            break
        starts.append(pos)
        ends.append(pos + length)
        pos += length + rng.choice([0, 0, 16, 700, 5_000])
    order = list(range(len(starts)))
    rng.shuffle(order)
    return [starts[i] for i in order], [ends[i] for i in order]


@pytest.fixture
def payload(object_server, request: pytest.FixtureRequest) -> tuple[str, bytes, Path]:
    """A 3 MB random object under the S3-style bucket ``iobkt``; returns (key, data, path)."""
    key = f"iobkt/{request.node.name.replace('[', '_').replace(']', '_')}.bin"
    data = random_bytes(3_000_000, seed=len(key))
    path = object_server.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key, data, path


@pytest.fixture
def object_backend(object_server) -> Callable[[], RoutingBackend]:
    """Makes a new backend for the object server: its URLs over HTTP, and ``s3://bucket/key``
    at its S3 endpoint (path style)."""
    config = {"endpoint": object_server.base_url, "region": "us-east-1"}
    return lambda: create_backend(default_s3_config=config)


@pytest.fixture
def object_urls(object_server) -> Callable[[str], dict[str, str]]:
    """The URLs of an object server key, by kind: ``http``, ``s3``, ``local`` (its path) and
    ``file``."""

    def urls(key: str) -> dict[str, str]:
        bucket, _, rest = key.partition("/")
        path = object_server.root / key
        return {
            "http": object_server.url(key),
            "s3": f"s3://{bucket}/{rest}",
            "local": str(path),
            "file": path.as_uri(),
        }

    return urls
