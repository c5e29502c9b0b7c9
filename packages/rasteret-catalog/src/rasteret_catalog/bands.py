"""Band-code maps (``B04`` -> STAC asset key ``red``) and band -> asset resolution."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

from rasteret_catalog.errors import BandCodeError
from rasteret_catalog.frozen import FrozenMap

__all__ = [
    "LANDSAT_C2L2_BANDS",
    "SENTINEL2_BANDS",
    "BandRegistry",
    "DataSources",
    "asset_key_candidates",
    "resolve_band_asset",
]


class DataSources:
    """Well-known data source ids with pre-registered band maps."""

    SENTINEL2 = "sentinel-2-l2a"
    LANDSAT = "landsat-c2-l2"

    @classmethod
    def list_sources(cls) -> list[str]:
        """The well-known source ids."""
        return [cls.SENTINEL2, cls.LANDSAT]


_SENTINEL2 = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red",
    "B05": "rededge1", "B06": "rededge2", "B07": "rededge3", "B08": "nir",
    "B8A": "nir08", "B09": "nir09", "B11": "swir16", "B12": "swir22", "SCL": "scl",
}  # fmt: skip
_LANDSAT = {
    "B1": "coastal", "B2": "blue", "B3": "green", "B4": "red", "B5": "nir08",
    "B6": "swir16", "B7": "swir22",
    "qa_aerosol": "qa_aerosol", "qa_pixel": "qa_pixel", "qa_radsat": "qa_radsat",
}  # fmt: skip

SENTINEL2_BANDS: FrozenMap[str, str] = FrozenMap(_SENTINEL2)
"""Sentinel-2 L2A band codes -> Earth Search asset keys (read-only; the registered map of
``sentinel-2-l2a``)."""

LANDSAT_C2L2_BANDS: FrozenMap[str, str] = FrozenMap(_LANDSAT)
"""Landsat Collection 2 Level-2 band codes -> asset keys (read-only; the registered map of
``landsat-c2-l2``)."""


class BandRegistry:
    """Process-wide registry of band maps keyed by data source / dataset id.

    Unlike rasteret 0.4.1, :meth:`get` returns a copy, so callers cannot corrupt the
    registry by mutating what they were given.
    """

    _maps: ClassVar[dict[str, dict[str, str]]] = {
        DataSources.SENTINEL2: dict(_SENTINEL2),
        DataSources.LANDSAT: dict(_LANDSAT),
    }
    _before_lookup: ClassVar[Callable[[], None] | None] = None
    """Set by the dataset registry so that lookups see built-in datasets' band maps."""

    @classmethod
    def _prepare(cls) -> None:
        if cls._before_lookup is not None:
            cls._before_lookup()

    @classmethod
    def register(cls, source_id: str, band_map: Mapping[str, str]) -> None:
        """Register (or replace) the band map of ``source_id``."""
        if not isinstance(source_id, str) or not source_id:
            raise BandCodeError("source_id must be a non-empty string")
        if not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in band_map.items()
        ):
            raise BandCodeError(
                f"band map of {source_id!r} must map non-empty strings to non-empty strings"
            )
        cls._maps[source_id] = dict(band_map)

    @classmethod
    def get(cls, source_id: str, default: Mapping[str, str] | None = None) -> dict[str, str]:
        """A copy of the band map of ``source_id``, else ``default`` (or a new ``{}``).

        A ``dict`` default is handed back itself, as in rasteret 0.4.1: it is the caller's
        object, not the registry's.
        """
        cls._prepare()
        found = cls._maps.get(source_id)
        if found is None:
            if isinstance(default, dict) and default:
                return default
            return dict(default or {})
        return dict(found)

    @classmethod
    def unregister(cls, source_id: str) -> dict[str, str] | None:
        """Remove and return the band map of ``source_id``."""
        return cls._maps.pop(source_id, None)

    @classmethod
    def list_registered(cls) -> list[str]:
        """Registered source ids, in registration order."""
        cls._prepare()
        return list(cls._maps)


def asset_key_candidates(band: str, band_map: Mapping[str, str] | None) -> list[str]:
    """Asset keys to try for ``band``: the code itself, its mapped asset, its reverse mapping."""
    out = [band]
    if band_map:
        fwd = band_map.get(band)
        if fwd:
            out.append(fwd)
        out.extend(code for code, asset in band_map.items() if asset == band)
    return list(dict.fromkeys(out))


def resolve_band_asset(
    band: str, asset_keys: Iterable[str], band_map: Mapping[str, str] | None = None
) -> str | None:
    """Return the first asset key present in ``asset_keys`` for ``band`` (``None`` if none)."""
    keys = set(asset_keys)
    for candidate in asset_key_candidates(band, band_map):
        if candidate in keys:
            return candidate
    return None
