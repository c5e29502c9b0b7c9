"""Pixel reads of a record source: the read components behind ``Collection``'s reads.

- :mod:`.requests` — typed requests built once from the public keywords;
- :mod:`.entry` — one entry point per read (imported on the first read);
- :mod:`._adapter` — the one place where records become the read engine's input;
- :mod:`.aoi` (NumPy), :mod:`.cube` (eager xarray), :mod:`.lazy` + :mod:`._chunks` (dask),
  :mod:`.gdf` (GeoPandas), :mod:`.points`, :mod:`.window`, :mod:`.rasters`,
  :mod:`.footprints`, :mod:`.torchgeo` — the outputs;
- :mod:`.backends` — the backend of a read (cached per cloud config value).

Nothing here depends on :class:`~rasteret.Collection`: components take a
:class:`~rasteret.records.RecordSource`.
"""
