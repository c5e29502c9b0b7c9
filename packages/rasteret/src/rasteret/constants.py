"""Band maps and data sources under their rasteret 0.4.1 module path (``rasteret.constants``).

Thin re-exports of :mod:`rasteret_catalog`.
"""

from __future__ import annotations

from rasteret_catalog import BandRegistry, DataSources

__all__ = ["BandRegistry", "DataSources"]
