"""Cloud settings and storage backends under their rasteret 0.4.1 module path (``rasteret.cloud``).

Thin re-exports: :class:`CloudConfig` and its helpers from :mod:`rasteret_catalog`, the
backend protocol and obstore backends from :mod:`rasteret_io`.
"""

from __future__ import annotations

from rasteret_catalog import (
    CloudConfig,
    backend_config_from_cloud_config,
    rewrite_url,
    s3_overrides_from_config,
)
from rasteret_io import ObstoreBackend, StorageBackend

__all__ = [
    "CloudConfig",
    "ObstoreBackend",
    "StorageBackend",
    "backend_config_from_cloud_config",
    "rewrite_url",
    "s3_overrides_from_config",
]
