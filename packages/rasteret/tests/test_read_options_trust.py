"""The read-trust options: rasteret.options defaults, per-read keywords, and the frozen
FetchOptions / MemoryBudget they become in ReadOptions."""

from __future__ import annotations

import dataclasses

import pytest

import rasteret
from rasteret._options import parse_size
from rasteret.errors import InvalidInputError
from rasteret.read.requests import ReadOptions


def test_defaults_are_documented_values() -> None:
    opts = rasteret.get_options()
    assert (opts.memory_budget, opts.deadline, opts.timeout, opts.staleness) == (
        "auto",
        None,
        30.0,
        "raise",
    )
    read = ReadOptions.build(data_source="")
    assert read.error_policy == "raise"
    fetch = read.fetch_options()
    assert fetch.deadline is None and fetch.retry.timeout == 30.0 and fetch.staleness == "raise"
    assert fetch.concurrency == 50
    budget = read.memory_budget
    assert budget is None or ("25 %" in budget.source and budget.limit > 0)
    assert ReadOptions().error_policy == "raise" and ReadOptions().fetch_options().concurrency == 50


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("8GiB", 8 * 2**30), ("500 MB", 500_000_000), ("1.5kib", 1536),
     ("auto", "auto"), ("off", "off"), (2.0e9, 2_000_000_000)],
)  # fmt: skip
def test_memory_budget_values(value, expected) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("bad", [0, -5, "lots", "12 parsecs", True, float("inf"), "0GB"])
def test_bad_memory_budgets_are_refused(bad) -> None:
    with pytest.raises(InvalidInputError, match="memory_budget"):
        rasteret.set_options(memory_budget=bad)
    assert rasteret.get_options().memory_budget == "auto"  # nothing changed


def test_options_block_sets_and_restores_every_field() -> None:
    with rasteret.options(memory_budget="1GiB", deadline=12, timeout="off", staleness="warn"):
        read = ReadOptions.build(data_source="", max_concurrent=4)
        fetch = read.fetch_options()
        assert (fetch.deadline, fetch.retry.timeout, fetch.staleness) == (12.0, None, "warn")
        assert fetch.concurrency == 4
        assert read.memory_budget is not None and read.memory_budget.limit == 2**30
        assert "set_options" in read.memory_budget.source
        # a read's own keywords win over the options
        own = ReadOptions.build(data_source="", deadline="off", timeout=2, staleness="off")
        assert own.fetch_options().deadline is None and own.fetch_options().retry.timeout == 2.0
        assert own.staleness == "off"
    assert rasteret.get_options() == rasteret._options.RasteretOptions()
    with rasteret.options(memory_budget="off"):
        assert ReadOptions.build(data_source="").memory_budget is None


def test_read_options_stay_frozen_and_hashable() -> None:
    a = ReadOptions.build(data_source="s2", deadline=5, error_policy="skip")
    b = ReadOptions.build(data_source="s2", deadline=5.0, error_policy="skip")
    assert a == b and hash(a) == hash(b)
    assert a != ReadOptions.build(data_source="s2", deadline=6, error_policy="skip")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.error_policy = "raise"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kw",
    [{"error_policy": "ignore"}, {"deadline": 0}, {"deadline": float("nan")}, {"timeout": -1},
     {"timeout": "soon"}, {"staleness": "never"}],
)  # fmt: skip
def test_bad_read_keywords_are_typed_errors(kw) -> None:
    with pytest.raises(InvalidInputError):
        ReadOptions.build(data_source="", **kw)
