"""``rasteret demo``: placeholder that prints the dataset catalog.

The full offline demo (build a collection from local COGs served on loopback, then read
pixels) replaces this module's body later; the CLI entry point stays ``main(args)``.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["main"]


def main(args: argparse.Namespace | None = None) -> int:
    """Print the dataset catalog (JSON with ``--json``); returns the exit code."""
    import json

    from rasteret_catalog.registry import DatasetRegistry

    datasets = DatasetRegistry.list()
    if args is not None and getattr(args, "json", False):
        payload: list[dict[str, Any]] = [
            {"id": d.id, "name": d.name, "requires_auth": d.requires_auth} for d in datasets
        ]
        print(json.dumps(payload, indent=2))
        return 0
    print("rasteret demo (preview): the datasets rasteret knows about")
    for d in datasets:
        auth = " [auth]" if d.requires_auth else ""
        print(f"  {d.id:<28} {d.name}{auth}")
    print("Build one with: rasteret datasets build ID NAME --bbox ... --date-range ...")
    return 0
