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
    "BandResolutionError",
    "BandSource",
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
    "IOMetrics",
    "IdentifiedRangeReader",
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
    "RetryPolicy",
    "RoutingBackend",
    "ShortRangeError",
    "ShortReadError",
    "StaleObjectError",
    "StaleObjectWarning",
    "StalenessPolicy",
    "UnsupportedGeometryError",
    "Window",
    "WindowRequest",
    "WindowResult",
    "as_range_reader",
    "band_metadata",
    "coalesce_ranges",
    "create_backend",
    "crs_sidecars",
    "default_fetcher",
    "fetch_ranges",
    "get_default_backend",
    "normalize_aois",
    "read_aois",
    "read_grid",
    "read_ranges",
    "read_windows",
    "record_sources",
    "redact_url",
    "run_sync",
    "sample_points",
]

_WHERE = {
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
}

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.backend import (
        ObstoreBackend,
        RoutingBackend,
        as_range_reader,
        create_backend,
        get_default_backend,
    )
    from rasteret_io.coalesce import DEFAULT_MAX_GAP, DEFAULT_MAX_SIZE, RangeGroup, coalesce_ranges
    from rasteret_io.errors import (
        ConfigError,
        DeadlineExceededError,
        FetchError,
        FetchTimeoutError,
        ForkSafetyError,
        ObjectNotFoundError,
        PermissionDeniedError,
        RasteretIOError,
        ShortRangeError,
        ShortReadError,
        StaleObjectError,
        StaleObjectWarning,
    )
    from rasteret_io.fetch import (
        ErrorPolicy,
        Fetcher,
        RangeRequest,
        RangeResult,
        fetch_ranges,
        read_ranges,
    )
    from rasteret_io.identity import ObjectIdentity, StalenessPolicy
    from rasteret_io.metrics import GLOBAL_METRICS, IOMetrics, MetricsSnapshot
    from rasteret_io.options import Deadline, FetchOptions
    from rasteret_io.protocols import IdentifiedRangeReader, RangeBody, RangeReader
    from rasteret_io.retry import RetryPolicy
    from rasteret_io.runtime import run_sync
    from rasteret_io.urls import redact_url


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rasteret_io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rasteret_io.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
