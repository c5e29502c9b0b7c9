"""``sample_points``: sample the records at points through the engine, as one Arrow table.

Output schema (stable, also when empty): ``point_index, point_x, point_y, point_crs,
record_id, datetime, collection, band, value, raster_crs[, neighbourhood_values]`` followed by
the input table's own columns (taken by ``point_index``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret.errors import InvalidInputError, NoDataError
from rasteret.read._adapter import EngineRecords, engine_records, fetcher
from rasteret.read.failures import apply_policy, split
from rasteret.read.limits import budget_for
from rasteret.read.progress import progress_callback
from rasteret.read.refresh import read_fresh
from rasteret_catalog.schema import Col
from rasteret_io import run_sync
from rasteret_io import sample_points as engine_sample_points

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import PointRequest, ReadOptions
    from rasteret.records import RecordSource

__all__ = ["newest_first", "output_schema", "sample_points"]


def newest_first(times: Sequence[Any]) -> list[int]:
    """Positions of ``times`` newest first, undated records (None) last; ties keep their input
    order. ``match="latest"`` tries records in this order, so an undated record is never
    taken for the latest."""
    dated = [i for i, t in enumerate(times) if t is not None]
    dated.sort(key=lambda i: times[i], reverse=True)  # a stable sort, reversed or not
    return dated + [i for i, t in enumerate(times) if t is None]


def output_schema(neighbourhood: bool) -> pa.Schema:
    """The fixed schema of ``sample_points`` results."""
    fields = [
        pa.field("point_index", pa.int64(), nullable=False),
        pa.field("point_x", pa.float64(), nullable=False),
        pa.field("point_y", pa.float64(), nullable=False),
        pa.field("point_crs", pa.int32()),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("datetime", pa.timestamp("us")),
        pa.field("collection", pa.string(), nullable=False),
        pa.field("band", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("raster_crs", pa.int32()),
    ]
    if neighbourhood:
        fields.append(pa.field("neighbourhood_values", pa.list_(pa.float64())))
    return pa.schema(fields)


def sample_points(source: RecordSource, request: PointRequest, options: ReadOptions) -> pa.Table:
    """Run ``sample_points`` (see module docs).

    Raises:
        NoDataError: Every sample failed.
        InvalidInputError: The points table's columns collide with the output columns.
        FetchError, ReadError: Under ``error_policy="raise"``, the first failed read.
        MemoryBudgetError: The neighbourhoods do not fit the memory budget.
    """
    neighbourhood = request.return_neighbourhood != "off"
    schema = output_schema(neighbourhood)
    band_map = options.band_map
    records = (
        engine_records(source, request.bands, band_map)
        if len(request.xs)
        else EngineRecords(pa.table({}))
    )
    if request.match == "latest" and len(records):
        records = records.take(newest_first(records.table.column(Col.DATETIME).to_pylist()))
    deadline = options.fetch_options().start_deadline()  # one clock for the whole read
    budget = budget_for(options.memory_budget, "sample_points")

    def run(rows: Any) -> Any:
        with progress_callback(options.progress, "rasteret sample_points") as on_progress:
            return run_sync(
                engine_sample_points(
                    rows, request.bands, request.xs, request.ys, request.epsg,
                    fetcher(options), band_map=band_map, match=request.match,
                    max_distance_pixels=request.max_distance_pixels,
                    return_neighbourhood=request.return_neighbourhood,
                    progress=on_progress, deadline=deadline, budget=budget,
                )
            )  # fmt: skip

    result = read_fresh(records, request.bands, options, run)
    if result.failures and not result.samples:
        _unresolved, failed = split(result.failures)
        if failed and options.error_policy == "raise":
            raise failed[0].error
        first = result.failures[0]
        raise NoDataError(
            f"No point samples resolved: record_id={first.record_id!r} band={first.band!r}: "
            f"{first.error}"
        ) from first.error
    apply_policy(
        result.failures, "sample_points", produced=len(result.samples), policy=options.error_policy
    )
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    for s in result.samples:
        i = s.record_index
        cols["point_index"].append(s.point_index)
        cols["point_x"].append(float(request.xs[s.point_index]))
        cols["point_y"].append(float(request.ys[s.point_index]))
        cols["point_crs"].append(request.epsg)
        cols["record_id"].append(str(records.value(i, Col.ID)))
        cols["datetime"].append(records.value(i, Col.DATETIME))
        cols["collection"].append(records.value(i, Col.COLLECTION) or options.data_source)
        cols["band"].append(s.band)
        cols["value"].append(s.value)
        cols["raster_crs"].append(records.value(i, Col.PROJ_EPSG))
        if neighbourhood:
            cols["neighbourhood_values"].append(
                list(s.neighbourhood) if s.neighbourhood is not None else None
            )
    table = pa.table(cols, schema=schema)
    attrs = request.attributes
    if attrs is not None and attrs.num_columns:
        clash = sorted(set(attrs.column_names) & set(schema.names))
        if clash:
            raise InvalidInputError(
                f"point table columns collide with sample_points output columns: {clash}"
            )
        taken = attrs.take(pa.array(cols["point_index"], pa.int64()))
        for name in taken.column_names:
            table = table.append_column(taken.schema.field(name), taken.column(name))
    return table
