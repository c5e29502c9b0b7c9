"""Window -> tile planning and assembly.

:func:`plan_window` is pure arithmetic (stdlib only): for a pixel window of one level it lists
the tiles to fetch (offset, length) and where each decoded tile's sub-array lands in the
output. :func:`assemble` (numpy) copies decoded tiles into the ``(bands, height, width)`` output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasteret_cog.errors import InvalidArgumentError, TiffFormatError
from rasteret_cog.level import Level
from rasteret_cog.spec import TileSpec

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TilePlacement", "WindowPlan", "assemble", "plan_window"]


@dataclass(frozen=True, slots=True)
class TilePlacement:
    """One tile needed by a window and where its pixels go.

    Attributes:
        index: Index into the tile offset table.
        tile_row: Tile row.
        tile_col: Tile column.
        plane: Sample plane (planar configuration 2), else 0.
        offset: Byte offset of the tile.
        length: Byte count (0 = sparse tile: nothing to fetch, it decodes to the fill value).
        src_rows: ``(start, stop)`` rows inside the decoded tile.
        src_cols: ``(start, stop)`` columns inside the decoded tile.
        dst_rows: ``(start, stop)`` rows inside the output window.
        dst_cols: ``(start, stop)`` columns inside the output window.
        out_bands: Output band positions this tile fills, in order of ``samples`` taken.
        samples: Samples taken from the tile (indices into its last axis; ``(0,)`` for planar).
    """

    index: int
    tile_row: int
    tile_col: int
    plane: int
    offset: int
    length: int
    src_rows: tuple[int, int]
    src_cols: tuple[int, int]
    dst_rows: tuple[int, int]
    dst_cols: tuple[int, int]
    out_bands: tuple[int, ...]
    samples: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Tiles and placement for one window.

    Attributes:
        spec: The decode spec of the level.
        col_off: Window column offset (may be negative or extend past the image).
        row_off: Window row offset.
        width: Window width.
        height: Window height.
        samples: Sample (band) indices in output order.
        tiles: The tiles to decode, with their placement.
    """

    spec: TileSpec
    col_off: int
    row_off: int
    width: int
    height: int
    samples: tuple[int, ...]
    tiles: tuple[TilePlacement, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Output shape ``(bands, height, width)``."""
        return (len(self.samples), self.height, self.width)

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """Distinct ``(offset, length)`` byte ranges to fetch (sparse tiles excluded), sorted."""
        return tuple(sorted({(t.offset, t.length) for t in self.tiles if t.length > 0}))

    @property
    def covers_window(self) -> bool:
        """True when the window lies entirely inside the image."""
        s = self.spec
        return (
            self.col_off >= 0
            and self.row_off >= 0
            and self.col_off + self.width <= s.width
            and self.row_off + self.height <= s.height
        )


def plan_window(
    level_or_spec: Level | TileSpec,
    col_off: int,
    row_off: int,
    width: int,
    height: int,
    *,
    samples: Sequence[int] | None = None,
    tile_offsets: Sequence[int] | None = None,
    tile_byte_counts: Sequence[int] | None = None,
) -> WindowPlan:
    """Plan the tiles covering a pixel window of one level.

    The window may extend past the image (boundless read); pixels outside are left at the fill
    value by :func:`assemble`.

    Args:
        level_or_spec: A :class:`Level`, or a :class:`TileSpec` plus ``tile_offsets`` and
            ``tile_byte_counts``.
        col_off: First column of the window.
        row_off: First row of the window.
        width: Window width (> 0).
        height: Window height (> 0).
        samples: Sample indices to read, in output order (default: all).
        tile_offsets: Required with a TileSpec.
        tile_byte_counts: Required with a TileSpec.

    Raises:
        TiffFormatError: bad window, samples or tile tables.
    """
    if isinstance(level_or_spec, Level):
        spec = level_or_spec.tile_spec
        offsets = level_or_spec.tile_offsets if tile_offsets is None else tile_offsets
        counts = level_or_spec.tile_byte_counts if tile_byte_counts is None else tile_byte_counts
    else:
        spec = level_or_spec
        if tile_offsets is None or tile_byte_counts is None:
            raise InvalidArgumentError(
                "plan_window(TileSpec, ...) needs tile_offsets and tile_byte_counts"
            )
        offsets, counts = tile_offsets, tile_byte_counts
    if len(offsets) != spec.tile_count or len(counts) != spec.tile_count:
        raise TiffFormatError(
            f"tile tables have {len(offsets)} offsets / {len(counts)} byte counts, expected "
            f"{spec.tile_count} ({spec.tiles_across} x {spec.tiles_down} x {spec.planes} planes)"
        )
    if width <= 0 or height <= 0:
        raise TiffFormatError(f"window size must be positive, got {width}x{height}")
    spp = spec.samples_per_pixel
    sel = tuple(range(spp)) if samples is None else tuple(int(s) for s in samples)
    if not sel or any(not 0 <= s < spp for s in sel):
        raise TiffFormatError(f"samples {sel} out of range for {spp} samples per pixel")

    tw, th = spec.tile_width, spec.tile_height
    c0, r0 = max(col_off, 0), max(row_off, 0)
    c1, r1 = min(col_off + width, spec.width), min(row_off + height, spec.height)
    placements: list[TilePlacement] = []
    if c0 < c1 and r0 < r1:
        groups: list[tuple[int, tuple[int, ...], tuple[int, ...]]]
        if spec.planar_configuration == 2:
            groups = [(s, (i,), (0,)) for i, s in enumerate(sel)]
        else:
            groups = [(0, tuple(range(len(sel))), sel)]
        for plane, out_bands, take in groups:
            for trow in range(r0 // th, (r1 - 1) // th + 1):
                ty0 = trow * th
                rs, re_ = max(r0, ty0), min(r1, ty0 + th)
                for tcol in range(c0 // tw, (c1 - 1) // tw + 1):
                    tx0 = tcol * tw
                    cs, ce = max(c0, tx0), min(c1, tx0 + tw)
                    idx = spec.tile_index(trow, tcol, plane)
                    placements.append(
                        TilePlacement(
                            index=idx,
                            tile_row=trow,
                            tile_col=tcol,
                            plane=plane,
                            offset=int(offsets[idx]),
                            length=int(counts[idx]),
                            src_rows=(rs - ty0, re_ - ty0),
                            src_cols=(cs - tx0, ce - tx0),
                            dst_rows=(rs - row_off, re_ - row_off),
                            dst_cols=(cs - col_off, ce - col_off),
                            out_bands=out_bands,
                            samples=take,
                        )
                    )
    return WindowPlan(spec, col_off, row_off, width, height, sel, tuple(placements))


def assemble(
    plan: WindowPlan,
    tiles: Mapping[int, np.ndarray] | Callable[[int], np.ndarray | None],
    *,
    fill: int | float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Copy decoded tiles into the window array.

    Args:
        plan: From :func:`plan_window`.
        tiles: Decoded tiles by tile index (a mapping, or a callable returning None when
            absent). Missing tiles (e.g. sparse ones never fetched) stay at ``fill``.
        fill: Value for pixels outside the image or without a tile; default: the spec's nodata
            when representable, else 0.
        out: Optional preallocated ``(bands, height, width)`` array of the spec's dtype.

    Returns:
        The ``(bands, height, width)`` array.
    """
    import numpy as np

    from rasteret_cog.codecs import fill_value

    get: Callable[[int], Any] = tiles.get if isinstance(tiles, Mapping) else tiles
    if out is None:
        fv = fill_value(plan.spec) if fill is None else fill
        out = np.full(plan.shape, fv, dtype=np.dtype(plan.spec.dtype))
    elif out.shape != plan.shape:
        raise InvalidArgumentError(f"out has shape {out.shape}, expected {plan.shape}")
    for t in plan.tiles:
        tile = get(t.index)
        if tile is None:
            continue
        sub = tile[t.src_rows[0] : t.src_rows[1], t.src_cols[0] : t.src_cols[1]]
        dst = (slice(t.dst_rows[0], t.dst_rows[1]), slice(t.dst_cols[0], t.dst_cols[1]))
        if sub.ndim == 2:
            out[(t.out_bands[0], *dst)] = sub
        else:
            for band, sample in zip(t.out_bands, t.samples):
                out[(band, *dst)] = sub[:, :, sample]
    return out
