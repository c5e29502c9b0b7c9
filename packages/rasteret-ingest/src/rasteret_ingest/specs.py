"""What a build is asked to do, as frozen, hashable values built once by the caller.

The pipeline steps (:mod:`rasteret_ingest.pipeline`) take these objects, never keyword bags:

- :class:`StacSource` / :class:`TableSource`: where the records come from and how they are
  brought to the collection contract (the *prepare* step);
- :class:`EnrichOptions`: which bands' COG headers to index and how (the *enrich* step);
- :class:`WriteTarget` / :class:`Destination`: where and under which name the collection is
  written (the *write* step, and the workspace cache of the builders);
- :class:`Prepared`: the output of *prepare*, the input of *enrich*.

Mappings are stored as read-only :class:`~rasteret_catalog.FrozenMap` s and sequences as
tuples, so every spec compares and hashes by value. User objects that have no value identity
(an in-memory Arrow table, a pyarrow filesystem or filter expression) are held in fields that
take no part in equality or hashing; the path of a table source does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from rasteret_catalog import CloudConfig, freeze
from rasteret_catalog.schema import PARTITION_COLUMNS
from rasteret_ingest.errors import BuildSpecError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from rasteret_io import RetryPolicy
    from rasteret_io.protocols import Backend

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "Destination",
    "EnrichOptions",
    "Prepared",
    "StacSource",
    "TableSource",
    "WriteTarget",
]

DEFAULT_MAX_CONCURRENT = 256
"""Header reads in flight when a caller does not say (a header is one small request, so a
wide bound turns N files into ~one latency wave; the public builders keep 0.4.1's defaults)."""


def _tuple(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _set(obj: object, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


_FROZEN = {"normalise": freeze}  # field metadata: stored as a FrozenMap
_TUPLE = {"normalise": _tuple}  # field metadata: stored as a tuple


def _normalise(spec: Any) -> None:
    """Store the fields marked :data:`_FROZEN` / :data:`_TUPLE` as FrozenMaps / tuples."""
    for f in fields(spec):
        convert = f.metadata.get("normalise")
        if convert is not None:
            object.__setattr__(spec, f.name, convert(getattr(spec, f.name)))


@dataclass(frozen=True, slots=True)
class StacSource:
    """STAC items to index: an API search, or a static catalog walk.

    Attributes:
        stac_api: API root URL, or a static catalog's ``catalog.json`` with ``static_catalog``.
        collection: STAC collection id.
        data_source: Source id for band maps and cloud settings (default: ``collection``).
        band_map: Explicit ``{band code: asset key}``; every band must exist in some item.
        band_index_map: ``{band code: sample index}`` for multi-band assets.
        bbox: Lon/lat search box ``(west, south, east, north)``.
        date_range: ``(start, end)`` of the search.
        query: STAC ``query`` terms (``max_items`` caps the search locally).
        static_catalog: Walk a static catalog instead of searching an API.
        cloud_config: URL rewrites / requester-pays (default: the one registered for the source).
        limit: Page size of API searches.
    """

    stac_api: str
    collection: str
    data_source: str = ""
    band_map: Mapping[str, str] | None = field(default=None, metadata=_FROZEN)
    band_index_map: Mapping[str, int] | None = field(default=None, metadata=_FROZEN)
    bbox: tuple[float, float, float, float] | None = field(default=None, metadata=_TUPLE)
    date_range: tuple[Any, Any] | None = field(default=None, metadata=_TUPLE)
    query: Mapping[str, Any] | None = field(default=None, metadata=_FROZEN)
    static_catalog: bool = False
    cloud_config: CloudConfig | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def source_id(self) -> str:
        """The data source id: ``data_source``, else the collection id."""
        return self.data_source or self.collection


@dataclass(frozen=True, slots=True)
class TableSource:
    """A record table to bring to the collection contract.

    Build it with :meth:`of`, which sorts a path (compared by value) from an in-memory Arrow
    object (held as is, outside equality).

    Attributes:
        location: Parquet / GeoParquet file or directory: local path, ``file://`` or any URI a
            pyarrow filesystem understands. None when ``data`` is given.
        data: An Arrow object (``pa.Table``, ``RecordBatch``, reader, dataset, or anything
            exporting Arrow) instead of a path.
        data_source: Source id (selects the registered ``CloudConfig`` when none is given).
        filesystem: pyarrow filesystem for ``location``.
        columns: Scan-time projection.
        filter_expr: Scan-time predicate (a ``pyarrow.compute.Expression``).
        column_map: ``{source column: canonical name}`` aliases (sources kept).
        href_column: URL column used with ``band_index_map`` to build ``assets``.
        band_index_map: ``{band: sample index}`` of the multi-band COG in ``href_column``.
        url_rewrite_patterns: Prefix rewrites of ``href_column`` URLs (default: the cloud
            config's patterns).
        cloud_config: URL rewrites and backend settings.
    """

    location: str | None = None
    data: Any = field(default=None, compare=False)
    data_source: str = ""
    filesystem: Any = field(default=None, compare=False)
    columns: tuple[str, ...] | None = field(default=None, metadata=_TUPLE)
    filter_expr: Any = field(default=None, compare=False)
    column_map: Mapping[str, str] | None = field(default=None, metadata=_FROZEN)
    href_column: str | None = None
    band_index_map: Mapping[str, int] | None = field(default=None, metadata=_FROZEN)
    url_rewrite_patterns: Mapping[str, str] | None = field(default=None, metadata=_FROZEN)
    cloud_config: CloudConfig | None = None

    def __post_init__(self) -> None:
        _normalise(self)

    @classmethod
    def of(cls, source: Any, **fields: Any) -> TableSource:
        """A table source for ``source``: a path / URI, or an Arrow object."""
        if isinstance(source, str | os.PathLike):
            return cls(location=os.fspath(source), **fields)
        return cls(data=source, **fields)

    @property
    def source(self) -> Any:
        """The path or the Arrow object."""
        return self.data if self.location is None else self.location


@dataclass(frozen=True, slots=True)
class EnrichOptions:
    """How COG headers are indexed.

    Attributes:
        bands: Band codes to index (default: every band the prepared records carry).
        backend: Range reader for the headers (default: one built from the records' cloud
            config, else the process-wide anonymous backend).
        max_concurrent: Headers read at the same time.
        progress: ``False`` hides the progress bar; otherwise it shows on a terminal.
        band_map: ``{band code: asset key}`` used to find assets keyed by provider names.
        retry: Retry policy for transient errors (default: 3 attempts, 30 s per attempt).
        deadline: Total seconds for the whole enrichment (every header read, retries and
            backoff included); None: no total bound. Headers not read in time are reported
            as failures, never dropped silently.
        request_timeout: Seconds per request attempt (overrides ``retry.timeout``).

    Raises:
        BuildSpecError: ``max_concurrent`` below 1, or a non-positive ``deadline`` /
            ``request_timeout``.
    """

    bands: tuple[str, ...] | None = field(default=None, metadata=_TUPLE)
    backend: Backend | None = None
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    progress: bool | None = None
    band_map: Mapping[str, str] | None = field(default=None, metadata=_FROZEN)
    retry: RetryPolicy | None = None
    deadline: float | None = None
    request_timeout: float | None = None

    def __post_init__(self) -> None:
        _normalise(self)
        for name in ("deadline", "request_timeout"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise BuildSpecError(
                    f"{name} must be a positive number of seconds or None, got {value!r}"
                )
            _set(self, **{name: float(value)})


@dataclass(frozen=True, slots=True)
class Prepared:
    """Records brought to the collection contract, not yet header-enriched.

    Attributes:
        table: The normalised records.
        bands: Band codes the records carry (the default bands to enrich).
        data_source: Source id.
        cloud_config: Cloud settings of the source (used to build a backend for enrichment).
        require_crs: After enrichment, every record with band metadata must have a raster CRS
            (STAC builds).
        left_out_assets: Data assets of the source that are not indexed (not in the band
            map); the build warns about them and its report lists them.
        asset_signing: URL signing scheme the assets need (``"planetary_computer"``), or None.
            Without a backend, the enrich step signs every header request with it; the
            records themselves keep plain hrefs.
    """

    table: pa.Table = field(compare=False)
    bands: tuple[str, ...] = ()
    data_source: str = ""
    cloud_config: CloudConfig | None = None
    require_crs: bool = False
    left_out_assets: tuple[str, ...] = ()
    asset_signing: str | None = None


@dataclass(frozen=True, slots=True)
class WriteTarget:
    """How a collection table is finalised and where it is written.

    Attributes:
        path: Collection directory (local, ``file://`` or cloud URI); None keeps the table in
            memory (metadata attached, nothing written).
        name: Collection name (metadata ``name``).
        description: Free text.
        data_source: Data source id.
        date_range: ``(start, end)`` recorded in the metadata.
        force: Replace an existing collection (atomically for local paths).
        partition_by: Hive partition columns (``year`` / ``month`` are derived when missing).
        require_band_metadata: Check the contract with (True) or without (False) the
            ``{band}_metadata`` columns; None writes without checking (exports of user views).
        filesystem: pyarrow filesystem for ``path``.
    """

    path: str | os.PathLike[str] | None
    name: str
    description: str = ""
    data_source: str = ""
    date_range: tuple[Any, Any] | None = field(default=None, metadata=_TUPLE)
    force: bool = False
    partition_by: tuple[str, ...] = field(default=PARTITION_COLUMNS, metadata=_TUPLE)
    require_band_metadata: bool | None = True
    filesystem: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _normalise(self)
        _set(self, path=None if self.path is None else str(self.path))


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a builder caches its collection: ``{workspace_dir}/{name}_stac|_records``.

    Attributes:
        name: Collection name (record tables: default the file stem, or ``record_table``).
        workspace_dir: Workspace root, or a ``*_stac`` / ``*_records`` directory (default
            ``~/rasteret_workspace``; record tables without name and workspace are not written).
        force: Rebuild even when the directory exists (atomic replacement).
        description: Collection description (record tables).
        filesystem: pyarrow filesystem for a remote workspace (record tables).
    """

    name: str = ""
    workspace_dir: str | os.PathLike[str] | None = None
    force: bool = False
    description: str = ""
    filesystem: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.workspace_dir is not None:
            _set(self, workspace_dir=os.fspath(self.workspace_dir))
