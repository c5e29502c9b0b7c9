"""``python -m rasteret_cog info FILE_OR_URL``: print a parsed header (stdlib only)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rasteret_cog.errors import CogError
from rasteret_cog.fetch import DEFAULT_FIRST_READ, file_get_range, read_header
from rasteret_cog.header import CogHeader

__all__ = ["format_header", "main"]


def _http_get_range(url: str, timeout: float) -> Any:
    def get_range(start: int, length: int) -> bytes:
        req = urllib.request.Request(url, headers={"Range": f"bytes={start}-{start + length - 1}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if resp.status == 200:
                    # Server ignored Range: keep only what was asked for.
                    body = resp.read(start + length)
                    return body[start : start + length]
                return resp.read(length)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:
                return b""
            raise

    return get_range


def format_header(header: CogHeader, *, requests: int | None = None, source: str = "") -> str:
    """A human-readable multi-line summary of a header."""
    lines = []
    bo = "big-endian (MM)" if header.byte_order == ">" else "little-endian (II)"
    kind = "BigTIFF" if header.bigtiff else "classic TIFF"
    lines.append(
        f"{source}: {kind}, {bo}" + (f", {header.file_size} bytes" if header.file_size else "")
    )
    if requests is not None:
        lines.append(f"header read in {requests} request(s)")
    if header.structural_metadata:
        lines.append(
            "GDAL structure: " + ", ".join(f"{k}={v}" for k, v in header.structural_metadata)
        )
    crs = header.crs
    if crs is None:
        lines.append("CRS: none")
    elif crs.epsg is not None:
        lines.append(f"CRS: EPSG:{crs.epsg}" + (f" ({crs.citation})" if crs.citation else ""))
    else:
        lines.append("CRS: user-defined")
        wkt = crs.to_wkt()
        lines.append(f"  WKT: {wkt}" if wkt else f"  GeoKeys: {crs.keys}")
    lines.append(f"transform: {header.transform}")
    lines.append(f"nodata: {header.nodata}")
    full = header.levels[0]
    if full.scales or full.offsets:
        lines.append(f"scale: {full.scales}  offset: {full.offsets}")
    for i, lv in enumerate(header.levels):
        mask = header.masks[i]
        sparse = sum(1 for c in lv.tile_byte_counts if c == 0)
        layout = "tiles" if lv.is_tiled else "strips"
        lines.append(
            f"level {i} (IFD {lv.ifd_index}): {lv.width}x{lv.height}, {layout} {lv.tile_width}x"
            f"{lv.tile_height} ({lv.tiles_across}x{lv.tiles_down}), {lv.samples_per_pixel} x "
            f"{lv.dtype} ({lv.bits_per_sample} bit), {'planar' if lv.planar_configuration == 2 else 'chunky'}, "
            f"{lv.compression_name} predictor={lv.predictor} photometric={lv.photometric}"
            + (f", {sparse} sparse tiles" if sparse else "")
            + (f", mask IFD {mask.ifd_index}" if mask else "")
        )
    others = [x for x in header.ifds if x not in header.levels and x not in header.masks]
    for x in others:
        lines.append(f"other IFD {x.ifd_index}: {x.width}x{x.height} subfile_type={x.subfile_type}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m rasteret_cog", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the parsed header of a local file or http(s) URL")
    info.add_argument("source", help="file path or http(s):// URL")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--tiles", action="store_true", help="include tile offsets/byte counts (JSON)"
    )
    info.add_argument(
        "--first-read", type=int, default=DEFAULT_FIRST_READ, help="bytes in the first request"
    )
    info.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    args = parser.parse_args(argv)

    src: str = args.source
    try:
        if src.startswith(("http://", "https://")):
            header, n = read_header(_http_get_range(src, args.timeout), first_read=args.first_read)
        else:
            size = Path(src).stat().st_size
            header, n = read_header(file_get_range(src), first_read=args.first_read, file_size=size)
    except (CogError, OSError) as exc:
        print(f"error: {src}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        d = header.to_dict()
        d["requests"] = n
        if args.tiles:
            for key, group in (("levels", header.levels), ("masks", header.masks)):
                for out, lv in zip(d[key], group):
                    if lv is not None:
                        out["tile_offsets"] = list(lv.tile_offsets)
                        out["tile_byte_counts"] = list(lv.tile_byte_counts)
        print(json.dumps(d, indent=2, default=str))
    else:
        print(format_header(header, requests=n, source=src))
    return 0
