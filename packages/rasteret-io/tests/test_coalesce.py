"""Range coalescing (pure)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasteret_io.coalesce import coalesce_ranges
from rasteret_io.errors import ConfigError


def test_gap_and_size_limits() -> None:
    starts = [0, 150, 1000, 1100]
    ends = [100, 200, 1050, 1200]
    groups = coalesce_ranges(starts, ends, max_gap=50, max_size=10_000)
    assert [(g.start, g.end, g.members) for g in groups] == [(0, 200, (0, 1)), (1000, 1200, (2, 3))]
    groups = coalesce_ranges(starts, ends, max_gap=10_000, max_size=10_000)
    assert [(g.start, g.end) for g in groups] == [(0, 1200)]
    groups = coalesce_ranges(starts, ends, max_gap=10_000, max_size=1100)
    assert [(g.start, g.end) for g in groups] == [(0, 1050), (1100, 1200)]


def test_unsorted_overlapping_duplicate_and_empty() -> None:
    starts = [500, 0, 0, 50, 700]
    ends = [600, 100, 100, 80, 700]
    groups = coalesce_ranges(starts, ends, max_gap=0, max_size=1 << 20)
    assert [(g.start, g.end, g.members) for g in groups] == [(0, 100, (1, 2, 3)), (500, 600, (0,))]


def test_oversized_single_range_stays_whole() -> None:
    groups = coalesce_ranges([0, 10], [5, 10_000], max_gap=100, max_size=100)
    assert [(g.start, g.end) for g in groups] == [(0, 5), (10, 10_000)]


def test_negative_gap_disables_merging() -> None:
    groups = coalesce_ranges([0, 10], [10, 20], max_gap=-1)
    assert len(groups) == 2


@pytest.mark.parametrize(("s", "e"), [([0], [1, 2]), ([-1], [3]), ([5], [4])])
def test_invalid(s: list[int], e: list[int]) -> None:
    with pytest.raises(ConfigError):
        coalesce_ranges(s, e)


ranges = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3_000)), min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(ranges, st.integers(-1, 2_000), st.integers(1, 8_000))
def test_properties(rs: list[tuple[int, int]], max_gap: int, max_size: int) -> None:
    starts = [s for s, _ in rs]
    ends = [s + n for s, n in rs]
    groups = coalesce_ranges(starts, ends, max_gap=max_gap, max_size=max_size)
    seen = [m for g in groups for m in g.members]
    assert sorted(seen) == [i for i, (s, e) in enumerate(zip(starts, ends)) if e > s]
    for g in groups:
        for m in g.members:
            assert g.start <= starts[m] and ends[m] <= g.end
        assert g.start == min(starts[m] for m in g.members)
        assert g.end == max(ends[m] for m in g.members)
        if len(g.members) > 1:
            assert g.size <= max(max_size, max(ends[m] - starts[m] for m in g.members))
    for a, b in itertools.pairwise(groups):
        assert a.start <= b.start
