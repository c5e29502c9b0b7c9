"""Window -> tile planning over arrays: every tile of every window of a read in a few numpy ops.

For ``R`` windows (each a band source, a pyramid level and a pixel window) :func:`plan_tiles`
computes the ``P`` (window, tile) placements and the ``T`` distinct tiles to fetch:

* per window (a Python loop over windows only): the window clipped to the image, its tile row
  and column range, and where its level's tile table sits in a shared
  :class:`~rasteret_io.sources.TileTable`;
* per placement (numpy): tile row / column / index, the source rows and columns inside the
  decoded tile and the destination rows and columns inside the window, and the tile's byte
  offset and length, gathered with one ``take`` per tile table;
* per distinct tile (numpy): identical (URL, spec, offset, length) placements share one fetch
  and one decode, however many windows (AOIs, bands of a chunky file) need it.

Nothing here creates a Python object per tile, and nothing reads more of a tile table than
the tiles a window needs: planning cost does not depend on how many tiles a file has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from rasteret_cog import TileSpec
from rasteret_cog.errors import CogError, TiffFormatError
from rasteret_io.errors import ReadError
from rasteret_io.grid import Window
from rasteret_io.sources import BandSource, TileTable
from rasteret_io.urls import redact_url

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TilePlan", "plan_tiles"]


@dataclass(frozen=True, slots=True)
class TilePlan:
    """The tiles of a set of windows, as arrays.

    Attributes:
        urls: Distinct URLs; ``window_url`` and ``tile_url`` index into it.
        specs: Distinct decode specs; ``window_spec`` and ``tile_spec`` index into it.
        window_url: ``[R]`` URL of each window.
        window_spec: ``[R]`` decode spec of each window (-1 when it could not be planned).
        window_shape: ``[R, 2]`` height and width of each window.
        covered: ``[R]`` True when the window lies inside its image and none of its tiles is
            sparse: decoded tiles overwrite every pixel.
        errors: Windows that could not be planned, by window index.
        window: ``[P]`` window of each placement.
        tile: ``[P]`` distinct tile of each placement (-1: a sparse tile, nothing to fetch).
        src: ``[P, 4]`` rows ``[r0, r1)`` and columns ``[c0, c1)`` inside the decoded tile.
        dst: ``[P, 4]`` rows and columns inside the window.
        sample: ``[P]`` sample to take from the decoded tile's last axis (-1: a 2-D tile).
        tile_url: ``[T]`` URL of each distinct tile.
        tile_spec: ``[T]`` decode spec of each distinct tile.
        tile_offset: ``[T]`` byte offset.
        tile_length: ``[T]`` byte count (> 0).
    """

    urls: list[str]
    specs: list[TileSpec]
    window_url: np.ndarray
    window_spec: np.ndarray
    window_shape: np.ndarray
    covered: np.ndarray
    errors: dict[int, Exception] = field(default_factory=dict)
    window: np.ndarray | None = None
    tile: np.ndarray | None = None
    src: np.ndarray | None = None
    dst: np.ndarray | None = None
    sample: np.ndarray | None = None
    tile_url: np.ndarray | None = None
    tile_spec: np.ndarray | None = None
    tile_offset: np.ndarray | None = None
    tile_length: np.ndarray | None = None


# Per-window integer columns gathered by the Python loop, in this order.
_COLS = ("n", "tr0", "tc0", "ncols", "th", "tw", "r0", "r1", "c0", "c1", "row_off", "col_off",
         "ta", "tpp", "plane", "take", "start", "group")  # fmt: skip


def _window_row(src: BandSource, level: int, w: Window) -> tuple[TileSpec, TileTable, list[int]]:
    """Scalars of one window (see ``_COLS``; ``group`` is filled in by the caller)."""
    spec = src.level_spec(level)
    lv = src.levels[level]
    if w.width <= 0 or w.height <= 0:
        raise TiffFormatError(f"window size must be positive, got {w.width}x{w.height}")
    if len(lv.tile_offsets) != spec.tile_count:
        raise TiffFormatError(
            f"tile tables have {len(lv.tile_offsets)} offsets, expected {spec.tile_count} "
            f"({spec.tiles_across} x {spec.tiles_down} x {spec.planes} planes)"
        )
    s = src.sample
    if not 0 <= s < spec.samples_per_pixel:
        raise TiffFormatError(f"sample {s} out of range for {spec.samples_per_pixel} samples")
    table, start = lv.tiles()
    tw, th = spec.tile_width, spec.tile_height
    c0, r0 = max(w.col_off, 0), max(w.row_off, 0)
    c1, r1 = min(w.col_off + w.width, spec.width), min(w.row_off + w.height, spec.height)
    if c0 < c1 and r0 < r1:
        tr0, tc0 = r0 // th, c0 // tw
        nrows, ncols = (r1 - 1) // th - tr0 + 1, (c1 - 1) // tw - tc0 + 1
    else:
        tr0 = tc0 = nrows = ncols = 0
    planar = spec.planar_configuration == 2
    row = [nrows * ncols, tr0, tc0, max(ncols, 1), th, tw, r0, r1, c0, c1, w.row_off, w.col_off,
           spec.tiles_across, spec.tiles_per_plane, s if planar else 0,
           -1 if spec.samples_per_tile == 1 else s, start, 0]  # fmt: skip
    return spec, table, row


def plan_tiles(windows: Sequence[tuple[BandSource, int, Window]]) -> TilePlan:
    """Plan every tile of ``windows`` (``(source, level, window)`` triples).

    Windows may extend past their image (boundless reads): pixels outside are left to the
    caller's fill value. A window whose level, tile table or sample is unusable is reported
    in :attr:`TilePlan.errors` (as a ``ReadError`` naming record, band and URL) and planned
    with no tiles.
    """
    import numpy as np

    urls: dict[str, int] = {}
    specs: dict[TileSpec, int] = {}
    tables: dict[TileTable, int] = {}
    rows: list[list[int]] = []
    w_url: list[int] = []
    w_spec: list[int] = []
    shapes: list[tuple[int, int]] = []
    errors: dict[int, Exception] = {}
    for i, (src, level, w) in enumerate(windows):
        w_url.append(urls.setdefault(src.url, len(urls)))
        shapes.append((w.height, w.width))
        try:
            spec, table, row = _window_row(src, level, w)
        except (CogError, ReadError, IndexError, ValueError) as exc:
            errors[i] = ReadError(
                f"record {src.record_id!r} band {src.band!r} ({redact_url(src.url)}): {exc}"
            )
            errors[i].__cause__ = exc
            w_spec.append(-1)
            rows.append([0] * len(_COLS))
            continue
        row[-1] = tables.setdefault(table, len(tables))
        w_spec.append(specs.setdefault(spec, len(specs)))
        rows.append(row)
    n_win = len(rows)
    cols = np.array(rows, dtype=np.int64).reshape(n_win, len(_COLS)).T
    c = dict(zip(_COLS, cols, strict=True))
    shape = np.array(shapes, dtype=np.int64).reshape(n_win, 2)
    # inside the image: clipping changed nothing
    inside = (
        (c["r0"] == c["row_off"])
        & (c["c0"] == c["col_off"])
        & (c["r1"] - c["r0"] == shape[:, 0])
        & (c["c1"] - c["c0"] == shape[:, 1])
        & (c["n"] > 0)
    )
    base = TilePlan(
        urls=list(urls),
        specs=list(specs),
        window_url=np.array(w_url, dtype=np.int64),
        window_spec=np.array(w_spec, dtype=np.int64),
        window_shape=shape,
        covered=inside,
        errors=errors,
    )
    n = c["n"]
    total = int(n.sum())
    if total == 0:
        return base

    # -- placements: expand each window into its tiles --------------------------------------
    win = np.repeat(np.arange(n_win, dtype=np.int64), n)
    first = np.cumsum(n) - n
    k = np.arange(total, dtype=np.int64) - first[win]
    g = {name: col[win] for name, col in c.items()}
    trow = g["tr0"] + k // g["ncols"]
    tcol = g["tc0"] + k % g["ncols"]
    idx = g["plane"] * g["tpp"] + trow * g["ta"] + tcol
    ty0, tx0 = trow * g["th"], tcol * g["tw"]
    rs, re = np.maximum(g["r0"], ty0), np.minimum(g["r1"], ty0 + g["th"])
    cs, ce = np.maximum(g["c0"], tx0), np.minimum(g["c1"], tx0 + g["tw"])
    src_rc = np.stack([rs - ty0, re - ty0, cs - tx0, ce - tx0], axis=1)
    dst = np.stack(
        [rs - g["row_off"], re - g["row_off"], cs - g["col_off"], ce - g["col_off"]], axis=1
    )

    # -- gather offsets / lengths: one take per shared tile table ---------------------------
    gidx = g["start"] + idx
    offset = np.empty(total, dtype=np.int64)
    length = np.empty(total, dtype=np.int64)
    for table, t in tables.items():
        sel = g["group"] == t
        if len(tables) == 1:
            offset[:] = table.offsets[gidx]
            length[:] = table.byte_counts[gidx]
        else:
            offset[sel] = table.offsets[gidx[sel]]
            length[sel] = table.byte_counts[gidx[sel]]

    # -- distinct tiles (sparse ones excluded) ----------------------------------------------
    p_url = base.window_url[win]
    p_spec = base.window_spec[win]
    real = np.flatnonzero(length > 0)
    order = real[np.lexsort((length[real], offset[real], p_spec[real], p_url[real]))]
    keys = np.stack([p_url[order], p_spec[order], offset[order], length[order]], axis=1)
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    tile = np.full(total, -1, dtype=np.int64)
    tile[order] = np.cumsum(new) - 1
    heads = order[new]
    sparse = np.bincount(win[length == 0], minlength=n_win) > 0
    return replace(
        base,
        covered=inside & ~sparse,
        errors=errors,
        window=win,
        tile=tile,
        src=src_rc,
        dst=dst,
        sample=g["take"],
        tile_url=p_url[heads],
        tile_spec=p_spec[heads],
        tile_offset=offset[heads],
        tile_length=length[heads],
    )
