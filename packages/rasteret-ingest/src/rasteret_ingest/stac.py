"""STAC indexer: search an API or walk a static catalog and turn the items into records.

:func:`prepare_stac` runs the *prepare* step of a STAC build: search → band map (validated
before any header I/O) → URL rewrites → normalised records; header enrichment and the
per-record raster CRS check follow in :mod:`rasteret_ingest.pipeline`. The CRS comes from
item properties ``proj:code`` / ``proj:epsg`` / ``proj:wkt2`` / ``proj:projjson`` (or the same
fields on the band's assets), else from the parsed headers.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret_catalog.cloud import CloudConfig, rewrite_url
from rasteret_catalog.schema import (
    ASSET_SIGNING_KEY,
    BAND_ALIASES_KEY,
    AssetField,
    Col,
    band_metadata_column,
)
from rasteret_ingest._crs import CRS_CANDIDATES
from rasteret_ingest._dates import utc_instant
from rasteret_ingest.bandmaps import BandPlan, check_band_index_map, plan_bands
from rasteret_ingest.errors import (
    CrsResolutionError,
    IngestWarning,
    NoItemsError,
    StacSearchError,
)
from rasteret_ingest.normalize import normalize_table
from rasteret_ingest.specs import Prepared, StacSource
from rasteret_io import PLANETARY_COMPUTER, ConfigError, redact_url, scheme_signer

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io import Signer

__all__ = [
    "asset_signer",
    "asset_signing",
    "check_record_crs",
    "items_to_table",
    "prepare_stac",
    "search_items",
]

_MAX_PAGE = 1000
_SEARCH_KWARGS = frozenset({"filter", "filter_lang", "sortby", "ids", "intersects", "fields"})
_PC_HOST = "planetarycomputer.microsoft.com"


def _datetime_param(date_range: Sequence[Any] | None) -> str | None:
    if not date_range or not any(date_range):
        return None

    def fmt(v: Any) -> str:
        return v.isoformat() if isinstance(v, _dt.date | _dt.datetime) else str(v)

    return f"{fmt(date_range[0]) if date_range[0] else '..'}/{fmt(date_range[1]) if date_range[1] else '..'}"


def _api_search(
    stac_api: str,
    collection: str | None,
    bbox: Sequence[float] | None,
    date_range: Sequence[Any] | None,
    query: Mapping[str, Any],
    max_items: int | None,
    limit: int | None,
) -> list[dict[str, Any]]:
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    extra = {k: v for k, v in query.items() if k in _SEARCH_KWARGS}
    q = {k: v for k, v in query.items() if k not in _SEARCH_KWARGS}
    page = limit or (min(_MAX_PAGE, max_items) if max_items else _MAX_PAGE)
    kwargs: dict[str, Any] = {"limit": page, "max_items": max_items, **extra}
    if collection:
        kwargs["collections"] = [collection]
    if bbox is not None:
        kwargs["bbox"] = list(bbox)
    dt = _datetime_param(date_range)
    if dt:
        kwargs["datetime"] = dt
    if q:
        kwargs["query"] = q
    try:
        client = Client.open(stac_api)
        return list(client.search(**kwargs).items_as_dicts())
    except APIError as exc:
        status = getattr(exc, "status_code", None)
        raise StacSearchError(
            f"STAC API search failed at {redact_url(stac_api)}"
            f"{f' (HTTP {status})' if status else ''}: {str(exc)[:300]}"
        ) from None
    except (OSError, ValueError) as exc:
        raise StacSearchError(
            f"STAC API at {redact_url(stac_api)} could not be searched: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None


def _item_instant(item: Mapping[str, Any]) -> _dt.datetime | None:
    props = item.get("properties") or {}
    value = props.get("datetime") or props.get("start_datetime")
    if not value:
        return None
    return utc_instant(value)


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether item bbox ``a`` meets the query box ``b``; ``a`` with west > east crosses the
    antimeridian (STAC form) and meets ``b`` when either of its halves does."""
    if len(a) >= 6:
        a = (a[0], a[1], a[3], a[4])
    if a[3] < b[1] or a[1] > b[3]:
        return False
    west, east = a[0] <= b[2], a[2] >= b[0]
    return (west or east) if a[0] > a[2] else (west and east)


def _static_items(
    stac_api: str,
    collection: str | None,
    bbox: Sequence[float] | None,
    date_range: Sequence[Any] | None,
    max_items: int | None,
) -> list[dict[str, Any]]:
    import pystac

    try:
        root = pystac.Catalog.from_file(stac_api)
        if collection and root.id != collection:
            child = root.get_child(collection, recursive=True)
            if child is not None:
                root = child
        items = root.get_items(recursive=True)
        lo = utc_instant(date_range[0]) if date_range and date_range[0] else None
        hi = utc_instant(date_range[1], end=True) if date_range and date_range[1] else None
        out: list[dict[str, Any]] = []
        for item in items:
            item.make_asset_hrefs_absolute()
            d = item.to_dict(include_self_link=False, transform_hrefs=False)
            if bbox is not None and d.get("bbox") and not _overlaps(d["bbox"], bbox):
                continue
            if lo or hi:
                t = _item_instant(d)
                if t is None or (lo and t < lo) or (hi and t > hi):
                    continue
            out.append(d)
            if max_items and len(out) >= max_items:
                break
        return out
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        pystac.STACError,
        pystac.STACTypeError,
    ) as exc:
        raise StacSearchError(
            f"static STAC catalog {redact_url(stac_api)} could not be read: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None


def search_items(
    stac_api: str,
    collection: str | None = None,
    *,
    bbox: Sequence[float] | None = None,
    date_range: Sequence[Any] | None = None,
    query: Mapping[str, Any] | None = None,
    static_catalog: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Find STAC items as plain dicts.

    Args:
        stac_api: API root URL, or a static catalog's ``catalog.json`` / ``collection.json``
            (local path or http URL) when ``static_catalog``.
        collection: Collection id (a static catalog is narrowed to that child when it exists).
        bbox: ``(west, south, east, north)`` in lon/lat.
        date_range: ``(start, end)``; date-only ends include the whole end day.
        query: STAC ``query`` extension terms; ``max_items`` caps the result locally; the keys
            ``filter``, ``filter_lang``, ``sortby``, ``ids``, ``intersects``, ``fields`` are
            passed to the search as such.
        static_catalog: Walk a static catalog instead of searching an API (bbox and dates are
            then filtered client-side).
        limit: Page size of API searches (default ``min(1000, max_items)``).

    Raises:
        StacSearchError: the server or catalog failed (HTTP errors, unreadable JSON).
        NoItemsError: nothing matched.
    """
    q = dict(query or {})
    max_items = q.pop("max_items", None)
    max_items = int(max_items) if max_items else None
    if static_catalog:
        items = _static_items(stac_api, collection, bbox, date_range, max_items)
    else:
        items = _api_search(stac_api, collection, bbox, date_range, q, max_items, limit)
    if not items:
        raise NoItemsError(
            f"No STAC scenes matched the request (api={redact_url(stac_api)}, "
            f"collection={collection!r}, bbox={bbox}, date_range={date_range}, query={q or None})"
        )
    return items


def asset_signer(scheme: str) -> Signer:
    """The signer of ``scheme`` for header reads (see :mod:`rasteret_io.signing`).

    Raises:
        StacSearchError: its package is not installed (for Planetary Computer:
            ``rasteret[azure]``), or the scheme is unknown.
    """
    try:
        return scheme_signer(scheme)
    except ImportError:
        raise StacSearchError(
            "Planetary Computer assets need signing: install the 'planetary-computer' package "
            "(rasteret[azure]) or pass a backend"
        ) from None
    except ConfigError as exc:
        raise StacSearchError(str(exc)) from None


def _asset_href(item: Mapping[str, Any], asset_key: str, prefer_s3: bool) -> str | None:
    assets = item.get("assets") or {}
    if prefer_s3:
        sib = assets.get(f"s3_{asset_key}")
        if isinstance(sib, Mapping) and str(sib.get("href", "")).startswith("s3://"):
            return str(sib["href"])
    entry = assets.get(asset_key)
    if not isinstance(entry, Mapping):
        return None
    href = entry.get("href")
    return str(href) if href else None


def _property_column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array(
            [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values],
            pa.string(),
        )


def items_to_table(
    items: Sequence[Mapping[str, Any]],
    band_map: Mapping[str, str],
    *,
    band_index_map: Mapping[str, int] | None = None,
    collection: str | None = None,
    url_patterns: Mapping[str, str] | None = None,
    prefer_s3: bool = False,
) -> pa.Table:
    """Turn item dicts into a normalised (not yet enriched) record table.

    Every ``properties`` key becomes a column; ``assets`` holds ``{band: {href, band_index}}``
    for the bands each item has.
    """
    import shapely.geometry

    props_keys: list[str] = []
    seen: set[str] = set()
    for it in items:
        for k in it.get("properties") or {}:
            if k not in seen and k not in (
                Col.DATETIME,
                Col.ID,
                Col.GEOMETRY,
                Col.ASSETS,
                Col.BBOX,
            ):
                seen.add(k)
                props_keys.append(k)
    ids: list[str] = []
    times: list[Any] = []
    geoms: list[bytes | None] = []
    bboxes: list[dict[str, Any] | None] = []
    assets: list[dict[str, Any]] = []
    colls: list[str | None] = []
    props: dict[str, list[Any]] = {k: [] for k in props_keys}
    extra_crs: dict[str, list[Any]] = {k: [] for k in CRS_CANDIDATES if k not in seen}
    for it in items:
        p = it.get("properties") or {}
        ids.append(str(it.get("id")))
        times.append(p.get("datetime") or p.get("start_datetime"))
        geom = it.get("geometry")
        geoms.append(shapely.geometry.shape(geom).wkb if geom else None)
        bb = it.get("bbox")
        if bb and len(bb) >= 4:
            bb = (bb[0], bb[1], bb[3], bb[4]) if len(bb) >= 6 else bb
            bboxes.append({"xmin": bb[0], "ymin": bb[1], "xmax": bb[2], "ymax": bb[3]})
        else:
            bboxes.append(None)
        row: dict[str, Any] = {}
        band_assets: list[Mapping[str, Any]] = []
        for code, key in band_map.items():
            href = _asset_href(it, key, prefer_s3)
            if href is None:
                continue
            row[code] = {
                AssetField.HREF.value: rewrite_url(href, dict(url_patterns or {})),
                AssetField.BAND_INDEX.value: int((band_index_map or {}).get(code, 0)),
            }
            band_assets.append((it.get("assets") or {}).get(key) or {})
        assets.append(row)
        colls.append(it.get("collection") or collection)
        for k in props_keys:
            props[k].append(p.get(k))
        for k, col in extra_crs.items():  # projection fields given on the band assets
            col.append(next((a[k] for a in band_assets if a.get(k) is not None), None))
    data: dict[str, Any] = {
        Col.ID.value: pa.array(ids, pa.string()),
        Col.DATETIME.value: _property_column(times),
        Col.GEOMETRY.value: pa.array(geoms, pa.binary()),
    }
    if any(b is not None for b in bboxes):
        from rasteret_catalog.arrow import bbox_type

        data[Col.BBOX.value] = pa.array(bboxes, bbox_type())
    asset_struct = pa.struct(
        [
            pa.field(
                c,
                pa.struct(
                    [
                        pa.field(AssetField.HREF, pa.string()),
                        pa.field(AssetField.BAND_INDEX, pa.int32()),
                    ]
                ),
            )
            for c in band_map
        ]
    )
    data[Col.ASSETS.value] = pa.array(assets, asset_struct)
    if Col.COLLECTION not in seen:
        data[Col.COLLECTION.value] = pa.array(colls, pa.string())
    for k in props_keys:
        data[k] = _property_column(props[k])
    for k, col in extra_crs.items():
        if any(v is not None for v in col):
            data[k] = _property_column(col)
    return normalize_table(pa.table(data))


def check_record_crs(table: pa.Table, bands: Sequence[str]) -> None:
    """Every record with indexed band metadata must have a raster CRS.

    Raises:
        CrsResolutionError: naming the records without one.
    """

    if Col.CRS not in table.column_names:
        crs = [None] * table.num_rows
    else:
        crs = table.column(Col.CRS).to_pylist()
    ids = table.column(Col.ID).to_pylist()
    cols = [
        table.column(band_metadata_column(b))
        for b in bands
        if band_metadata_column(b) in table.column_names
    ]
    missing = []
    for i in range(table.num_rows):
        has_meta = any(c[i].is_valid for c in cols)
        if has_meta and crs[i] is None:
            missing.append(ids[i])
    if missing:
        raise CrsResolutionError(
            "Raster CRS could not be resolved from item properties (proj:code / proj:epsg / "
            "proj:wkt2 / proj:projjson) nor from the COG headers. Missing CRS record ids: "
            + ", ".join(map(str, missing[:20]))
            + (f" (+{len(missing) - 20} more)" if len(missing) > 20 else "")
        )


def asset_signing(stac_api: str | None) -> str | None:
    """The URL signing scheme the assets of items from ``stac_api`` need (None: none).

    Planetary Computer items (API host ``planetarycomputer.microsoft.com``) need SAS tokens;
    the collection stores their plain hrefs and names the scheme in its metadata
    (:data:`~rasteret_catalog.schema.ASSET_SIGNING_KEY`), and requests are signed when made.
    """
    return PLANETARY_COMPUTER if _PC_HOST in (stac_api or "") else None


def prepare_stac(source: StacSource, *, credentialed: bool = False) -> Prepared:
    """Search STAC and turn the items into normalised records (no header I/O).

    Search → band map (validated before any header request) → URL rewrites → records.

    Args:
        source: What to search.
        credentialed: A backend with credentials will read the assets: ``s3://`` sibling
            hrefs are preferred, and Planetary Computer header reads are not signed (the
            backend is used as given).

    Planetary Computer items keep their plain hrefs (no SAS token is ever stored); the table's
    metadata names the signing scheme (``asset_signing``) and ``Prepared.asset_signing``
    carries it to the enrich step, which signs each header request when no backend is given.

    Raises:
        StacSearchError, NoItemsError, BandMapError.
    """
    items = search_items(
        source.stac_api,
        source.collection,
        bbox=source.bbox,
        date_range=source.date_range,
        query=source.query,
        static_catalog=source.static_catalog,
        limit=source.limit,
    )
    plan = plan_bands(
        items,
        band_map=source.band_map,
        sources=(source.source_id, source.collection),
        strict=True if source.band_map else None,
    )
    bm = plan.band_map
    check_band_index_map(bm, source.band_index_map)
    if plan.left_out:
        _warn_left_out(plan, source.source_id)
    cloud_config = (
        source.cloud_config
        or CloudConfig.get_config(source.source_id)
        or CloudConfig.get_config(source.collection)
    )
    signing = asset_signing(source.stac_api)
    if signing is not None and not credentialed:
        asset_signer(signing)  # the package is needed for the header reads: fail before them
    table = items_to_table(
        items,
        bm,
        band_index_map=source.band_index_map,
        collection=source.collection,
        url_patterns=cloud_config.url_patterns if cloud_config else None,
        prefer_s3=credentialed,
    )
    if plan.aliases:
        meta = dict(table.schema.metadata or {})
        meta[BAND_ALIASES_KEY.encode()] = json.dumps(plan.aliases, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
    if signing is not None:
        meta = dict(table.schema.metadata or {})
        meta[ASSET_SIGNING_KEY.encode()] = signing.encode()
        table = table.replace_schema_metadata(meta)
    return Prepared(
        table,
        tuple(bm),
        data_source=source.source_id,
        cloud_config=cloud_config,
        require_crs=True,
        left_out_assets=plan.left_out,
        asset_signing=signing,
    )


def _warn_left_out(plan: BandPlan, source_id: str) -> None:
    """One warning naming the data assets a STAC build does not index."""
    shown = ", ".join(plan.left_out[:12])
    more = f" (+{len(plan.left_out) - 12} more)" if len(plan.left_out) > 12 else ""
    why = (
        "not in the band_map given"
        if plan.rule == "explicit"
        else f"not in the band map registered for {source_id!r}"
        if plan.rule == "registered"
        else "not GeoTIFF / COG rasters"
    )
    warnings.warn(
        f"{len(plan.left_out)} asset(s) of the STAC items are not indexed ({why}): "
        f"{shown}{more}. Pass band_map={{band: asset_key}} to index them; the build "
        "report's left_out_assets lists them all.",
        IngestWarning,
        stacklevel=3,
    )
