"""Text and HTML summaries of a collection (``repr``, ``describe``, ``compare_to_catalog``)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rasteret_catalog import FrozenMap

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_catalog import DatasetDescriptor

__all__ = [
    "DescribeResult",
    "catalog_comparison",
    "collection_repr",
    "format_bands",
    "summary_rows",
]

_MAX_BANDS = 5


def format_bands(bands: list[str]) -> str:
    """``"B02, B03, B04"``, truncated after five as ``"(+N more)"``."""
    if not bands:
        return "(none)"
    shown = ", ".join(bands[:_MAX_BANDS])
    if len(bands) > _MAX_BANDS:
        shown += f" (+{len(bands) - _MAX_BANDS} more)"
    return shown


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple) and len(value) == 4 and all(isinstance(v, float) for v in value):
        return "(" + ", ".join(f"{v:.4f}" for v in value) + ")"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


class DescribeResult(FrozenMap[str, Any]):
    """A summary that prints as a table in a terminal and as HTML in notebooks.

    A read-only mapping of the summary values (``result["key"]``); ``.data`` is a dict copy.
    """

    __slots__ = ("_rows", "_title")

    def __init__(self, title: str, data: Mapping[str, Any], rows: list[tuple[str, str]]) -> None:
        super().__init__(data)
        self._title = title
        self._rows = rows

    @property
    def data(self) -> dict[str, Any]:
        """A copy of the summary values."""
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DescribeResult, (self._title, dict(self), self._rows))

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self._rows), default=0)
        lines = [self._title, "-" * max(len(self._title), 10)]
        lines += [f"{k.ljust(width)}  {v}" for k, v in self._rows]
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self._rows
        )
        return f"<div><strong>{html.escape(self._title)}</strong><table>{body}</table></div>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def summary_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows of a collection summary in display order."""
    rows = [("name", _fmt(data.get("name") or "(unnamed)"))]
    if data.get("source"):
        rows.append(("source", str(data["source"])))
    rows.append(("records", _fmt(data.get("records"))))
    rows.append(("bands", format_bands(list(data.get("bands") or []))))
    if "dates" in data:
        rows.append(("dates", " .. ".join(data["dates"])))
    rows.append(("bounds", _fmt(data.get("bounds"))))
    rows.append(("crs", _fmt([f"EPSG:{c}" for c in data.get("crs") or []])))
    return rows


def collection_repr(
    name: str, source: str, n_bands: int, records: int | None, epsg: list[int], dates: str | None
) -> str:
    """``Collection('name', source='...', bands=2, records=10, crs=32632, 2024-01-01..2024-01-31)``."""
    parts = [repr(name)]
    if source:
        parts.append(f"source={source!r}")
    parts.append(f"bands={n_bands}")
    parts.append(f"records={'?' if records is None else records}")
    if len(epsg) == 1:
        parts.append(f"crs={epsg[0]}")
    elif epsg:
        parts.append(f"crs={epsg}")
    if dates:
        parts.append(dates)
    return f"Collection({', '.join(parts)})"


def catalog_comparison(
    title: str, data: dict[str, Any], descriptor: DatasetDescriptor
) -> DescribeResult:
    """A collection summary next to its catalog entry (bands missing from the collection)."""
    d = descriptor
    all_bands = list(d.band_map or d.band_index_map or {})
    data = dict(data)
    data["catalog"] = {
        "name": d.name,
        "all_bands": all_bands,
        "temporal_range": d.temporal_range,
        "spatial_coverage": d.spatial_coverage,
        "requires_auth": d.requires_auth,
        "license": d.license,
    }
    missing = [b for b in all_bands if b not in data["bands"]]
    band_note = (
        f"(missing: {', '.join(missing)})"
        if missing
        else f"({len(data['bands'])}/{len(all_bands)})"
    )
    rows = [(k, f"{v} {band_note}" if k == "bands" else v) for k, v in summary_rows(data)]
    rows += [
        ("catalog", f"{d.id} - {d.name}"),
        ("temporal range", " .. ".join(d.temporal_range or ("-", "-"))),
        ("coverage", d.spatial_coverage or "-"),
        ("auth", "required" if d.requires_auth else "none"),
        ("license", d.license or "-"),
    ]
    return DescribeResult(f"{title} vs catalog {d.id!r}", data, rows)
