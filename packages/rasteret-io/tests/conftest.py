"""Shared helpers for rasteret-io tests (servers come from the rasteret_testkit plugin)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

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
