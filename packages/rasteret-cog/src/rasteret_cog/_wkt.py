"""OGC WKT1 (GDAL flavour) for user-defined GeoTIFF CRSs (private, stdlib only).

Covers the projection methods GDAL writes for non-EPSG CRSs; anything else yields None.
"""

from __future__ import annotations

from collections.abc import Iterable

from rasteret_cog.tags import USER_DEFINED, GeoKey, GeoKeyValue

__all__ = ["crs_to_wkt"]

# EPSG ellipsoid code -> (name, semi-major, inverse flattening)
_ELLIPSOIDS: dict[int, tuple[str, float, float]] = {
    7030: ("WGS 84", 6378137.0, 298.257223563),
    7019: ("GRS 1980", 6378137.0, 298.257222101),
    7008: ("Clarke 1866", 6378206.4, 294.978698213898),
    7022: ("International 1924", 6378388.0, 297.0),
    7004: ("Bessel 1841", 6377397.155, 299.1528128),
    7043: ("WGS 72", 6378135.0, 298.26),
    7035: ("Sphere", 6371000.0, 0.0),
}
# The geodetic systems known by code: one row each, (EPSG geographic CRS, its name, EPSG datum,
# the datum's WKT name, EPSG ellipsoid)
_GEODETIC: tuple[tuple[int, str, int, str, int], ...] = (
    (4326, "WGS 84", 6326, "WGS_1984", 7030),
    (4269, "NAD83", 6269, "North_American_Datum_1983", 7019),
    (4258, "ETRS89", 6258, "European_Terrestrial_Reference_System_1989", 7019),
    (4267, "NAD27", 6267, "North_American_Datum_1927", 7008),
    (4322, "WGS 72", 6322, "WGS_1972", 7043),
)
# EPSG datum code -> (WKT name, ellipsoid code)
_DATUMS: dict[int, tuple[str, int]] = {d: (dname, ell) for _, _, d, dname, ell in _GEODETIC}
# EPSG geographic CRS code -> (name, datum code)
_GEOGCRS: dict[int, tuple[str, int]] = {g: (name, d) for g, name, d, _, _ in _GEODETIC}
_LINEAR_UNITS: dict[int, tuple[str, float]] = {
    9001: ("metre", 1.0),
    9002: ("foot", 0.3048),
    9003: ("US survey foot", 0.30480060960121924),
    9036: ("kilometre", 1000.0),
}

K = GeoKey
# false easting / northing: from the natural origin's keys (then, for some methods, the false
# origin's)
_FALSE_EN = [
    ("false_easting", (K.PROJ_FALSE_EASTING,)),
    ("false_northing", (K.PROJ_FALSE_NORTHING,)),
]
_FALSE_EN_OR_ORIGIN = [
    ("false_easting", (K.PROJ_FALSE_EASTING, K.PROJ_FALSE_ORIGIN_EASTING)),
    ("false_northing", (K.PROJ_FALSE_NORTHING, K.PROJ_FALSE_ORIGIN_NORTHING)),
]
# the azimuthal methods: a projection centre, then false easting / northing
_CENTER_EN: list[tuple[str, tuple[int, ...]]] = [
    ("latitude_of_center", (K.PROJ_CENTER_LAT, K.PROJ_NAT_ORIGIN_LAT)),
    ("longitude_of_center", (K.PROJ_CENTER_LONG, K.PROJ_NAT_ORIGIN_LONG)),
    *_FALSE_EN,
]
# ProjCoordTransGeoKey -> (WKT1 projection name, [(parameter, candidate keys...)])
_METHODS: dict[int, tuple[str, list[tuple[str, tuple[int, ...]]]]] = {
    1: ("Transverse_Mercator", [
        ("latitude_of_origin", (K.PROJ_NAT_ORIGIN_LAT, K.PROJ_FALSE_ORIGIN_LAT, K.PROJ_CENTER_LAT)),
        ("central_meridian", (K.PROJ_NAT_ORIGIN_LONG, K.PROJ_FALSE_ORIGIN_LONG, K.PROJ_CENTER_LONG)),
        ("scale_factor", (K.PROJ_SCALE_AT_NAT_ORIGIN, K.PROJ_SCALE_AT_CENTER)),
        *_FALSE_EN_OR_ORIGIN,
    ]),
    7: ("Mercator_1SP", [
        ("central_meridian", (K.PROJ_NAT_ORIGIN_LONG, K.PROJ_CENTER_LONG)),
        ("scale_factor", (K.PROJ_SCALE_AT_NAT_ORIGIN,)),
        *_FALSE_EN,
    ]),
    8: ("Lambert_Conformal_Conic_2SP", [
        ("standard_parallel_1", (K.PROJ_STD_PARALLEL1,)),
        ("standard_parallel_2", (K.PROJ_STD_PARALLEL2,)),
        ("latitude_of_origin", (K.PROJ_FALSE_ORIGIN_LAT, K.PROJ_NAT_ORIGIN_LAT, K.PROJ_CENTER_LAT)),
        ("central_meridian", (K.PROJ_FALSE_ORIGIN_LONG, K.PROJ_NAT_ORIGIN_LONG, K.PROJ_CENTER_LONG)),
        ("false_easting", (K.PROJ_FALSE_ORIGIN_EASTING, K.PROJ_FALSE_EASTING)),
        ("false_northing", (K.PROJ_FALSE_ORIGIN_NORTHING, K.PROJ_FALSE_NORTHING)),
    ]),
    9: ("Lambert_Conformal_Conic_1SP", [
        ("latitude_of_origin", (K.PROJ_NAT_ORIGIN_LAT, K.PROJ_FALSE_ORIGIN_LAT)),
        ("central_meridian", (K.PROJ_NAT_ORIGIN_LONG, K.PROJ_FALSE_ORIGIN_LONG)),
        ("scale_factor", (K.PROJ_SCALE_AT_NAT_ORIGIN,)),
        *_FALSE_EN,
    ]),
    10: ("Lambert_Azimuthal_Equal_Area", _CENTER_EN),
    11: ("Albers_Conic_Equal_Area", [
        ("standard_parallel_1", (K.PROJ_STD_PARALLEL1,)),
        ("standard_parallel_2", (K.PROJ_STD_PARALLEL2,)),
        ("latitude_of_center", (K.PROJ_NAT_ORIGIN_LAT, K.PROJ_FALSE_ORIGIN_LAT, K.PROJ_CENTER_LAT)),
        ("longitude_of_center", (K.PROJ_NAT_ORIGIN_LONG, K.PROJ_FALSE_ORIGIN_LONG, K.PROJ_CENTER_LONG)),
        *_FALSE_EN_OR_ORIGIN,
    ]),
    12: ("Azimuthal_Equidistant", _CENTER_EN),
    15: ("Polar_Stereographic", [
        ("latitude_of_origin", (K.PROJ_NAT_ORIGIN_LAT,)),
        ("central_meridian", (K.PROJ_STRAIGHT_VERT_POLE_LONG, K.PROJ_NAT_ORIGIN_LONG)),
        ("scale_factor", (K.PROJ_SCALE_AT_NAT_ORIGIN,)),
        *_FALSE_EN,
    ]),
    17: ("Equirectangular", [
        ("latitude_of_origin", (K.PROJ_CENTER_LAT, K.PROJ_NAT_ORIGIN_LAT)),
        ("central_meridian", (K.PROJ_CENTER_LONG, K.PROJ_NAT_ORIGIN_LONG)),
        ("standard_parallel_1", (K.PROJ_STD_PARALLEL1,)),
        *_FALSE_EN,
    ]),
    24: ("Sinusoidal", [
        ("longitude_of_center", (K.PROJ_CENTER_LONG, K.PROJ_NAT_ORIGIN_LONG)),
        *_FALSE_EN,
    ]),
}  # fmt: skip
_DEFAULTS = {"scale_factor": 1.0}


def _num(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def _q(s: str) -> str:
    return '"' + s.replace('"', "'") + '"'


def _geogcs(k: dict[int, GeoKeyValue], name: str) -> str | None:
    gcs = k.get(K.GEOGRAPHIC_TYPE)
    datum_code = k.get(K.GEOG_GEODETIC_DATUM)
    if isinstance(gcs, int) and gcs in _GEOGCRS:
        name, datum_code = _GEOGCRS[gcs]
    elif isinstance(gcs, int) and gcs != USER_DEFINED:
        return None
    datum_name, ell_code = (
        _DATUMS.get(datum_code, ("unknown", None))
        if isinstance(datum_code, int)
        else ("unknown", None)
    )
    ell = k.get(K.GEOG_ELLIPSOID)
    ell_name = "unknown"
    a: float | None = None
    invf: float | None = None
    code = ell if isinstance(ell, int) and ell in _ELLIPSOIDS else ell_code
    if code is not None and code in _ELLIPSOIDS:
        ell_name, a, invf = _ELLIPSOIDS[code]
    sa = k.get(K.GEOG_SEMI_MAJOR_AXIS)
    if isinstance(sa, (int, float)):
        a = float(sa)
        inv = k.get(K.GEOG_INV_FLATTENING)
        sb = k.get(K.GEOG_SEMI_MINOR_AXIS)
        if isinstance(inv, (int, float)):
            invf = float(inv)
        elif isinstance(sb, (int, float)):
            invf = 0.0 if sb == a else a / (a - float(sb))
    if a is None or invf is None:
        return None
    if datum_name == "unknown" and ell_name != "unknown":
        datum_name = f"Unknown based on {ell_name} ellipsoid"
    pm = k.get(K.GEOG_PRIME_MERIDIAN_LONG, 0.0)
    pm_val = float(pm) if isinstance(pm, (int, float)) else 0.0
    return (
        f"GEOGCS[{_q(name)},DATUM[{_q(datum_name)},SPHEROID[{_q(ell_name)},{_num(a)},{_num(invf)}]],"
        f'PRIMEM["Greenwich",{_num(pm_val)}],UNIT["degree",0.0174532925199433]]'
    )


def _utm(proj: int) -> tuple[str, list[tuple[str, float]]] | None:
    """EPSG UTM conversion codes 16001-16060 (north) and 16101-16160 (south)."""
    if 16001 <= proj <= 16060 or 16101 <= proj <= 16160:
        zone = proj % 100
        south = proj > 16100
        return "Transverse_Mercator", [
            ("latitude_of_origin", 0.0),
            ("central_meridian", -183.0 + 6.0 * zone),
            ("scale_factor", 0.9996),
            ("false_easting", 500000.0),
            ("false_northing", 10000000.0 if south else 0.0),
        ]
    return None


def crs_to_wkt(
    epsg: int | None,
    model_type: int | None,
    citation: str | None,
    geokeys: Iterable[tuple[str, GeoKeyValue]],
) -> str | None:
    """WKT1 for a user-defined CRS, or None (EPSG-coded, or a method not covered).

    Args:
        epsg: The CRS's EPSG code (an EPSG-coded CRS yields None).
        model_type: GTModelTypeGeoKey.
        citation: The most specific citation string, used as the CRS name.
        geokeys: Every GeoKey as ``(name, value)``, as :class:`~rasteret_cog.CrsInfo` holds them.
    """
    if epsg is not None:
        return None
    geokeys = tuple(geokeys)
    for _name, value in geokeys:
        # GDAL's ESRI flavour stores the whole WKT in a citation.
        if isinstance(value, str) and value.startswith("ESRI PE String = "):
            return value.removeprefix("ESRI PE String = ")
    names = {m.name: m.value for m in GeoKey}
    k: dict[int, GeoKeyValue] = {}
    for name, value in geokeys:
        if name in names:
            k[names[name]] = value
        elif name.isdigit():
            k[int(name)] = value
    geog = _geogcs(k, "unknown")
    if geog is None:
        return None
    if model_type == 2:
        return geog
    if model_type not in (1, None):
        return None
    proj = k.get(K.PROJECTION)
    params: list[tuple[str, float]] | None = None
    method = None
    if isinstance(proj, int) and (utm := _utm(proj)) is not None:
        method, params = utm
    else:
        ct = k.get(K.PROJ_COORD_TRANS)
        if not isinstance(ct, int) or ct not in _METHODS:
            return None
        method, spec = _METHODS[ct]
        params = []
        for pname, candidates in spec:
            v = next((k[c] for c in candidates if isinstance(k.get(c), (int, float))), None)
            if v is None:
                v = _DEFAULTS.get(pname, 0.0)
            params.append((pname, float(v)))  # type: ignore[arg-type]
    unit = k.get(K.PROJ_LINEAR_UNITS, 9001)
    uname, usize = (
        _LINEAR_UNITS.get(unit, ("metre", 1.0)) if isinstance(unit, int) else ("metre", 1.0)
    )
    size = k.get(K.PROJ_LINEAR_UNIT_SIZE)
    if isinstance(size, float):
        uname, usize = "unknown", size
    name = citation or "unknown"
    ps = ",".join(f"PARAMETER[{_q(p)},{_num(v)}]" for p, v in params)
    return (
        f"PROJCS[{_q(name)},{geog},PROJECTION[{_q(method)}],{ps},"
        f'UNIT[{_q(uname)},{_num(usize)}],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    )
