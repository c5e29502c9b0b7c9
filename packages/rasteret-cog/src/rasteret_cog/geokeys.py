"""GeoKey directory parsing and CRS identification (stdlib only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from rasteret_cog._wkt import crs_to_wkt
from rasteret_cog.errors import TiffFormatError
from rasteret_cog.tags import USER_DEFINED, GeoKey, GeoKeyValue

__all__ = ["CrsInfo", "GeoKeyValue", "crs_from_geokeys", "parse_geokeys"]

_MAX_KEYS = 512


def parse_geokeys(
    directory: Sequence[int],
    doubles: Sequence[float] | None,
    ascii_params: str | None,
) -> dict[int, GeoKeyValue]:
    """Decode GeoKeyDirectoryTag (34735) into ``{key id: value}``.

    Values stored in GeoDoubleParams (34736) become a float (count 1) or a tuple of floats;
    values in GeoAsciiParams (34737) become a string with the trailing ``|`` stripped.
    Entries pointing outside their param tag raise :class:`TiffFormatError`.
    """
    if len(directory) < 4:
        raise TiffFormatError(f"GeoKeyDirectory has {len(directory)} values (need >= 4)")
    n = directory[3]
    if n > _MAX_KEYS or 4 + 4 * n > len(directory):
        raise TiffFormatError(
            f"GeoKeyDirectory declares {n} keys but holds {(len(directory) - 4) // 4}"
        )
    keys: dict[int, GeoKeyValue] = {}
    for i in range(n):
        key, loc, count, val = directory[4 + 4 * i : 8 + 4 * i]
        if loc == 0:
            keys[key] = val
        elif loc == 34736:
            if doubles is None or val + count > len(doubles):
                raise TiffFormatError(f"GeoKey {key} points outside GeoDoubleParams")
            vals = tuple(doubles[val : val + count])
            keys[key] = vals[0] if count == 1 else vals
        elif loc == 34737:
            if ascii_params is None or val + count > len(ascii_params) + 1:
                raise TiffFormatError(f"GeoKey {key} points outside GeoAsciiParams")
            keys[key] = ascii_params[val : val + count].rstrip("|\x00")
        elif loc == 34735:
            if val + count > len(directory):
                raise TiffFormatError(f"GeoKey {key} points outside GeoKeyDirectory")
            vals_i = tuple(directory[val : val + count])
            keys[key] = vals_i[0] if count == 1 else vals_i
        # Unknown locations are ignored, as libgeotiff does.
    return keys


@dataclass(frozen=True, slots=True)
class CrsInfo:
    """The coordinate reference system a GeoTIFF declares.

    Attributes:
        epsg: EPSG code of the horizontal CRS, or None for a user-defined CRS (never 32767).
        model_type: GTModelTypeGeoKey: 1 projected, 2 geographic, 3 geocentric (None if absent).
        raster_type: GTRasterTypeGeoKey: 1 PixelIsArea (default), 2 PixelIsPoint.
        citation: The most specific citation string (PCS, GT or geographic), if any.
        vertical_epsg: EPSG code of a vertical CRS, if one is declared.
        geokeys: Every GeoKey, as ``(name, value)`` pairs (names from :class:`GeoKey`, or the
            numeric id for unknown keys).
    """

    epsg: int | None
    model_type: int | None
    raster_type: int
    citation: str | None
    vertical_epsg: int | None
    geokeys: tuple[tuple[str, GeoKeyValue], ...]

    @property
    def is_user_defined(self) -> bool:
        """True when no EPSG code identifies the horizontal CRS."""
        return self.epsg is None

    @property
    def keys(self) -> dict[str, GeoKeyValue]:
        """The GeoKeys as a dict."""
        return dict(self.geokeys)

    def to_wkt(self) -> str | None:
        """An OGC WKT1 (GDAL flavour) description of the CRS.

        ``EPSG:n`` CRSs need a database to expand and are returned as None here; use
        :attr:`epsg`. User-defined CRSs built from the common GeoTIFF projection methods
        (Transverse Mercator, Mercator, LCC 1SP/2SP, LAEA, Albers, polar stereographic,
        equirectangular, sinusoidal, azimuthal equidistant) and user-defined geographic CRSs are
        expanded from their GeoKeys. Returns None when that is not possible.
        """
        return crs_to_wkt(self.epsg, self.model_type, self.citation, self.geokeys)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (EPSG code, WKT when user-defined, raw GeoKeys)."""
        out: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "geokeys"
        }
        out["wkt"] = None if self.epsg is not None else self.to_wkt()
        out["geokeys"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.geokeys}
        return out


_GEOKEY_NAMES: dict[int, str] = {int(k): k.name for k in GeoKey}


def _code(v: GeoKeyValue | None) -> int | None:
    if isinstance(v, int) and 0 < v < USER_DEFINED:
        return v
    return None


def crs_from_geokeys(keys: dict[int, GeoKeyValue]) -> CrsInfo:
    """Identify the CRS of a GeoKey set the way GDAL does for EPSG-coded CRSs.

    A projected CRS code (3072) wins when the model is projected (or unspecified); a
    geographic code (2048) is used for geographic models, or for projected models that only
    carry a geographic code. The user-defined marker 32767 never becomes an EPSG code.
    """
    model = keys.get(GeoKey.GT_MODEL_TYPE)
    model_type = model if isinstance(model, int) else None
    raster = keys.get(GeoKey.GT_RASTER_TYPE, 1)
    raster_type = raster if isinstance(raster, int) else 1
    pcs = _code(keys.get(GeoKey.PROJECTED_CS_TYPE))
    gcs = _code(keys.get(GeoKey.GEOGRAPHIC_TYPE))
    epsg: int | None
    if model_type == 2:
        epsg = gcs
    elif model_type == 1:
        epsg = pcs
        if (
            epsg is None
            and GeoKey.PROJECTED_CS_TYPE not in keys
            and GeoKey.PROJ_COORD_TRANS not in keys
        ):
            epsg = None
    elif model_type is None:
        epsg = pcs if pcs is not None else gcs
    else:
        epsg = None
    citation = None
    for k in (GeoKey.PCS_CITATION, GeoKey.GT_CITATION, GeoKey.GEOG_CITATION):
        v = keys.get(k)
        if isinstance(v, str) and v:
            citation = v
            break
    named: list[tuple[str, GeoKeyValue]] = []
    for key_id in sorted(keys):
        named.append((_GEOKEY_NAMES.get(key_id) or str(key_id), keys[key_id]))
    return CrsInfo(
        epsg=epsg,
        model_type=model_type,
        raster_type=raster_type,
        citation=citation,
        vertical_epsg=_code(keys.get(GeoKey.VERTICAL_CS_TYPE)),
        geokeys=tuple(named),
    )
