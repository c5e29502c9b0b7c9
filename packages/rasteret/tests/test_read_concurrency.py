"""How a read's ``max_concurrent`` and the global ``max_requests_in_flight`` bound fetching."""

from __future__ import annotations

import pytest

import rasteret
from rasteret.errors import InvalidInputError
from rasteret.read._adapter import batch_reader, fetcher, reader_fetcher
from rasteret.read.requests import ReadOptions


def test_max_concurrent_bounds_each_record_the_option_the_read() -> None:
    """0.4.1's ``max_concurrent=50`` bounded the requests of each record (records were read
    10 at a time); here it is the per-record bound and the read's total is a global option, so
    a 120-file read goes out in one wave."""
    f = fetcher(ReadOptions.build(data_source="", max_concurrent=50))
    assert f.options.record_concurrency == 50
    assert f.concurrency == rasteret.get_options().max_requests_in_flight == 256
    with rasteret.options(max_requests_in_flight=8):
        f = fetcher(ReadOptions.build(data_source="", max_concurrent=3))
        assert (f.concurrency, f.options.record_concurrency) == (8, 3)
        reader = batch_reader(["B1"], ReadOptions.build(data_source="", max_concurrent=3))
        assert (reader.max_concurrent, reader.record_concurrency) == (8, 3)
        rf = reader_fetcher(reader)
        assert (rf.concurrency, rf.options.record_concurrency) == (8, 3)
    assert rasteret.get_options().max_requests_in_flight == 256


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8"])
def test_max_requests_in_flight_is_checked(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="max_requests_in_flight"):
        rasteret.set_options(max_requests_in_flight=bad)  # type: ignore[arg-type]
    assert rasteret.get_options().max_requests_in_flight == 256
