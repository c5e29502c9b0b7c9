"""Printing for the CLI: JSON, aligned tables, collection summaries, exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from rasteret.core.workspace import collection_dir
from rasteret_catalog.schema import Col

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.core.collection import Collection

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BuildKeywords",
    "UsageError",
    "build_keywords",
    "check_file_target",
    "check_workspace",
    "out",
    "report_built",
    "table",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input detected after parsing (exit code 2)."""


class BuildKeywords(TypedDict):
    """The keywords the ``--bbox ... --query`` options of the build commands set."""

    bbox: tuple[float, float, float, float] | None
    date_range: tuple[str, str] | None
    workspace_dir: str | None
    force: bool
    max_concurrent: int
    query: dict[str, Any] | None
    deadline: float | None
    request_timeout: float | None


def build_keywords(args: argparse.Namespace) -> BuildKeywords:
    """The build keywords of parsed build-command arguments."""
    return cast(BuildKeywords, {k: getattr(args, k) for k in BuildKeywords.__annotations__})


def check_workspace(workspace_dir: str | None) -> None:
    """Fail before any I/O when ``--workspace-dir`` names something that is not a directory.

    Raises:
        UsageError: The path exists and is a file.
    """
    if workspace_dir is not None and "://" not in workspace_dir:
        p = Path(workspace_dir).expanduser()
        if p.exists() and not p.is_dir():
            raise UsageError(f"--workspace-dir {p} is a file, not a directory")


def check_file_target(path: str | None, what: str) -> None:
    """Fail before any I/O when a file argument (``--registry-path``, an output path) names
    a directory.

    Raises:
        UsageError: The path is an existing directory.
    """
    if path is not None and Path(path).expanduser().is_dir():
        raise UsageError(f"{what} {Path(path).expanduser()} is a directory; give a file path")


def out(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, else ``text`` (when given)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str, sort_keys=False))
    elif text is not None:
        print(text)


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows as left-aligned columns under ``header``."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


_SHOWN_FAILURES = 5
"""Failing URLs a text build summary lists (the JSON ``build_report`` lists them all)."""


def _count(collection: Collection) -> int | None:
    """The number of records, None for a streamed (``hf://``) collection, which is not
    counted up front (``len`` raises ``TypeError`` there by design)."""
    try:
        return len(collection)
    except TypeError:
        return None


def _summary(collection: Collection) -> dict[str, Any]:
    import pyarrow.compute as pc  # loaded by the commands that built a collection

    start = end = None
    count = _count(collection)
    # a streamed collection's date range would need a scan of every row: left out (None)
    if count and Col.DATETIME in collection.schema.names:
        col = collection.to_table([Col.DATETIME]).column(0)
        start, end = pc.min(col).as_py(), pc.max(col).as_py()
    return {
        "name": collection.name,
        "data_source": collection.data_source,
        "scene_count": count,
        "date_start": start.isoformat() if start else None,
        "date_end": end.isoformat() if end else None,
        "bands": collection.bands,
        "has_split_column": Col.SPLIT in collection.schema.names,
        "columns": list(collection.schema.names),
    }


def _collection_path(collection: Collection) -> str | None:
    files = getattr(collection.dataset, "files", None) or []
    if not files:
        return None
    return str(collection_dir(Path(files[0])))


def report_built(collection: Collection, as_json: bool, path: str | None = None) -> int:
    """Print a built collection's summary (with its directory) as text or JSON.

    The build's header-enrichment report (``Collection.build_report``) is the JSON key
    ``build_report`` (every failure; None when the build read no header, e.g. a cached
    collection was reused); the text prints ``Failures: N`` and the first failing URLs.
    """
    info = _summary(collection)
    info["path"] = path if path is not None else _collection_path(collection)
    report = collection.build_report
    info["build_report"] = report.to_dict() if report is not None else None
    if as_json:
        out(info, True)
        return EXIT_OK
    count = info["scene_count"]
    print(f"Collection: {info['name']}")
    if info["path"]:
        print(f"Path:       {info['path']}")
    print(f"Records:    {count if count is not None else '? (streamed, not counted)'}")
    print(f"Dates:      {info['date_start'] or '-'} .. {info['date_end'] or '-'}")
    print(f"Bands:      {', '.join(info['bands']) or '-'}")
    print(f"Split:      {'yes' if info['has_split_column'] else 'no'}")
    if report is not None:
        print(f"Failures:   {report.failed}")
        for f in report.failures[:_SHOWN_FAILURES]:
            print(f"  {f.url} (record {f.record_id}, band {f.band}): {f.error}")
        if len(report.failures) > _SHOWN_FAILURES:
            print(f"  ... {len(report.failures) - _SHOWN_FAILURES} more (--json lists all)")
    return EXIT_OK
