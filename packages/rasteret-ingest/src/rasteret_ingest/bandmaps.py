"""Band maps for STAC items: validation of explicit maps and inference from registered ones.

A band map is ``{band code: STAC asset key}`` (``{"B04": "red"}``). Everything here runs on the
union of the items' asset keys, before any header is read, so a wrong band request fails fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rasteret_catalog.bands import BandRegistry, resolve_band_asset
from rasteret_ingest.errors import BandMapError, SharedAssetError

__all__ = ["asset_key_union", "check_band_index_map", "infer_band_map", "resolve_band_map"]


def asset_key_union(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every asset key used by at least one item."""
    keys: set[str] = set()
    for item in items:
        keys.update((item.get("assets") or {}).keys())
    return keys


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
