"""The argument parser of the ``rasteret`` command."""

from __future__ import annotations

import argparse
import json
import sys
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

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"expected 4 comma-separated numbers minx,miny,maxx,maxy, got {text!r}"
        )
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bbox values must be numbers, got {text!r}") from None
    if vals[0] >= vals[2] or vals[1] >= vals[3]:
        raise argparse.ArgumentTypeError(f"bbox needs minx < maxx and miny < maxy, got {text!r}")
    return vals  # type: ignore[return-value]


def _parse_date_range(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected START,END (e.g. 2024-01-01,2024-01-31), got {text!r}"
        )
    return parts[0], parts[1]


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON ({exc.msg}): {text!r}") from None


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def cmd_demo(args: argparse.Namespace) -> int:
    """``rasteret demo`` (needs the ``rasteret[demo]`` extra: matplotlib)."""
    # the demo is an optional extra; importing it checks for matplotlib
    from rasteret.demo import main

    return int(main(args) or 0)


def _build_options(p: argparse.ArgumentParser, *, stac: bool) -> None:
    p.add_argument("--bbox", type=_parse_bbox, required=stac, help="minx,miny,maxx,maxy (lon/lat)")
    p.add_argument(
        "--date-range", type=_parse_date_range, required=stac, help="START,END (ISO dates)"
    )
    p.add_argument("--workspace-dir", help="workspace directory (default ~/rasteret_workspace)")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--max-concurrent", type=int, default=50, help="concurrent header reads")
    p.add_argument("--query", type=_parse_json, help="extra STAC query as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rasteret`` command."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )

    parser = _Parser(prog="rasteret", description="Index-first COG reader: datasets & caches.")
    parser.add_argument("--version", action="version", version=f"rasteret {version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    # datasets
    p_ds = sub.add_parser("datasets", help="catalog datasets")
    ds_sub = p_ds.add_subparsers(dest="subcommand", parser_class=_Parser)
    p = ds_sub.add_parser("list", parents=[common], help="list datasets")
    p.add_argument("--search", help="keyword in id, name or description")
    p.set_defaults(func=cmd_datasets_list)
    p = ds_sub.add_parser("info", parents=[common], help="describe a dataset")
    p.add_argument("id")
    p.set_defaults(func=cmd_datasets_info)
    p = ds_sub.add_parser("build", parents=[common], help="build a dataset's collection")
    p.add_argument("id")
    p.add_argument("name")
    _build_options(p, stac=False)
    p.set_defaults(func=cmd_datasets_build)
    p = ds_sub.add_parser(
        "register-local", parents=[common], help="register a collection as a local dataset"
    )
    p.add_argument("id")
    p.add_argument("path", help="collection path or cached collection name")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--data-source")
    p.add_argument("--workspace-dir", help="workspace used when PATH is a cached name")
    p.add_argument("--registry-path", help="local registry JSON file")
    p.add_argument("--no-persist", action="store_true", help="do not write the registry file")
    p.set_defaults(func=cmd_datasets_register_local)
    p = ds_sub.add_parser("unregister-local", parents=[common], help="remove a local dataset")
    p.add_argument("id")
    p.add_argument("--registry-path")
    p.set_defaults(func=cmd_datasets_unregister_local)
    p = ds_sub.add_parser("export-local", parents=[common], help="write a local descriptor")
    p.add_argument("id")
    p.add_argument("output_path")
    p.add_argument("--registry-path")
    p.set_defaults(func=cmd_datasets_export_local)

    # collections
    p_col = sub.add_parser("collections", help="cached collections in a workspace")
    col_sub = p_col.add_subparsers(dest="subcommand", parser_class=_Parser)
    p = col_sub.add_parser("list", parents=[common], help="list cached collections")
    p.add_argument("--workspace-dir")
    p.set_defaults(func=cmd_collections_list)
    p = col_sub.add_parser("info", parents=[common], help="describe a cached collection")
    p.add_argument("name")
    p.add_argument("--workspace-dir")
    p.set_defaults(func=cmd_collections_info)
    p = col_sub.add_parser("delete", parents=[common], help="delete a cached collection")
    p.add_argument("name")
    p.add_argument("--workspace-dir")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_collections_delete)
    p = col_sub.add_parser("build", parents=[common], help="index a STAC API collection")
    p.add_argument("name")
    p.add_argument("--stac-api", required=True)
    p.add_argument("--collection", required=True)
    _build_options(p, stac=True)
    p.set_defaults(func=cmd_collections_build)
    p = col_sub.add_parser("import", parents=[common], help="import a record table")
    p.add_argument("name")
    p.add_argument("--record-table", required=True, help="Parquet file/dir or URI")
    p.add_argument("--data-source")
    p.add_argument("--column-map", type=_parse_json, help='JSON {"source": "canonical"}')
    p.add_argument("--columns", type=_csv, help="a,b,c columns to read")
    p.add_argument("--workspace-dir")
    p.add_argument("--force", action="store_true")
    p.add_argument("--enrich", action="store_true", help="index COG headers too")
    p.set_defaults(func=cmd_collections_import)

    # top-level build alias and demo
    p = sub.add_parser("build", parents=[common], help="same as `datasets build`")
    p.add_argument("id")
    p.add_argument("name")
    _build_options(p, stac=False)
    p.set_defaults(func=cmd_datasets_build)
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the offline demo",
        description="Generate a COG time series, serve it on 127.0.0.1, index it from a static "
        "STAC catalog, filter, read an AOI time series and save an NDVI figure.",
    )
    p.add_argument(
        "--output", "-o", default="rasteret-demo.png", help="PNG to write (./rasteret-demo.png)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the PNG path")
    p.set_defaults(func=cmd_demo)

    parser._subparsers_by_name = {"datasets": p_ds, "collections": p_col}  # type: ignore[attr-defined]
    return parser
