"""``DatasetDescriptor``: everything rasteret needs to know to build or open one dataset."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rasteret_catalog.errors import DescriptorError

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_SURFACES = frozenset({"record_table", "index", "collection"})
_CANONICAL_MAPPED = ("id", "geometry", "datetime", "bbox", "assets", "proj:epsg", "collection")
_BBOX_COLUMN_KEYS = frozenset({"minx", "miny", "maxx", "maxy"})
_CLOUD_KEYS = frozenset({"provider", "requester_pays", "region", "url_patterns"})


def validate_dataset_id(dataset_id: object) -> str:
    """Return ``dataset_id`` if it is a well-formed id, else raise :class:`DescriptorError`.

    Ids are one or more ``/``-separated segments of letters, digits, ``.``, ``_`` and ``-``,
    each starting with a letter or digit (``earthsearch/sentinel-2-l2a``, ``my-tiles``).
    """
    if not isinstance(dataset_id, str) or not _ID_RE.match(dataset_id):
        raise DescriptorError(
            f"invalid dataset id {dataset_id!r}: use '/'-separated segments of letters, digits, "
            "'.', '_' and '-' (e.g. 'earthsearch/sentinel-2-l2a')"
        )
    return dataset_id


def complete_field_roles(
    field_roles: Mapping[str, str] | None,
    column_map: Mapping[str, str] | None,
    href_column: str | None,
    *,
    bbox_columns: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str] | None, str | None]:
    """Complete the three ways a dataset names its source columns from one another.

    ``field_roles`` (canonical -> source column) gains the inverted ``column_map`` (source ->
    canonical) entries it lacks, ``href`` from ``href_column`` and ``bbox -> bbox`` unless
    scalar ``bbox_columns`` are declared; ``column_map`` gains the roles of the contract
    columns whose source name differs; ``href_column`` falls back to the ``href`` role. Record
    tables and record indexes (``Collection.from_parquet(record_index_*=...)``) use the same
    rule as descriptors.

    Returns:
        ``(field_roles, column_map or None, href_column or None)``.
    """
    roles = dict(field_roles or {})
    for source, canonical in (column_map or {}).items():
        roles.setdefault(canonical, source)
    if href_column:
        roles.setdefault("href", href_column)
    if not bbox_columns:
        roles.setdefault("bbox", "bbox")
    cmap = dict(column_map or {})
    for canonical in _CANONICAL_MAPPED:
        mapped = roles.get(canonical)
        if mapped and mapped != canonical:
            cmap.setdefault(mapped, canonical)
    return roles, cmap or None, href_column or roles.get("href") or None


def surface_has_field(
    surface_fields: Mapping[str, Sequence[str]] | None, surface: str, canonical: str
) -> bool:
    """Whether ``surface`` is declared to carry ``canonical`` (an undeclared surface: True)."""
    if not surface_fields or surface not in surface_fields:
        return True
    return canonical in surface_fields[surface]


def surface_supports_filter(
    filter_capabilities: Mapping[str, Sequence[str]] | None,
    surface_fields: Mapping[str, Sequence[str]] | None,
    surface: str,
    capability: str,
) -> bool:
    """Whether ``surface`` evaluates filters of ``capability``.

    The surface's ``filter_capabilities`` decide when declared, else its ``surface_fields``
    (a surface filters on the fields it carries), else True.
    """
    if filter_capabilities and surface in filter_capabilities:
        return capability in filter_capabilities[surface]
    return surface_has_field(surface_fields, surface, capability)


@dataclass(frozen=True)
class DatasetDescriptor:
    """Description of one dataset: where its records live, its bands, auth and cloud settings.

    Field names and defaults follow rasteret 0.4.1 so descriptors (and local registry files)
    move between the two libraries unchanged. Validation happens at construction and raises
    :class:`~rasteret_catalog.errors.DescriptorError` (a ``ValueError``) naming the field.
    """

    id: str
    name: str
    description: str = ""
    # access
    stac_api: str | None = None
    stac_collection: str | None = None
    record_table_uri: str | None = None
    index_uri: str | None = None
    collection_uri: str | None = None
    geoparquet_uri: str | None = None
    # planning / normalisation hints
    field_roles: dict[str, str] | None = None
    surface_fields: dict[str, list[str]] | None = None
    filter_capabilities: dict[str, list[str]] | None = None
    column_map: dict[str, str] | None = None
    href_column: str | None = None
    band_index_map: dict[str, int] | None = None
    bbox_columns: dict[str, str] | None = None
    # bands
    band_map: dict[str, str] | None = None
    separate_files: bool = True
    # coverage and licensing
    spatial_coverage: str = ""
    temporal_range: tuple[str, str] | None = None
    requires_auth: bool = False
    license: str = ""
    license_url: str = ""
    commercial_use: bool = True
    # static STAC
    static_catalog: bool = False
    # auth and cloud
    s3_credentials_url: str | None = None
    azure_asset_url: str | None = None
    cloud_config: dict[str, Any] | None = None
    # docs and tests
    example_bbox: tuple[float, float, float, float] | None = None
    example_date_range: tuple[str, str] | None = None
    torchgeo_class: str | None = None
    torchgeo_verified: bool = False

    def __post_init__(self) -> None:
        validate_dataset_id(self.id)
        self._check_types()
        setf = object.__setattr__
        if self.index_uri is None:
            if self.geoparquet_uri and not self.record_table_uri:
                setf(self, "record_table_uri", self.geoparquet_uri)
            elif self.record_table_uri and not self.geoparquet_uri:
                setf(self, "geoparquet_uri", self.record_table_uri)
        for fname in ("temporal_range", "example_date_range", "example_bbox"):
            value = getattr(self, fname)
            if value is not None:
                setf(self, fname, tuple(value))
        self._check_values()
        if self.field_roles is not None or self.column_map or self.href_column:
            roles, cmap, href = complete_field_roles(
                self.field_roles, self.column_map, self.href_column, bbox_columns=self.bbox_columns
            )
            setf(self, "field_roles", roles)
            if self.field_roles is not None or self.column_map:
                setf(self, "column_map", cmap)
            setf(self, "href_column", href)
        for fname in ("surface_fields", "filter_capabilities"):
            value = getattr(self, fname)
            if value:
                setf(self, fname, {k: list(dict.fromkeys(v)) for k, v in value.items()})

    # -- validation ------------------------------------------------------------------------

    def _fail(self, field: str, why: str) -> DescriptorError:
        return DescriptorError(f"dataset {self.id!r}: field {field!r} {why}")

    def _check_types(self) -> None:
        hints = {f.name: f.type for f in dataclasses.fields(self) if f.name not in ("id",)}
        for fname, hint in hints.items():
            value = getattr(self, fname)
            if value is None:
                if "None" not in str(hint):
                    raise self._fail(fname, "must not be None")
                continue
            if hint.startswith("str"):
                ok = isinstance(value, str)
            elif hint.startswith("bool"):
                ok = isinstance(value, bool)
            elif hint.startswith("dict"):
                ok = isinstance(value, Mapping)
            elif hint.startswith("tuple"):
                ok = isinstance(value, list | tuple)
            else:  # pragma: no cover - every annotation above is covered
                ok = True
            if not ok:
                raise self._fail(fname, f"must be {hint}, got {type(value).__name__}")
        if not self.name or not isinstance(self.name, str):
            raise self._fail("name", "must be a non-empty string")

    def _check_values(self) -> None:
        # field_roles / surface_fields / filter_capabilities errors use rasteret 0.4.1's wording
        if self.field_roles is not None:
            invalid = [
                (k, v)
                for k, v in self.field_roles.items()
                if not (isinstance(k, str) and k and isinstance(v, str) and v)
            ]
            if invalid:
                raise DescriptorError(
                    f"dataset {self.id!r}: field_roles must map non-empty canonical field names "
                    f"to non-empty source column names. Invalid entries: {invalid!r}"
                )
        for fname in ("column_map", "band_map", "bbox_columns"):
            value = getattr(self, fname)
            if value is not None and not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
            ):
                raise self._fail(fname, "must map non-empty strings to non-empty strings")
        if self.field_roles is not None and not self.field_roles:
            pass  # an empty mapping is allowed and completed below
        if self.band_index_map is not None and not all(
            isinstance(k, str) and k and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in self.band_index_map.items()
        ):
            raise self._fail("band_index_map", "must map band codes to non-negative integers")
        if self.bbox_columns is not None and set(self.bbox_columns) != _BBOX_COLUMN_KEYS:
            raise self._fail(
                "bbox_columns", f"must have exactly the keys {sorted(_BBOX_COLUMN_KEYS)}"
            )
        for fname in ("surface_fields", "filter_capabilities"):
            value = getattr(self, fname)
            if value is None:
                continue
            unknown = set(value) - _SURFACES
            if unknown:
                raise DescriptorError(
                    f"dataset {self.id!r}: {fname} contains unsupported surface names: "
                    f"{sorted(unknown)}. Valid surfaces are: {sorted(_SURFACES)}"
                )
            if not all(
                isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)
                for v in value.values()
            ):
                raise self._fail(fname, "must map surfaces to lists of column names")
        for fname in ("temporal_range", "example_date_range"):
            value = getattr(self, fname)
            if value is not None and (
                len(value) != 2 or not all(isinstance(v, str) for v in value)
            ):
                raise self._fail(fname, "must be a (start, end) pair of ISO date strings")
        if self.example_bbox is not None:
            bb = self.example_bbox
            if len(bb) != 4 or not all(isinstance(v, int | float) for v in bb):
                raise self._fail("example_bbox", "must be (west, south, east, north) numbers")
            if bb[0] >= bb[2] or bb[1] >= bb[3]:
                raise self._fail(
                    "example_bbox", f"must have west < east and south < north, got {tuple(bb)}"
                )
        if self.cloud_config is not None:
            unknown = set(self.cloud_config) - _CLOUD_KEYS
            if unknown:
                raise self._fail(
                    "cloud_config",
                    f"has unknown keys {sorted(unknown)}; allowed: {sorted(_CLOUD_KEYS)}",
                )
        if self.static_catalog and not self.stac_api:
            raise self._fail("static_catalog", "needs stac_api to point at the root catalog.json")

    # -- derived ---------------------------------------------------------------------------

    @property
    def build_source_uri(self) -> str | None:
        """The record table a build reads: record_table_uri, else index_uri, else geoparquet_uri."""
        return self.record_table_uri or self.index_uri or self.geoparquet_uri

    @property
    def runtime_index_uri(self) -> str | None:
        """The narrow index used at query time: index_uri, else geoparquet_uri, else record_table_uri."""
        return self.index_uri or self.geoparquet_uri or self.record_table_uri

    def source_field(self, canonical: str) -> str:
        """Return the source column holding ``canonical`` (the canonical name when unmapped)."""
        return (self.field_roles or {}).get(canonical, canonical)

    def surface_has_field(self, surface: str, canonical: str) -> bool:
        """Whether ``surface`` is declared to carry ``canonical`` (unknown surfaces: True)."""
        return surface_has_field(self.surface_fields, surface, canonical)

    def surface_supports_filter(self, surface: str, capability: str) -> bool:
        """Whether ``surface`` can evaluate filters of ``capability`` (undeclared: field hints)."""
        return surface_supports_filter(
            self.filter_capabilities, self.surface_fields, surface, capability
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists), the local registry file format."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDescriptor:
        """Build a descriptor from :meth:`to_dict` output; unknown keys raise DescriptorError."""
        if not isinstance(data, Mapping):
            raise DescriptorError(
                f"a dataset descriptor must be a JSON object, got {type(data).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DescriptorError(
                f"dataset {data.get('id')!r}: unknown descriptor field(s) {unknown}"
            )
        missing = [k for k in ("id", "name") if k not in data]
        if missing:
            raise DescriptorError(f"dataset descriptor {dict(data)!r:.120} is missing {missing}")
        return cls(**data)
