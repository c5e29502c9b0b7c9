"""Footprint probe (run by .ci/footprint.sh in a venv holding only rasteret-cog + its deps).

Writes a small tiled, georeferenced little-endian TIFF with the standard library, parses its
header with rasteret_cog, and checks that only standard-library modules were loaded.
"""

import struct
import sys
import tempfile
from pathlib import Path

import rasteret_cog


def _tiff() -> bytes:
    # 64x64 uint8, one 64x64 uncompressed tile, ModelPixelScale + ModelTiepoint + GeoKeys (EPSG:32633)
    tile = bytes(64 * 64)
    entries = []
    extra = b""
    n_entries = 13
    data_start = 8 + 2 + n_entries * 12 + 4

    def add_extra(payload: bytes) -> int:
        nonlocal extra
        off = data_start + len(extra)
        extra += payload
        if len(extra) % 2:
            extra += b"\0"
        return off

    scale = add_extra(struct.pack("<3d", 10.0, 10.0, 0.0))
    tie = add_extra(struct.pack("<6d", 0, 0, 0, 500000.0, 5000000.0, 0))
    keys = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633]
    geokeys = add_extra(struct.pack(f"<{len(keys)}H", *keys))
    tile_off = data_start + len(extra)
    entries = [
        (256, 3, 1, 64), (257, 3, 1, 64), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (277, 3, 1, 1), (322, 3, 1, 64), (323, 3, 1, 64), (324, 4, 1, tile_off),
        (325, 4, 1, len(tile)), (33550, 12, 3, scale), (33922, 12, 6, tie), (34735, 3, len(keys), geokeys),
    ]  # fmt: skip
    assert len(entries) == n_entries
    out = b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", n_entries)
    for tag, typ, count, value in entries:
        out += struct.pack("<HHII", tag, typ, count, value)
    return out + struct.pack("<I", 0) + extra + tile


with tempfile.TemporaryDirectory() as d:
    p = Path(d) / "probe.tif"
    p.write_bytes(_tiff())
    header = rasteret_cog.open_header(p)
assert header.full.width == 64 and header.full.tile_offsets, header
assert header.epsg == 32633, header.crs
assert header.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), header.transform
loaded = {m.split(".")[0] for m in sys.modules}
third_party = sorted(
    m for m in loaded - set(sys.stdlib_module_names) if m not in ("rasteret_cog", "__main__")
)
assert not third_party, f"third-party modules loaded while parsing a header: {third_party}"
print("rasteret-cog footprint probe: ok")
