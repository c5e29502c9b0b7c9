"""The record order ``sample_points(match="latest")`` tries: newest first, undated last."""

from __future__ import annotations

import datetime as dt

from rasteret.read.points import newest_first


def test_newest_first_puts_undated_records_last() -> None:
    t1, t2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 6, 1)
    assert newest_first([t1, None, t2]) == [2, 0, 1]
    assert newest_first([None, None]) == [0, 1]
    assert newest_first([]) == []


def test_newest_first_keeps_input_order_on_ties() -> None:
    t = dt.datetime(2024, 1, 1)
    assert newest_first([t, None, t, dt.datetime(2023, 1, 1), t]) == [0, 2, 4, 3, 1]
