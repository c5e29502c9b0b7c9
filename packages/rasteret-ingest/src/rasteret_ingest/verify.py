"""Detect COGs that changed (or vanished) since they were indexed.

Enrichment stores each asset's ETag, size and Last-Modified in ``{band}_metadata``. Because
tile offsets are only valid for the exact file that was indexed, :func:`stale_assets` sends
one HEAD per distinct URL and reports every ``(record, band)`` whose object now differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret_catalog.schema import Col, band_metadata_column, band_of_metadata_column
from rasteret_ingest._source import HeaderSource
from rasteret_ingest.enrich import asset_urls
from rasteret_io import ObjectIdentity, redact_url, run_sync

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = ["StaleAsset", "stale_assets"]


@dataclass(frozen=True, slots=True)
class StaleAsset:
    """An indexed asset whose object changed.

    Attributes:
        record_id: Record id.
        band: Band code.
        url: Asset URL (credentials redacted).
        reason: ``"etag"``, ``"size"``, ``"last_modified"`` or ``"missing: <error>"``.
    """

    record_id: str | None
    band: str
    url: str
    reason: str


def _differs(stored: dict[str, Any], now: ObjectIdentity) -> str | None:
    """Which recorded field contradicts ``now`` (``rasteret_io.ObjectIdentity.mismatch``
    rules: ETags when both are known, weak prefix ignored; sizes; Last-Modified only when
    ETags cannot be compared), or None."""
    was = ObjectIdentity.from_band_metadata(stored)
    if was is None or was.mismatch(now) is None:
        return None
    if was.etag is not None and now.etag is not None and was.mismatch(ObjectIdentity(now.etag)):
        return "etag"
    if was.size is not None and now.size is not None and was.size != now.size:
        return "size"
    return "last_modified"


async def _stale_async(
    table: pa.Table, bands: Sequence[str], backend: Backend | None, max_concurrent: int
) -> list[StaleAsset]:
    per_row = asset_urls(table, bands)
    metas = {b: table.column(band_metadata_column(b)).to_pylist() for b in bands}
    ids = table.column(Col.ID).to_pylist()
    urls = list(dict.fromkeys(u for row in per_row for u, _ in row.values()))
    source = HeaderSource(backend, concurrency=max_concurrent)
    sem = asyncio.Semaphore(max(1, max_concurrent))
    infos: dict[str, ObjectIdentity | BaseException | None] = {}

    async def one(url: str) -> None:
        async with sem:
            try:
                infos[url] = await source.head(url)
            except Exception as exc:
                infos[url] = exc

    await asyncio.gather(*(one(u) for u in urls))
    out: list[StaleAsset] = []
    for i, row in enumerate(per_row):
        for band, (url, _) in row.items():
            stored = metas[band][i]
            if stored is None:
                continue
            info = infos[url]
            if isinstance(info, BaseException):
                out.append(StaleAsset(ids[i], band, redact_url(url), f"missing: {info}"))
            elif info is not None and (why := _differs(stored, info)):
                out.append(StaleAsset(ids[i], band, redact_url(url), why))
    return out


def stale_assets(
    table: pa.Table,
    bands: Sequence[str] | None = None,
    *,
    backend: Backend | None = None,
    max_concurrent: int = 50,
) -> list[StaleAsset]:
    """List indexed assets whose object changed or disappeared since indexing.

    Args:
        table: A collection table with ``assets`` and ``{band}_metadata`` columns.
        bands: Bands to check (default: every ``{band}_metadata`` column).
        backend: ``rasteret_io`` backend (HEAD needs one exposing its obstore stores).
        max_concurrent: HEAD requests in flight.

    Returns:
        One :class:`StaleAsset` per changed (record, band); empty when everything matches.
    """
    if bands is None:
        bands = [b for c in table.column_names if (b := band_of_metadata_column(c)) is not None]
    return run_sync(_stale_async(table, list(bands), backend, max_concurrent))
