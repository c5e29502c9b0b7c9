"""``rasteret collections ...``: cached collections in a workspace."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rasteret.cli._output import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    build_keywords,
    check_workspace,
    out,
    report_built,
    table,
)
from rasteret.core.workspace import (
    collection_info,
    delete_collection,
    list_collections,
    resolve_collection,
    workspace_root,
)
from rasteret.errors import CollectionNotFoundError

__all__ = [
    "cmd_collections_build",
    "cmd_collections_delete",
    "cmd_collections_import",
    "cmd_collections_info",
    "cmd_collections_list",
]


def cmd_collections_list(args: argparse.Namespace) -> int:
    root = workspace_root(args.workspace_dir)
    if args.workspace_dir is not None and not root.is_dir():
        raise CollectionNotFoundError(f"workspace {root} does not exist")
    found = list_collections(root)
    if args.json:
        out(found, True)
        return EXIT_OK
    if not found:
        print("No cached collections found.")
        return EXIT_OK
    rows = [
        [
            c["name"],
            c["kind"],
            c["data_source"],
            str(c["size"]),
            (c["date_range"] or ("-", "-"))[0],
            (c["date_range"] or ("-", "-"))[1],
        ]
        for c in found
    ]
    print(table(rows, ["name", "kind", "data_source", "size", "date_start", "date_end"]))
    return EXIT_OK


def cmd_collections_info(args: argparse.Namespace) -> int:
    path = resolve_collection(args.name, args.workspace_dir)
    info = collection_info(path)
    if args.json:
        out(info, True)  # a superset of rasteret 0.4.1's keys (see collection_info)
        return EXIT_OK
    dr = info["date_range"] or ("-", "-")
    print(f"Collection:  {info['name']}")
    print(f"Kind:        {info['kind']}")
    print(f"Path:        {info['path']}")
    print(f"Data source: {info['data_source']}")
    print(f"Records:     {info['size']}")
    print(f"Dates:       {dr[0]} .. {dr[1]}")
    print(f"Split:       {'yes' if info['has_split_column'] else 'no'}")
    print("Columns:")
    for c in info["columns"]:
        print(f"  {c}")
    return EXIT_OK


def cmd_collections_delete(args: argparse.Namespace) -> int:
    path = resolve_collection(args.name, args.workspace_dir)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {path} without confirmation: pass --yes")
        answer = input(f"Delete {path}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Aborted.")
            return EXIT_FAILURE
    delete_collection(path)
    out({"deleted": str(path)}, args.json, f"Deleted: {path}")
    return EXIT_OK


def cmd_collections_build(args: argparse.Namespace) -> int:
    from rasteret.builds.functions import build_from_stac  # the build pipeline: only for builds

    check_workspace(args.workspace_dir)
    collection = build_from_stac(
        name=args.name,
        stac_api=args.stac_api,
        collection=args.collection,
        **build_keywords(args),
    )
    return report_built(collection, args.json)


def cmd_collections_import(args: argparse.Namespace) -> int:
    from rasteret.builds.functions import build_from_table  # the build pipeline: only for builds

    check_workspace(args.workspace_dir)
    source = args.record_table
    if "://" not in source and not Path(source).expanduser().exists():
        raise FileNotFoundError(f"--record-table {Path(source).expanduser()} does not exist")
    target = workspace_root(args.workspace_dir) / f"{args.name}_records"
    collection = build_from_table(
        args.record_table,
        name=args.name,
        data_source=args.data_source or "",
        workspace_dir=str(target),
        column_map=args.column_map,
        columns=args.columns,
        enrich_cog=args.enrich,
        force=args.force,
        deadline=args.deadline,
        request_timeout=args.request_timeout,
    )
    return report_built(collection, args.json, str(target))
