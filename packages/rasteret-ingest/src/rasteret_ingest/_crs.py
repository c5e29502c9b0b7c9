"""Raster CRS parsing and the ``proj:epsg`` / ``crs`` sidecar columns (§3.1 of the contract).

Per row the candidates ``proj:code``, ``proj:epsg``, ``crs``, ``proj:wkt2``, ``proj:projjson`` are
tried in that order. ``proj:epsg`` gets the first EPSG code found; ``crs`` the first
``AUTH:CODE``, else ``EPSG:{proj:epsg}``, else the WKT2 / PROJJSON text of a user-defined CRS
(never EPSG 32767).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasteret_catalog.schema import Col

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["CRS_CANDIDATES", "ParsedCrs", "crs_sidecars", "parse_crs"]

PROJ_CODE = "proj:code"
PROJ_WKT2 = "proj:wkt2"
PROJ_PROJJSON = "proj:projjson"
CRS_CANDIDATES: tuple[str, ...] = (
    PROJ_CODE,
    Col.PROJ_EPSG.value,
    Col.CRS.value,
    PROJ_WKT2,
    PROJ_PROJJSON,
)
_USER_DEFINED = 32767


@dataclass(frozen=True, slots=True)
class ParsedCrs:
    """A parsed CRS value.

    Attributes:
        epsg: EPSG code, when the CRS has one.
        code: ``AUTH:CODE`` when the CRS has an authority code.
        text: WKT2 (or the given PROJJSON text) for CRSs without a code.
    """

    epsg: int | None = None
    code: str | None = None
    text: str | None = None


_NONE = ParsedCrs()


def _from_pyproj(crs: Any, original_text: str | None) -> ParsedCrs:
    auth = crs.to_authority(min_confidence=90)
    if auth is not None:
        name, code = auth
        epsg = int(code) if name.upper() == "EPSG" and code.isdigit() else None
        return ParsedCrs(epsg=epsg, code=f"{name.upper()}:{code}")
    return ParsedCrs(text=original_text or crs.to_wkt())


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> ParsedCrs:
    s = text.strip()
    if not s:
        return _NONE
    up = s.upper()
    if up.startswith("EPSG:") and s[5:].strip().isdigit():
        n = int(s[5:])
        return _NONE if n in (0, _USER_DEFINED) else ParsedCrs(epsg=n, code=f"EPSG:{n}")
    if s.isdigit():
        n = int(s)
        return _NONE if n in (0, _USER_DEFINED) else ParsedCrs(epsg=n, code=f"EPSG:{n}")
    try:
        from pyproj import CRS
        from pyproj.exceptions import CRSError
    except ImportError:  # pragma: no cover - pyproj is a dependency
        return _NONE
    try:
        crs = CRS.from_user_input(s)
    except (CRSError, ValueError, TypeError):
        return _NONE
    keep = s if s.startswith("{") else None
    return _from_pyproj(crs, keep)


def parse_crs(value: Any) -> ParsedCrs:
    """Parse an int, ``"EPSG:n"``, digit string, WKT, PROJ string, PROJJSON (dict or text).

    Returns an empty :class:`ParsedCrs` for None, 32767 and anything unparsable.
    """
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return _NONE
    if isinstance(value, int):
        return _NONE if value in (0, _USER_DEFINED) else ParsedCrs(epsg=value, code=f"EPSG:{value}")
    if isinstance(value, float):
        return parse_crs(int(value)) if value.is_integer() else _NONE
    if isinstance(value, dict):
        return _parse_text(json.dumps(value, sort_keys=True))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return _parse_text(value)
    if hasattr(value, "to_wkt"):  # a pyproj CRS
        return _from_pyproj(value, None)
    return _NONE


def resolve_row(values: Iterable[Any]) -> tuple[int | None, str | None]:
    """``(proj:epsg, crs)`` of one row from its candidate values, in candidate order."""
    parsed = [parse_crs(v) for v in values]
    epsg = next((p.epsg for p in parsed if p.epsg is not None), None)
    code = next((p.code for p in parsed if p.code is not None), None)
    if code is None and epsg is not None:
        code = f"EPSG:{epsg}"
    if code is None:
        code = next((p.text for p in parsed if p.text is not None), None)
    return epsg, code


def crs_sidecars(table: pa.Table) -> pa.Table:
    """Rewrite ``proj:epsg`` (int32) and ``crs`` (string) from the candidate columns.

    The table is returned unchanged when it has none of the candidate columns.
    """
    import pyarrow as pa

    present = [c for c in CRS_CANDIDATES if c in table.column_names]
    if not present:
        return table
    cols = [table.column(c).to_pylist() for c in present]
    cache: dict[str, tuple[int | None, str | None]] = {}
    epsgs: list[int | None] = []
    codes: list[str | None] = []
    for row in zip(*cols):
        key = json.dumps(row, sort_keys=True, default=str)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = resolve_row(row)
        epsgs.append(hit[0])
        codes.append(hit[1])
    out = table
    for name, arr in (
        (Col.PROJ_EPSG.value, pa.array(epsgs, pa.int32())),
        (Col.CRS.value, pa.array(codes, pa.string())),
    ):
        idx = out.schema.get_field_index(name)
        out = out.set_column(idx, name, arr) if idx >= 0 else out.append_column(name, arr)
    return out
