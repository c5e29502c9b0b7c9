"""Dask integration: lazy ``get_xarray(..., chunks=...)`` and a sharded, parallel build.

* :func:`lazy_xarray` (behind ``Collection.get_xarray(..., chunks=...)``) plans the read on
  the client from the Parquet index only — no COG request — and returns a Dataset whose
  variables are dask arrays, one task per ``(time block, y block, x block)`` of each AOI
  and band. Each task runs :func:`rasteret.integrations._chunks.read_chunk`, which fetches
  only the tiles under its chunk through the worker process's own event loop and
  connection pool. Dims, coordinates, attributes and dtypes are those of the eager Dataset
  and the computed values are identical.
* :func:`build_from_table_sharded` normalises a record table on the client, indexes COG
  headers shard by shard in parallel (a ``distributed.Client`` when given, else dask's
  local scheduler) and writes one collection.

Install with ``pip install 'rasteret[dask]'``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rasteret.errors import InvalidInputError

if TYPE_CHECKING:
    from rasteret.collection import Collection

__all__ = ["DEFAULT_CHUNKS", "build_from_table_sharded", "lazy_xarray", "normalize_chunks"]

#: Chunking used for ``chunks="auto"`` / ``chunks=True``: one time step, 1024 x 1024 pixels.
DEFAULT_CHUNKS: dict[str, int] = {"time": 1, "y": 1024, "x": 1024}
_DIMS = ("time", "geometry", "y", "x")


def _require_dask() -> None:
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "get_xarray(chunks=...) needs dask: pip install 'rasteret[dask]'"
        ) from exc


def normalize_chunks(chunks: Any) -> dict[str, int | None]:
    """``{"time": n, "y": n, "x": n}`` from the accepted ``chunks`` forms.

    ``"auto"`` / ``True`` give :data:`DEFAULT_CHUNKS`; an int applies to time, y and x
    (xarray's meaning); a mapping may name ``time``, ``geometry`` (always 1), ``y`` and
    ``x`` — a missing ``time`` means 1 step per chunk, a missing ``y`` / ``x`` or a value of
    ``-1`` / None means the whole axis.

    Raises:
        ValueError: Any other value.
    """
    if chunks is True or chunks == "auto":
        return dict(DEFAULT_CHUNKS)  # type: ignore[arg-type]
    if isinstance(chunks, int) and not isinstance(chunks, bool):
        if chunks == -1:
            return {"time": None, "y": None, "x": None}
        if chunks < 1:
            raise InvalidInputError(f"chunks must be >= 1 or -1, got {chunks}")
        return {"time": chunks, "y": chunks, "x": chunks}
    if isinstance(chunks, Mapping):
        unknown = sorted(set(chunks) - set(_DIMS))
        if unknown:
            raise InvalidInputError(f"chunks names unknown dims {unknown}; dims are {list(_DIMS)}")
        out: dict[str, int | None] = {"time": 1, "y": None, "x": None}
        for dim in ("time", "y", "x"):
            if dim not in chunks:
                continue
            v = chunks[dim]
            if v is None or v == -1:
                out[dim] = None
            elif isinstance(v, int) and not isinstance(v, bool) and v >= 1:
                out[dim] = v
            else:
                raise InvalidInputError(
                    f"chunks[{dim!r}] must be an int >= 1, -1 or None, got {v!r}"
                )
        return out
    raise InvalidInputError(
        f"chunks must be None, 'auto', True, an int or a dict of dim -> size, got {chunks!r}"
    )


# -- lazy get_xarray --------------------------------------------------------------------------


def _naive(value: Any) -> Any:
    import numpy as np

    if value is None:
        return np.datetime64("NaT", "ns")
    if getattr(value, "tzinfo", None) is not None:
        value = value.replace(tzinfo=None)
    return np.datetime64(value, "ns")


def _chip_grid(task: Any) -> tuple[tuple[float, ...], tuple[int, int], Any]:
    """Transform, shape and CRS of the chip the eager read makes for ``task``."""
    from rasteret_io.grid import window_transform

    if task.out_grid is None:
        lv = task.source.levels[task.level]
        return (
            window_transform(lv.transform, task.window),
            (task.window.height, task.window.width),
            task.source.crs,
        )
    g = task.out_grid
    return g.transform, g.shape, g.crs


def _aoi_dataset(
    tasks: list[Any],
    aoi_index: int,
    bands: Sequence[str],
    reader: Any,
    chunks: Mapping[str, int | None],
    all_touched: bool,
) -> Any:
    import numpy as np
    import xarray as xr
    from dask.base import tokenize

    from rasteret._xarray_out import spatial_ref_attrs
    from rasteret.integrations._chunks import (
        ChunkItem,
        ChunkSpec,
        MaskSpec,
        Opaque,
        offsets,
        read_opaque_chunk,
        split,
    )
    from rasteret_cog.codecs import fill_value
    from rasteret_io.grid import Window

    order = {b: j for j, b in enumerate(bands)}
    tasks = sorted(tasks, key=lambda t: (t.record.index, order[t.source.band]))
    # mosaic priority within a time step: record id, then position (as the eager path)
    prio = {
        idx: rank
        for rank, idx in enumerate(sorted({(t.record.record_id, t.record.index) for t in tasks}))
    }
    transform, (h, w), crs = _chip_grid(tasks[0])
    a, _b, c, _d, e, f = transform
    times = sorted({_naive(t.record.datetime) for t in tasks})
    t_index = {t: i for i, t in enumerate(times)}
    t_blocks = split(len(times), chunks.get("time"))
    y_blocks = split(h, chunks.get("y"))
    x_blocks = split(w, chunks.get("x"))
    data_vars = {}
    for band in bands:
        btasks = [t for t in tasks if t.source.band == band]
        if not btasks:
            continue
        first = btasks[0]
        spec0 = first.source.level_spec(first.level)
        dtype = np.dtype(spec0.dtype)
        fill = fill_value(spec0)
        items_by_t: dict[int, list[tuple[Any, MaskSpec]]] = {}
        for t in btasks:
            tr, shape, _ = _chip_grid(t)
            mask = MaskSpec(t.geom.wkb, tuple(tr), shape, bool(all_touched))
            items_by_t.setdefault(t_index[_naive(t.record.datetime)], []).append((t, mask))
        name = f"rasteret-xarray-{band}-" + tokenize(
            reader, aoi_index, band, [(t.record.record_id, t.window, t.level) for t in btasks]
        )
        dsk: dict[Any, Any] = {}
        for ti, (t0, t1) in enumerate(offsets(t_blocks)):
            for yi, (r0, r1) in enumerate(offsets(y_blocks)):
                for xi, (c0, c1) in enumerate(offsets(x_blocks)):
                    items = []
                    for k in range(t0, t1):
                        for t, mask in items_by_t.get(k, ()):
                            if t.out_grid is None:
                                lv = t.source.levels[t.level]
                                sub = Window(
                                    t.window.col_off + c0, t.window.row_off + r0, c1 - c0, r1 - r0
                                )
                                if sub.intersection(Window(0, 0, lv.width, lv.height)) is None:
                                    continue
                            items.append(
                                ChunkItem(
                                    k - t0,
                                    prio[(t.record.record_id, t.record.index)],
                                    t.source,
                                    t.level,
                                    t.window,
                                    t.out_grid,
                                    mask,
                                )
                            )
                    spec = ChunkSpec(tuple(items), (r0, r1, c0, c1), t1 - t0, dtype.str, fill)
                    dsk[(name, ti, 0, yi, xi)] = (read_opaque_chunk, reader, Opaque(spec))
        arr = _dask_array(name, dsk, (t_blocks, (1,), y_blocks, x_blocks), dtype)
        attrs: dict[str, Any] = {"grid_mapping": "spatial_ref"}
        if first.source.nodata is not None:
            attrs["_FillValue"] = first.source.nodata
        data_vars[band] = (_DIMS, arr, attrs)
    coords = {
        "time": np.array(times, dtype="datetime64[ns]"),
        "geometry": np.array([aoi_index + 1], dtype=np.int64),
        "y": f + e * (np.arange(h) + 0.5),
        "x": c + a * (np.arange(w) + 0.5),
        "spatial_ref": ((), np.int64(0), spatial_ref_attrs(crs, transform)),
    }
    return xr.Dataset(data_vars, coords=coords)


def _dask_array(name: str, dsk: dict[Any, Any], chunks: tuple[Any, ...], dtype: Any) -> Any:
    import dask.array as da
    import numpy as np
    from dask.highlevelgraph import HighLevelGraph

    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, chunks=chunks, dtype=dtype, meta=np.empty((0, 0, 0, 0), dtype))


def lazy_xarray(view: Collection, params: dict[str, Any], chunks: Any) -> Any:
    """The lazy (dask-backed) counterpart of the eager ``get_xarray`` (see module docs).

    Args:
        view: The filtered collection.
        params: The checked ``get_xarray`` parameters (as the eager engine receives them).
        chunks: ``"auto"``, an int or a dict of dim -> size (see :func:`normalize_chunks`).

    Raises:
        ImportError: dask is not installed.
        ValueError: Bad ``chunks``, non-polygon AOIs, nothing to read.
    """
    _require_dask()
    norm = normalize_chunks(chunks)
    from rasteret._engine import aoi_rows, backend_for, no_data_error, raise_or_warn
    from rasteret_io.batch import BatchReader
    from rasteret_io.engine import ReadOutcome, plan_tasks
    from rasteret_io.sources import record_sources

    aois, band_map, rows = aoi_rows(view, params)
    bands = list(params["bands"])
    records = [record_sources(r, i, bands, band_map) for i, r in enumerate(rows)]
    outcome = ReadOutcome()
    tasks = plan_tasks(
        records,
        bands,
        aois,
        layout="stack",
        target_crs=params.get("target_crs"),
        resolution=None,
        outcome=outcome,
    )
    raise_or_warn(outcome.failures, "the read", produced=len(tasks))
    if not tasks:
        raise no_data_error(outcome.failures)
    backend = backend_for(
        view, params.get("backend"), params.get("cloud_config"), params.get("data_source")
    )
    reader = BatchReader(
        tuple(bands),
        backend=backend,
        band_map=band_map,
        max_concurrent=int(params.get("max_concurrent", 50)),
        error_policy="skip",
    )
    by_aoi: dict[int, list[Any]] = {}
    for t in tasks:
        by_aoi.setdefault(t.aoi_index, []).append(t)
    parts = [
        _aoi_dataset(ts, i, bands, reader, norm, bool(params.get("all_touched")))
        for i, ts in sorted(by_aoi.items())
    ]
    from rasteret._xarray_out import combine_parts

    return combine_parts(parts, params.get("xr_combine", "combine_first"))


# -- sharded build ------------------------------------------------------------------------------


def build_from_table_sharded(
    table: Any,
    *,
    name: str,
    shards: int | None = None,
    client: Any = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    data_source: str = "",
    description: str = "",
    column_map: dict[str, str] | None = None,
    href_column: str | None = None,
    band_index_map: dict[str, int] | None = None,
    url_rewrite_patterns: dict[str, str] | None = None,
    band_codes: Sequence[str] | None = None,
    cloud_config: Any = None,
    backend: Any = None,
    max_concurrent: int = 300,
    force: bool = False,
) -> Collection:
    """``build_from_table(..., enrich_cog=True)`` with the header indexing split into shards.

    The record table is read and normalised on the client (no COG request), cut into
    ``shards`` contiguous row ranges, each shard's headers are indexed in parallel with
    :func:`rasteret_ingest.enrich.enrich_table` (one task per shard, each with its own
    event loop and connection pool), and the enriched shards are concatenated in order and
    written as one collection in ``{workspace_dir}/{name}_records``.

    Args:
        table: Path / URI / Arrow object with the record table (see ``build_from_table``).
        name: Collection name.
        shards: Number of shards (default: the client's worker count, else ``os.cpu_count()``).
        client: A ``distributed.Client``; without one dask's local process-less scheduler
            (threads) runs the shards.
        workspace_dir: Workspace root (default: ``~/rasteret_workspace``).
        data_source, description, column_map, href_column, band_index_map,
            url_rewrite_patterns, band_codes, cloud_config, backend, max_concurrent, force:
            As in ``build_from_table``; ``max_concurrent`` is per shard.

    Returns:
        The written collection.

    Raises:
        ImportError: dask is not installed.
        EnrichmentError: A shard could not read a single header.
        CollectionExistsError: The collection exists and ``force`` is False.
    """
    _require_dask()
    import pyarrow as pa

    from rasteret.collection import Collection
    from rasteret_ingest import (
        EnrichOptions,
        TableSource,
        WriteTarget,
        enrich_records,
        prepare_table,
        records_collection_dir,
        resolve_backend,
        write_records,
    )

    if not name:
        raise InvalidInputError("build_from_table_sharded needs a collection name")
    path = records_collection_dir(workspace_dir, name)
    prepared = prepare_table(
        TableSource.of(
            table,
            data_source=data_source,
            column_map=column_map,
            href_column=href_column,
            band_index_map=band_index_map,
            url_rewrite_patterns=url_rewrite_patterns,
            cloud_config=cloud_config,
        )
    )
    norm = prepared.table
    options = EnrichOptions(
        bands=tuple(band_codes) if band_codes else prepared.bands,
        backend=resolve_backend(backend, prepared.cloud_config),
        max_concurrent=max_concurrent,
        progress=False,
    )
    if shards is None:
        shards = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count()
    n = max(1, min(int(shards or 1), norm.num_rows or 1))
    step = math.ceil(norm.num_rows / n) if norm.num_rows else 1
    pieces = [norm.slice(i, step) for i in range(0, max(norm.num_rows, 1), step)]
    shard_specs = [dataclasses.replace(prepared, table=p) for p in pieces]
    if client is not None:
        futures = [client.submit(enrich_records, p, options, pure=False) for p in shard_specs]
        results = client.gather(futures)
    else:
        import dask

        results = dask.compute(
            *[dask.delayed(enrich_records, pure=False)(p, options) for p in shard_specs],
            scheduler="threads",
        )
    merged = pa.concat_tables([r[0] for r in results], promote_options="permissive")
    written, _ = write_records(
        merged,
        WriteTarget(path, name, description, data_source, force=force),
    )
    return Collection._open(written, name=name, data_source=data_source)
