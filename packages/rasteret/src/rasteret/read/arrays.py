"""``get_numpy``: a planned stacked read, stacked into one NumPy array.

Each AOI has one grid for all its records (:mod:`rasteret.read.plan`): the AOI's window
clipped to the extents of the records it meets, at the chosen CRS / resolution / anchor, in
the chosen dtype. ``[N, H, W]`` (one band) or ``[N, C, H, W]``, N = the (record, AOI) pairs
with every band read, records in scan order then AOIs in input order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rasteret.read._adapter import fetcher
from rasteret.read.aoi import no_data_error, raise_or_warn
from rasteret.read.plan import CubePlan, plan_cube, ragged_error
from rasteret.read.progress import progress_callback
from rasteret_io import read_tasks, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import AoiRequest, ReadOptions
    from rasteret.records import RecordSource
    from rasteret_io import ReadOutcome

__all__ = ["execute", "get_numpy"]


def execute(plan: CubePlan, options: ReadOptions) -> ReadOutcome:
    """Read every task of ``plan`` in one wave; failures are reported once (see
    :func:`rasteret.read.aoi.raise_or_warn`).

    Raises:
        Exception: The first planning failure when the error policy is ``"raise"``.
    """
    if options.error_policy == "raise" and plan.outcome.failures:
        raise plan.outcome.failures[0].error
    with progress_callback(options.progress, "rasteret read") as on_progress:
        outcome = run_sync(
            read_tasks(
                plan.tasks,
                plan.request.bands,
                fetcher(options),
                all_touched=plan.request.all_touched,
                progress=on_progress,
                outcome=plan.outcome,
            )
        )
    raise_or_warn(outcome.failures, "the read", produced=len(outcome.chips))
    return outcome


def get_numpy(source: RecordSource, request: AoiRequest, options: ReadOptions) -> np.ndarray:
    """``[N, H, W]`` (one band) or ``[N, C, H, W]``; N = (record, AOI) pairs with data.

    Raises:
        NoDataError: Nothing could be read.
        InvalidInputError: AOIs of different shapes cannot be stacked.
    """
    plan = plan_cube(source, request, options, shared=False)
    outcome = execute(plan, options)
    bands = request.bands
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for chip in outcome.chips:
        pairs.setdefault((chip.record_index, chip.aoi_index), {})[chip.band] = chip
    complete = [(k, v) for k, v in sorted(pairs.items()) if all(b in v for b in bands)]
    if not complete:
        raise no_data_error(outcome.failures)
    shapes = {v[b].data.shape for _, v in complete for b in bands}
    if len(shapes) > 1:
        raise ragged_error(shapes)
    dtype = np.result_type(*[v[b].data.dtype for _, v in complete for b in bands])
    (shape,) = shapes
    out = np.empty((len(complete), len(bands), *shape), dtype=dtype)  # one copy per chip
    for n, (_, v) in enumerate(complete):
        for k, b in enumerate(bands):
            out[n, k] = v[b].data
    return out[:, 0] if len(bands) == 1 else out
