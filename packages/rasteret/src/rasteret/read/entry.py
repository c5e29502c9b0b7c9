"""Entry points of the read components, one per ``Collection`` read.

``Collection`` imports this module on its first read (it pulls numpy, shapely, pyproj and the
read engine, which opening a collection does not need) and calls one function with the
filtered :class:`~rasteret.records.RecordSource` and the typed requests built from the public
keywords (:mod:`rasteret.read.requests`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasteret.read.arrays import get_numpy
from rasteret.read.cube import get_xarray as eager_xarray
from rasteret.read.footprints import footprints, native_res
from rasteret.read.gdf import get_gdf
from rasteret.read.plan import OutputPlan, plan_output
from rasteret.read.points import sample_points
from rasteret.read.rasters import iterate_rasters
from rasteret.read.window import read_window

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from rasteret.read.requests import AoiRequest, ReadOptions, TorchGeoRequest, XarrayOptions
    from rasteret.records import RecordSource

__all__ = [
    "OutputPlan",
    "footprints",
    "get_gdf",
    "get_numpy",
    "get_xarray",
    "iterate_rasters",
    "native_res",
    "plan_output",
    "read_window",
    "sample_points",
    "torchgeo_dataset",
]


def get_xarray(
    source: RecordSource, request: AoiRequest, output: XarrayOptions, options: ReadOptions
) -> xr.Dataset:
    """The ``get_xarray`` Dataset: eager, or dask-backed with ``output.chunks``."""
    if output.chunks is None:
        return eager_xarray(source, request, output, options)
    # dask is optional (rasteret[dask]) and heavy: only lazy reads import it
    from rasteret.read.lazy import lazy_xarray

    return lazy_xarray(source, request, output, options)


def torchgeo_dataset(source: RecordSource, request: TorchGeoRequest, options: ReadOptions) -> Any:
    """A TorchGeo ``GeoDataset`` over ``source`` (see :mod:`rasteret.read.torchgeo`)."""
    # torch / torchgeo are optional (rasteret[torchgeo]) and heavy: imported on use only
    from rasteret.read.torchgeo import dataset_of

    return dataset_of(source, request, options)
