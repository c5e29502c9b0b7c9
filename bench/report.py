"""Results -> docs/benchmarks.md (suite region only) and docs/benchmarks/*.png."""

from __future__ import annotations

from typing import Any


def checksum_mismatches(doc: dict[str, Any]) -> list[str]:
    """Cells whose checksum differs from ours (or from the first reader's) on that workload."""
    out = []
    by_w: dict[str, dict[str, set[str]]] = {}
    for r in doc["records"]:
        if r.get("ok"):
            by_w.setdefault(r["workload"], {}).setdefault(r["reader"], set()).add(r["checksum"])
    for w, per in by_w.items():
        ref = per.get("ours") or next(iter(per.values()))
        for reader, sums in per.items():
            if sums != ref:
                out.append(f"{w} {reader}: {sorted(sums)} != {sorted(ref)}")
    return out


def write(doc: dict[str, Any]) -> None:
    pass
