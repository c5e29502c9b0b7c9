"""Pixel-read methods of :class:`~rasteret.Collection` (argument checks + engine hand-off).

Every method validates its arguments here, applies ``**filters`` through ``subset`` and then
calls :meth:`ReadsMixin._read_engine`, which imports ``rasteret._engine`` lazily. That adapter
provides one function per method, called as ``engine.<method>(collection, **params)``
where ``collection`` is the already-filtered view and ``params`` are the checked, normalised
arguments documented on :meth:`ReadsMixin._dispatch`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from rasteret._options import resolve_progress
from rasteret.errors import BandNotFoundError, EmptyCollectionError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa
    import xarray as xr

    from rasteret.collection import Collection

__all__ = ["ReadsMixin"]

_MATCH = ("all", "latest")
_NEIGHBOURHOOD = ("off", "always", "if_center_nodata")
_GROUP_BY = (None, "id", "datetime")


class ReadsMixin:
    """``get_numpy``, ``get_xarray``, ``get_gdf``, ``sample_points``, ``read_window``,
    ``iterate_rasters`` and ``get_first_raster``."""

    # -- engine hook ---------------------------------------------------------------------------

    def _read_engine(self) -> Any:
        """The read adapter (``rasteret._engine`` over ``rasteret_io``), imported on first use.

        Raises:
            NotImplementedError: The engine is not available in this installation.
        """
        import importlib

        try:
            engine = importlib.import_module("rasteret._engine")
        except ImportError as exc:
            raise NotImplementedError(
                "pixel reads need the rasteret_io read engine, which is not available in this "
                f"installation ({exc})"
            ) from exc
        return engine

    def _dispatch(self, method: str, view: Collection, **params: Any) -> Any:
        """Call ``rasteret._engine.<method>(view, **params)``.

        ``view`` is this collection after ``subset(**filters)``. ``params`` always hold
        normalised values: ``bands`` as a list of str, ``progress`` as a bool (the global
        option applied), ``data_source`` resolved (argument, else the collection's, else
        inferred), and every other argument exactly as the user passed it. The engine may
        keep live state in ``view._engine_state`` (a dict shared by a collection and all its
        views, empty again after unpickling).
        """
        return getattr(self._read_engine(), method)(view, **params)

    # -- shared checks ---------------------------------------------------------------------------

    def _check_bands(self: Collection, bands: Any) -> list[str]:  # type: ignore[misc]
        if isinstance(bands, str):
            bands = [bands]
        if bands is None or not isinstance(bands, Sequence) or not bands:
            raise InvalidInputError(
                f"bands must be a non-empty list of band codes, got {bands!r}; "
                f"available bands: {self.bands}"
            )
        if not all(isinstance(b, str) and b for b in bands):
            raise InvalidInputError(f"band codes must be non-empty strings, got {bands!r}")
        bands = list(bands)
        available = self.bands
        if available:
            from rasteret_catalog.bands import BandRegistry, asset_key_candidates

            band_map = BandRegistry.get(self._infer_data_source(None)) or None
            missing = [
                b
                for b in bands
                if not any(c in available for c in asset_key_candidates(b, band_map))
            ]
            if missing:
                raise BandNotFoundError(
                    f"Band(s) not found: {missing}. Available bands: {available}"
                )
        return bands

    def _infer_data_source(self: Collection, data_source: str | None) -> str:  # type: ignore[misc]
        """Explicit argument, else ``data_source``, else metadata, else the ``collection`` column."""
        if data_source:
            return data_source
        if self.data_source:
            return self.data_source
        if self._dataset is None:
            return ""
        from rasteret._source import schema_metadata
        from rasteret_catalog.schema import Col, MetaKey

        meta = schema_metadata(self._dataset.schema).get(MetaKey.DATA_SOURCE, "")
        if meta and meta != "unknown":
            return meta
        if self._has(Col.COLLECTION):
            import pyarrow.dataset as ds

            flt = ds.field(Col.COLLECTION).is_valid()
            if self._filter is not None:
                flt = self._filter & flt
            for batch in self._dataset.to_batches(columns=[Col.COLLECTION], filter=flt):
                for value in batch.column(0).to_pylist():
                    if value:
                        return str(value)
        return ""

    def _filtered(self: Collection, filters: dict[str, Any]) -> Collection:  # type: ignore[misc]
        if not filters:
            return self
        allowed = ("cloud_cover_lt", "date_range", "bbox", "geometries", "split", "split_column")
        unknown = sorted(set(filters) - set(allowed))
        if unknown:
            raise TypeError(
                f"unexpected keyword argument(s) {unknown}; filters accepted: {list(allowed)}"
            )
        return self.subset(**filters)

    @staticmethod
    def _check_concurrency(max_concurrent: Any) -> None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise InvalidInputError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 1:
            raise InvalidInputError(f"max_concurrent must be >= 1, got {max_concurrent}")

    def _aoi_read(
        self: Collection,  # type: ignore[misc]
        method: str,
        geometries: Any,
        bands: Any,
        filters: dict[str, Any],
        **params: Any,
    ) -> Any:
        bands = self._check_bands(bands)
        self._check_concurrency(params["max_concurrent"])
        if geometries is None:
            raise InvalidInputError(
                f"{method} needs geometries (a bbox tuple, shapely geometries, WKB, GeoJSON or "
                "an Arrow table of geometries)"
            )
        view = self._filtered(filters)
        params["progress"] = resolve_progress(params["progress"])
        params["data_source"] = self._infer_data_source(params["data_source"])
        return self._dispatch(method, view, geometries=geometries, bands=bands, **params)

    # -- public reads --------------------------------------------------------------------------

    def get_numpy(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: Any = None,
        data_source: str | None = None,
        backend: Any = None,
        target_crs: int | str | None = None,
        geometry_crs: Any = "auto",
        geometry_column: str | None = None,
        all_touched: bool = False,
        **filters: Any,
    ) -> np.ndarray:
        """Read the pixels of ``bands`` inside ``geometries`` as a NumPy array.

        Returns ``[N, H, W]`` for one band and ``[N, C, H, W]`` for several, in the native
        dtype. ``**filters`` are applied with :meth:`subset` first.

        Raises:
            ValueError: Unknown band ("Band(s) not found: ..."), invalid filters.
        """
        return self._aoi_read(
            "get_numpy",
            geometries,
            bands,
            filters,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            data_source=data_source,
            backend=backend,
            target_crs=target_crs,
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            all_touched=all_touched,
        )

    def get_xarray(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: Any = None,
        data_source: str | None = None,
        backend: Any = None,
        target_crs: int | str | None = None,
        geometry_crs: Any = "auto",
        geometry_column: str | None = None,
        all_touched: bool = False,
        xr_combine: str = "combine_first",
        **filters: Any,
    ) -> xr.Dataset:
        """Read ``bands`` inside ``geometries`` as an ``xarray.Dataset`` (time, geometry, y, x).

        Keyword ``chunks=None`` (``"auto"``, an int, or a dict such as ``{"time": 1,
        "y": 512, "x": 512}``) makes the Dataset lazy and dask-backed: it is planned from the
        index alone (no pixel or header request) and each chunk reads only its own tiles
        when computed; it has the same dims, coordinates, attributes and dtypes as the eager
        result and computes to identical values. Needs ``rasteret[dask]``.

        Raises:
            ValueError: Unknown band, unknown ``xr_combine`` strategy, bad ``chunks``,
                invalid filters.
            ImportError: ``chunks`` given without dask installed.
        """
        if xr_combine not in ("combine_first", "merge", "merge_override"):
            raise InvalidInputError(
                f"Unknown xr_combine strategy {xr_combine!r}: use 'combine_first', 'merge' or "
                "'merge_override'"
            )
        # ``chunks`` travels in ``**filters`` so the signature stays the 0.4.1 one (pinned
        # by tests/test_public_surface.py); it is a documented keyword all the same.
        chunks = filters.pop("chunks", None)
        if chunks is not None and not (
            chunks is True
            or chunks == "auto"
            or (isinstance(chunks, int) and not isinstance(chunks, bool))
            or isinstance(chunks, dict)
        ):
            raise InvalidInputError(
                f"chunks must be None, 'auto', True, an int or a dict of dim -> size, got {chunks!r}"
            )
        extra = {} if chunks is None else {"chunks": chunks}
        return self._aoi_read(
            "get_xarray",
            geometries,
            bands,
            filters,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            data_source=data_source,
            backend=backend,
            target_crs=target_crs,
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            all_touched=all_touched,
            xr_combine=xr_combine,
            **extra,
        )

    def get_gdf(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: Any = None,
        data_source: str | None = None,
        backend: Any = None,
        target_crs: int | str | None = None,
        geometry_crs: Any = "auto",
        geometry_column: str | None = None,
        all_touched: bool = False,
        **filters: Any,
    ) -> Any:
        """Read ``bands`` inside ``geometries`` as a GeoDataFrame, one row per record x AOI x band.

        Raises:
            ValueError: Unknown band, invalid filters.
        """
        return self._aoi_read(
            "get_gdf",
            geometries,
            bands,
            filters,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            data_source=data_source,
            backend=backend,
            target_crs=target_crs,
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            all_touched=all_touched,
        )

    def sample_points(
        self,
        points: Any,
        bands: list[str],
        *,
        geometry_column: str | None = None,
        x_column: str | None = None,
        y_column: str | None = None,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: Any = None,
        data_source: str | None = None,
        backend: Any = None,
        geometry_crs: Any = "auto",
        match: str = "all",
        max_distance_pixels: int = 0,
        return_neighbourhood: str = "off",
        **filters: Any,
    ) -> pa.Table:
        """Sample ``bands`` at ``points``; returns an Arrow table with a fixed schema.

        Raises:
            ValueError: Unknown band, bad ``match`` / ``max_distance_pixels`` /
                ``return_neighbourhood``, invalid filters.
        """
        bands = self._check_bands(bands)
        self._check_concurrency(max_concurrent)
        if match not in _MATCH:
            raise InvalidInputError(f"match must be one of {list(_MATCH)}, got {match!r}")
        if (
            isinstance(max_distance_pixels, bool)
            or not isinstance(max_distance_pixels, int)
            or max_distance_pixels < 0
        ):
            raise InvalidInputError(
                f"max_distance_pixels must be an int >= 0, got {max_distance_pixels!r}"
            )
        if return_neighbourhood not in _NEIGHBOURHOOD:
            raise InvalidInputError(
                f"return_neighbourhood must be one of {list(_NEIGHBOURHOOD)}, "
                f"got {return_neighbourhood!r}"
            )
        if return_neighbourhood != "off" and max_distance_pixels <= 0:
            raise InvalidInputError(
                "max_distance_pixels must be > 0 when return_neighbourhood is enabled"
            )
        view = self._filtered(filters)
        return self._dispatch(
            "sample_points",
            view,
            points=points,
            bands=bands,
            geometry_column=geometry_column,
            x_column=x_column,
            y_column=y_column,
            max_concurrent=max_concurrent,
            progress=resolve_progress(progress),
            cloud_config=cloud_config,
            data_source=self._infer_data_source(data_source),
            backend=backend,
            geometry_crs=geometry_crs,
            match=match,
            max_distance_pixels=max_distance_pixels,
            return_neighbourhood=return_neighbourhood,
        )

    def read_window(
        self,
        *,
        record_ids: Sequence[str] | Any,
        bounds: tuple[float, float, float, float],
        res: tuple[float, float],
        bands: list[str],
        target_crs: int | str | None = None,
        max_concurrent: int = 50,
        backend: Any = None,
        group_by: str | None = None,
    ) -> np.ndarray:
        """Read a fixed grid ``bounds`` x ``res`` (output CRS) mosaicked from ``record_ids``.

        Returns ``[C, H, W]``, or ``[T, C, H, W]`` with ``group_by="id"`` / ``"datetime"``.

        Raises:
            ValueError: Empty ``record_ids``, bad ``bounds`` / ``res`` / ``group_by``,
                unknown band.
        """
        ids = record_ids.to_pylist() if hasattr(record_ids, "to_pylist") else record_ids
        if isinstance(ids, str) or ids is None or len(ids) == 0:
            raise InvalidInputError("read_window needs a non-empty sequence of record_ids")
        bands = self._check_bands(bands)
        self._check_concurrency(max_concurrent)
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"bounds must be (xmin, ymin, xmax, ymax), got {bounds!r}"
            ) from None
        if not (xmin < xmax and ymin < ymax):
            raise InvalidInputError(f"bounds must have xmin < xmax and ymin < ymax, got {bounds!r}")
        try:
            xres, yres = (float(v) for v in res)
        except (TypeError, ValueError):
            raise InvalidInputError(f"res must be (xres, yres), got {res!r}") from None
        if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
            raise InvalidInputError(f"res values must be positive, got {res!r}")
        if group_by not in _GROUP_BY:
            raise InvalidInputError(f"group_by must be None, 'id' or 'datetime', got {group_by!r}")
        return self._dispatch(
            "read_window",
            self,  # type: ignore[arg-type]
            record_ids=[str(i) for i in ids],
            bounds=(xmin, ymin, xmax, ymax),
            res=(xres, yres),
            bands=bands,
            target_crs=target_crs,
            max_concurrent=max_concurrent,
            backend=backend,
            group_by=group_by,
        )

    async def iterate_rasters(
        self, data_source: str | None = None, bands: list[str] | None = None
    ) -> AsyncIterator[Any]:
        """Yield one raster accessor per filtered record (async generator)."""
        if bands is not None:
            bands = self._check_bands(bands)
        gen = self._dispatch(
            "iterate_rasters",
            self,  # type: ignore[arg-type]
            data_source=self._infer_data_source(data_source),
            bands=bands,
        )
        async for raster in gen:
            yield raster

    async def get_first_raster(self) -> Any:
        """The raster accessor of the first filtered record.

        Raises:
            ValueError: The collection is empty.
        """
        if len(self) == 0:  # type: ignore[arg-type]
            raise EmptyCollectionError(
                f"collection {self.name!r} has no records"  # type: ignore[attr-defined]
            )
        async for raster in self.iterate_rasters():
            return raster
        raise EmptyCollectionError(
            f"collection {self.name!r} has no readable records"  # type: ignore[attr-defined]
        )
