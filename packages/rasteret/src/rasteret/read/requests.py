"""Typed read requests, built once from the public keywords and validated there.

``Collection.get_numpy(...)`` & co. keep rasteret 0.4.1's flat keyword signatures. Each call
checks its arguments once and builds frozen, hashable values; everything below takes them:

- :class:`ReadOptions` — *how* a read runs: data source, backend, cloud config, concurrency,
  progress, error policy;
- :class:`AoiRequest` — *what* an AOI read (``get_numpy`` / ``get_xarray`` / ``get_gdf``)
  reads: normalised polygons with their CRS, bands, output CRS, masking;
- :class:`XarrayOptions` — ``get_xarray``'s output options (``xr_combine``, ``chunks``,
  ``groupby``); :class:`~rasteret.read.cube_options.CubeOptions` (the ``cube`` field of an
  :class:`AoiRequest`) — output grid and pixel values (``resolution``, ``resampling``,
  ``dtype``, ``fill_value``, ``anchor``);
- :class:`PointRequest` — ``sample_points``; :class:`GridRequest` — ``read_window``;
  :class:`TorchGeoRequest` — ``to_torchgeo_dataset``.

New options are new fields with a default that keeps today's behaviour (resolution,
resampling, dtype or grouping of a cube; deadlines, budgets or staleness checks of a read).
Bulk inputs with no value identity (point coordinate arrays, attribute tables of tabular
inputs, user callables) are held in fields that take no part in equality or hashing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rasteret._options import resolve_progress
from rasteret.errors import BandNotFoundError, InvalidInputError, UnsupportedGeometryError
from rasteret.query.validate import Box, numbers
from rasteret.read.cube_options import CubeOptions, check_groupby
from rasteret.read.cube_options import GroupBy as CubeGroupBy
from rasteret.read.inputs import (
    check_aoi_geometries,
    check_bbox_aoi,
    check_crs,
    crs_errors,
    geometry_errors,
    preview,
)
from rasteret.read.limits import fetch_options, resolve_budget
from rasteret_catalog import BandRegistry, CloudConfig, FrozenMap, asset_key_candidates

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io import AoiInput, FetchOptions, MemoryBudget
    from rasteret_io.protocols import Backend

__all__ = [
    "AoiRequest",
    "Chunking",
    "CubeOptions",
    "ErrorPolicy",
    "GridRequest",
    "PointRequest",
    "ReadOptions",
    "TorchGeoRequest",
    "XarrayOptions",
    "check_bands",
]

ErrorPolicy = Literal["raise", "skip", "nodata"]
XrCombine = Literal["combine_first", "merge", "merge_override"]
Match = Literal["all", "latest"]
Neighbourhood = Literal["off", "always", "if_center_nodata"]
GroupBy = Literal["id", "datetime"] | None

_ERROR_POLICIES = ("raise", "skip", "nodata")
_XR_COMBINE = ("combine_first", "merge", "merge_override")
_MATCH = ("all", "latest")
_NEIGHBOURHOOD = ("off", "always", "if_center_nodata")
_GROUP_BY = (None, "id", "datetime")
_DIMS = ("time", "geometry", "y", "x")


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {value!r}")
    if value < 1:
        raise InvalidInputError(f"{what} must be >= 1, got {value}")
    return value


def check_bands(
    bands: Any, available: Sequence[str], band_map: Mapping[str, str] | None
) -> tuple[str, ...]:
    """``bands`` as a tuple of codes, each resolvable among ``available`` (directly or mapped).

    A single string is one band. Nothing is checked against an empty ``available`` (a
    collection without band metadata columns).

    Raises:
        InvalidInputError: Not a non-empty sequence of non-empty strings.
        BandNotFoundError: A band matches no column (the message lists the available bands).
    """
    if isinstance(bands, str):
        bands = [bands]
    if bands is None or not isinstance(bands, Sequence) or not bands:
        raise InvalidInputError(
            f"bands must be a non-empty list of band codes, got {bands!r}; "
            f"available bands: {list(available)}"
        )
    if not all(isinstance(b, str) and b for b in bands):
        raise InvalidInputError(f"band codes must be non-empty strings, got {bands!r}")
    if available:
        missing = [
            b for b in bands if not any(c in available for c in asset_key_candidates(b, band_map))
        ]
        if missing:
            raise BandNotFoundError(
                f"Band(s) not found: {missing}. Available bands: {list(available)}"
            )
    return tuple(bands)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How a read runs.

    Attributes:
        data_source: Resolved data source id (drives band maps and the default cloud config).
        backend: The caller's range reader, else None (built from ``cloud_config``, else the
            process default).
        cloud_config: Cloud settings, else the one registered for ``data_source``.
        max_concurrent: Range requests in flight per record (the read's total is
            ``rasteret.options(max_requests_in_flight=...)``).
        progress: Show a progress bar.
        error_policy: What a record/band whose pixels cannot be read (after retries) does:
            ``"raise"`` (default) the error naming URL, record, band and HTTP status;
            ``"skip"`` leave it out (one ``RuntimeWarning`` naming it); ``"nodata"`` keep it,
            filled with nodata. Records the index cannot resolve for a band (no asset, no
            indexed header) are left out with a warning under every policy.
        fetch: Retries, per-attempt timeout, total deadline and staleness policy of the
            read's fetches (None: :class:`~rasteret_io.FetchOptions` defaults with
            ``max_concurrent``).
        memory_budget: Largest total size of the read's arrays (None: not checked).
        band_aliases: ``{alias: band code}`` the collection records (its ``band_aliases``
            metadata: asset keys and common names of its bands).
        asset_signing: URL signing scheme the collection's assets need (its
            ``asset_signing`` metadata, e.g. ``"planetary_computer"``): without ``backend``,
            every request is signed with it (see :func:`rasteret.read.backends.read_backend`).
    """

    data_source: str = ""
    backend: Backend | None = None
    cloud_config: CloudConfig | None = None
    max_concurrent: int = 50
    progress: bool = False
    error_policy: ErrorPolicy = "raise"
    fetch: FetchOptions | None = None
    memory_budget: MemoryBudget | None = None
    band_aliases: FrozenMap[str, str] | None = None
    asset_signing: str | None = None

    @classmethod
    def build(
        cls,
        *,
        data_source: str,
        max_concurrent: Any = 50,
        progress: bool | None = None,
        cloud_config: CloudConfig | Mapping[str, Any] | None = None,
        backend: Backend | None = None,
        error_policy: Any = "raise",
        deadline: Any = None,
        timeout: Any = None,
        staleness: Any = None,
        band_aliases: Mapping[str, str] | None = None,
        asset_signing: str | None = None,
    ) -> ReadOptions:
        """Check the public keywords (``None`` takes the global option: ``progress``,
        ``deadline``, ``timeout``, ``staleness``; the memory budget is always the global
        option, resolved now).

        Raises:
            InvalidInputError: ``max_concurrent`` is not an int >= 1, an unknown
                ``error_policy`` / ``staleness``, a non-positive ``deadline`` / ``timeout``.
            TypeError: ``cloud_config`` is neither a CloudConfig nor a mapping.
        """
        if isinstance(cloud_config, Mapping):
            cloud_config = CloudConfig.from_dict(cloud_config)
        elif cloud_config is not None and not isinstance(cloud_config, CloudConfig):
            raise TypeError(
                f"cloud_config must be a CloudConfig, got {type(cloud_config).__name__}"
            )
        if error_policy not in _ERROR_POLICIES:
            raise InvalidInputError(
                f"error_policy must be one of {list(_ERROR_POLICIES)}, got {error_policy!r}"
            )
        concurrency = _positive_int(max_concurrent, "max_concurrent")
        return cls(
            data_source=data_source,
            backend=backend,
            cloud_config=cloud_config,
            max_concurrent=concurrency,
            progress=resolve_progress(progress),
            error_policy=error_policy,
            fetch=fetch_options(concurrency, deadline, timeout, staleness),
            memory_budget=resolve_budget(),
            band_aliases=FrozenMap(band_aliases) if band_aliases else None,
            asset_signing=asset_signing or None,
        )

    @property
    def band_map(self) -> dict[str, str] | None:
        """How band names resolve to asset keys: the registered band map of ``data_source``
        over the collection's own aliases (None when there is neither)."""
        merged = {**(self.band_aliases or {}), **BandRegistry.get(self.data_source)}
        return merged or None

    @property
    def staleness(self) -> str:
        """The staleness policy of the read's fetches."""
        return self.fetch.staleness if self.fetch is not None else "raise"

    def fetch_options(self) -> FetchOptions:
        """:attr:`fetch`, or the defaults with ``max_concurrent``."""
        if self.fetch is not None:
            return self.fetch
        from rasteret_io import FetchOptions

        return FetchOptions(concurrency=self.max_concurrent)


@dataclass(frozen=True, slots=True)
class AoiRequest:
    """What an AOI read reads.

    Attributes:
        geometries: The AOIs as shapely (Multi)Polygons, in input order.
        crs: Their CRS (a ``pyproj.CRS``).
        bands: Band codes, in output order.
        target_crs: Output CRS (None: the records' own, or the most common one).
        all_touched: Rasterize AOIs with ``all_touched``.
        attributes: Non-geometry columns of a tabular AOI input (``get_gdf`` joins them).
        cube: Output grid and pixel-value options of stacked reads (``get_numpy``,
            ``get_xarray``).
        crs_assumed: ``crs`` is EPSG:4326 because ``geometry_crs="auto"`` met an input that
            carries no CRS (error messages say so).
    """

    geometries: tuple[Any, ...]
    crs: Any
    bands: tuple[str, ...]
    target_crs: Any = None
    all_touched: bool = False
    attributes: Any = field(default=None, compare=False)
    cube: CubeOptions = field(default_factory=CubeOptions)
    crs_assumed: bool = field(default=False, compare=False)

    @classmethod
    def build(
        cls,
        geometries: Any,
        bands: tuple[str, ...],
        *,
        what: str,
        geometry_crs: Any = "auto",
        geometry_column: str | None = None,
        target_crs: Any = None,
        all_touched: bool = False,
        cube: CubeOptions | None = None,
    ) -> AoiRequest:
        """Normalise the AOI input (GeoPandas objects through
        :func:`rasteret.query.geoinput.plain_geometries`, then
        :func:`rasteret_io.normalize_aois`).

        Raises:
            InvalidInputError: No geometries, an inverted bbox, an empty AOI or one with NaN /
                infinite coordinates, WKB / GeoJSON that does not parse, a missing geometry
                column or CRS of a table, an unknown ``geometry_crs`` / ``target_crs``, or a
                CRS conflict / missing CRS of a GeoPandas input (messages name the input).
            UnsupportedGeometryError: An AOI that is not a (Multi)Polygon, or an unusable input.
        """
        from rasteret.query.geoinput import plain_geometries
        from rasteret_io import normalize_aois

        if geometries is None:
            raise InvalidInputError(
                f"{what} needs geometries (a bbox tuple, shapely geometries, WKB, GeoJSON, a "
                "GeoDataFrame / GeoSeries or an Arrow table of geometries)"
            )
        check_bbox_aoi(geometries, f"{what} bbox")
        with crs_errors("geometry_crs", geometry_crs):
            plain = plain_geometries(
                geometries, geometry_column=geometry_column, geometry_crs=geometry_crs, what=what
            )
            with geometry_errors(f"{what} geometries", geometries):
                aois = normalize_aois(
                    plain.value,
                    geometry_column=plain.geometry_column,
                    geometry_crs=plain.geometry_crs,
                )
        if not aois.geometries:
            raise InvalidInputError(
                f"{what} got no geometries (input: {preview(geometries)}): nothing to read"
            )
        check_aoi_geometries(aois.geometries)
        for i, g in enumerate(aois.geometries):
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                raise UnsupportedGeometryError(
                    f"Unsupported geometry for AOI {i}: {g.geom_type}; get_* reads need Polygon "
                    "or MultiPolygon geometries (use sample_points for Point geometries)"
                )
        return cls(
            tuple(aois.geometries),
            aois.crs,
            bands,
            target_crs=check_crs(target_crs, "target_crs"),
            all_touched=bool(all_touched),
            attributes=aois.attributes,
            cube=cube if cube is not None else CubeOptions(),
            crs_assumed=plain.geometry_crs == "auto" and aois.attributes is None,
        )

    def aoi_input(self) -> AoiInput:
        """The AOIs as the read engine takes them."""
        from rasteret_io import AoiInput

        return AoiInput(self.geometries, self.crs, self.attributes)

    def lonlat_bounds(self) -> Box | None:
        """The lon/lat box around every AOI (None when it cannot be computed)."""
        from rasteret_io import to_crs

        if not self.geometries:
            return None
        geoms = to_crs(self.geometries, self.crs, 4326)
        xs0, ys0, xs1, ys1 = zip(*(g.bounds for g in geoms), strict=True)
        box = (min(xs0), min(ys0), max(xs1), max(ys1))
        if box[0] > box[2] or box[1] > box[3] or any(math.isnan(v) for v in box):
            return None
        return box


@dataclass(frozen=True, slots=True)
class Chunking:
    """Dask chunk sizes of a lazy ``get_xarray`` cube (None: the whole axis)."""

    time: int | None = 1
    y: int | None = None
    x: int | None = None

    @classmethod
    def parse(cls, chunks: Any) -> Chunking:
        """From ``"auto"`` / ``True`` (1 step, 1024 x 1024 px), an int (time, y and x; ``-1``
        whole axes) or a mapping of ``time`` / ``geometry`` (always 1) / ``y`` / ``x`` — a
        missing ``time`` means 1 step, a missing ``y`` / ``x`` or ``-1`` / None the whole axis.

        Raises:
            InvalidInputError: Any other value.
        """
        if chunks is True or chunks == "auto":
            return cls(1, 1024, 1024)
        if isinstance(chunks, int) and not isinstance(chunks, bool):
            if chunks == -1:
                return cls(None, None, None)
            if chunks < 1:
                raise InvalidInputError(f"chunks must be >= 1 or -1, got {chunks}")
            return cls(chunks, chunks, chunks)
        if isinstance(chunks, Mapping):
            unknown = sorted(set(chunks) - set(_DIMS))
            if unknown:
                raise InvalidInputError(
                    f"chunks names unknown dims {unknown}; dims are {list(_DIMS)}"
                )
            sizes: dict[str, int | None] = {"time": 1, "y": None, "x": None}
            for dim in sizes:
                if dim not in chunks:
                    continue
                v = chunks[dim]
                if v is None or v == -1:
                    sizes[dim] = None
                elif isinstance(v, int) and not isinstance(v, bool) and v >= 1:
                    sizes[dim] = v
                else:
                    raise InvalidInputError(
                        f"chunks[{dim!r}] must be an int >= 1, -1 or None, got {v!r}"
                    )
            return cls(**sizes)
        raise InvalidInputError(
            f"chunks must be None, 'auto', True, an int or a dict of dim -> size, got {chunks!r}"
        )

    def as_dict(self) -> dict[str, int | None]:
        """``{"time": ..., "y": ..., "x": ...}``."""
        return {"time": self.time, "y": self.y, "x": self.x}


@dataclass(frozen=True, slots=True)
class XarrayOptions:
    """Output options of ``get_xarray``.

    Attributes:
        xr_combine: Kept for rasteret 0.4.1 callers (checked, otherwise unused: every AOI
            is placed on one covering grid, see ``docs/cube.md``).
        chunks: Dask chunking of a lazy cube; None reads eagerly.
        groupby: Which records share a time step (None: equal datetimes, with a warning when
            that fuses records; ``"time"``, ``"id"``, ``"solar_day"``).
    """

    xr_combine: XrCombine = "combine_first"
    chunks: Chunking | None = None
    groupby: CubeGroupBy = None

    @classmethod
    def build(
        cls, *, xr_combine: Any = "combine_first", chunks: Any = None, groupby: Any = None
    ) -> XarrayOptions:
        """Check ``xr_combine`` and ``groupby`` and parse ``chunks``.

        Raises:
            InvalidInputError: Unknown ``xr_combine`` or ``groupby``, or bad ``chunks``.
        """
        if xr_combine not in _XR_COMBINE:
            raise InvalidInputError(
                f"Unknown xr_combine strategy {xr_combine!r}: use 'combine_first', 'merge' or "
                "'merge_override'"
            )
        return cls(
            xr_combine, None if chunks is None else Chunking.parse(chunks), check_groupby(groupby)
        )


@dataclass(frozen=True, slots=True)
class PointRequest:
    """What ``sample_points`` samples.

    Attributes:
        xs: Point x coordinates (float64 array).
        ys: Point y coordinates (float64 array).
        epsg: EPSG code of the points' CRS.
        bands: Band codes.
        match: ``"all"`` records, or only the ``"latest"`` one that has data.
        max_distance_pixels: Nodata fallback radius in pixels.
        return_neighbourhood: ``"off"``, ``"always"`` or ``"if_center_nodata"``.
        attributes: The input table's own columns, appended to the output.
    """

    xs: Any = field(compare=False)
    ys: Any = field(compare=False)
    epsg: int
    bands: tuple[str, ...]
    match: Match = "all"
    max_distance_pixels: int = 0
    return_neighbourhood: Neighbourhood = "off"
    attributes: Any = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        points: Any,
        bands: tuple[str, ...],
        *,
        geometry_column: str | None = None,
        x_column: str | None = None,
        y_column: str | None = None,
        geometry_crs: Any = "auto",
        match: Any = "all",
        max_distance_pixels: Any = 0,
        return_neighbourhood: Any = "off",
    ) -> PointRequest:
        """Check the sampling options and normalise the points.

        Raises:
            InvalidInputError: An unknown option value, a neighbourhood without a radius, a
                points table without usable columns or CRS, points that do not parse, empty
                points or NaN / infinite coordinates (messages name the input).
            UnsupportedGeometryError: Geometries that are not points.
        """
        cls._check(match, max_distance_pixels, return_neighbourhood)
        # numpy / shapely / pyproj are loaded by the first point read, not by `load`
        from rasteret.query.geoinput import plain_geometries
        from rasteret.read._point_input import parse_points

        with crs_errors("geometry_crs", geometry_crs):
            plain = plain_geometries(
                points, geometry_column=geometry_column, geometry_crs=geometry_crs, what="points"
            )
            with geometry_errors("sample_points points", points):
                xs, ys, epsg, attributes = parse_points(
                    plain.value,
                    geometry_column=plain.geometry_column,
                    x_column=x_column,
                    y_column=y_column,
                    geometry_crs=plain.geometry_crs,
                )
        return cls(
            xs,
            ys,
            epsg,
            bands,
            match=match,
            max_distance_pixels=max_distance_pixels,
            return_neighbourhood=return_neighbourhood,
            attributes=attributes,
        )

    @staticmethod
    def _check(match: Any, max_distance_pixels: Any, return_neighbourhood: Any) -> None:
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


@dataclass(frozen=True, slots=True)
class GridRequest:
    """What ``read_window`` reads: ``record_ids`` mosaicked on one grid.

    Attributes:
        record_ids: Records in mosaic priority order (first wins).
        bounds: ``(xmin, ymin, xmax, ymax)`` in the output CRS.
        res: ``(xres, yres)``, positive.
        bands: Band codes.
        target_crs: Output CRS (None: the first record's).
        group_by: Stack records by ``"id"`` / ``"datetime"`` instead of mosaicking.
    """

    record_ids: tuple[str, ...]
    bounds: Box
    res: tuple[float, float]
    bands: tuple[str, ...]
    target_crs: Any = None
    group_by: GroupBy = None

    @classmethod
    def build(
        cls,
        record_ids: Any,
        bands: tuple[str, ...],
        *,
        bounds: Any,
        res: Any,
        target_crs: Any = None,
        group_by: Any = None,
    ) -> GridRequest:
        """Check the window.

        Raises:
            InvalidInputError: Empty ``record_ids``, bad ``bounds`` / ``res`` / ``group_by``,
                an unknown ``target_crs``.
        """
        ids = record_ids.to_pylist() if hasattr(record_ids, "to_pylist") else record_ids
        if isinstance(ids, str) or ids is None or len(ids) == 0:
            raise InvalidInputError("read_window needs a non-empty sequence of record_ids")
        xmin, ymin, xmax, ymax = numbers(bounds, 4, "bounds must be (xmin, ymin, xmax, ymax)")
        if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
            raise InvalidInputError(f"bounds must be finite numbers, got {bounds!r}")
        if not (xmin < xmax and ymin < ymax):
            raise InvalidInputError(f"bounds must have xmin < xmax and ymin < ymax, got {bounds!r}")
        xres, yres = numbers(res, 2, "res must be (xres, yres)")
        if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
            raise InvalidInputError(f"res values must be positive, got {res!r}")
        if group_by not in _GROUP_BY:
            raise InvalidInputError(f"group_by must be None, 'id' or 'datetime', got {group_by!r}")
        return cls(
            tuple(str(i) for i in ids),
            (xmin, ymin, xmax, ymax),
            (xres, yres),
            bands,
            target_crs=check_crs(target_crs, "target_crs"),
            group_by=group_by,
        )


@dataclass(frozen=True, slots=True)
class TorchGeoRequest:
    """What a TorchGeo ``GeoDataset`` over a collection samples.

    Attributes:
        bands: Band codes (the first band's grid defines the footprints).
        chip_size: Recorded for samplers (TorchGeo's samplers take their own size).
        is_image: Samples hold ``"image"`` (else ``"mask"``).
        allow_resample: Accept bands of different resolutions (resampled onto the chip grid).
        label_field: Column returned as ``"label"``.
        geometries: Geometries restricting the index to records meeting their bounds.
        geometries_crs: CRS of ``geometries``.
        time_series: Stack records of a chip as ``[T, C, H, W]``.
        target_crs: Dataset CRS (None: the first record's; others are dropped).
        transforms: TorchGeo sample transform.
    """

    bands: tuple[str, ...]
    chip_size: int | None = None
    is_image: bool = True
    allow_resample: bool = False
    label_field: str | None = None
    geometries: tuple[Any, ...] | None = None
    geometries_crs: Any = None
    time_series: bool = False
    target_crs: Any = None
    transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = field(
        default=None, compare=False
    )
