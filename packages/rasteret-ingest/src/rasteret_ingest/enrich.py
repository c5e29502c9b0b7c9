"""Header enrichment: read every (record, band) COG header once and add ``{band}_metadata``.

- Unique URLs are read once each, concurrently (``max_concurrent``), one request for a typical
  COG header (see :mod:`rasteret_ingest._source`), with ETag / size / Last-Modified stored in the
  struct when the server sends them.
- **Per-asset failure policy**: a header that cannot be fetched or parsed leaves that band's
  struct null for that record and is listed in :attr:`EnrichReport.failures` (every one of
  them); one :class:`IngestWarning` (carrying the report) summarises the count and the first
  failing URLs. Only when *no* header could be read does the call raise
  :class:`~rasteret_ingest.errors.EnrichmentError` (0.4.1 aborted on the first bad asset).
- **Deadline**: ``deadline`` seconds bound the whole enrichment (queueing, attempts and
  backoff included; one :class:`rasteret_io.Deadline` shared by every header read). Headers
  not read when it runs out fail with ``DeadlineExceededError`` and are reported like any
  other failure: never silently dropped.
- The raster CRS of each record is taken from its headers where ``proj:epsg`` / ``crs`` are
  null (existing values are kept); headers of one record that disagree raise
  :class:`~rasteret_ingest.errors.CrsResolutionError`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pyarrow as pa

from rasteret_catalog.bands import resolve_band_asset
from rasteret_catalog.schema import AssetField, Col, band_metadata_column
from rasteret_ingest._bandmeta import band_metadata_column_array, header_to_band_record
from rasteret_ingest._crs import ParsedCrs, parse_crs
from rasteret_ingest._source import HeaderRead, HeaderSource
from rasteret_ingest.errors import CrsResolutionError, EnrichmentError, IngestWarning
from rasteret_ingest.specs import DEFAULT_MAX_CONCURRENT
from rasteret_io import Deadline, RetryPolicy, redact_url, run_sync
from rasteret_io.urls import redact_text

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "EnrichFailure",
    "EnrichReport",
    "asset_urls",
    "enrich_table",
    "enrich_table_async",
    "progress_enabled",
]

_SHOWN_FAILURES = 5
_P = ParamSpec("_P")
_R = TypeVar("_R")
_ALTERNATE_KEYS = ("s3", "aws", "https", "http", "cloudfront")


@dataclass(frozen=True, slots=True)
class EnrichFailure:
    """One (record, band) whose header could not be indexed.

    Attributes:
        url: Asset URL, credentials redacted.
        band: Band code.
        record_id: Record id.
        error: Error message (credentials redacted).
        kind: Error class name (``ObjectNotFoundError``, ``DeadlineExceededError``,
            ``TiffFormatError``...).
        status: HTTP status of the final failure, when the server sent one.
    """

    url: str
    band: str
    record_id: str | None
    error: str
    kind: str = ""
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The failure as JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EnrichReport:
    """What an enrichment did.

    Attributes:
        attempted: (record, band) pairs with an asset URL.
        failed: Pairs whose metadata is null because their header could not be read.
        failures: One entry per failed pair.
        requests: Range requests made for headers (retries included).
        elapsed: Wall time in seconds.
        urls: Unique URLs read.
        left_out_assets: Data assets of the source that were not indexed (not in the band
            map of a STAC build).
    """

    attempted: int = 0
    failed: int = 0
    failures: tuple[EnrichFailure, ...] = field(default=())
    requests: int = 0
    elapsed: float = 0.0
    urls: int = 0
    left_out_assets: tuple[str, ...] = ()

    @property
    def succeeded(self) -> int:
        """Pairs indexed."""
        return self.attempted - self.failed

    @property
    def requests_per_file(self) -> float:
        """Mean requests per unique URL."""
        return self.requests / self.urls if self.urls else 0.0

    def summary(self, limit: int = _SHOWN_FAILURES) -> str:
        """One line: counts and the first ``limit`` failing URLs with their errors.

        The report itself (:attr:`failures`, :meth:`to_dict`) lists every failure.
        """
        head = f"{self.failed} of {self.attempted} asset header(s) could not be read"
        shown = "; ".join(
            f"{f.url} (record {f.record_id}, band {f.band}): {f.error}"
            for f in self.failures[:limit]
        )
        more = f" (+{len(self.failures) - limit} more)" if len(self.failures) > limit else ""
        return f"{head}: {shown}{more}" if shown else head

    @property
    def deadline_exceeded(self) -> int:
        """Pairs that failed because the build's deadline ran out."""
        return sum(1 for f in self.failures if f.kind == "DeadlineExceededError")

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values, every failure included."""
        counts = ("attempted", "succeeded", "failed", "requests", "urls", "elapsed")
        return {
            **{name: getattr(self, name) for name in counts},
            "failures": [f.to_dict() for f in self.failures],
            "left_out_assets": list(self.left_out_assets),
        }

    def merge(self, other: EnrichReport) -> EnrichReport:
        """Sum of two reports (for incremental builds)."""
        return EnrichReport(
            attempted=self.attempted + other.attempted,
            failed=self.failed + other.failed,
            failures=self.failures + other.failures,
            requests=self.requests + other.requests,
            elapsed=self.elapsed + other.elapsed,
            urls=self.urls + other.urls,
            left_out_assets=tuple(dict.fromkeys(self.left_out_assets + other.left_out_assets)),
        )


def progress_enabled(progress: bool | None) -> bool:
    """``False`` disables; otherwise shown only when stderr is a terminal."""
    if progress is False:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _asset_href(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, Mapping):
        return None
    href = entry.get(AssetField.HREF)
    if href:
        return str(href)
    alternate = entry.get("alternate")
    if isinstance(alternate, Mapping):
        for key in _ALTERNATE_KEYS:
            alt = alternate.get(key)
            if isinstance(alt, Mapping) and alt.get(AssetField.HREF):
                return str(alt[AssetField.HREF])
        for alt in alternate.values():
            if isinstance(alt, Mapping) and alt.get(AssetField.HREF):
                return str(alt[AssetField.HREF])
    links = entry.get("links")
    if isinstance(links, Sequence):
        for link in links:
            if isinstance(link, Mapping) and link.get(AssetField.HREF):
                return str(link[AssetField.HREF])
    return None


def _row_assets(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):  # Arrow map -> list of (key, value)
        return {k: v for k, v in value if v is not None}
    return {}


def asset_urls(
    table: pa.Table, bands: Sequence[str], band_map: Mapping[str, str] | None = None
) -> list[dict[str, tuple[str, int]]]:
    """Per row, ``{band: (url, band_index)}`` for the requested bands that have an asset."""
    out: list[dict[str, tuple[str, int]]] = []
    for value in table.column(Col.ASSETS).to_pylist():
        assets = _row_assets(value)
        row: dict[str, tuple[str, int]] = {}
        for band in bands:
            key = resolve_band_asset(band, assets.keys(), band_map)
            if key is None:
                continue
            entry = assets[key]
            href = _asset_href(entry)
            if not href:
                continue
            idx = entry.get(AssetField.BAND_INDEX) if isinstance(entry, Mapping) else None
            row[band] = (href, int(idx) if idx is not None else 0)
        out.append(row)
    return out


@dataclass(frozen=True, slots=True)
class _Indexed:
    """What one URL's header gives the records using it, kept instead of the header.

    Attributes:
        records: Per band index, the ``{band}_metadata`` record or why it is unusable.
        crs: The header's CRS (None when absent, or when no record could be made).
    """

    records: dict[int, dict[str, Any] | ValueError]
    crs: ParsedCrs | None


def _index(read: HeaderRead, band_indexes: Sequence[int]) -> _Indexed:
    records: dict[int, dict[str, Any] | ValueError] = {}
    for band_index in band_indexes:
        try:
            records[band_index] = header_to_band_record(read.header, band_index, read.info)
        except ValueError as exc:
            records[band_index] = exc
    usable = any(not isinstance(r, ValueError) for r in records.values())
    return _Indexed(records, _header_crs(read) if usable else None)


async def _read_all(
    urls: Sequence[str],
    source: HeaderSource,
    max_concurrent: int,
    progress: bool | None,
    deadline: Deadline | None,
    band_indexes: Mapping[str, Sequence[int]],
) -> dict[str, _Indexed | BaseException]:
    """Read every URL's header and turn it into its records as soon as it arrives (a
    build holds records, never thousands of parsed headers at once).

    ``max_concurrent`` workers take the URLs in order from one iterator (a task per worker,
    not per URL, and no semaphore queue of waiting URLs).
    """
    results: dict[str, _Indexed | BaseException] = {}
    bar = None
    if progress_enabled(progress) and urls:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(urls), desc="Indexing COG headers", unit="file", leave=False)
    todo = iter(urls)

    async def worker() -> None:
        for url in todo:  # shared by the workers: each URL is read once
            try:
                read = await source.read(url, deadline=deadline)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                results[url] = exc
            else:
                results[url] = _index(read, band_indexes[url])
            if bar is not None:
                bar.update(1)

    try:
        await asyncio.gather(
            *(worker() for _ in range(min(len(urls), max(1, int(max_concurrent)))))
        )
    finally:
        if bar is not None:
            bar.close()
    return results


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact_text(f"{type(exc).__name__}: {text}")


def _failure(url: str, band: str, record_id: Any, exc: BaseException) -> EnrichFailure:
    status = getattr(exc, "status", None)
    return EnrichFailure(
        redact_url(url),
        band,
        record_id,
        _error_text(exc),
        type(exc).__name__,
        status if isinstance(status, int) else None,
    )


def _start_deadline(deadline: float | Deadline | None) -> Deadline | None:
    if deadline is None or isinstance(deadline, Deadline):
        return deadline
    return Deadline.after(float(deadline))


def _backfill_crs(table: pa.Table, row_crs: list[ParsedCrs | None], ids: list[Any]) -> pa.Table:
    epsg_col = (
        table.column(Col.PROJ_EPSG).to_pylist()
        if Col.PROJ_EPSG in table.column_names
        else [None] * table.num_rows
    )
    crs_col = (
        table.column(Col.CRS).to_pylist()
        if Col.CRS in table.column_names
        else [None] * table.num_rows
    )
    changed = False
    for i, parsed in enumerate(row_crs):
        if parsed is None:
            continue
        if epsg_col[i] is None and parsed.epsg is not None:
            epsg_col[i] = parsed.epsg
            changed = True
        if crs_col[i] is None:
            crs_col[i] = parsed.code or (f"EPSG:{epsg_col[i]}" if epsg_col[i] else parsed.text)
            changed = changed or crs_col[i] is not None
    if not changed and Col.PROJ_EPSG in table.column_names and Col.CRS in table.column_names:
        return table
    for name, arr in (
        (Col.PROJ_EPSG.value, pa.array(epsg_col, pa.int32())),
        (Col.CRS.value, pa.array(crs_col, pa.string())),
    ):
        idx = table.schema.get_field_index(name)
        f = pa.field(name, arr.type)
        table = table.set_column(idx, f, arr) if idx >= 0 else table.append_column(f, arr)
    return table


def _header_crs(read: HeaderRead) -> ParsedCrs | None:
    crs = read.header.crs
    if crs is None:
        return None
    if crs.epsg is not None:
        return parse_crs(int(crs.epsg))
    wkt = crs.to_wkt()
    if not wkt:
        return None
    parsed = parse_crs(wkt)
    return parsed if (parsed.epsg or parsed.code or parsed.text) else ParsedCrs(text=wkt)


def _same_crs(a: ParsedCrs, b: ParsedCrs) -> bool:
    if a.epsg is not None or b.epsg is not None:
        return a.epsg == b.epsg
    return (a.code or a.text) == (b.code or b.text)


@dataclass(frozen=True, slots=True)
class _Settings:
    """The keywords of :func:`enrich_table` after ``bands``."""

    backend: Backend | None = None
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    progress: bool | None = None
    band_map: Mapping[str, str] | None = None
    retry: RetryPolicy | None = None
    deadline: float | Deadline | None = None


def _async_twin(
    sync: Callable[_P, _R],
) -> Callable[[Callable[..., Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
    """Make the decorated coroutine function take ``sync``'s parameters: the arguments are
    checked against them (a ``TypeError`` names an unexpected one); type checkers see them
    through the ParamSpec, ``inspect.signature`` through ``__signature__``."""
    signature = inspect.signature(sync)

    def decorate(fn: Callable[..., Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(fn)
        async def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{fn.__name__}() {exc}") from None
            return await fn(*args, **kwargs)

        call.__signature__ = signature  # type: ignore[attr-defined]
        return call

    return decorate


async def _enrich(
    table: pa.Table, bands: Sequence[str], settings: _Settings
) -> tuple[pa.Table, EnrichReport, list[IngestWarning]]:
    """The enrichment; warnings are returned so that the caller's thread issues them."""
    t0 = time.perf_counter()
    bands = list(dict.fromkeys(bands))
    per_row = asset_urls(table, bands, settings.band_map)
    band_indexes: dict[str, dict[int, None]] = {}  # per URL, its band indexes in first use order
    for row in per_row:
        for u, band_index in row.values():
            band_indexes.setdefault(u, {})[band_index] = None
    urls = list(band_indexes)
    attempted = sum(len(row) for row in per_row)
    if attempted == 0:
        note = IngestWarning(f"no asset URLs found for bands {bands}: nothing to enrich")
        return table, EnrichReport(elapsed=time.perf_counter() - t0), [note]
    clock = _start_deadline(settings.deadline)
    source = HeaderSource(
        settings.backend, retry=settings.retry, concurrency=settings.max_concurrent
    )
    reads = await _read_all(
        urls,
        source,
        settings.max_concurrent,
        settings.progress,
        clock,
        {u: list(idx) for u, idx in band_indexes.items()},
    )

    ids = (
        table.column(Col.ID).to_pylist()
        if Col.ID in table.column_names
        else [None] * table.num_rows
    )
    # Per band, one record per row (tile tables stay int64 arrays until the column is built).
    columns: dict[str, list[dict[str, Any] | None]] = {b: [None] * table.num_rows for b in bands}
    failures: list[EnrichFailure] = []
    row_crs: list[ParsedCrs | None] = [None] * table.num_rows
    for i, row in enumerate(per_row):
        for band, (url, band_index) in row.items():
            got = reads[url]
            if isinstance(got, BaseException):
                failures.append(_failure(url, band, ids[i], got))
                continue
            rec = got.records[band_index]
            if isinstance(rec, ValueError):
                failures.append(_failure(url, band, ids[i], rec))
                continue
            columns[band][i] = rec
            hc = got.crs
            if hc is None:
                continue
            if row_crs[i] is None:
                row_crs[i] = hc
            elif not _same_crs(row_crs[i], hc):  # type: ignore[arg-type]
                raise CrsResolutionError(
                    f"record {ids[i]!r}: band {band} ({redact_url(url)}) has CRS "
                    f"{hc.code or hc.text!r}, other bands {row_crs[i].code or row_crs[i].text!r}"  # type: ignore[union-attr]
                )
    report = EnrichReport(
        attempted=attempted,
        failed=len(failures),
        failures=tuple(failures),
        requests=source.request_count,
        elapsed=time.perf_counter() - t0,
        urls=len(urls),
    )
    if report.failed == report.attempted:
        raise EnrichmentError(f"no COG header could be indexed. {report.summary()}", report)
    notes = [IngestWarning(report.summary(), report)] if failures else []
    for band in bands:
        name = band_metadata_column(band)
        arr = band_metadata_column_array(columns[band])
        idx = table.schema.get_field_index(name)
        f = pa.field(name, arr.type)
        table = table.set_column(idx, f, arr) if idx >= 0 else table.append_column(f, arr)
    table = _backfill_crs(table, row_crs, ids)
    return table, report, notes


def enrich_table(
    table: pa.Table,
    bands: Sequence[str],
    *,
    backend: Backend | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    progress: bool | None = None,
    band_map: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    deadline: float | Deadline | None = None,
) -> tuple[pa.Table, EnrichReport]:
    """Add (or overwrite) ``{band}_metadata`` columns by reading every asset's COG header.

    Args:
        table: Records with an ``assets`` column (``band -> {href, band_index}``).
        bands: Band codes to index; an asset is found by code, or through ``band_map``.
        backend: A ``rasteret_io`` backend (default: the process-wide anonymous one).
        max_concurrent: Headers read at the same time.
        progress: ``False`` hides the progress bar; otherwise it shows on a terminal.
        band_map: ``{band code: asset key}`` used to find assets keyed by provider names.
        retry: Retry policy for transient errors and the per-attempt timeout (default: 3
            attempts, 30 s each).
        deadline: Total seconds for every header read (or a running
            :class:`rasteret_io.Deadline`); None: no total bound. Headers not read in time
            are failures of the report (``kind="DeadlineExceededError"``).

    Returns:
        ``(table, report)``; ``report.failures`` lists every (record, band) not indexed.

    Raises:
        EnrichmentError: no header at all could be read.
        CrsResolutionError: one record's headers declare different CRSs.
    """
    settings = _Settings(backend, max_concurrent, progress, band_map, retry, deadline)
    table, report, notes = run_sync(_enrich(table, bands, settings))
    for note in notes:  # issued in the caller's thread, pointing at its caller
        warnings.warn(note, stacklevel=2)
    return table, report


@_async_twin(enrich_table)
async def enrich_table_async(
    table: pa.Table, bands: Sequence[str], **keywords: Any
) -> tuple[pa.Table, EnrichReport]:
    """Async twin of :func:`enrich_table` (the same arguments)."""
    table, report, notes = await _enrich(table, bands, _Settings(**keywords))
    for note in notes:  # pointing where the coroutine is awaited, past the checking wrapper
        warnings.warn(note, stacklevel=3)
    return table, report
