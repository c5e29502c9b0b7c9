"""The backend a read uses: the caller's, else one per cloud config value, cached per process.

Backends built from a :class:`~rasteret_catalog.CloudConfig` are cached on the config's
*value* (configs are frozen and hashable), in this process, for every collection and view
alike: two equal configs share one backend and its connection pools, and nothing is keyed on
an object's identity (an ``id()`` can be reused after garbage collection). Backends survive
``fork``: they drop stores inherited from a parent (see :mod:`rasteret_io`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rasteret_catalog import CloudConfig
from rasteret_io import create_backend

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import ReadOptions
    from rasteret_io.protocols import Backend

__all__ = ["backend_for_config", "read_backend"]

_CACHED_CONFIGS = 32


@functools.lru_cache(maxsize=_CACHED_CONFIGS)
def backend_for_config(config: CloudConfig) -> Backend:
    """The routing backend of ``config`` (one per distinct config value in this process)."""
    return create_backend(cloud_config=config)


def read_backend(options: ReadOptions) -> Backend | None:
    """``options.backend``, else the backend of its cloud config (or of the data source's
    registered one); None means the process-wide anonymous backend."""
    if options.backend is not None:
        return options.backend
    config = options.cloud_config or CloudConfig.get_config(options.data_source)
    return None if config is None else backend_for_config(config)
