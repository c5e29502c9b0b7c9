"""Band maps for STAC items: which assets become which band codes, and their aliases.

A band map is ``{band code: STAC asset key}`` (``{"B04": "red"}``). One rule for every builder
(:func:`plan_bands`):

1. an explicit ``band_map`` names the bands (validated against the items' asset keys);
2. else the band map registered for the data source / collection id (the catalog's maps, and
   the built-in ``sentinel-2-l2a`` / ``landsat-c2-l2`` ones) renames, as rasteret 0.4.1 did;
3. else the band codes **are the asset keys** of every raster asset (as ``build_from_table``
   keeps the keys of its ``assets``).

Each plan also carries **aliases** (``{alias: band code}``) written into the collection so that
both names resolve at read time: the asset key of a renamed band (``red`` for ``B04``), the
code a registered map gives an asset-key band (``B04`` for ``red``), and STAC common names
(``eo:bands`` / ``bands``). Raster assets that are not indexed are listed in
``BandPlan.left_out`` (the build warns and reports them): nothing is dropped silently.
Everything here runs before any header is read, so a wrong band request fails fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasteret_catalog.bands import BandRegistry, resolve_band_asset
from rasteret_ingest.errors import BandMapError, SharedAssetError

__all__ = [
    "BandPlan",
    "check_band_index_map",
    "infer_band_map",
    "plan_bands",
    "resolve_band_map",
]


def _sorted(keys: Iterable[str]) -> list[str]:
    return sorted(keys)


def _matched(band_map: Mapping[str, str], keys: set[str]) -> dict[str, str]:
    """The part of ``band_map`` whose bands resolve to an existing asset key."""
    out: dict[str, str] = {}
    for code in band_map:
        key = resolve_band_asset(code, keys, band_map)
        if key is not None:
            out[code] = key
    return out


def infer_band_map(keys: set[str]) -> dict[str, str]:
    """Pick the registered band map matching most asset keys (as provider map or identity).

    Returns:
        ``{code: asset key}`` restricted to matches; empty when nothing matches.
    """
    best: dict[str, str] = {}
    for source in BandRegistry.list_registered():
        bm = BandRegistry.get(source)
        provider = {code: asset for code, asset in bm.items() if asset in keys}
        identity = {code: code for code in bm if code in keys}
        for cand in (provider, identity):
            if len(cand) > len(best):
                best = cand
    return best


def resolve_band_map(
    keys: set[str],
    *,
    band_map: Mapping[str, str] | None = None,
    sources: Iterable[str | None] = (),
    strict: bool | None = None,
) -> dict[str, str]:
    """Choose the band map of a STAC build.

    Args:
        keys: Union of the items' asset keys.
        band_map: Explicit ``{code: asset key}``; validated strictly by default.
        sources: Data source / collection ids whose registered map is tried next.
        strict: Require every explicit band to exist in some item (default: True when
            ``band_map`` is given).

    Returns:
        ``{code: asset key}`` in the explicit or registered order.

    Raises:
        BandMapError: explicit bands missing from all items, or no map matches any asset key.
    """
    avail = ", ".join(_sorted(keys)) or "(none)"
    if band_map:
        matched = _matched(band_map, keys)
        missing = [f"{c}->{a}" for c, a in band_map.items() if c not in matched]
        is_strict = strict is None or strict
        if missing and is_strict:
            raise BandMapError(
                "STAC band_map references asset keys not present in any selected item. "
                f"Missing asset keys: {', '.join(missing)}. Available asset keys: {avail}"
            )
        if not matched:
            raise BandMapError(
                f"No STAC asset keys matched the band_map. Available asset keys: {avail}"
            )
        return matched if is_strict else {c: matched.get(c, a) for c, a in band_map.items()}
    for source in sources:
        if not source:
            continue
        registered = BandRegistry.get(source)
        if registered:
            matched = _matched(registered, keys)
            if matched:
                return matched
    inferred = infer_band_map(keys)
    if not inferred:
        raise BandMapError(
            "No STAC asset keys matched any registered band map and no band_map is configured; "
            f"pass band_map={{band: asset_key}}. Available asset keys: {avail}"
        )
    return inferred


_RASTER_EXT = (".tif", ".tiff", ".gtif", ".gtiff")
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".jp2", ".webp")
_NOT_DATA_ROLES = frozenset({"thumbnail", "overview", "metadata", "visual:thumbnail"})
_NOT_RASTER_TYPES = ("application/json", "application/xml", "text/", "application/geo+json",
                     "application/x-hdf", "application/x-netcdf", "application/vnd+zarr")  # fmt: skip


def _asset_kind(asset: Mapping[str, Any]) -> str:
    """``"raster"`` (a GeoTIFF / COG, or an asset of unknown type), ``"image"`` (another image
    format: thumbnails, JPEG 2000...) or ``"other"`` (metadata, documents)."""
    media = str(asset.get("type") or "").lower()
    roles = {str(r).lower() for r in asset.get("roles") or ()}
    href = str(asset.get("href") or "").split("?", 1)[0].lower()
    if href.endswith(_IMAGE_EXT):  # whatever the type says
        return "image"
    if "tiff" in media or href.endswith(_RASTER_EXT):
        return "image" if roles & _NOT_DATA_ROLES else "raster"
    if media.startswith(_NOT_RASTER_TYPES) or href.endswith((".json", ".xml", ".html", ".txt")):
        return "other"
    if media.startswith("image/"):
        return "image"
    return "image" if roles & _NOT_DATA_ROLES else "raster"


def _common_names(asset: Mapping[str, Any]) -> list[str]:
    """STAC common names of a single-band asset (``eo:bands`` of STAC 1.0, ``bands`` of 1.1)."""
    bands = asset.get("eo:bands") or asset.get("bands") or []
    if not isinstance(bands, list) or len(bands) != 1 or not isinstance(bands[0], Mapping):
        return []
    name = bands[0].get("common_name") or bands[0].get("eo:common_name")
    return [name] if isinstance(name, str) and name else []


@dataclass(frozen=True)
class BandPlan:
    """Which assets a STAC build indexes, under which band codes.

    Attributes:
        band_map: ``{band code: asset key}``, in band order.
        aliases: ``{alias: band code}``: other names that resolve to a band at read time.
        left_out: Asset keys of data assets (rasters and other images) that are not indexed.
        rule: ``"explicit"``, ``"registered"`` or ``"asset keys"``: which rule chose the map.
    """

    band_map: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()
    rule: str = "asset keys"


def _assets_in_order(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{asset key: kind}`` in order of first appearance (a key is a raster if any item says so)."""
    kinds: dict[str, str] = {}
    rank = {"raster": 0, "image": 1, "other": 2}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            kind = _asset_kind(asset if isinstance(asset, Mapping) else {})
            if key not in kinds or rank[kind] < rank[kinds[key]]:
                kinds[key] = kind
    return kinds


def _aliases(
    band_map: Mapping[str, str], items: Sequence[Mapping[str, Any]], extra: Mapping[str, str]
) -> dict[str, str]:
    """``{alias: code}``: asset keys of renamed bands, ``extra`` names, STAC common names.

    An alias that is itself a band code, or that would name two bands, is left out.
    """
    candidates: dict[str, set[str]] = {}

    def add(alias: str, code: str) -> None:
        if alias and alias != code:
            candidates.setdefault(alias, set()).add(code)

    for code, key in band_map.items():
        add(key, code)
    for alias, code in extra.items():
        if code in band_map:
            add(alias, code)
    by_key = {key: code for code, key in band_map.items()}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            if key in by_key and isinstance(asset, Mapping):
                for name in _common_names(asset):
                    add(name, by_key[key])
    return {
        alias: next(iter(codes))
        for alias, codes in candidates.items()
        if len(codes) == 1 and alias not in band_map
    }


def plan_bands(
    items: Sequence[Mapping[str, Any]],
    *,
    band_map: Mapping[str, str] | None = None,
    sources: Iterable[str | None] = (),
    strict: bool | None = None,
) -> BandPlan:
    """Choose the bands of a STAC build (see module docs for the rule).

    Args:
        items: STAC item dicts.
        band_map: Explicit ``{code: asset key}``; validated strictly by default.
        sources: Data source / collection ids whose registered map is tried next.
        strict: Require every explicit band to exist in some item (default: True when
            ``band_map`` is given).

    Raises:
        BandMapError: explicit bands missing from all items, or no raster asset at all.
    """
    kinds = _assets_in_order(items)
    keys = set(kinds)
    rule = "explicit"
    extra: dict[str, str] = {}
    if band_map:
        chosen = resolve_band_map(keys, band_map=band_map, strict=strict)
    else:
        chosen = {}
        for source in sources:
            registered = BandRegistry.get(source) if source else {}
            chosen = _matched(registered, keys) if registered else {}
            if chosen:
                rule = "registered"
                break
        if not chosen:
            rule = "asset keys"
            chosen = {key: key for key, kind in kinds.items() if kind == "raster"}
            if not chosen:
                avail = ", ".join(_sorted(keys)) or "(none)"
                raise BandMapError(
                    "No raster (GeoTIFF / COG) asset found in the STAC items; pass "
                    f"band_map={{band: asset_key}}. Available asset keys: {avail}"
                )
            # the codes a registered map gives these assets resolve too (B04 -> red)
            extra = {code: key for code, key in infer_band_map(keys).items() if key in chosen}
    indexed = set(chosen.values())
    left_out = tuple(
        key
        for key, kind in kinds.items()
        if kind != "other"
        and key not in indexed
        and not (key.startswith("s3_") and key[3:] in indexed)  # credentialed siblings
    )
    return BandPlan(dict(chosen), _aliases(chosen, items, extra), left_out, rule)


def check_band_index_map(
    band_map: Mapping[str, str], band_index_map: Mapping[str, int] | None
) -> None:
    """Several bands reading one asset need a ``band_index_map`` saying which sample each is.

    Raises:
        SharedAssetError: shared asset keys without a band_index_map entry for every sharing
            band (also a ``NotImplementedError``, as in 0.4.1).
    """
    by_asset: dict[str, list[str]] = {}
    for code, asset in band_map.items():
        by_asset.setdefault(asset, []).append(code)
    for asset, codes in by_asset.items():
        if len(codes) > 1 and not all(c in (band_index_map or {}) for c in codes):
            raise SharedAssetError(
                f"bands {codes} all read asset {asset!r}; pass band_index_map={{band: sample}} "
                "to say which sample of the multi-band COG each band is"
            )
