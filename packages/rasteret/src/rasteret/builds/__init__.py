"""Writing collections: the specs of builds, catalog-dataset routing and exports.

- :mod:`.specs` — the frozen specs ``rasteret.build*`` construct (STAC, record table,
  catalog dataset, collection to open);
- :mod:`.dataset` — how a catalog dataset becomes one of them (credentials, pushdowns);
- :mod:`.export` — ``Collection.export`` through rasteret_ingest's *write* step.

The builds themselves run rasteret_ingest's pipeline (prepare → enrich → write).
"""
