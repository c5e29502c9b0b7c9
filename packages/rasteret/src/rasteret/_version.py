"""Installed version of the ``rasteret`` distribution."""

from __future__ import annotations

from functools import cache

LOCAL_VERSION = "0.0.0+local"


@cache
def version() -> str:
    """The installed ``rasteret`` version, or ``"0.0.0+local"`` when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("rasteret")
    except metadata.PackageNotFoundError:
        return LOCAL_VERSION
