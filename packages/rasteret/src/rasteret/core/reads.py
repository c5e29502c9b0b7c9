"""The read methods of :class:`~rasteret.Collection`: flat 0.4.1 keywords in, typed requests out.

Each method checks its arguments once, builds the typed requests of
:mod:`rasteret.read.requests` (options, AOIs, points, window), applies its ``**filters``
through ``subset`` and hands the filtered :class:`~rasteret.records.RecordSource` to one entry
point of :mod:`rasteret.read.entry`, imported on the first read (:meth:`ReadMethods._readers`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from rasteret.errors import EmptyCollectionError, NoMatchingRecordsError
from rasteret.query.filters import Subset
from rasteret.read.footprints import footprints as _footprints
from rasteret.read.footprints import native_res as _native_res
from rasteret.read.requests import (
    AoiRequest,
    GridRequest,
    PointRequest,
    ReadOptions,
    TorchGeoRequest,
    XarrayOptions,
    check_bands,
)
from rasteret_catalog import BandRegistry, CloudConfig
from rasteret_catalog.schema import BAND_ALIASES_KEY

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import numpy as np
    import pyarrow as pa
    import xarray as xr

    from rasteret.records import RecordSource
    from rasteret_io.protocols import Backend

__all__ = ["ReadMethods"]

T = TypeVar("T")


class ReadMethods:
    """``get_numpy``, ``get_xarray``, ``get_gdf``, ``sample_points``, ``read_window``,
    ``iterate_rasters``, ``get_first_raster``, ``footprints``, ``native_res`` and
    ``to_torchgeo_dataset``.

    The host class provides the records and the filtering (:class:`~rasteret.Collection`).
    """

    name: str

    if TYPE_CHECKING:  # provided by Collection

        @property
        def bands(self) -> list[str]: ...

        @property
        def schema(self) -> pa.Schema: ...

        def __len__(self) -> int: ...

        def _infer_data_source(self, data_source: str | None) -> str: ...

        def _record_source(self) -> RecordSource: ...

        def _subset(self, criteria: Subset | None) -> ReadMethods: ...

    # -- plumbing ------------------------------------------------------------------------------

    def _readers(self) -> ModuleType:
        """The read entry points, imported on the first read (numpy, shapely, pyproj and the
        read engine are not needed to open or filter a collection).

        Raises:
            NotImplementedError: The read engine is not available in this installation.
        """
        try:
            from rasteret.read import entry
        except ImportError as exc:
            raise NotImplementedError(
                "pixel reads need the rasteret_io read engine, which is not available in this "
                f"installation ({exc})"
            ) from exc
        return entry

    def _filtered(self, filters: Mapping[str, Any]) -> RecordSource:
        """The records of this view after the ``subset`` criteria in ``filters``."""
        return self._subset(Subset.from_keywords(filters))._record_source()

    def _aoi_read(
        self,
        run: Callable[[RecordSource], T],
        request: AoiRequest,
        filters: Mapping[str, Any],
    ) -> T:
        """Run an AOI read on the filtered records; when it finds no record, say why (the
        filters emptied the view, or the AOIs miss it: their CRS and bounds, the collection's)."""
        source = self._filtered(filters)
        try:
            return run(source)
        except NoMatchingRecordsError:
            from rasteret.read.diagnose import explain_no_match

            raise explain_no_match(
                source,
                request,
                name=self.name,
                total=len(self) if filters else None,
                filters=filters,
            ) from None

    def _band_aliases(self) -> dict[str, str]:
        """The collection's ``band_aliases`` metadata (``{alias: band code}``), else ``{}``."""
        try:
            raw = (self.schema.metadata or {}).get(BAND_ALIASES_KEY.encode())
        except ValueError:  # a collection without records has no schema
            return {}
        try:
            aliases = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(aliases, dict):
            return {}
        return {str(k): str(v) for k, v in aliases.items() if isinstance(v, str)}

    def _options(
        self,
        data_source: str | None,
        *,
        max_concurrent: Any = 50,
        progress: bool | None = None,
        cloud_config: CloudConfig | None = None,
        backend: Backend | None = None,
    ) -> ReadOptions:
        return ReadOptions.build(
            data_source=self._infer_data_source(data_source),
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
            band_aliases=self._band_aliases(),
        )

    def _bands(self, bands: Any, options: ReadOptions) -> tuple[str, ...]:
        return check_bands(bands, self.bands, options.band_map)

    # -- AOI reads -----------------------------------------------------------------------------

    def get_numpy(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: CloudConfig | None = None,
        data_source: str | None = None,
        backend: Backend | None = None,
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
            ValueError: Unknown band ("Band(s) not found: ..."), invalid filters or options.
            NoDataError: Nothing could be read (a ``ValueError``).
        """
        options = self._options(
            data_source,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
        )
        request = AoiRequest.build(
            geometries,
            self._bands(bands, options),
            what="get_numpy",
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            target_crs=target_crs,
            all_touched=all_touched,
        )
        readers = self._readers()
        return self._aoi_read(
            lambda src: readers.get_numpy(src, request, options), request, filters
        )

    def get_xarray(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: CloudConfig | None = None,
        data_source: str | None = None,
        backend: Backend | None = None,
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
        result and computes to identical values. Needs ``rasteret[dask]``. (``chunks`` is
        taken from ``**filters`` so that the signature stays 0.4.1's.)

        Raises:
            ValueError: Unknown band, unknown ``xr_combine`` strategy, bad ``chunks``,
                invalid filters.
            ImportError: ``chunks`` given without dask installed.
        """
        output = XarrayOptions.build(xr_combine=xr_combine, chunks=filters.pop("chunks", None))
        options = self._options(
            data_source,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
        )
        request = AoiRequest.build(
            geometries,
            self._bands(bands, options),
            what="get_xarray",
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            target_crs=target_crs,
            all_touched=all_touched,
        )
        readers = self._readers()
        return self._aoi_read(
            lambda src: readers.get_xarray(src, request, output, options), request, filters
        )

    def get_gdf(
        self,
        geometries: Any,
        bands: list[str],
        *,
        max_concurrent: int = 50,
        progress: bool | None = None,
        cloud_config: CloudConfig | None = None,
        data_source: str | None = None,
        backend: Backend | None = None,
        target_crs: int | str | None = None,
        geometry_crs: Any = "auto",
        geometry_column: str | None = None,
        all_touched: bool = False,
        **filters: Any,
    ) -> Any:
        """Read ``bands`` inside ``geometries`` as a GeoDataFrame, one row per record x AOI x band.

        Raises:
            ValueError: Unknown band, invalid filters or options.
            ImportError: geopandas is not installed (``rasteret[geopandas]``).
        """
        options = self._options(
            data_source,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
        )
        request = AoiRequest.build(
            geometries,
            self._bands(bands, options),
            what="get_gdf",
            geometry_crs=geometry_crs,
            geometry_column=geometry_column,
            target_crs=target_crs,
            all_touched=all_touched,
        )
        readers = self._readers()
        return self._aoi_read(lambda src: readers.get_gdf(src, request, options), request, filters)

    # -- points, windows, rasters --------------------------------------------------------------

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
        cloud_config: CloudConfig | None = None,
        data_source: str | None = None,
        backend: Backend | None = None,
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
        options = self._options(
            data_source,
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
        )
        request = PointRequest.build(
            points,
            self._bands(bands, options),
            geometry_column=geometry_column,
            x_column=x_column,
            y_column=y_column,
            geometry_crs=geometry_crs,
            match=match,
            max_distance_pixels=max_distance_pixels,
            return_neighbourhood=return_neighbourhood,
        )
        return self._readers().sample_points(self._filtered(filters), request, options)

    def read_window(
        self,
        *,
        record_ids: Sequence[str] | Any,
        bounds: tuple[float, float, float, float],
        res: tuple[float, float],
        bands: list[str],
        target_crs: int | str | None = None,
        max_concurrent: int = 50,
        backend: Backend | None = None,
        group_by: str | None = None,
    ) -> np.ndarray:
        """Read a fixed grid ``bounds`` x ``res`` (output CRS) mosaicked from ``record_ids``.

        Returns ``[C, H, W]``, or ``[T, C, H, W]`` with ``group_by="id"`` / ``"datetime"``.

        Raises:
            ValueError: Empty ``record_ids``, bad ``bounds`` / ``res`` / ``group_by``,
                unknown band.
        """
        options = self._options(None, max_concurrent=max_concurrent, backend=backend)
        request = GridRequest.build(
            record_ids,
            self._bands(bands, options),
            bounds=bounds,
            res=res,
            target_crs=target_crs,
            group_by=group_by,
        )
        return self._readers().read_window(self._record_source(), request, options)

    async def iterate_rasters(
        self, data_source: str | None = None, bands: list[str] | None = None
    ) -> AsyncIterator[Any]:
        """Yield one raster accessor per filtered record (async generator)."""
        source = self._infer_data_source(data_source)
        if bands is not None:
            check_bands(bands, self.bands, BandRegistry.get(source) or None)
        async for raster in self._readers().iterate_rasters(self._record_source(), source):
            yield raster

    async def get_first_raster(self) -> Any:
        """The raster accessor of the first filtered record.

        Raises:
            EmptyCollectionError: The collection is empty (a ``ValueError``).
        """
        if len(self) == 0:
            raise EmptyCollectionError(f"collection {self.name!r} has no records")
        async for raster in self.iterate_rasters():
            return raster
        raise EmptyCollectionError(f"collection {self.name!r} has no readable records")

    # -- grids from the index ------------------------------------------------------------------

    def native_res(self, band: str | None = None) -> tuple[float, float]:
        """``(|xres|, |yres|)`` of ``band`` (default: the first band) from its transform.

        Raises:
            ValueError: No bands, an unknown band, or no row with a usable transform.
        """
        return _native_res(self._record_source(), band)

    def footprints(self, *, crs: Any = None, band: str | None = None) -> Any:
        """Exact raster-grid rectangles of each record (``id``, ``datetime``, ``geometry``).

        See :func:`rasteret.read.footprints.footprints`.

        Raises:
            ImportError: geopandas is missing (install ``rasteret[geopandas]``).
            ValueError: No bands or an unknown band.
        """
        return _footprints(self._record_source(), crs=crs, band=band)

    # -- TorchGeo ------------------------------------------------------------------------------

    def to_torchgeo_dataset(
        self,
        *,
        bands: Sequence[str],
        chip_size: int | None = None,
        is_image: bool = True,
        allow_resample: bool = False,
        cloud_cover_lt: float | None = None,
        date_range: tuple[Any, Any] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        split: str | Sequence[str] | None = None,
        split_column: str = "split",
        label_field: str | None = None,
        geometries: Any = None,
        geometries_crs: Any = 4326,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        max_concurrent: int = 50,
        cloud_config: CloudConfig | None = None,
        backend: Backend | None = None,
        time_series: bool = False,
        target_crs: Any = None,
    ) -> Any:
        """A ``torchgeo.datasets.GeoDataset`` reading chips of ``bands`` from this collection.

        The index is built from the Parquet index only (no COG request); chips are read on
        demand with rasterio-merge placement. ``cloud_cover_lt``, ``date_range``, ``bbox``
        and ``split`` filter the records first. See :mod:`rasteret.read.torchgeo` and
        ``docs/integrations.md``.

        Raises:
            ImportError: torch / torchgeo (>= 0.9) missing: install ``rasteret[torchgeo]``.
            ValueError: No bands, missing columns, mixed resolutions without
                ``allow_resample``, nothing left after filtering.
        """
        from rasteret_io import normalize_aois  # shapely / pyproj: only with geometries

        criteria = {
            "cloud_cover_lt": cloud_cover_lt,
            "date_range": date_range,
            "bbox": bbox,
            "split": split,
        }
        given = {k: v for k, v in criteria.items() if v is not None}
        if split is not None:
            given["split_column"] = split_column
        aois = (
            None if geometries is None else normalize_aois(geometries, geometry_crs=geometries_crs)
        )
        request = TorchGeoRequest(
            bands=tuple([bands] if isinstance(bands, str) else (bands or ())),
            chip_size=chip_size,
            is_image=bool(is_image),
            allow_resample=bool(allow_resample),
            label_field=label_field,
            geometries=None if aois is None else tuple(aois.geometries),
            geometries_crs=None if aois is None else aois.crs,
            time_series=bool(time_series),
            target_crs=target_crs,
            transforms=transforms,
        )
        options = self._options(
            None, max_concurrent=max_concurrent, cloud_config=cloud_config, backend=backend
        )
        return self._readers().torchgeo_dataset(self._filtered(given), request, options)
