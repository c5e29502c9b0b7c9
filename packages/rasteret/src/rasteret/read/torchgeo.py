"""A :class:`torchgeo.datasets.GeoDataset` over a record source (``to_torchgeo_dataset``).

Its spatial index is built from the Parquet index alone (exact pixel-grid footprints from the
band metadata; no COG request), so constructing it in the parent process and handing it to a
``DataLoader`` with worker processes is safe. Each ``dataset[x0:x1:xres, y0:y1:yres, t0:t1]``
reads the chip straight from the COGs through a :class:`rasteret_io.BatchReader` recipe —
rasterio-merge placement on the query grid, first valid pixel wins — in the calling process,
on that process's own event loop and connection pool.

Install with ``pip install 'rasteret[torchgeo]'`` (torchgeo >= 0.9, Python >= 3.12).
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyproj
import shapely

from rasteret.errors import InvalidInputError, MissingDependencyError, NoDataError, ReadError
from rasteret.read._adapter import batch_reader, engine_records, reader_fetcher
from rasteret.read.limits import budget_for
from rasteret_catalog import asset_key_candidates
from rasteret_catalog.schema import Col, band_metadata_column
from rasteret_io import (
    Grid,
    crs_of_row,
    read_grid,
    run_sync,
    to_crs,
    transform_from_metadata,
    transformer,
)
from rasteret_io import same_crs as _same_crs

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.read.requests import ReadOptions, TorchGeoRequest
    from rasteret.records import RecordSource

__all__ = ["RasteretGeoDataset", "dataset_of"]

_EXTRA_HINT = "install it with `pip install 'rasteret[torchgeo]'` (torchgeo >= 0.9, Python >= 3.12)"

try:  # torch / torchgeo are optional
    import torch
    from torchgeo.datasets import GeoDataset as _GeoDataset

    _IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    torch = None
    _GeoDataset = object
    _IMPORT_ERROR = exc


def _require_torchgeo() -> None:
    if _IMPORT_ERROR is not None:
        raise MissingDependencyError(
            f"Collection.to_torchgeo_dataset() needs torch and torchgeo: {_EXTRA_HINT} "
            f"({_IMPORT_ERROR})"
        ) from _IMPORT_ERROR
    if not hasattr(_GeoDataset, "_slice_to_tensor"):
        raise MissingDependencyError(
            "Collection.to_torchgeo_dataset() needs torchgeo >= 0.9 (GeoSlice indexing); "
            f"{_EXTRA_HINT}"
        )


def _pixel_box(meta: dict[str, Any]) -> tuple[float, float, float, float, float, float] | None:
    """``(minx, miny, maxx, maxy, |sx|, |sy|)`` of a band's full-resolution grid."""
    try:
        t = transform_from_metadata(meta["transform"])
        w, h = int(meta["image_width"]), int(meta["image_height"])
    except (KeyError, TypeError, ValueError):
        return None
    if w <= 0 or h <= 0:
        return None
    xs = (t[2], t[2] + t[0] * w)
    ys = (t[5], t[5] + t[4] * h)
    return (min(xs), min(ys), max(xs), max(ys), abs(t[0]), abs(t[4]))


def _naive_ts(value: Any) -> Any:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _interval(start: Any, stop: Any) -> tuple[Any, Any]:
    """``(start, stop)`` of a record's index interval (naive UTC timestamps).

    A record with one datetime gets ``[dt, dt + 1 µs]`` rather than the degenerate
    ``[dt, dt]``: TorchGeo's own datasets query with a right-closed ``pd.Interval``, so an
    ``IntersectionDataset`` with, e.g., a ``RasterDataset`` of labels would otherwise hand
    them an empty time slice and fail with IndexError.
    """
    a, b = _naive_ts(start), _naive_ts(stop)
    if b <= a:
        b = a + pd.Timedelta(microseconds=1)
    return a, b


def _box_in(crs_from: Any, crs_to: Any, box: Sequence[float]) -> tuple[float, ...]:
    """Bounds of ``box`` reprojected (edges densified, like GDAL's transform_bounds)."""
    if _same_crs(crs_from, crs_to):
        return tuple(box)
    x0, y0, x1, y1 = box
    n = 21
    xs = np.concatenate(
        [np.linspace(x0, x1, n), np.full(n, x1), np.linspace(x1, x0, n), np.full(n, x0)]
    )
    ys = np.concatenate(
        [np.full(n, y0), np.linspace(y0, y1, n), np.full(n, y1), np.linspace(y1, y0, n)]
    )
    tx, ty = transformer(crs_from, crs_to).transform(xs, ys)
    return (float(np.min(tx)), float(np.min(ty)), float(np.max(tx)), float(np.max(ty)))


class RasteretGeoDataset(_GeoDataset):
    """A TorchGeo ``GeoDataset`` whose samples are read from a rasteret collection.

    Build it with :meth:`rasteret.Collection.to_torchgeo_dataset`. Attributes follow
    TorchGeo: ``index`` (a GeoDataFrame with a closed ``pd.IntervalIndex`` named
    ``"datetime"``, an ``id`` column and the exact footprints), ``crs``, ``res``,
    ``bands``, ``is_image``, ``time_series`` and ``transforms``.

    A sample is ``{"image" | "mask", "bounds", "transform"}`` (+ ``"label"`` with
    ``label_field``), as TorchGeo's ``RasterDataset`` returns it (the CRS is ``dataset.crs``): ``image`` is ``[C, H, W]`` (``[T, C, H, W]`` with ``time_series``), ``mask``
    drops the channel axis when there is one band. Values keep their dtype, except
    ``uint16`` -> ``int32`` and ``uint32`` -> ``int64`` (torch has no arithmetic for them).
    """

    def __init__(
        self, source: RecordSource, request: TorchGeoRequest, options: ReadOptions
    ) -> None:
        _require_torchgeo()
        import geopandas as gpd  # optional (it comes with torchgeo): loaded only here

        if not request.bands:
            raise InvalidInputError("to_torchgeo_dataset needs a non-empty list of bands")
        self.bands = list(request.bands)
        self.chip_size = request.chip_size
        self.is_image = request.is_image
        self.time_series = request.time_series
        self.transforms = request.transforms
        self.label_field = request.label_field
        band_map = options.band_map
        names = set(source.schema.names)
        meta_cols = [self._metadata_column(b, names, band_map) for b in self.bands]
        required = [Col.ID, Col.DATETIME, Col.ASSETS]
        missing = [c.value for c in required if c not in names]
        if self.label_field is not None and self.label_field not in names:
            missing.append(self.label_field)
        if missing:
            raise InvalidInputError(f"to_torchgeo_dataset: the collection lacks columns {missing}")
        extra = [c for c in ("start_datetime", "end_datetime", self.label_field) if c]
        records = engine_records(source, self.bands, band_map, extra=extra)
        if not len(records):
            raise InvalidInputError("to_torchgeo_dataset: the (filtered) collection is empty")

        keep: list[int] = []
        boxes: list[tuple[float, ...]] = []
        times: list[tuple[Any, Any]] = []
        row_crs: list[Any] = []
        for i in range(len(records)):
            r = records.row(i)
            meta = r.get(meta_cols[0])
            box = _pixel_box(meta) if meta else None
            crs = crs_of_row(r)
            t0 = r.get(Col.DATETIME) or r.get("start_datetime")
            t1 = r.get(Col.DATETIME) or r.get("end_datetime") or t0
            if box is None or crs is None or t0 is None:
                continue
            keep.append(i)
            boxes.append(box)
            times.append((t0, t1))
            row_crs.append(crs)
        if not keep:
            raise InvalidInputError(
                f"to_torchgeo_dataset: none of the {len(records)} records has a datetime, a CRS "
                f"and indexed metadata for band {self.bands[0]!r}"
            )
        target_crs = request.target_crs
        ds_crs = pyproj.CRS.from_user_input(target_crs if target_crs is not None else row_crs[0])
        if target_crs is None:
            same = [j for j, c in enumerate(row_crs) if pyproj.CRS.from_user_input(c) == ds_crs]
            if len(same) < len(keep):
                warnings.warn(
                    f"to_torchgeo_dataset: dropped {len(keep) - len(same)} record(s) whose CRS "
                    f"differs from the dataset CRS {ds_crs.to_string()}; pass target_crs= to "
                    "keep every record (they are then reprojected on read)",
                    UserWarning,
                    stacklevel=3,
                )
            keep = [keep[j] for j in same]
            boxes = [boxes[j] for j in same]
            times = [times[j] for j in same]
            row_crs = [row_crs[j] for j in same]

        res = self._resolution(records.row(keep[0]), meta_cols, boxes, row_crs[0], ds_crs, request)
        geoms = []
        for bx, c in zip(boxes, row_crs, strict=True):
            geoms.append(shapely.box(*_box_in(c, ds_crs, bx[:4])))
        ids = [str(records.value(i, Col.ID)) for i in keep]
        interval = pd.IntervalIndex.from_tuples(
            [_interval(a, b) for a, b in times], closed="both", name="datetime"
        )
        index = gpd.GeoDataFrame({"id": ids}, index=interval, geometry=geoms, crs=ds_crs)
        if request.geometries:
            gs = to_crs(request.geometries, request.geometries_crs, ds_crs)
            xs0, ys0, xs1, ys1 = zip(*(g.bounds for g in gs), strict=True)
            union = shapely.box(min(xs0), min(ys0), max(xs1), max(ys1))
            index = index[index.intersects(union)]
        if index.empty:
            raise InvalidInputError("to_torchgeo_dataset: no record is left after filtering")
        self.index = index
        self._res = (float(res[0]), float(res[1]))
        self._records = records.take(keep)
        self._position = {rid: j for j, rid in enumerate(ids)}
        self._labels = (
            {rid: self._records.value(j, self.label_field) for j, rid in enumerate(ids)}
            if self.label_field is not None
            else {}
        )
        self._read_crs: Any = ds_crs.to_epsg() or ds_crs.to_wkt()
        self._reader = batch_reader(
            self.bands, options, budget=budget_for(options.memory_budget, "to_torchgeo_dataset")
        )
        self._warned_dtype = False
        self._warned_skip = False

    @staticmethod
    def _metadata_column(band: str, names: set[str], band_map: dict[str, str] | None) -> str:
        col = next(
            (
                band_metadata_column(k)
                for k in asset_key_candidates(band, band_map)
                if band_metadata_column(k) in names
            ),
            None,
        )
        if col is None:
            raise InvalidInputError(
                f"to_torchgeo_dataset: band {band!r} has no indexed metadata column "
                f"({band_metadata_column(band)}); build the collection with enrich_cog=True"
            )
        return col

    def _resolution(
        self,
        first: dict[str, Any],
        meta_cols: list[str],
        boxes: list[tuple[float, ...]],
        first_crs: Any,
        ds_crs: Any,
        request: TorchGeoRequest,
    ) -> tuple[float, float]:
        """The first record's first-band resolution in the dataset CRS (bands checked)."""
        x0, y0, x1, y1, sx, sy = boxes[0]
        if pyproj.CRS.from_user_input(first_crs) == ds_crs:
            res = (sx, sy)
        else:
            w, h = round((x1 - x0) / sx), round((y1 - y0) / sy)
            tb = _box_in(first_crs, ds_crs, (x0, y0, x1, y1))
            res = ((tb[2] - tb[0]) / w, (tb[3] - tb[1]) / h)
        for col, b in zip(meta_cols[1:], self.bands[1:], strict=True):
            m = first.get(col)
            pb = _pixel_box(m) if m else None
            if pb is None or (
                math.isclose(pb[4], sx, rel_tol=1e-9) and math.isclose(pb[5], sy, rel_tol=1e-9)
            ):
                continue
            if not request.allow_resample:
                raise InvalidInputError(
                    f"to_torchgeo_dataset: band {b!r} has resolution {(pb[4], pb[5])}, "
                    f"band {self.bands[0]!r} has {(sx, sy)}; pass allow_resample=True to "
                    "resample every band onto the sampling grid"
                )
        odd = sum(
            1
            for bx in boxes
            if not (math.isclose(bx[4], sx, rel_tol=1e-9) and math.isclose(bx[5], sy, rel_tol=1e-9))
        )
        if odd:
            warnings.warn(
                f"to_torchgeo_dataset: {odd} record(s) have a resolution other than {(sx, sy)}; "
                "they are resampled onto the sampling grid",
                UserWarning,
                stacklevel=4,
            )
        return res

    # -- sampling --------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> dict[str, Any]:
        """The sample of a ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tstep]`` GeoSlice.

        Raises:
            IndexError: No record overlaps the slice.
            ValueError: No overlapping record could be read (or, with ``time_series``, one
                of them could not).
        """
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[Any]) -> list[dict[str, Any]]:
        """Samples of several GeoSlices, read in **one** concurrent wave.

        PyTorch's ``DataLoader`` calls this with a whole batch of sampler queries, so the
        tiles of all chips of a batch are fetched together (one round trip of latency per
        batch instead of one per chip) and decoded in parallel.
        """
        plans = [self._plan(index) for index in indices]
        results = self._read_many(plans)
        return [
            self._sample(index, plan, res)
            for index, plan, res in zip(indices, plans, results, strict=True)
        ]

    def _plan(self, index: Any) -> tuple[Any, Any, list[str]]:
        """``(x, y, record ids)`` of a GeoSlice; IndexError when no record overlaps it."""
        x, y, t = self._disambiguate_slice(index)
        interval = pd.Interval(pd.Timestamp(t.start), pd.Timestamp(t.stop), closed="both")
        df = self.index.iloc[self.index.index.overlaps(interval)]
        df = df.iloc[:: t.step]
        df = df.cx[x.start : x.stop, y.start : y.stop]
        if not df.empty:
            query = shapely.box(x.start, y.start, x.stop, y.stop)
            df = df[df.intersection(query).area > 0]
        if df.empty:
            raise IndexError(f"index: {index} not found in dataset with bounds: {self.bounds}")
        return x, y, list(df["id"])

    def _read_many(self, plans: Sequence[tuple[Any, Any, list[str]]]) -> list[Any]:
        """One ``read_grid`` per plan, all gathered on this process's event loop."""
        reader = self._reader
        group_by: Literal["id"] | None = "id" if self.time_series else None

        async def gather() -> list[Any]:
            fetcher = reader_fetcher(reader)
            coros = []
            for x, y, ids in plans:
                grid = Grid.from_bounds(
                    self._read_crs,
                    (x.start, y.start, x.stop, y.stop),
                    (abs(x.step), abs(y.step)),
                    snap=False,
                )
                records = self._records.take([self._position[i] for i in ids])
                coros.append(
                    read_grid(
                        records.engine_input(),
                        reader.bands,
                        grid,
                        fetcher,
                        band_map=reader.band_map,
                        group_by=group_by,
                        budget=reader.memory_budget,
                    )
                )
            return await asyncio.gather(*coros, return_exceptions=True)

        return run_sync(gather())

    def _sample(self, index: Any, plan: tuple[Any, Any, list[str]], res: Any) -> dict[str, Any]:
        x, y, ids = plan
        if isinstance(res, ReadError):
            raise NoDataError(f"no record overlapping {index} could be read: {res}") from res
        if isinstance(res, BaseException):
            raise res
        if res.failures:
            if self.time_series:
                first = res.failures[0]
                raise ReadError(
                    f"time series sample {index}: record {first.record_id!r} band "
                    f"{first.band!r} could not be read ({first.error}); partial time series "
                    "are not returned"
                ) from first.error
            if not self._warned_skip:
                self._warned_skip = True
                warnings.warn(
                    f"skipped unreadable records: {[f.record_id for f in res.failures][:5]}",
                    RuntimeWarning,
                    stacklevel=3,
                )
        data = self._to_tensor(res.data)
        transform = torch.tensor(
            [abs(x.step), 0.0, x.start, 0.0, -abs(y.step), y.stop, 0.0, 0.0, 1.0]
        )
        sample: dict[str, Any] = {
            "bounds": self._slice_to_tensor(index),
            "transform": transform,
        }
        if self.is_image:
            sample["image"] = data
        else:
            sample["mask"] = data.squeeze(-3) if data.shape[-3] == 1 else data
        if self.label_field is not None:
            label = self._label(self._labels.get(ids[0]))
            if label is not None:
                sample["label"] = label
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _to_tensor(self, arr: Any) -> Any:
        wider = {np.dtype("uint16"): np.int32, np.dtype("uint32"): np.int64}
        if arr.dtype in wider:
            if not self._warned_dtype:
                self._warned_dtype = True
                warnings.warn(
                    f"{arr.dtype} chips are returned as {np.dtype(wider[arr.dtype]).name} "
                    "tensors (torch has no arithmetic for unsigned 16/32-bit integers)",
                    UserWarning,
                    stacklevel=3,
                )
            arr = arr.astype(wider[arr.dtype])
        return torch.from_numpy(np.ascontiguousarray(arr))

    @staticmethod
    def _label(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool | int):
            return torch.tensor(int(value), dtype=torch.long)
        if isinstance(value, float):
            return None if math.isnan(value) else torch.tensor(value, dtype=torch.float32)
        if isinstance(value, list | tuple):
            if all(isinstance(v, bool | int) for v in value):
                return torch.tensor([int(v) for v in value], dtype=torch.long)
            return torch.tensor([float(v) for v in value], dtype=torch.float32)
        return value

    def __getstate__(self) -> dict[str, Any]:
        # Everything held is plain configuration (rows, index, reader recipe): the event
        # loop and connection pool live in rasteret_io, per process, and are never pickled.
        return dict(self.__dict__)

    def close(self) -> None:
        """No-op kept for API compatibility (I/O state belongs to the process, not the dataset)."""


def dataset_of(
    source: RecordSource, request: TorchGeoRequest, options: ReadOptions
) -> RasteretGeoDataset:
    """The :class:`RasteretGeoDataset` of ``source`` (see module docs).

    Raises:
        MissingDependencyError: torch / torchgeo >= 0.9 are not installed.
        InvalidInputError: No bands, missing columns, mixed resolutions without
            ``allow_resample``, nothing left after filtering.
    """
    _require_torchgeo()
    return RasteretGeoDataset(source, request, options)
