"""Whole-table helpers: the numpy fast path equals the standard-library path exactly."""

from __future__ import annotations

import random
import struct
from array import array

import pytest

from rasteret_cog import _arrays
from rasteret_cog.errors import TiffFormatError

# (field type, struct code, signed)
_TYPES = [(1, "B", False), (3, "H", False), (4, "I", False), (6, "b", True), (8, "h", True),
          (9, "i", True), (13, "I", False), (16, "Q", False), (17, "q", True), (18, "Q", False)]  # fmt: skip


@pytest.fixture(params=["stdlib", "numpy"])
def path(request, monkeypatch) -> str:
    if request.param == "stdlib":
        monkeypatch.setattr(_arrays, "_numpy", lambda: None)
    else:
        import numpy  # noqa: F401  (the fast path is used once numpy is loaded)
    return request.param


@pytest.mark.parametrize(("typ", "code", "signed"), _TYPES)
@pytest.mark.parametrize("bo", ["<", ">"])
@pytest.mark.parametrize("n", [0, 3, 64, 1849])
def test_as_int64(path, typ: int, code: str, signed: bool, bo: str, n: int) -> None:
    rng = random.Random(n * 31 + typ)
    size = struct.calcsize(code)
    top = 2 ** (8 * size - 1) if (signed or size == 8) else 2 ** (8 * size)
    vals = [rng.randrange(0, top) for _ in range(n)]
    raw = struct.pack(f"{bo}{n}{code}", *vals)
    got = _arrays.as_int64(memoryview(raw), typ, bo, "t")
    assert got.typecode == "q" and got.tolist() == vals
    if n:
        bad = list(vals)
        bad[-1] = -1 if signed else (2**63 if size == 8 else None)
        if bad[-1] is not None:
            with pytest.raises(TiffFormatError, match="2\\*\\*63"):
                _arrays.as_int64(struct.pack(f"{bo}{n}{code}", *bad), typ, bo, "t")


@pytest.mark.parametrize("n", [1, 63, 64, 1849])
def test_any_end_past(path, n: int) -> None:
    rng = random.Random(n)
    off = array("q", [rng.randrange(0, 2**62) for _ in range(n)])
    cnt = array("q", [rng.randrange(0, 2**62) for _ in range(n)])
    ends = [o + c for o, c in zip(off, cnt)]
    top = max(ends)
    assert _arrays.any_end_past(off, cnt, top) is False
    assert _arrays.any_end_past(off, cnt, top - 1) is True
    assert _arrays.any_end_past(off, cnt, -1) is True
    big = array("q", [2**63 - 1] * n)
    assert _arrays.any_end_past(big, big, 2**64 - 3) is True  # sums past 2**64 - 3 (no wrap)
    assert _arrays.any_end_past(big, big, 2**64 - 2) is False
