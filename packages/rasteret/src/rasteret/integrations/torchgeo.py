"""TorchGeo integration: a :class:`torchgeo.datasets.GeoDataset` over a rasteret collection.

``Collection.to_torchgeo_dataset(...)`` returns a :class:`RasteretGeoDataset` (implemented in
:mod:`rasteret.read.torchgeo`; this module is its public home). Its index comes from the
Parquet index alone and chips are read on demand, in each DataLoader worker's own event loop
and connection pool. Install with ``pip install 'rasteret[torchgeo]'`` (torchgeo >= 0.9,
Python >= 3.12).
"""

from __future__ import annotations

from rasteret.read.torchgeo import RasteretGeoDataset

__all__ = ["RasteretGeoDataset"]
