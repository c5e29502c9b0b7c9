"""GDAL's private TIFF tags: GDAL_NODATA, GDAL_METADATA and the COG structural block."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

__all__ = ["parse_gdal_metadata", "parse_nodata", "parse_structural_metadata"]

_MAX_XML = 4 * 1024 * 1024


def parse_nodata(text: str | None) -> int | float | None:
    """Parse GDAL_NODATA (tag 42113) like GDAL: a number, ``nan``, ``inf`` or ``-inf``.

    Integral values are returned as ``int`` (exact for 64-bit integer nodata), others as float.
    Unparsable text gives None.
    """
    if text is None:
        return None
    s = text.strip().rstrip("\x00").strip()
    if not s:
        return None
    low = s.lower()
    if low in ("nan", "-nan", "+nan"):
        return math.nan
    try:
        if re.fullmatch(r"[+-]?\d+", s):
            return int(s)
        v = float(s)
    except ValueError:
        return None
    if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def parse_gdal_metadata(
    xml: str | None,
) -> tuple[dict[str, str], dict[int, float], dict[int, float], int | float | None]:
    """Parse GDAL_METADATA (tag 42112).

    Returns:
        ``(dataset items, scales by sample, offsets by sample, nodata)`` where dataset items are
        the ``<Item>`` elements without a ``sample`` attribute and with no ``domain``, and nodata
        comes from a ``NODATA_VALUES``/``NODATA_VALUE`` item (first value) if present.
        Malformed XML yields empty results.
    """
    items: dict[str, str] = {}
    scales: dict[int, float] = {}
    offsets: dict[int, float] = {}
    nodata: int | float | None = None
    if not xml or len(xml) > _MAX_XML or "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        return items, scales, offsets, nodata
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return items, scales, offsets, nodata
    for item in root.iter("Item"):
        name = item.get("name") or ""
        role = (item.get("role") or "").lower()
        text = (item.text or "").strip()
        sample = item.get("sample")
        if role in ("scale", "offset") and sample is not None:
            try:
                idx = int(sample)
                val = float(text)
            except ValueError:
                continue
            (scales if role == "scale" else offsets)[idx] = val
        elif name.upper() in ("NODATA_VALUES", "NODATA_VALUE") and nodata is None:
            nodata = parse_nodata(text.split()[0] if text.split() else None)
        elif sample is None and not item.get("domain"):
            items[name] = text
    return items, scales, offsets, nodata


def parse_structural_metadata(raw: bytes) -> dict[str, str]:
    """Parse GDAL's ``GDAL_STRUCTURAL_METADATA_SIZE=... bytes`` block found after the header.

    Args:
        raw: Bytes starting at the block (offset 8, or 16 for BigTIFF).

    Returns:
        ``{KEY: VALUE}`` (e.g. ``LAYOUT=IFDS_BEFORE_DATA``); empty if absent or malformed.
    """
    m = re.match(rb"GDAL_STRUCTURAL_METADATA_SIZE=(\d{6}) bytes\n", raw)
    if not m:
        return {}
    size = int(m.group(1))
    body = raw[m.end() : m.end() + size]
    out: dict[str, str] = {}
    for line in body.decode("latin-1").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out
