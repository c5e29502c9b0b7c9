"""Tile-grid arithmetic shared by :class:`~rasteret_cog.level.Level` and ``TileSpec``."""

from __future__ import annotations


class TileGridMixin:
    """Tile counts for classes with ``width``, ``height``, ``tile_width`` and ``tile_height``."""

    __slots__ = ()
    width: int
    height: int
    tile_width: int
    tile_height: int

    @property
    def tiles_across(self) -> int:
        """Number of tile columns."""
        return -(-self.width // self.tile_width)

    @property
    def tiles_down(self) -> int:
        """Number of tile rows."""
        return -(-self.height // self.tile_height)

    @property
    def tiles_per_plane(self) -> int:
        """Tiles covering the image once (per plane when planar)."""
        return self.tiles_across * self.tiles_down
