"""The read methods of :class:`~rasteret.Collection`: flat 0.4.1 keywords in, typed requests out.

Each method checks its arguments once, builds the typed requests of
:mod:`rasteret.read.requests` (options, AOIs, points, window), applies its ``**filters``
through ``subset`` and hands the filtered :class:`~rasteret.records.RecordSource` to one entry
point of :mod:`rasteret.read.entry`, imported on the first read (:meth:`ReadMethods._readers`).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from rasteret.errors import EmptyCollectionError, NoMatchingRecordsError
from rasteret.query.filters import Subset
from rasteret.read.footprints import footprints as _footprints
from rasteret.read.footprints import native_res as _native_res
from rasteret.read.inputs import check_bbox_aoi, crs_errors, geometry_errors
from rasteret.read.requests import (
    AoiRequest,
    CubeOptions,
    GridRequest,
    PointRequest,
    ReadOptions,
    TorchGeoRequest,
    XarrayOptions,
    check_bands,
)
from rasteret_catalog import BandRegistry, CloudConfig

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa
    import xarray as xr

    from rasteret.records import RecordSource
    from rasteret_io.protocols import Backend

__all__ = ["ReadMethods"]


class _Trust(NamedTuple):
    """The read-trust keywords of the pixel reads."""

    error_policy: Any
    deadline: Any
    timeout: Any
    staleness: Any


class _Aoi(NamedTuple):
    """How the AOI reads take their geometries."""

    geometry_crs: Any
    geometry_column: str | None
    target_crs: Any
    all_touched: bool


class _Cube(NamedTuple):
    """The output grid and value keywords of ``get_numpy`` / ``get_xarray``."""

    resolution: Any
    resampling: Any
    dtype: Any
    fill_value: Any
    anchor: Any


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

        def _infer_data_source(self, data_source: str | None) -> str: ...

        def _band_aliases(self) -> dict[str, str]: ...

        def _asset_signing(self) -> str | None: ...

        def _count(self) -> int | None: ...

        def _record_source(self) -> RecordSource: ...

        def _subset(self, criteria: Subset | None) -> ReadMethods: ...

    # -- plumbing ------------------------------------------------------------------------------

    def _readers(self) -> ModuleType:
        """The read entry points, imported on the first read (numpy, shapely, pyproj and the
        read engine are not needed to open or filter a collection).

        Raises:
            NotImplementedError: The read engine is not available in this installation.
        """
        try:  # import_module consults sys.modules (a package attribute would hide a failure)
            entry = importlib.import_module("rasteret.read.entry")
        except ImportError as exc:
            raise NotImplementedError(
                "pixel reads need the rasteret_io read engine, which is not available in this "
                f"installation ({exc})"
            ) from exc
        return entry

    def _filtered(self, filters: Mapping[str, Any]) -> RecordSource:
        """The records of this view after the ``subset`` criteria in ``filters``."""
        return self._subset(Subset.from_keywords(filters))._record_source()

    def _no_match(
        self, source: RecordSource, request: AoiRequest, filters: Mapping[str, Any]
    ) -> NoMatchingRecordsError:
        """Why an AOI read over ``source`` (this view after ``filters``) found no record: the
        filters emptied the view, or the AOIs miss it (their CRS and bounds, the
        collection's). Raised by the read methods in place of the bare error, in their own
        frame (the reads' warnings point at the caller by stack depth)."""
        from rasteret.read.diagnose import explain_no_match

        total = self._count() if filters else None  # a streamed (hf://) view is not counted
        return explain_no_match(source, request, name=self.name, total=total, filters=filters)

    @contextmanager
    def _explained(
        self, source: RecordSource, request: AoiRequest, filters: Mapping[str, Any]
    ) -> Iterator[None]:
        """Around an AOI read over ``source``: a read that finds no record raises why
        (:meth:`_no_match`). The read itself runs in the read method's frame, so that the
        reads' warnings point at its caller."""
        try:
            yield
        except NoMatchingRecordsError:
            raise self._no_match(source, request, filters) from None

    def _options(
        self,
        data_source: str | None,
        max_concurrent: Any,
        progress: bool | None,
        cloud_config: CloudConfig | None,
        backend: Backend | None,
        trust: _Trust,
    ) -> ReadOptions:
        """:meth:`ReadOptions.build` with this view's data source (inferred when None), band
        aliases and asset signing scheme."""
        return ReadOptions.build(
            data_source=self._infer_data_source(data_source),
            max_concurrent=max_concurrent,
            progress=progress,
            cloud_config=cloud_config,
            backend=backend,
            band_aliases=self._band_aliases(),
            asset_signing=self._asset_signing(),
            **trust._asdict(),
        )

    def _bands(self, bands: Any, options: ReadOptions) -> tuple[str, ...]:
        return check_bands(bands, self.bands, options.band_map)

    def _aoi_request(
        self,
        what: str,
        geometries: Any,
        bands: Any,
        options: ReadOptions,
        aoi: _Aoi,
        cube: _Cube | None = None,
    ) -> AoiRequest:
        """The checked bands and AOIs of an AOI read (with its output grid and values)."""
        band_codes = self._bands(bands, options)
        return AoiRequest.build(
            geometries,
            band_codes,
            what=what,
            cube=None if cube is None else CubeOptions.build(band_codes, **cube._asdict()),
            **aoi._asdict(),
        )

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
        error_policy: str = "raise",
        deadline: float | None = None,
        timeout: float | None = None,
        staleness: str | None = None,
        return_ids: bool = False,
        resolution: float | tuple[float, float] | None = None,
        resampling: str | Mapping[str, str] = "nearest",
        dtype: Any = None,
        fill_value: float | Mapping[str, float] | None = None,
        anchor: Any = None,
        **filters: Any,
    ) -> Any:
        """Read the pixels of ``bands`` inside ``geometries`` as a NumPy array.

        Returns ``[N, H, W]`` for one band and ``[N, C, H, W]`` for several (N = the
        (record, AOI) pairs with data), in the native dtype. Every record of an AOI is on one
        grid: the AOI's window clipped to the records' extents (one record on its own grid:
        exactly ``rasterio.mask.mask(crop=True)``). ``**filters`` are applied with
        :meth:`subset` first. With ``return_ids=True`` returns ``(array, ids)``: ``ids`` is a
        ``pyarrow.Table`` with one row per entry of the first axis (``record_id``,
        ``datetime``, ``geometry_id``).

        Keywords added after rasteret 0.4.1 (keyword-only; defaults keep its output):

        - read trust (also on ``get_xarray``, ``get_gdf``, ``sample_points`` and
          ``read_window``): ``error_policy`` says what a record/band whose pixels cannot be
          read after retries does — ``"raise"`` (default), ``"skip"`` (left out, warned) or
          ``"nodata"`` (kept, filled with nodata, warned); ``deadline`` bounds the whole
          read's fetches in seconds and ``timeout`` each request attempt; ``staleness``
          (``"raise"`` / ``"warn"`` / ``"off"``) what a COG rewritten since the build does.
          ``None`` takes the value of :func:`rasteret.options`. A read whose arrays would
          exceed ``rasteret.options.memory_budget`` raises ``MemoryBudgetError`` before any
          request.
        - grid and values (see ``docs/cube.md``): ``resolution`` (output pixel size in
          output-CRS units), ``resampling`` (``nearest``, ``bilinear``, ``cubic``,
          ``average``, ``mode``, ``min``, ``max``, ``med``, ``q1``, ``q3``; GDAL's kernels),
          ``dtype``, ``fill_value`` and ``anchor`` (``"edge"``, ``"center"``, ``"floating"``
          or ``(fx, fy)``, odc-stac's semantics).

        Raises:
            ValueError: Unknown band ("Band(s) not found: ..."), invalid filters or options.
            NoDataError: Nothing could be read (a ``ValueError``).
            MemoryBudgetError: The read would not fit the memory budget (a ``MemoryError``).
            FetchError: Under ``error_policy="raise"``, a range that failed for good (an
                ``OSError`` naming URL, record, band and HTTP status); ``StaleObjectError``
                when the COG changed since the build, ``DeadlineExceededError`` when the
                deadline ran out.
        """
        trust = _Trust(error_policy, deadline, timeout, staleness)
        options = self._options(data_source, max_concurrent, progress, cloud_config, backend, trust)
        aoi = _Aoi(geometry_crs, geometry_column, target_crs, all_touched)
        cube = _Cube(resolution, resampling, dtype, fill_value, anchor)
        request = self._aoi_request("get_numpy", geometries, bands, options, aoi, cube)
        ids = {"return_ids": True} if return_ids else {}  # the entry's own default otherwise
        source, readers = self._filtered(filters), self._readers()
        with self._explained(source, request, filters):
            return readers.get_numpy(source, request, options, **ids)

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
        error_policy: str = "raise",
        deadline: float | None = None,
        timeout: float | None = None,
        staleness: str | None = None,
        resolution: float | tuple[float, float] | None = None,
        resampling: str | Mapping[str, str] = "nearest",
        dtype: Any = None,
        fill_value: float | Mapping[str, float] | None = None,
        groupby: str | None = None,
        anchor: Any = None,
        chunks: Any = None,
        **filters: Any,
    ) -> xr.Dataset:
        """Read ``bands`` inside ``geometries`` as an ``xarray.Dataset`` (time, geometry, y, x).

        One regular grid for every AOI and record (see ``docs/cube.md``): ``target_crs``
        (default: the most common record CRS), ``resolution`` (default: the finest native
        one), ``anchor`` (default: the native grid), covering every AOI's window clipped to
        the records' extents. Keywords added after rasteret 0.4.1 (defaults keep its output):
        ``error_policy``, ``deadline``, ``timeout`` and ``staleness`` as in :meth:`get_numpy`;
        ``resolution``, ``resampling``, ``dtype``, ``fill_value`` and ``anchor`` as in
        :meth:`get_numpy`; ``groupby`` (None: records sharing a datetime are fused, with a
        warning; ``"time"``, ``"id"``, ``"solar_day"``, as in odc-stac); ``chunks``
        (``"auto"``, an int, or a dict such as ``{"time": 1, "y": 512, "x": 512}``) makes the
        Dataset lazy and dask-backed: planned from the index alone (no pixel or header
        request), each chunk reads only its own tiles when computed, with the same dims,
        coordinates, attributes and dtypes as the eager result and identical values. Needs
        ``rasteret[dask]``.

        Raises:
            ValueError: Unknown band, unknown ``xr_combine`` / ``groupby``, bad ``chunks``
                or grid options, invalid filters.
            ImportError: ``chunks`` given without dask installed.
            MemoryBudgetError: An eager cube would not fit the memory budget.
        """
        output = XarrayOptions.build(xr_combine=xr_combine, chunks=chunks, groupby=groupby)
        trust = _Trust(error_policy, deadline, timeout, staleness)
        options = self._options(data_source, max_concurrent, progress, cloud_config, backend, trust)
        aoi = _Aoi(geometry_crs, geometry_column, target_crs, all_touched)
        cube = _Cube(resolution, resampling, dtype, fill_value, anchor)
        request = self._aoi_request("get_xarray", geometries, bands, options, aoi, cube)
        source, readers = self._filtered(filters), self._readers()
        with self._explained(source, request, filters):
            return readers.get_xarray(source, request, output, options)

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
        error_policy: str = "raise",
        deadline: float | None = None,
        timeout: float | None = None,
        staleness: str | None = None,
        **filters: Any,
    ) -> Any:
        """Read ``bands`` inside ``geometries`` as a GeoDataFrame, one row per record x AOI x band.

        ``error_policy``, ``deadline``, ``timeout`` and ``staleness``: see :meth:`get_numpy`.

        Raises:
            ValueError: Unknown band, invalid filters or options.
            ImportError: geopandas is not installed (``rasteret[geopandas]``).
            MemoryBudgetError: The read would not fit the memory budget.
        """
        trust = _Trust(error_policy, deadline, timeout, staleness)
        options = self._options(data_source, max_concurrent, progress, cloud_config, backend, trust)
        aoi = _Aoi(geometry_crs, geometry_column, target_crs, all_touched)
        request = self._aoi_request("get_gdf", geometries, bands, options, aoi)
        source, readers = self._filtered(filters), self._readers()
        with self._explained(source, request, filters):
            return readers.get_gdf(source, request, options)

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
        error_policy: str = "raise",
        deadline: float | None = None,
        timeout: float | None = None,
        staleness: str | None = None,
        **filters: Any,
    ) -> pa.Table:
        """Sample ``bands`` at ``points``; returns an Arrow table with a fixed schema.

        ``error_policy``, ``deadline``, ``timeout`` and ``staleness``: see :meth:`get_numpy`.

        Raises:
            ValueError: Unknown band, bad ``match`` / ``max_distance_pixels`` /
                ``return_neighbourhood``, invalid filters.
            MemoryBudgetError: The neighbourhoods would not fit the memory budget.
        """
        trust = _Trust(error_policy, deadline, timeout, staleness)
        options = self._options(data_source, max_concurrent, progress, cloud_config, backend, trust)
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
        error_policy: str = "raise",
        deadline: float | None = None,
        timeout: float | None = None,
        staleness: str | None = None,
    ) -> np.ndarray:
        """Read a fixed grid ``bounds`` x ``res`` (output CRS) mosaicked from ``record_ids``.

        Returns ``[C, H, W]``, or ``[T, C, H, W]`` with ``group_by="id"`` / ``"datetime"``.
        ``error_policy``, ``deadline``, ``timeout`` and ``staleness``: see :meth:`get_numpy`;
        under ``"raise"`` a record id missing from the collection raises too.

        Raises:
            ValueError: Empty ``record_ids``, bad ``bounds`` / ``res`` / ``group_by``,
                unknown band, record ids not in the collection.
            MemoryBudgetError: The grid would not fit the memory budget (e.g. a tiny
                ``res``); nothing is fetched.
            ReadError: Nothing readable; names the first failure's URL, band, record and
                HTTP status.
        """
        trust = _Trust(error_policy, deadline, timeout, staleness)
        options = self._options(None, max_concurrent, None, None, backend, trust)
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
        if self._count() == 0:  # a streamed hf:// view is not counted (None)
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

        criteria = (("cloud_cover_lt", cloud_cover_lt), ("date_range", date_range), ("bbox", bbox))
        given: dict[str, Any] = {k: v for k, v in criteria if v is not None}
        if split is not None:
            given.update(split=split, split_column=split_column)
        aois = None
        if geometries is not None:
            with (
                crs_errors("geometries_crs", geometries_crs),
                geometry_errors("to_torchgeo_dataset geometries", geometries),
            ):
                check_bbox_aoi(geometries, "to_torchgeo_dataset geometries bbox")
                aois = normalize_aois(geometries, geometry_crs=geometries_crs)
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
        skip = _Trust("skip", None, None, None)  # chips of unreadable records: skipped, warned
        options = self._options(None, max_concurrent, None, cloud_config, backend, skip)
        return self._readers().torchgeo_dataset(self._filtered(given), request, options)
