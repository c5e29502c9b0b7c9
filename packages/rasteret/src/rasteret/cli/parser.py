"""The argument parser of the ``rasteret`` command."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from rasteret._version import version
from rasteret.cli._output import EXIT_USAGE
from rasteret.cli.collections import (
    cmd_collections_build,
    cmd_collections_delete,
    cmd_collections_import,
    cmd_collections_info,
    cmd_collections_list,
)
from rasteret.cli.datasets import (
    cmd_datasets_build,
    cmd_datasets_export_local,
    cmd_datasets_info,
    cmd_datasets_list,
    cmd_datasets_register_local,
    cmd_datasets_unregister_local,
)
from rasteret.errors import InvalidInputError
from rasteret.query.validate import validate_bbox, validate_date_range

__all__ = ["COMMANDS", "Arg", "Command", "arg", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minx,miny,maxx,maxy`` in lon/lat degrees: finite, ordered, within the globe."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"expected 4 comma-separated numbers minx,miny,maxx,maxy, got {text!r}"
        )
    try:
        w, s, e, n = validate_bbox(parts, what="bbox")
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not (w >= -180.0 and e <= 180.0 and s >= -90.0 and n <= 90.0):
        raise argparse.ArgumentTypeError(
            f"bbox {text!r} is outside lon/lat bounds (-180..180, -90..90); --bbox is "
            "WGS84 longitude/latitude, not projected coordinates"
        )
    return w, s, e, n


def _parse_date_range(text: str) -> tuple[str, str]:
    """``START,END`` ISO dates or timestamps, START not after END."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected START,END (e.g. 2024-01-01,2024-01-31), got {text!r}"
        )
    try:
        validate_date_range(parts)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return parts[0], parts[1]


def _positive_int(text: str) -> int:
    """An integer >= 1 (concurrency limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (``--deadline``, ``--request-timeout``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON ({exc.msg}): {text!r}") from None


def _json_object(text: str) -> dict[str, Any]:
    """A JSON object (``--query``)."""
    value = _parse_json(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'expected a JSON object such as \'{{"eo:cloud_cover": {{"lt": 20}}}}\', got {text!r}'
        )
    return value


def _column_map(text: str) -> dict[str, str]:
    """A JSON object of source column -> canonical column names (``--column-map``)."""
    value = _parse_json(text)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise argparse.ArgumentTypeError(
            f'expected a JSON object of column names such as \'{{"scene_id": "id"}}\', got {text!r}'
        )
    return value


def _csv(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def cmd_demo(args: argparse.Namespace) -> int:
    """``rasteret demo`` (needs the ``rasteret[demo]`` extra: matplotlib)."""
    # the demo is an optional extra; importing it checks for matplotlib
    from rasteret.demo import main

    return int(main(args) or 0)


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``add_argument`` call: flags and keyword options."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """An :class:`Arg`, written like ``add_argument``."""
    return Arg(flags, options)


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: its group (None: top level), name, handler, help and arguments."""

    group: str | None
    name: str
    func: Callable[[argparse.Namespace], int]
    help: str
    args: tuple[Arg, ...] = ()
    description: str | None = None


_BUILD_BOUNDS = (
    arg("--deadline", type=_positive_seconds, help="total seconds for all header reads"),
    arg("--request-timeout", type=_positive_seconds, help="seconds per request attempt (30)"),
)
"""The build bounds (``deadline=`` / ``request_timeout=`` of the build functions)."""


def _build_args(*, stac: bool) -> tuple[Arg, ...]:
    return (
        arg("--bbox", type=_parse_bbox, required=stac, help="minx,miny,maxx,maxy (lon/lat)"),
        arg("--date-range", type=_parse_date_range, required=stac, help="START,END (ISO dates)"),
        arg("--workspace-dir", help="workspace directory (default ~/rasteret_workspace)"),
        arg("--force", action="store_true", help="rebuild even if cached"),
        arg("--max-concurrent", type=_positive_int, default=50, help="concurrent header reads"),
        arg("--query", type=_json_object, help="extra STAC query as JSON"),
        *_BUILD_BOUNDS,
    )


_ID, _NAME, _WORKSPACE = arg("id"), arg("name"), arg("--workspace-dir")
_REGISTRY = arg("--registry-path", help="local registry JSON file")

GROUPS = {"datasets": "catalog datasets", "collections": "cached collections in a workspace"}
"""Command groups and their help."""

COMMANDS: tuple[Command, ...] = (
    Command("datasets", "list", cmd_datasets_list, "list datasets",
            (arg("--search", help="keyword in id, name or description"),)),
    Command("datasets", "info", cmd_datasets_info, "describe a dataset", (_ID,)),
    Command("datasets", "build", cmd_datasets_build, "build a dataset's collection",
            (_ID, _NAME, *_build_args(stac=False))),
    Command("datasets", "register-local", cmd_datasets_register_local,
            "register a collection as a local dataset",
            (_ID, arg("path", help="collection path or cached collection name"), arg("--name"),
             arg("--description"), arg("--data-source"),
             arg("--workspace-dir", help="workspace used when PATH is a cached name"), _REGISTRY,
             arg("--no-persist", action="store_true", help="do not write the registry file"))),
    Command("datasets", "unregister-local", cmd_datasets_unregister_local,
            "remove a local dataset", (_ID, _REGISTRY)),
    Command("datasets", "export-local", cmd_datasets_export_local, "write a local descriptor",
            (_ID, arg("output_path"), _REGISTRY)),
    Command("collections", "list", cmd_collections_list, "list cached collections",
            (_WORKSPACE,)),
    Command("collections", "info", cmd_collections_info, "describe a cached collection",
            (_NAME, _WORKSPACE)),
    Command("collections", "delete", cmd_collections_delete, "delete a cached collection",
            (_NAME, _WORKSPACE,
             arg("--yes", action="store_true", help="do not ask for confirmation"))),
    Command("collections", "build", cmd_collections_build, "index a STAC API collection",
            (_NAME, arg("--stac-api", required=True), arg("--collection", required=True),
             *_build_args(stac=True))),
    Command("collections", "import", cmd_collections_import, "import a record table",
            (_NAME, arg("--record-table", required=True, help="Parquet file/dir or URI"),
             arg("--data-source"),
             arg("--column-map", type=_column_map, help='JSON {"source": "canonical"}'),
             arg("--columns", type=_csv, help="a,b,c columns to read"), _WORKSPACE,
             arg("--force", action="store_true"),
             arg("--enrich", action="store_true", help="index COG headers too"),
             *_BUILD_BOUNDS)),
    Command(None, "build", cmd_datasets_build, "same as `datasets build`",
            (_ID, _NAME, *_build_args(stac=False))),
    Command(None, "demo", cmd_demo, "run the offline demo",
            (arg("--output", "-o", default="rasteret-demo.png",
                 help="PNG to write (./rasteret-demo.png)"),
             arg("--keep", action="store_true", help="keep the temporary working directory"),
             arg("--quiet", "-q", action="store_true", help="print only the PNG path")),
            description="Generate a COG time series, serve it on 127.0.0.1, index it from a "
            "static STAC catalog, filter, read an AOI time series and save an NDVI figure."),
)  # fmt: skip
"""Every subcommand of ``rasteret``."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rasteret`` command (from :data:`COMMANDS`).

    A group without its subcommand (``rasteret datasets``) parses to ``func=None`` with the
    group's parser in ``help_parser``.
    """
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    parser = _Parser(prog="rasteret", description="Index-first COG reader: datasets & caches.")
    parser.add_argument("--version", action="version", version=f"rasteret {version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.set_defaults(func=None, help_parser=parser)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    groups: dict[str | None, Any] = {None: sub}
    for group, text in GROUPS.items():
        p_group = sub.add_parser(group, help=text)
        p_group.set_defaults(help_parser=p_group)
        groups[group] = p_group.add_subparsers(dest="subcommand", parser_class=_Parser)
    for cmd in COMMANDS:
        p = groups[cmd.group].add_parser(
            cmd.name, parents=[common], help=cmd.help, description=cmd.description
        )
        for a in cmd.args:
            p.add_argument(*a.flags, **a.options)
        p.set_defaults(func=cmd.func)
    return parser
