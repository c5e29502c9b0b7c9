"""``rasteret datasets ...``: the dataset catalog and the local registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from rasteret.cli._output import (
    EXIT_OK,
    UsageError,
    build_keywords,
    check_file_target,
    check_workspace,
    out,
    report_built,
    table,
)
from rasteret.core.workspace import resolve_collection, workspace_root
from rasteret.datasets import require_descriptor
from rasteret.errors import CollectionNotFoundError, UnknownDatasetError
from rasteret_catalog import (
    DatasetRegistry,
    default_registry_path,
    export_local_descriptor,
    unregister_local_descriptor,
)

__all__ = [
    "cmd_datasets_build",
    "cmd_datasets_export_local",
    "cmd_datasets_info",
    "cmd_datasets_list",
    "cmd_datasets_register_local",
    "cmd_datasets_unregister_local",
]


def cmd_datasets_list(args: argparse.Namespace) -> int:
    found = DatasetRegistry.search(args.search) if args.search else DatasetRegistry.list()
    if args.json:
        out([d.to_dict() for d in found], True)
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
    print(table(rows, ["ID", "Name", "Coverage", "License", "Auth"]))
    return EXIT_OK


def cmd_datasets_info(args: argparse.Namespace) -> int:
    d = require_descriptor(args.id)
    if args.json:
        out(d.to_dict(), True)
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


def cmd_datasets_build(args: argparse.Namespace) -> int:
    from rasteret.builds.functions import build  # the build pipeline: only for builds

    check_workspace(args.workspace_dir)
    d = require_descriptor(args.id)
    if (
        d.stac_api
        and not d.static_catalog
        and not d.collection_uri
        and not d.build_source_uri
        and (args.bbox is None or args.date_range is None)
    ):
        raise UsageError(f"dataset {d.id!r} is built from a STAC API: pass --bbox and --date-range")
    collection = build(args.id, name=args.name, **build_keywords(args))
    return report_built(collection, args.json)


def _looks_like_path(text: str) -> bool:
    """Whether ``text`` is written as a path (cached collection names are bare words)."""
    return (
        "/" in text
        or "\\" in text
        or text.startswith((".", "~"))
        or text.endswith((".parquet", ".geoparquet"))
    )


def _collection_location(path: str, workspace_dir: str | None) -> str:
    """The collection PATH argument of ``register-local``: a URI, an existing path, or the
    name of a cached collection in the workspace.

    Raises:
        CollectionNotFoundError: A path that does not exist (the path is named, not the
            workspace), or a name that is neither a path nor a cached collection.
    """
    if "://" in path and not path.startswith("file://"):
        return path
    local = Path(path.removeprefix("file://")).expanduser()
    if local.exists():
        return path
    if _looks_like_path(path):
        raise CollectionNotFoundError(f"collection path {local} does not exist")
    root = workspace_root(workspace_dir)
    try:
        return str(resolve_collection(path, workspace_dir))
    except CollectionNotFoundError:
        raise CollectionNotFoundError(
            f"{path!r} is neither an existing path nor a cached collection in the workspace "
            f"{root}{'' if root.is_dir() else ' (which does not exist)'}"
        ) from None


def cmd_datasets_register_local(args: argparse.Namespace) -> int:
    check_file_target(args.registry_path, "--registry-path")
    path = _collection_location(args.path, args.workspace_dir)
    # opening a collection pulls pyarrow: only for the commands that do
    from rasteret.api import register_local

    d = register_local(
        args.id,
        path,
        name=args.name,
        description=args.description or "",
        data_source=args.data_source or "",
        persist=not args.no_persist,
        registry_path=args.registry_path,
    )
    if args.json:
        out(d.to_dict(), True)
    else:
        where = "this process only" if args.no_persist else "the local registry"
        print(f"Registered {d.id!r} ({d.collection_uri}) in {where}.")
    return EXIT_OK


def cmd_datasets_unregister_local(args: argparse.Namespace) -> int:
    check_file_target(args.registry_path, "--registry-path")
    removed = unregister_local_descriptor(args.id, args.registry_path)
    if removed is None:
        where = args.registry_path or default_registry_path()
        raise UnknownDatasetError(
            f"Local dataset {args.id!r} not found: it is not in the local registry {where} "
            "and was not registered with register-local in this process"
        )
    if args.json:
        out({**removed.to_dict(), "removed": True}, True)  # 0.4.1 printed the descriptor
    else:
        print(f"Unregistered local dataset {removed.id!r}.")
    return EXIT_OK


def cmd_datasets_export_local(args: argparse.Namespace) -> int:
    check_file_target(args.registry_path, "--registry-path")
    check_file_target(args.output_path, "OUTPUT_PATH")
    written = export_local_descriptor(args.id, args.output_path, args.registry_path)
    out({"id": args.id, "path": str(written)}, args.json, f"Wrote {written}")
    return EXIT_OK
