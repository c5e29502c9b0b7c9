"""The backend a read uses: the caller's, else one per cloud config value, cached per process.

Backends built from a :class:`~rasteret_catalog.CloudConfig` are cached on the config's
*value* (configs are frozen and hashable), in this process, for every collection and view
alike: two equal configs share one backend and its connection pools, and nothing is keyed on
an object's identity (an ``id()`` can be reused after garbage collection). Backends survive
``fork``: they drop stores inherited from a parent (see :mod:`rasteret_io`).

A collection whose assets need URL signing (its ``asset_signing`` metadata names the scheme,
e.g. Planetary Computer SAS tokens) is read, when no backend is given, through a
:class:`rasteret_io.SigningReader`: each request's URL is signed as it is made, over the same
cached backend. The collection stores plain hrefs, never a token; an explicit ``backend=``
is used as given.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rasteret.errors import missing_dependency
from rasteret_catalog import CloudConfig
from rasteret_io import create_backend, scheme_signer, signing_reader

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
    registered one), signing every request when the collection names a signing scheme;
    None means the process-wide anonymous backend.

    Raises:
        MissingDependencyError: the signing scheme's package is not installed (Planetary
            Computer: ``rasteret[azure]``).
        ConfigError: the collection names a signing scheme this version does not know.
    """
    if options.backend is not None:
        return options.backend
    config = options.cloud_config or CloudConfig.get_config(options.data_source)
    base = None if config is None else backend_for_config(config)
    if options.asset_signing is None:
        return base
    try:
        sign = scheme_signer(options.asset_signing)
    except ImportError:
        raise missing_dependency(
            "planetary-computer",
            "azure",
            f"Reading a collection whose assets need {options.asset_signing!r} URL signing "
            "without a backend",
        ) from None
    return signing_reader(base, sign)
