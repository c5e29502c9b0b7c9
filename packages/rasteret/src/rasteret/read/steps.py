"""Time steps of a ``get_xarray`` cube: which records share a step, and in which order.

``groupby`` (odc-stac's semantics, see ``docs/cube.md``):

- ``None`` (default, rasteret 0.4.1's behaviour) and ``"time"``: records with exactly the
  same datetime share a step. ``None`` warns when that fuses records (``"time"`` says it is
  intended).
- ``"id"``: one step per record.
- ``"solar_day"``: records of the same local solar day share a step: the datetime shifted by
  ``int(lon / 15)`` hours, ``lon`` being the longitude of the output grid's centre.

Steps are in time order; inside a step records are fused first valid pixel wins, in
``(datetime, id)`` order (as odc-stac orders them), and the step's time is its first record's.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasteret.read.cube_options import GroupBy

__all__ = ["Member", "Step", "fusion_valid", "group_steps", "naive_time", "warn_fused"]


def fusion_valid(data: np.ndarray, valid: np.ndarray | None, nodata: Any) -> np.ndarray:
    """Pixels a record contributes to a fused step: read, inside the AOI and not nodata."""
    ok = np.ones(data.shape, dtype=bool) if valid is None else valid.copy()
    if nodata is None:
        return ok
    if data.dtype.kind == "f" and np.isnan(nodata):
        return ok & ~np.isnan(data)
    return ok & (data != nodata)


def naive_time(value: Any) -> np.datetime64:
    """``value`` as a naive-UTC ``numpy.datetime64[ns]`` (NaT for None)."""
    if value is None:
        return np.datetime64("NaT", "ns")
    if getattr(value, "tzinfo", None) is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(value, "ns")


@dataclass(frozen=True, slots=True)
class Member:
    """A record taking part in a cube: row index, id and datetime (naive UTC)."""

    index: int
    record_id: str
    time: np.datetime64


@dataclass(frozen=True, slots=True)
class Step:
    """One time step: its time and its records in fusion order (first valid pixel wins)."""

    time: np.datetime64
    members: tuple[Member, ...]


def _order(m: Member) -> tuple[bool, Any, str, int]:
    nat = bool(np.isnat(m.time))
    return (nat, m.time if not nat else np.datetime64(0, "ns"), m.record_id, m.index)


def _solar_day(t: np.datetime64, lon: float) -> Any:
    if np.isnat(t):
        return None
    return (t + np.timedelta64(int(lon / 15) * 3600, "s")).astype("datetime64[D]")


def group_steps(
    members: Sequence[Member], groupby: GroupBy, *, lon: float | None = None
) -> list[Step]:
    """Group ``members`` into time steps (see module docs).

    Args:
        members: The records, any order (duplicates by index are dropped).
        groupby: None, ``"time"``, ``"id"`` or ``"solar_day"``.
        lon: Longitude of the output grid's centre (``"solar_day"``; 0 when None).
    """
    unique = {m.index: m for m in members}
    ordered = sorted(unique.values(), key=_order)
    steps: list[Step] = []
    keys: list[Any] = []
    for m in ordered:
        if groupby == "id":
            key: Any = ("id", m.index)
        elif groupby == "solar_day":
            key = ("day", _solar_day(m.time, lon or 0.0))
        else:
            key = ("time", None if np.isnat(m.time) else m.time)
        if keys and keys[-1] == key and key[1] is not None:
            steps[-1] = Step(steps[-1].time, (*steps[-1].members, m))
        else:
            keys.append(key)
            steps.append(Step(m.time, (m,)))
    return steps


def warn_fused(steps: Sequence[Step], groupby: GroupBy, *, stacklevel: int) -> None:
    """With ``groupby=None``, warn when records sharing a datetime were fused into one step
    (``groupby="time"`` fuses them silently, ``"id"`` keeps one step per record)."""
    if groupby is not None:
        return
    fused = [s for s in steps if len(s.members) > 1]
    if not fused:
        return
    n = sum(len(s.members) for s in fused)
    warnings.warn(
        f"get_xarray: {n} records share a datetime with another record and were fused into "
        f"{len(fused)} time step(s) (first valid pixel wins, in record-id order; e.g. "
        f"{[m.record_id for m in fused[0].members][:3]}). Pass groupby='time' to fuse them "
        "without this warning, or groupby='id' to keep one step per record.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
