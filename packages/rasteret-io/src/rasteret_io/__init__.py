"""rasteret_io: bytes in for rasteret.

obstore-backed stores and URL routing, range coalescing, bounded concurrency, retries,
per-read error policies and a sync facade. Exports are lazy: importing this package
imports neither obstore nor numpy nor pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_MAX_SIZE",
    "GLOBAL_METRICS",
    "AoiInput",
    "AoiTask",
    "Backend",
    "BandOutput",
    "BandResolutionError",
    "BandSource",
    "BatchReader",
    "Chip",
    "ConfigError",
    "Deadline",
    "DeadlineExceededError",
    "ErrorPolicy",
    "FetchError",
    "FetchOptions",
    "FetchTimeoutError",
    "Fetcher",
    "ForkSafetyError",
    "Grid",
    "GridRead",
    "GridSpec",
    "IOMetrics",
    "IdentifiedRangeReader",
    "Lattice",
    "MemoryBudget",
    "MemoryBudgetError",
    "MetricsSnapshot",
    "NoDataError",
    "ObjectIdentity",
    "ObjectNotFoundError",
    "ObstoreBackend",
    "PermissionDeniedError",
    "PointSample",
    "PointSamples",
    "RangeBody",
    "RangeGroup",
    "RangeReader",
    "RangeRequest",
    "RangeResult",
    "RasteretIOError",
    "ReadError",
    "ReadFailure",
    "ReadOutcome",
    "RecordSources",
    "Resampling",
    "RetryPolicy",
    "RoutingBackend",
    "ShortRangeError",
    "ShortReadError",
    "StaleObjectError",
    "StaleObjectWarning",
    "StalenessPolicy",
    "StorageBackend",
    "UnsupportedGeometryError",
    "WarpOptions",
    "WarpPlan",
    "Window",
    "WindowRequest",
    "WindowResult",
    "as_range_reader",
    "as_records",
    "available_memory",
    "band_metadata",
    "band_output",
    "check_budget",
    "coalesce_ranges",
    "convert_values",
    "create_backend",
    "crs_of_row",
    "crs_sidecars",
    "default_budget",
    "default_fetcher",
    "fetch_ranges",
    "format_bytes",
    "geometry_mask",
    "get_default_backend",
    "inverse_gdal",
    "nearest_index",
    "normalize_anchor",
    "normalize_aois",
    "normalize_resolution",
    "plan_tasks",
    "plan_warp",
    "read_aois",
    "read_columns",
    "read_grid",
    "read_ranges",
    "read_tasks",
    "read_windows",
    "record_sources",
    "redact_url",
    "region_source_window",
    "resolve_crs",
    "run_sync",
    "same_crs",
    "sample_points",
    "source_valid",
    "to_crs",
    "transform_from_metadata",
    "transformer",
    "warp_into",
    "warp_plan",
    "window_transform",
]

_WHERE = {
    "MemoryBudget": "budget",
    "MemoryBudgetError": "errors",
    "available_memory": "budget",
    "check_budget": "budget",
    "default_budget": "budget",
    "format_bytes": "budget",
    "AoiTask": "aoi_plan",
    "BandOutput": "band_output",
    "GridSpec": "output_grid",
    "Lattice": "output_grid",
    "normalize_anchor": "output_grid",
    "normalize_resolution": "output_grid",
    "read_tasks": "engine",
    "band_output": "band_output",
    "convert_values": "band_output",
    "DeadlineExceededError": "errors",
    "FetchTimeoutError": "errors",
    "ShortRangeError": "errors",
    "StaleObjectError": "errors",
    "StaleObjectWarning": "errors",
    "Deadline": "options",
    "FetchOptions": "options",
    "ObjectIdentity": "identity",
    "StalenessPolicy": "identity",
    "IdentifiedRangeReader": "protocols",
    "RangeBody": "protocols",
    "ErrorPolicy": "fetch",
    "ConfigError": "errors",
    "FetchError": "errors",
    "ForkSafetyError": "errors",
    "ObjectNotFoundError": "errors",
    "PermissionDeniedError": "errors",
    "RasteretIOError": "errors",
    "ShortReadError": "errors",
    "DEFAULT_MAX_GAP": "coalesce",
    "DEFAULT_MAX_SIZE": "coalesce",
    "RangeGroup": "coalesce",
    "coalesce_ranges": "coalesce",
    "Fetcher": "fetch",
    "RangeRequest": "fetch",
    "RangeResult": "fetch",
    "fetch_ranges": "fetch",
    "read_ranges": "fetch",
    "GLOBAL_METRICS": "metrics",
    "IOMetrics": "metrics",
    "MetricsSnapshot": "metrics",
    "ObstoreBackend": "backend",
    "RoutingBackend": "backend",
    "as_range_reader": "backend",
    "create_backend": "backend",
    "get_default_backend": "backend",
    "RangeReader": "protocols",
    "RetryPolicy": "retry",
    "redact_url": "urls",
    "run_sync": "runtime",
    "BandResolutionError": "errors",
    "NoDataError": "errors",
    "ReadError": "errors",
    "UnsupportedGeometryError": "errors",
    "AoiInput": "aoi",
    "normalize_aois": "aoi",
    "Grid": "grid",
    "Window": "grid",
    "Chip": "engine",
    "ReadFailure": "engine",
    "ReadOutcome": "engine",
    "read_aois": "engine",
    "default_fetcher": "engine",
    "GridRead": "grid_read",
    "read_grid": "grid_read",
    "PointSample": "points",
    "PointSamples": "points",
    "sample_points": "points",
    "BandSource": "sources",
    "record_sources": "sources",
    "band_metadata": "header_meta",
    "crs_sidecars": "header_meta",
    "WindowRequest": "tiles",
    "WindowResult": "tiles",
    "read_windows": "tiles",
    "BatchReader": "batch",
    "plan_tasks": "aoi_plan",
    "geometry_mask": "rasterize",
    "same_crs": "warp",
    "transformer": "warp",
    "inverse_gdal": "grid",
    "window_transform": "grid",
    "transform_from_metadata": "grid",
    "crs_of_row": "sources",
    "RecordSources": "sources",
    "to_crs": "aoi",
    "resolve_crs": "aoi",
    "StorageBackend": "protocols",
    "Backend": "protocols",
    "Resampling": "resampling",
    "WarpOptions": "resampling",
    "WarpPlan": "resampling",
    "plan_warp": "resampling",
    "warp_into": "resampling",
    "nearest_index": "resampling",
    "source_valid": "resampling",
    "region_source_window": "resampling",
    "read_columns": "arrow_sources",
    "as_records": "arrow_sources",
    "warp_plan": "aoi_plan",
}

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.aoi import (
        AoiInput,
        normalize_aois,
        resolve_crs,
        to_crs,
    )
    from rasteret_io.aoi_plan import (
        AoiTask,
        plan_tasks,
        warp_plan,
    )
    from rasteret_io.arrow_sources import (
        as_records,
        read_columns,
    )
    from rasteret_io.backend import (
        ObstoreBackend,
        RoutingBackend,
        as_range_reader,
        create_backend,
        get_default_backend,
    )
    from rasteret_io.band_output import (
        BandOutput,
        band_output,
        convert_values,
    )
    from rasteret_io.batch import (
        BatchReader,
    )
    from rasteret_io.budget import (
        MemoryBudget,
        available_memory,
        check_budget,
        default_budget,
        format_bytes,
    )
    from rasteret_io.coalesce import (
        DEFAULT_MAX_GAP,
        DEFAULT_MAX_SIZE,
        RangeGroup,
        coalesce_ranges,
    )
    from rasteret_io.engine import (
        Chip,
        ReadFailure,
        ReadOutcome,
        default_fetcher,
        read_aois,
        read_tasks,
    )
    from rasteret_io.errors import (
        BandResolutionError,
        ConfigError,
        DeadlineExceededError,
        FetchError,
        FetchTimeoutError,
        ForkSafetyError,
        MemoryBudgetError,
        NoDataError,
        ObjectNotFoundError,
        PermissionDeniedError,
        RasteretIOError,
        ReadError,
        ShortRangeError,
        ShortReadError,
        StaleObjectError,
        StaleObjectWarning,
        UnsupportedGeometryError,
    )
    from rasteret_io.fetch import (
        ErrorPolicy,
        Fetcher,
        RangeRequest,
        RangeResult,
        fetch_ranges,
        read_ranges,
    )
    from rasteret_io.grid import (
        Grid,
        Window,
        inverse_gdal,
        transform_from_metadata,
        window_transform,
    )
    from rasteret_io.grid_read import (
        GridRead,
        read_grid,
    )
    from rasteret_io.header_meta import (
        band_metadata,
        crs_sidecars,
    )
    from rasteret_io.identity import (
        ObjectIdentity,
        StalenessPolicy,
    )
    from rasteret_io.metrics import (
        GLOBAL_METRICS,
        IOMetrics,
        MetricsSnapshot,
    )
    from rasteret_io.options import (
        Deadline,
        FetchOptions,
    )
    from rasteret_io.output_grid import (
        GridSpec,
        Lattice,
        normalize_anchor,
        normalize_resolution,
    )
    from rasteret_io.points import (
        PointSample,
        PointSamples,
        sample_points,
    )
    from rasteret_io.protocols import (
        Backend,
        IdentifiedRangeReader,
        RangeBody,
        RangeReader,
        StorageBackend,
    )
    from rasteret_io.rasterize import (
        geometry_mask,
    )
    from rasteret_io.resampling import (
        Resampling,
        WarpOptions,
        WarpPlan,
        nearest_index,
        plan_warp,
        region_source_window,
        source_valid,
        warp_into,
    )
    from rasteret_io.retry import (
        RetryPolicy,
    )
    from rasteret_io.runtime import (
        run_sync,
    )
    from rasteret_io.sources import (
        BandSource,
        RecordSources,
        crs_of_row,
        record_sources,
    )
    from rasteret_io.tiles import (
        WindowRequest,
        WindowResult,
        read_windows,
    )
    from rasteret_io.urls import (
        redact_url,
    )
    from rasteret_io.warp import (
        same_crs,
        transformer,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rasteret_io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rasteret_io.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
