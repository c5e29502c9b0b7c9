"""Helpers shared by readers (standard library + numpy; runs in every interpreter)."""

from __future__ import annotations

from typing import Any

Window = tuple[int, int, int, int]  # col_off, row_off, width, height


def tiles_for_window(window: list[int], tile: int, size: int) -> list[tuple[int, int, Any, Any]]:
    """Tiles (tx, ty) intersecting ``window`` with the in-tile slices (rows, cols) to keep."""
    col, row, w, h = window
    c1, r1 = min(col + w, size), min(row + h, size)
    out = []
    for ty in range(row // tile, (r1 - 1) // tile + 1):
        for tx in range(col // tile, (c1 - 1) // tile + 1):
            ys = slice(max(row, ty * tile) - ty * tile, min(r1, (ty + 1) * tile) - ty * tile)
            xs = slice(max(col, tx * tile) - tx * tile, min(c1, (tx + 1) * tile) - tx * tile)
            out.append((tx, ty, ys, xs))
    return out


class Checksum:
    """Sum and count of values read (exact integers for integer data)."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add_array(self, arr: Any) -> None:
        import numpy as np

        self.total += int(np.asarray(arr).sum(dtype=np.uint64))
        self.count += int(np.asarray(arr).size)

    def add_value(self, v: Any) -> None:
        self.total += int(v)
        self.count += 1

    def result(self) -> dict[str, Any]:
        return {"checksum": f"{self.total}/{self.count}", "values": self.count}


def pixel_of(x: float, y: float, origin: list[float], res: float) -> tuple[int, int]:
    """(col, row) of the pixel holding ``(x, y)`` (floor, like rasterio ``sample``)."""
    import math

    return math.floor((x - origin[0]) / res), math.floor((origin[1] - y) / res)


def header_checksum(table: Any, bands: list[str]) -> Checksum:
    """W4 checksum of an indexed table, computed columnar (cheap inside the timed region):
    per (record, band) ``width * height + tile_width * tile_height + len(tile_offsets)``."""
    import pyarrow.compute as pc

    cs = Checksum()
    for b in bands:
        m = table.column(f"{b}_metadata")
        f = {
            k: pc.struct_field(m, k)
            for k in ("image_width", "image_height", "tile_width", "tile_height")
        }
        n = pc.list_value_length(pc.struct_field(m, "tile_offsets"))
        v = pc.add(
            pc.add(
                pc.multiply(
                    pc.cast(f["image_width"], "int64"), pc.cast(f["image_height"], "int64")
                ),
                pc.multiply(pc.cast(f["tile_width"], "int64"), pc.cast(f["tile_height"], "int64")),
            ),
            pc.cast(n, "int64"),
        )
        cs.total += int(pc.sum(v).as_py())
        cs.count += len(v)
    return cs
