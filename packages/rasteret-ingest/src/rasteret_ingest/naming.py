"""Collection names and workspace paths, exactly as rasteret 0.4.1 builds them.

- STAC builds live in ``{workspace}/{create_name(name, date_range, source)}_stac``.
- Record-table builds live in ``{workspace}/{name}_records``.
- The default workspace is ``~/rasteret_workspace`` (expanded when a path is built, never at
  import time).

Cloud workspaces (any ``scheme://`` other than ``file://``) are kept as strings; local ones
become :class:`~pathlib.Path`.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rasteret_ingest.errors import BuildSpecError

__all__ = [
    "DEFAULT_WORKSPACE",
    "RECORDS_SUFFIX",
    "STAC_SUFFIX",
    "create_name",
    "default_workspace",
    "is_cloud_uri",
    "parse_name",
    "records_collection_dir",
    "stac_collection_dir",
]

DEFAULT_WORKSPACE = "~/rasteret_workspace"
"""Default workspace root; ``~`` is expanded at call time by :func:`default_workspace`."""

STAC_SUFFIX = "_stac"
RECORDS_SUFFIX = "_records"

_SHORT_SOURCES = {"sentinel-2-l2a": "sentinel", "landsat-c2-l2": "landsat"}
_NOT_TOKEN = re.compile(r"[^a-z0-9-]")
_DASHES = re.compile(r"-+")

WorkspacePath = Path | str


def default_workspace() -> Path:
    """The default workspace root, ``~`` expanded now."""
    return Path(os.path.expanduser(DEFAULT_WORKSPACE))


def _token(text: str, fallback: str) -> str:
    out = _DASHES.sub("-", _NOT_TOKEN.sub("-", text)).strip("-")
    return out or fallback


def _custom_token(custom_name: str) -> str:
    return _token((custom_name or "").lower().replace(" ", "-").replace("_", "-"), "collection")


def _source_token(data_source: str) -> str:
    src = data_source or ""
    if src in _SHORT_SOURCES:
        return _SHORT_SOURCES[src]
    return _token(src.lower().replace("/", "-").replace(" ", "-"), "source")


def _as_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value)[:10])


def _date_token(date_range: Sequence[Any]) -> str:
    start, end = _as_date(date_range[0]), _as_date(date_range[1])
    if start.year == end.year:
        return f"{start.year:04d}{start.month:02d}-{end.month:02d}"
    return f"{start.year:04d}{start.month:02d}-{end.year:04d}{end.month:02d}"


def create_name(custom_name: str, date_range: Sequence[Any] | None, data_source: str | None) -> str:
    """Build a collection's cache name (without the ``_stac`` suffix).

    With a date range: ``"{custom}_{daterange}_{source}"`` where ``custom`` is the lowercased
    name with spaces and ``_`` turned into ``-`` (other characters outside ``[a-z0-9-]`` too,
    runs collapsed, empty → ``collection``), ``daterange`` is ``YYYYMM-MM`` within one year and
    ``YYYYMM-YYYYMM`` otherwise, and ``source`` is ``sentinel`` / ``landsat`` for exactly
    ``sentinel-2-l2a`` / ``landsat-c2-l2`` and a sanitised token otherwise.

    Without a date range (static catalogs): ``"{name}_{source}"`` with the name lowercased,
    spaces and ``/`` turned into ``-`` and ``/`` in the source turned into ``-`` (underscores
    are kept in this variant, as in 0.4.1).

    Args:
        custom_name: The user's collection name.
        date_range: ``(start, end)`` as ISO strings, dates or datetimes, or None.
        data_source: Data source id (e.g. ``"earthsearch/sentinel-2-l2a"``).

    Returns:
        The name, e.g. ``"s2-bangalore_202401-01_earthsearch-sentinel-2-l2a"``.
    """
    if date_range is None or not any(date_range):
        name = (custom_name or "").lower().replace(" ", "-").replace("/", "-")
        return f"{name}_{(data_source or '').replace('/', '-')}"
    return (
        f"{_custom_token(custom_name)}_{_date_token(date_range)}_{_source_token(data_source or '')}"
    )


def parse_name(name: str) -> dict[str, str | None]:
    """Split a cache name made by :func:`create_name`; never raises.

    Returns:
        ``{"name", "custom_name", "data_source"}``: for a well-formed name the custom and source
        tokens, otherwise ``{"name": name, "custom_name": name, "data_source": None}``.
    """
    fallback: dict[str, str | None] = {"name": name, "custom_name": name, "data_source": None}
    if not isinstance(name, str):
        return {"name": name, "custom_name": name, "data_source": None}
    stem = name[: -len(STAC_SUFFIX)] if name.endswith(STAC_SUFFIX) else name
    parts = stem.split("_")
    if len(parts) != 3:
        return fallback
    custom, dates, source = parts
    a, sep, b = dates.partition("-")
    if not (sep and a and b):
        return fallback
    return {"name": name, "custom_name": custom, "data_source": source}


def is_cloud_uri(path: Any) -> bool:
    """True for ``scheme://`` URIs other than ``file://``."""
    s = str(path)
    return "://" in s and not s.startswith("file://")


def _workspace(workspace_dir: Any) -> WorkspacePath:
    if workspace_dir is None:
        return default_workspace()
    if is_cloud_uri(workspace_dir):
        return str(workspace_dir).rstrip("/")
    s = str(workspace_dir)
    if s.startswith("file://"):
        s = s[len("file://") :]
    return Path(os.path.expanduser(s))


def _join(base: WorkspacePath, child: str) -> WorkspacePath:
    return f"{base}/{child}" if isinstance(base, str) else base / child


def _last_component(path: WorkspacePath) -> str:
    return path.rsplit("/", 1)[-1] if isinstance(path, str) else path.name


def stac_collection_dir(
    workspace_dir: Any, name: str, date_range: Sequence[Any] | None, data_source: str | None
) -> WorkspacePath:
    """Directory of a STAC-built collection: ``{workspace}/{create_name(...)}_stac``.

    A ``workspace_dir`` whose last component already ends in ``_stac`` is used as is.
    """
    ws = _workspace(workspace_dir)
    if _last_component(ws).endswith(STAC_SUFFIX):
        return ws
    return _join(ws, create_name(name, date_range, data_source) + STAC_SUFFIX)


def records_collection_dir(workspace_dir: Any, name: str) -> WorkspacePath:
    """Directory of a record-table collection: ``{workspace}/{name}_records``.

    A ``workspace_dir`` ending in ``_stac`` / ``_records`` is used as is, and so is any
    ``workspace_dir`` when ``name`` is empty.
    """
    ws = _workspace(workspace_dir)
    last = _last_component(ws)
    if last.endswith((STAC_SUFFIX, RECORDS_SUFFIX)):
        return ws
    if not name:
        if workspace_dir is None:
            raise BuildSpecError("a record-table collection needs a name or a workspace_dir")
        return ws
    return _join(ws, f"{name}{RECORDS_SUFFIX}")
