"""Band maps, data sources and the band-metadata Arrow type under their rasteret 0.4.1 module
path (``rasteret.constants``).

Thin re-exports of :mod:`rasteret_catalog`. ``COG_BAND_METADATA_STRUCT`` (a pyarrow type) is
built on first access, so importing this module does not import pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasteret_catalog import LANDSAT_C2L2_BANDS, SENTINEL2_BANDS, BandRegistry, DataSources

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    COG_BAND_METADATA_STRUCT: pa.StructType

__all__ = [
    "COG_BAND_METADATA_STRUCT",
    "LANDSAT_C2L2_BANDS",
    "SENTINEL2_BANDS",
    "BandRegistry",
    "DataSources",
]


def __getattr__(name: str) -> Any:
    if name == "COG_BAND_METADATA_STRUCT":
        # The contract's ``{band}_metadata`` type: rasteret 0.4.1's 17 fields first, in its
        # order, then the newer nullable fields (overviews, mask, byte order, ETag...).
        from rasteret_catalog.arrow import band_metadata_type

        value = band_metadata_type()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
