"""An engine-neutral, picklable batch reader for Dask, Ray, multiprocessing or plain loops.

:class:`BatchReader` holds only configuration (bands, backend settings, limits), so it pickles
cheaply; in each process it lazily gets that process's event loop (``rasteret_io.runtime``)
and connection pool (the backend's per-process store cache). Hand it an Arrow record batch of
collection rows plus AOIs, a grid or points and it returns arrays — the same code path as the
eager reads, so a cluster computes exactly what a notebook does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rasteret_io.budget import MemoryBudget
    from rasteret_io.fetch import Fetcher
    from rasteret_io.options import FetchOptions

__all__ = ["BatchReader"]


def _rows(batch: Any) -> Any:
    """The engine's input: Arrow data as is (its fast path), row dicts as a list."""
    from rasteret_io.arrow_sources import is_arrow

    if isinstance(batch, list) or is_arrow(batch):
        return batch
    import pyarrow as pa

    return pa.table(batch)


@dataclass(frozen=True)
class BatchReader:
    """Reads bands of a batch of collection rows; picklable, one loop and pool per process.

    Attributes:
        bands: Band codes to read, in output order.
        backend: A backend (``create_backend(...)`` result; pickles its configuration only)
            or None for the process default.
        band_map: Band code -> asset key map.
        max_concurrent: Range requests in flight per call.
        error_policy: ``"raise"``, ``"skip"`` or ``"nodata"``.
        read_options: Extra keyword arguments for :func:`rasteret_io.engine.read_aois`
            (``layout``, ``all_touched``, ``target_crs``, ``resolution``, ``resampling``).
        fetch_options: Retries, per-attempt timeout, total deadline per call and staleness
            policy (a :class:`~rasteret_io.options.FetchOptions`; None: its defaults).
        memory_budget: Refuse a call whose arrays would exceed this
            :class:`~rasteret_io.budget.MemoryBudget` before fetching (None: not checked).
        record_concurrency: Range requests in flight per record, within ``max_concurrent``
            (None: no per-record bound).
    """

    bands: tuple[str, ...]
    backend: Any = None
    band_map: Mapping[str, str] | None = None
    max_concurrent: int = 64
    error_policy: str = "raise"
    read_options: Mapping[str, Any] = field(default_factory=dict)
    fetch_options: FetchOptions | None = None
    memory_budget: MemoryBudget | None = None
    record_concurrency: int | None = None

    def fetcher(self) -> Fetcher:
        """A fetcher over :attr:`backend` with this reader's limits, error policy and fetch
        options, in the calling process (its event loop and connection pool)."""
        from rasteret_io.engine import default_fetcher

        return default_fetcher(
            self.backend,
            max_concurrent=self.max_concurrent,
            error_policy=self.error_policy,
            options=self.fetch_options,
            record_concurrency=self.record_concurrency,
        )

    def read_aois(self, batch: Any, geometries: Any, geometry_crs: Any = "auto") -> Any:
        """Masked AOI reads of every row of ``batch`` (see :func:`rasteret_io.engine.read_aois`)."""
        from rasteret_io.aoi import normalize_aois
        from rasteret_io.engine import read_aois
        from rasteret_io.runtime import run_sync

        aois = normalize_aois(geometries, geometry_crs=geometry_crs)
        return run_sync(
            read_aois(
                _rows(batch),
                self.bands,
                aois,
                self.fetcher(),
                band_map=self.band_map,
                budget=self.memory_budget,
                **dict(self.read_options),
            )
        )

    def read_grid(
        self,
        batch: Any,
        crs: Any,
        bounds: Sequence[float],
        res: Sequence[float],
        *,
        group_by: str | None = None,
        resampling: str | None = None,
    ) -> Any:
        """Rows of ``batch`` on one grid (see :func:`rasteret_io.grid_read.read_grid`)."""
        from rasteret_io.grid import Grid

        x0, y0, x1, y1 = (float(v) for v in bounds)
        grid = Grid.from_bounds(crs, (x0, y0, x1, y1), (float(res[0]), float(res[1])), snap=False)
        return self._read_on(batch, grid, group_by=group_by, resampling=resampling)

    def read_transform(
        self,
        batch: Any,
        crs: Any,
        transform: Sequence[float],
        shape: tuple[int, int],
        *,
        group_by: str | None = "id",
        resampling: str | None = None,
    ) -> Any:
        """Like :meth:`read_grid` for an exact grid given by transform and ``(height, width)``."""
        from rasteret_io.grid import Grid

        grid = Grid(crs, tuple(float(v) for v in transform), int(shape[1]), int(shape[0]))  # type: ignore[arg-type]
        return self._read_on(batch, grid, group_by=group_by, resampling=resampling)

    def _read_on(
        self, batch: Any, grid: Any, *, group_by: str | None, resampling: str | None
    ) -> Any:
        from rasteret_io.grid_read import read_grid
        from rasteret_io.runtime import run_sync

        return run_sync(
            read_grid(
                _rows(batch),
                self.bands,
                grid,
                self.fetcher(),
                band_map=self.band_map,
                group_by=group_by,  # type: ignore[arg-type]
                resampling=resampling,
                budget=self.memory_budget,
            )
        )

    def sample_points(
        self, batch: Any, xs: Sequence[float], ys: Sequence[float], crs: Any, **kwargs: Any
    ) -> Any:
        """Point samples of every row of ``batch`` (see :func:`rasteret_io.points.sample_points`)."""
        from rasteret_io.points import sample_points
        from rasteret_io.runtime import run_sync

        return run_sync(
            sample_points(
                _rows(batch),
                self.bands,
                xs,
                ys,
                crs,
                self.fetcher(),
                band_map=self.band_map,
                budget=self.memory_budget,
                **kwargs,
            )
        )
