"""What a read does with the records/bands it could not read: the error policy, applied once.

Failures come in two kinds:

- **unresolved** — the index cannot read a band of a record at all (no asset, no indexed
  header: the build could not read it and said so). Such records are left out of every read
  with one ``RuntimeWarning`` naming them, whatever the error policy (as rasteret 0.4.1 did).
- **read failures** — pixels that could not be fetched or decoded after retries, objects
  changed since the build, deadlines. ``error_policy="raise"`` (the default) raises the
  first one (naming URL, record, band and HTTP status); ``"skip"`` leaves the record/band
  out and ``"nodata"`` keeps it filled with nodata, both with one ``RuntimeWarning`` naming
  every record concerned (the read's output also carries the ids of what it returns).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rasteret.errors import NoDataError, NoMatchingRecordsError
from rasteret_io import BandResolutionError, StaleObjectError

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io import ReadFailure

__all__ = ["apply_policy", "describe", "no_data_error", "split", "stale_record_ids"]

_SHOWN = 3


def split(failures: Sequence[ReadFailure]) -> tuple[list[ReadFailure], list[ReadFailure]]:
    """``(unresolved, read failures)`` (see module docs)."""
    unresolved = [f for f in failures if isinstance(f.error, BandResolutionError)]
    failed = [f for f in failures if not isinstance(f.error, BandResolutionError)]
    return unresolved, failed


def describe(failures: Sequence[ReadFailure]) -> str:
    """The first few failures (record, band, error) and how many more."""
    shown = "; ".join(
        f"record_id={f.record_id!r} band={f.band!r}: {f.error}" for f in failures[:_SHOWN]
    )
    more = f" (+{len(failures) - _SHOWN} more)" if len(failures) > _SHOWN else ""
    return shown + more


def stale_record_ids(failures: Sequence[ReadFailure]) -> set[str]:
    """Records whose reads failed because their object changed since the build."""
    return {f.record_id for f in failures if isinstance(f.error, StaleObjectError)}


def apply_policy(failures: Sequence[ReadFailure], what: str, *, produced: int, policy: str) -> None:
    """Raise or warn about ``failures`` as the error policy says (see module docs).

    Args:
        failures: The read's failures.
        what: The read, for messages (``"get_numpy"``).
        produced: How many outputs the read produced.
        policy: ``"raise"``, ``"skip"`` or ``"nodata"``.

    Raises:
        FetchError, ReadError, StaleObjectError: Under ``"raise"``, the first read failure.
        BandResolutionError: Nothing was produced and a band is unresolvable.
    """
    if not failures:
        return
    unresolved, failed = split(failures)
    if failed and policy == "raise":
        raise failed[0].error
    if not produced:
        for f in unresolved:
            raise f.error
        return
    if unresolved:
        ids = sorted({f.record_id for f in unresolved})
        warnings.warn(
            f"Some records failed to load in {what}: {len(ids)} record(s) have no readable "
            f"index entry for a requested band and were left out ({describe(unresolved)})",
            RuntimeWarning,
            stacklevel=4,
        )
    if failed:
        ids = sorted({f.record_id for f in failed})
        done = "left out" if policy == "skip" else "filled with nodata"
        warnings.warn(
            f"Some records failed to load in {what} (error_policy={policy!r}): {len(ids)} "
            f"record(s) {done}: {ids[:10]}{' ...' if len(ids) > 10 else ''}; "
            f"{describe(failed)}",
            RuntimeWarning,
            stacklevel=4,
        )


def no_data_error(failures: Sequence[ReadFailure]) -> NoDataError:
    """``NoDataError("No valid data found ...")`` chained to the first failure; with no
    failure, a :class:`~rasteret.errors.NoMatchingRecordsError` (the caller explains it)."""
    if failures:
        err = NoDataError(
            f"No valid data found. {len(failures)} record/band read(s) failed; "
            f"first: record_id={failures[0].record_id!r} band={failures[0].band!r}: "
            f"{failures[0].error}"
        )
        err.__cause__ = failures[0].error
        return err
    return NoMatchingRecordsError("No valid data found: no record intersects the geometries")
