"""``staleness="warn"``: re-read the headers of COGs that changed since the build.

The fetch layer refuses every byte of an object whose ETag / size differ from what the
collection recorded, and under ``"warn"`` it issues one
:class:`~rasteret_io.StaleObjectWarning` per object and reports the ranges as failed. The
read then re-reads the current header of each changed object (one request per COG, through
:func:`rasteret_ingest.enrich_table`, the build's own indexer) and runs once more over rows
carrying those fresh headers. The collection on disk is not changed: rebuild or update it to
stop paying the extra header read. An object that changes again, or whose header cannot be
read any more, stays a read failure handled by the error policy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rasteret.read.backends import read_backend
from rasteret.read.failures import stale_record_ids
from rasteret_catalog.schema import Col, band_metadata_column

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read._adapter import EngineRecords
    from rasteret.read.requests import ReadOptions
    from rasteret_io import ReadFailure

__all__ = ["read_fresh", "refreshed_rows"]


class _Result(Protocol):
    @property
    def failures(self) -> Sequence[ReadFailure]: ...


R = TypeVar("R", bound=_Result)


def read_fresh(
    records: EngineRecords, bands: Sequence[str], options: ReadOptions, run: Callable[[Any], R]
) -> R:
    """``run`` over ``records``; under ``staleness="warn"``, once more over rows carrying fresh
    headers when objects changed since the build (see :func:`refreshed_rows`)."""
    result = run(records.engine_input())
    rows = refreshed_rows(records, result.failures, bands, options)
    return result if rows is None else run(rows)


def refreshed_rows(
    records: EngineRecords,
    failures: Sequence[ReadFailure],
    bands: Sequence[str],
    options: ReadOptions,
) -> list[dict[str, Any]] | None:
    """Rows of ``records`` (as dicts, in order) with fresh headers for the changed objects.

    Returns:
        None when no failure comes from a changed object, or when no fresh header could be
        read (the failures then stand).
    """
    stale = stale_record_ids(failures)
    if not stale or options.staleness != "warn":
        return None
    from rasteret_ingest import enrich_table  # the build's indexer: only on this rare path
    from rasteret_ingest.errors import IngestError

    ids = [str(v) for v in records.table.column(Col.ID).to_pylist()]
    picked = [i for i, rid in enumerate(ids) if rid in stale]
    changed = sorted({f.band.split(":")[0] for f in failures if f.record_id in stale})
    subset = records.take(picked).table
    try:
        with warnings.catch_warnings():  # a partial failure is reported by the read itself
            warnings.simplefilter("ignore")
            fresh, _report = enrich_table(
                subset,
                [b for b in bands if b in changed] or list(bands),
                backend=read_backend(options),
                band_map=options.band_map,
                progress=False,
                max_concurrent=options.max_concurrent,
            )
    except (IngestError, OSError, ValueError) as exc:
        warnings.warn(
            f"staleness='warn': the headers of {len(picked)} changed record(s) could not be "
            f"read again ({exc}); their reads fail",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    rows = records.table.to_pylist()
    columns = [c for c in fresh.column_names if c.endswith("_metadata")]
    wanted = {band_metadata_column(b) for b in bands}
    for j, i in enumerate(picked):
        for col in columns:
            if col in wanted or col in rows[i]:
                rows[i][col] = fresh.column(col)[j].as_py()
    return rows
