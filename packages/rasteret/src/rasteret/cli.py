"""The ``rasteret`` command line.

Exit codes: ``0`` success, ``1`` the operation failed (unknown dataset or collection, invalid
data, I/O error...), ``2`` usage error (bad arguments), ``130`` interrupted. Errors are printed
to stderr as one ``rasteret: error: ...`` line; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input detected after parsing (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _out(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str, sort_keys=False))
    elif text is not None:
        print(text)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


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


# ---------------------------------------------------------------------------------------------
# datasets


def _descriptor_dict(d: Any) -> dict[str, Any]:
    return d.to_dict()


def cmd_datasets_list(args: argparse.Namespace) -> int:
    from rasteret_catalog.registry import DatasetRegistry

    found = DatasetRegistry.search(args.search) if args.search else DatasetRegistry.list()
    if args.json:
        _out([_descriptor_dict(d) for d in found], True)
        return EXIT_OK
    if not found:
        print("No datasets found.")
        return EXIT_OK
    rows = [
        [
            d.id,
            d.name,
            d.spatial_coverage or "-",
            (d.license or "-")[:20],
            "required" if d.requires_auth else "none",
        ]
        for d in found
    ]
    print(_table(rows, ["ID", "Name", "Coverage", "License", "Auth"]))
    return EXIT_OK


def _require_dataset(dataset_id: str) -> Any:
    from rasteret.api import _require_descriptor

    return _require_descriptor(dataset_id)


def cmd_datasets_info(args: argparse.Namespace) -> int:
    d = _require_dataset(args.id)
    if args.json:
        _out(_descriptor_dict(d), True)
        return EXIT_OK
    bands = list(d.band_map or d.band_index_map or {})
    rows = [
        ("ID", d.id),
        ("Name", d.name),
        ("Description", d.description or "-"),
        ("STAC API", d.stac_api or "-"),
        ("STAC collection", d.stac_collection or "-"),
        ("Record table", d.record_table_uri or "-"),
        ("Index", d.index_uri or "-"),
        ("Collection URI", d.collection_uri or "-"),
        ("Coverage", d.spatial_coverage or "-"),
        ("License", d.license or "-"),
        ("License URL", d.license_url or "-"),
        ("Commercial use", "yes" if d.commercial_use else "no"),
        ("Temporal", " .. ".join(d.temporal_range) if d.temporal_range else "-"),
        ("Example bbox", ", ".join(map(str, d.example_bbox)) if d.example_bbox else "-"),
        (
            "Example dates",
            " .. ".join(d.example_date_range) if d.example_date_range else "-",
        ),
        ("Bands", ", ".join(bands) if bands else "-"),
        ("Files", "separate per band" if d.separate_files else "single multi-band"),
        ("Auth", "required" if d.requires_auth else "none"),
        (
            "TorchGeo",
            f"{d.torchgeo_class} ({'verified' if d.torchgeo_verified else 'pending'})"
            if d.torchgeo_class
            else "-",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    return EXIT_OK


def _summary(collection: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    from rasteret_catalog.schema import Col

    start = end = None
    if len(collection) and Col.DATETIME in collection.schema.names:
        col = collection.to_table([Col.DATETIME]).column(0)
        start, end = pc.min(col).as_py(), pc.max(col).as_py()
    return {
        "name": collection.name,
        "data_source": collection.data_source,
        "scene_count": len(collection),
        "date_start": start.isoformat() if start else None,
        "date_end": end.isoformat() if end else None,
        "bands": collection.bands,
        "has_split_column": Col.SPLIT in collection.schema.names,
        "columns": list(collection.schema.names),
    }


def _report_built(collection: Any, path: str | None, as_json: bool) -> int:
    """Print a built collection's summary (with its path) as text or JSON; exit code OK."""
    info = _summary(collection)
    info["path"] = path
    if as_json:
        _out(info, True)
    else:
        _print_summary(info, path)
    return EXIT_OK


def _print_summary(info: dict[str, Any], path: str | None) -> None:
    print(f"Collection: {info['name']}")
    if path:
        print(f"Path:       {path}")
    print(f"Records:    {info['scene_count']}")
    print(f"Dates:      {info['date_start'] or '-'} .. {info['date_end'] or '-'}")
    print(f"Bands:      {', '.join(info['bands']) or '-'}")
    print(f"Split:      {'yes' if info['has_split_column'] else 'no'}")


def _collection_path(collection: Any) -> str | None:
    dataset = collection._dataset
    files = getattr(dataset, "files", None) or []
    if not files:
        return None
    from rasteret._workspace import _kind

    for parent in Path(files[0]).parents:
        if _kind(parent):
            return str(parent)
    return str(Path(files[0]).parent)


def cmd_datasets_build(args: argparse.Namespace) -> int:
    import rasteret

    d = _require_dataset(args.id)
    if (
        d.stac_api
        and not d.static_catalog
        and not d.collection_uri
        and not d.build_source_uri
        and (args.bbox is None or args.date_range is None)
    ):
        raise UsageError(f"dataset {d.id!r} is built from a STAC API: pass --bbox and --date-range")
    collection = rasteret.build(
        args.id,
        name=args.name,
        bbox=args.bbox,
        date_range=args.date_range,
        workspace_dir=args.workspace_dir,
        force=args.force,
        max_concurrent=args.max_concurrent,
        query=args.query,
    )
    return _report_built(collection, _collection_path(collection), args.json)


def cmd_datasets_register_local(args: argparse.Namespace) -> int:
    import rasteret

    path = args.path
    if not Path(path).expanduser().exists() and "://" not in path:
        from rasteret._workspace import resolve_collection

        path = str(resolve_collection(path, args.workspace_dir))
    d = rasteret.register_local(
        args.id,
        path,
        name=args.name,
        description=args.description or "",
        data_source=args.data_source or "",
        persist=not args.no_persist,
        registry_path=args.registry_path,
    )
    if args.json:
        _out(_descriptor_dict(d), True)
    else:
        where = "this process only" if args.no_persist else "the local registry"
        print(f"Registered {d.id!r} ({d.collection_uri}) in {where}.")
    return EXIT_OK


def cmd_datasets_unregister_local(args: argparse.Namespace) -> int:
    from rasteret.errors import UnknownDatasetError
    from rasteret_catalog.local import default_registry_path
    from rasteret_catalog.registry import unregister_local_descriptor

    removed = unregister_local_descriptor(args.id, args.registry_path)
    if removed is None:
        where = args.registry_path or default_registry_path()
        raise UnknownDatasetError(f"dataset {args.id!r} is not in the local registry {where}")
    if args.json:
        _out({"id": args.id, "removed": True}, True)
    else:
        print(f"Unregistered {args.id!r}.")
    return EXIT_OK


def cmd_datasets_export_local(args: argparse.Namespace) -> int:
    from rasteret_catalog.local import export_local_descriptor

    out = export_local_descriptor(args.id, args.output_path, args.registry_path)
    _out({"id": args.id, "path": str(out)}, args.json, f"Wrote {out}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# collections


def cmd_collections_list(args: argparse.Namespace) -> int:
    from rasteret._workspace import list_collections, workspace_root

    root = workspace_root(args.workspace_dir)
    if args.workspace_dir is not None and not root.is_dir():
        from rasteret.errors import CollectionNotFoundError

        raise CollectionNotFoundError(f"workspace {root} does not exist")
    found = list_collections(root)
    if args.json:
        _out(found, True)
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
    print(_table(rows, ["name", "kind", "data_source", "size", "date_start", "date_end"]))
    return EXIT_OK


def cmd_collections_info(args: argparse.Namespace) -> int:
    from rasteret._workspace import collection_info, resolve_collection

    path = resolve_collection(args.name, args.workspace_dir)
    info = collection_info(path)
    if args.json:
        _out(info, True)
        return EXIT_OK
    dr = info["date_range"] or ("-", "-")
    print(f"Collection:  {info['name']}")
    print(f"Kind:        {info['kind']}")
    print(f"Path:        {info['path']}")
    print(f"Data source: {info['data_source']}")
    print(f"Records:     {info['size']}")
    print(f"Dates:       {dr[0]} .. {dr[1]}")
    print("Columns:")
    for c in info["columns"]:
        print(f"  {c}")
    return EXIT_OK


def cmd_collections_delete(args: argparse.Namespace) -> int:
    from rasteret._workspace import delete_collection, resolve_collection

    path = resolve_collection(args.name, args.workspace_dir)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {path} without confirmation: pass --yes")
        answer = input(f"Delete {path}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Aborted.")
            return EXIT_FAILURE
    delete_collection(path)
    _out({"deleted": str(path)}, args.json, f"Deleted {path}")
    return EXIT_OK


def cmd_collections_build(args: argparse.Namespace) -> int:
    import rasteret

    collection = rasteret.build_from_stac(
        name=args.name,
        stac_api=args.stac_api,
        collection=args.collection,
        bbox=args.bbox,
        date_range=args.date_range,
        workspace_dir=args.workspace_dir,
        force=args.force,
        max_concurrent=args.max_concurrent,
        query=args.query,
    )
    return _report_built(collection, _collection_path(collection), args.json)


def cmd_collections_import(args: argparse.Namespace) -> int:
    import rasteret
    from rasteret._workspace import workspace_root

    target = workspace_root(args.workspace_dir) / f"{args.name}_records"
    collection = rasteret.build_from_table(
        args.record_table,
        name=args.name,
        data_source=args.data_source or "",
        workspace_dir=str(target),
        column_map=args.column_map,
        columns=args.columns,
        enrich_cog=args.enrich,
        force=args.force,
    )
    return _report_built(collection, str(target), args.json)


def cmd_demo(args: argparse.Namespace) -> int:
    from rasteret import demo

    return int(demo.main(args) or 0)


# ---------------------------------------------------------------------------------------------
# parser


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
    from rasteret._version import version

    common = argparse.ArgumentParser(add_help=False)
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


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')) and len(exc.args) == 1:
        text = str(exc.args[0])
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        group = parser._subparsers_by_name.get(args.command)  # type: ignore[attr-defined]
        (group or parser).print_help()
        return EXIT_OK
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rasteret: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        if debug:
            raise
        print(f"rasteret: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        print(f"rasteret: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
