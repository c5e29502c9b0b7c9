"""rasteret: index-first reads of cloud-hosted GeoTIFFs / COGs.

Build a Parquet index of COG headers once (:func:`build`, :func:`build_from_stac`,
:func:`build_from_table`), filter it like any Arrow table (:class:`Collection`), then read
exactly the pixels you need.

Importing this package is cheap: every public name is loaded on first access.
"""

import sys

# Nothing but builtins is imported here: `typing`, `logging`, `importlib` and even
# `__future__` would each cost more than the rest of this module (see rasteret._log), hence
# the quoted annotations. Type checkers treat this name as typing's.
TYPE_CHECKING = False

if "logging" in sys.modules:  # already loaded by the application: attach the handler now
    import rasteret._log  # noqa: F401

__all__ = [
    "BandRegistry",
    "CloudConfig",
    "Collection",
    "DatasetDescriptor",
    "DatasetRegistry",
    "__version__",
    "as_collection",
    "build",
    "build_from_stac",
    "build_from_table",
    "create_backend",
    "get_options",
    "load",
    "options",
    "register",
    "register_local",
    "set_options",
    "version",
]

_WHERE: dict[str, tuple[str, str]] = {
    "BandRegistry": ("rasteret_catalog", "BandRegistry"),
    "CloudConfig": ("rasteret_catalog", "CloudConfig"),
    "DatasetDescriptor": ("rasteret_catalog", "DatasetDescriptor"),
    "DatasetRegistry": ("rasteret_catalog", "DatasetRegistry"),
    "Collection": ("rasteret.core.collection", "Collection"),
    "as_collection": ("rasteret.api", "as_collection"),
    "build": ("rasteret.builds.functions", "build"),
    "build_from_stac": ("rasteret.builds.functions", "build_from_stac"),
    "build_from_table": ("rasteret.builds.functions", "build_from_table"),
    "load": ("rasteret.api", "load"),
    "register": ("rasteret.api", "register"),
    "register_local": ("rasteret.api", "register_local"),
    "create_backend": ("rasteret.api", "create_backend"),
    "get_options": ("rasteret._options", "get_options"),
    "set_options": ("rasteret._options", "set_options"),
    "options": ("rasteret.options", ""),  # the module itself: it is callable (options.py)
    "version": ("rasteret._version", "version"),
}

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from rasteret import options
    from rasteret._options import get_options, set_options
    from rasteret._version import version
    from rasteret.api import (
        as_collection,
        create_backend,
        load,
        register,
        register_local,
    )
    from rasteret.builds.functions import build, build_from_stac, build_from_table
    from rasteret.core.collection import Collection
    from rasteret_catalog import BandRegistry, CloudConfig, DatasetDescriptor, DatasetRegistry

    __version__: str


def __getattr__(name: str) -> "Any":
    if name == "__version__":
        from rasteret._version import version as _v

        value: Any = _v()
    else:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module 'rasteret' has no attribute {name!r}")
        __import__(where[0])
        module = sys.modules[where[0]]
        value = getattr(module, where[1]) if where[1] else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
