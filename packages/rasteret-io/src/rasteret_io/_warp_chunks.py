"""How GDAL's warper splits a destination grid into chunks and sizes each chunk's source window.

GDAL warps a destination region in one go only when the source window it needs plus the
destination buffer fit its warp memory limit (64 MiB by default) and the source window is not
mostly outside the source raster (the "fill ratio" heuristic); otherwise it halves the region
along its longer side and recurses. The chunk layout matters for exact parity: the
approximate transformer interpolates along each *chunk* scanline, and the kernels clip their
sampling to the chunk's source window. This module reproduces
``GDALWarpOperation::CollectChunkListInternal`` and ``ComputeSourceWindow``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rasteret_io._pixel_map import PixelMap

__all__ = ["Chunk", "ChunkCosts", "plan_chunks"]

_STEPS = 21  # GDAL's default SAMPLE_STEPS


@dataclass(frozen=True, slots=True)
class Chunk:
    """One warp chunk: a destination window and the source window GDAL reads for it.

    Attributes:
        dx: Destination column offset.
        dy: Destination row offset.
        dw: Destination width.
        dh: Destination height.
        sx: Source column offset (in the whole source raster).
        sy: Source row offset.
        sw: Source width (0 when the chunk sees no source pixel).
        sh: Source height.
        extra_x: Pixels of ``sw`` added around the sampled footprint for the kernel.
        extra_y: Same for rows.
    """

    dx: int
    dy: int
    dw: int
    dh: int
    sx: int
    sy: int
    sw: int
    sh: int
    extra_x: float
    extra_y: float


@dataclass(frozen=True, slots=True)
class ChunkCosts:
    """Inputs of GDAL's memory estimate for one chunk.

    Attributes:
        src_bits: Bits per source pixel (working type size x bands + validity mask bits).
        dst_bits: Bits per destination pixel.
        mem_limit: Warp memory limit in bytes (GDAL's default: 64 MiB).
        radius: Resampling filter radius (0 nearest/area kernels, 1 bilinear, 2 cubic).
    """

    src_bits: int
    dst_bits: int
    mem_limit: float = 64.0 * 1024 * 1024
    radius: int = 0


def _special_points(pmap: PixelMap, src_crs: object) -> list[tuple[float, float]]:
    """Destination pixel coordinates of the poles, as GDAL computes them at initialisation."""
    if pmap.dst_to_src is None:  # no reprojection step: GDAL computes no special point
        return []
    from rasteret_io._pixel_map import _crs, _pyproj

    crs = _crs(src_crs)
    lat = np.array([-89.9999, 89.9999])
    lon = np.zeros(2)
    if crs.is_geographic:
        x, y = lon, lat  # GDAL does not reproject these for a geographic source
    elif pmap.src_to_dst is None:
        return []
    else:
        gx, gy = _pyproj(crs.geodetic_crs, crs).transform(lon, lat)
        x, y = pmap.src_to_dst(np.asarray(gx, np.float64), np.asarray(gy, np.float64))
    inv = pmap.dst_inv
    px = (inv[0] + x * inv[1]) + y * inv[2]
    py = (inv[3] + x * inv[4]) + y * inv[5]
    return [(float(a), float(b)) for a, b in zip(px, py) if math.isfinite(a) and math.isfinite(b)]


def _edge_points(dx: int, dy: int, dw: int, dh: int) -> tuple[np.ndarray, np.ndarray]:
    step = 1.0 / (_STEPS - 1)
    xs: list[float] = []
    ys: list[float] = []
    ratio = 0.0
    while ratio <= 1.0 + step * 0.5:  # accumulated exactly as GDAL's loop accumulates it
        xs += [ratio * dw + dx, ratio * dw + dx, float(dx), float(dw + dx)]
        ys += [float(dy), float(dy + dh), ratio * dh + dy, ratio * dh + dy]
        ratio += step
    return np.array(xs), np.array(ys)


def _grid_ratios(size: int) -> np.ndarray:
    step = 1.0 / (_STEPS - 1)
    mid = [(i - 1) * step for i in range(1, _STEPS + 1)]
    return np.array([0.5 / size, *mid, 1 - 0.5 / size])


class _Planner:
    def __init__(
        self,
        pmap: PixelMap,
        src_size: tuple[int, int],
        dst_size: tuple[int, int],
        costs: ChunkCosts,
        special: list[tuple[float, float]],
        translation: bool,
    ) -> None:
        self.pmap = pmap
        self.sw, self.sh = src_size
        self.costs = costs
        dw, dh = dst_size
        self.grid_always = any(0 <= x <= dw and 0 <= y <= dh for x, y in special)
        self.translation = translation
        self._from_src: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.chunks: list[Chunk] = []

    def _sample(
        self, dx: int, dy: int, dw: int, dh: int, grid: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        if grid:
            rx = _grid_ratios(dw)
            ry = _grid_ratios(dw)  # GDAL uses the width for both axes here
            yy, xx = np.meshgrid(ry, rx, indexing="ij")
            px, py = (xx * dw + dx).ravel(), (yy * dh + dy).ravel()
        else:
            px, py = _edge_points(dx, dy, dw, dh)
        return self.pmap.exact(px, py)

    def _starting_from_source(
        self, dx: int, dy: int, dw: int, dh: int, bounds: list[float]
    ) -> list[float]:
        if self._from_src is None:
            rx, ry = _grid_ratios(self.sw), _grid_ratios(self.sh)
            yy, xx = np.meshgrid(ry * self.sh, rx * self.sw, indexing="ij")
            sx, sy = xx.ravel(), yy.ravel()
            tx, ty = self.pmap.forward(sx, sy)
            self._from_src = (sx, sy, tx, ty)
        sx, sy, tx, ty = self._from_src
        inside = np.isfinite(tx) & (tx >= dx) & (tx <= dx + dw) & (ty >= dy) & (ty <= dy + dh)
        if inside.any():
            bounds = [
                min(bounds[0], float(sx[inside].min())),
                min(bounds[1], float(sy[inside].min())),
                max(bounds[2], float(sx[inside].max())),
                max(bounds[3], float(sy[inside].max())),
            ]
        return bounds

    def source_window(self, dx: int, dy: int, dw: int, dh: int) -> tuple[Chunk, float] | None:
        """``ComputeSourceWindow``: the chunk and its fill ratio, or None when GDAL gives up."""
        grid = self.grid_always
        while True:
            sx, sy = self._sample(dx, dy, dw, dh, grid)
            ok = np.isfinite(sx) & np.isfinite(sy)
            failed = int((~ok).sum())
            if not grid and failed > 0:
                grid = True
                continue
            break
        if failed > sx.size - 5:
            return None
        bounds = [math.inf, math.inf, -math.inf, -math.inf]
        if ok.any():
            bounds = [
                float(sx[ok].min()),
                float(sy[ok].min()),
                float(sx[ok].max()),
                float(sy[ok].max()),
            ]
        if grid:
            bounds = self._starting_from_source(dx, dy, dw, dh, bounds)
        minx, miny, maxx, maxy = bounds
        if minx > self.sw or maxx < 0 or miny > self.sh or maxy < 0:
            return Chunk(dx, dy, dw, dh, 0, 0, 0, 0, 0.0, 0.0), 0.0

        def snap(v: float) -> float:
            r = float(round(v))
            return r if abs(r - v) < 1e-6 else v

        minx, miny, maxx, maxy = snap(minx), snap(miny), snap(maxx), snap(maxy)
        res = 0 if self.translation else self.costs.radius
        xscale = max(1e-3, dw / (maxx - minx)) if maxx > minx else 1e3
        yscale = max(1e-3, dh / (maxy - miny)) if maxy > miny else 1e3
        xrad = math.ceil(res / xscale) if xscale < 0.95 else res
        yrad = math.ceil(res / yscale) if yscale < 0.95 else res
        if failed > 0:
            xrad += 10
            yrad += 10
        x0c = int(max(0.0, minx))
        y0c = int(max(0.0, miny))
        x1c = int(min(math.ceil(maxx), float(self.sw)))
        y1c = int(min(math.ceil(maxy), float(self.sh)))
        raw_w = max(0.0, min(float(self.sw - x0c), maxx - minx))
        raw_h = max(0.0, min(float(self.sh - y0c), maxy - miny))
        if x1c - x0c > 0.9 * self.sw:
            sxo, sws = 0, self.sw
        else:
            sxo = max(0, min(x0c - xrad, self.sw))
            sws = max(0, min(self.sw - sxo, x1c - sxo + xrad))
        if y1c - y0c > 0.9 * self.sh:
            syo, shs = 0, self.sh
        else:
            syo = max(0, min(y0c - yrad, self.sh))
            shs = max(0, min(self.sh - syo, y1c - syo + yrad))
        fill = (sws * shs) / max(1.0, (maxx - minx + 2 * xrad) * (maxy - miny + 2 * yrad))
        return Chunk(dx, dy, dw, dh, sxo, syo, sws, shs, sws - raw_w, shs - raw_h), fill

    def collect(self, dx: int, dy: int, dw: int, dh: int) -> None:
        """``CollectChunkListInternal``."""
        found = self.source_window(dx, dy, dw, dh)
        if found is None:
            return  # GDAL skips a chunk whose source window cannot be computed
        chunk, fill = found
        c = self.costs
        mem = (c.src_bits * chunk.sw * chunk.sh + c.dst_bits * dw * dh) / 8.0
        if (mem > c.mem_limit and (dw > 2 or dh > 2)) or (
            0 < fill < 0.5 and (dw > 100 or dh > 100)
        ):
            if dw > dh:
                half = dw // 2
                self.collect(dx, dy, half, dh)
                self.collect(dx + half, dy, dw - half, dh)
            else:
                half = dh // 2
                self.collect(dx, dy, dw, half)
                self.collect(dx, dy + half, dw, dh - half)
            return
        self.chunks.append(chunk)


def is_translation(pmap: PixelMap) -> bool:
    """GDAL's "translation on pixel boundaries" test (same CRS, same pixel size, whole shift)."""
    if pmap.dst_to_src is not None:
        return False
    s, d, inv = pmap.src_gt, pmap.dst_gt, pmap.src_inv
    if (s[1], s[5], s[2], s[4]) != (d[1], d[5], d[2], d[4]):
        return False
    ox = inv[0] + d[0] * inv[1] + d[3] * inv[2]
    oy = inv[3] + d[0] * inv[4] + d[3] * inv[5]
    return abs(ox - round(ox)) <= 1e-6 and abs(oy - round(oy)) <= 1e-6


def plan_chunks(
    pmap: PixelMap,
    src_crs: object,
    src_size: tuple[int, int],
    dst_size: tuple[int, int],
    costs: ChunkCosts,
) -> list[Chunk]:
    """GDAL's chunk list for warping a ``src_size`` raster onto a ``dst_size`` grid.

    Args:
        pmap: Destination -> source pixel map.
        src_crs: Source CRS (for the pole test that switches GDAL to grid sampling).
        src_size: ``(width, height)`` of the whole source raster.
        dst_size: ``(width, height)`` of the destination grid.
        costs: Memory estimate inputs and filter radius.

    Returns:
        Chunks in GDAL's order; destination pixels outside every chunk are never written.
    """
    planner = _Planner(
        pmap, src_size, dst_size, costs, _special_points(pmap, src_crs), is_translation(pmap)
    )
    planner.collect(0, 0, dst_size[0], dst_size[1])
    return planner.chunks
