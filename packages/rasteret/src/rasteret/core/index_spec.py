"""How a narrow record index maps onto the collection contract (dual-surface collections).

A dual-surface collection (``aef/v1-annual``) is two Parquet surfaces: a narrow **record
index** (one small row per record: id, footprint, time, bbox, href, CRS and optionally the
wide-data shard holding the record, ``source_part``) and the wide **collection data** (the
contract columns plus every ``{band}_metadata`` struct). :class:`RecordIndexSpec` holds what
rasteret 0.4.1's ``record_index_*`` keywords (or a catalog descriptor's ``index_uri`` /
``field_roles``...) say about the index: which index column plays which contract role, how
hrefs become ``assets``, and which filters each surface can evaluate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasteret.errors import InvalidInputError
from rasteret_catalog import (
    CloudConfig,
    DatasetDescriptor,
    FrozenMap,
    complete_field_roles,
    freeze,
    surface_supports_filter,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs as pafs

__all__ = ["INDEX", "SOURCE_PART", "WIDE", "RecordIndexSpec"]

SOURCE_PART = "source_part"
"""Index column naming the wide-data file (relative to the collection path) of each record."""

INDEX = "index"
"""Surface name of the record index in ``surface_fields`` / ``filter_capabilities``."""
WIDE = "collection"
"""Surface name of the wide collection data."""
_SURFACES = ("record_table", INDEX, WIDE)


def _string_map(value: Any, what: str, name: str) -> FrozenMap[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise InvalidInputError(f"{what}: {name} must map non-empty strings to non-empty strings")
    return FrozenMap(value)


def _surfaces(value: Any, what: str) -> FrozenMap[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must map surface names to lists of field names")
    unknown = sorted(set(value) - set(_SURFACES))
    if unknown:
        raise InvalidInputError(
            f"{what} contains unsupported surfaces {unknown}; allowed: {sorted(_SURFACES)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for surface, names in value.items():
        if isinstance(names, str) or not isinstance(names, Sequence | set | frozenset):
            raise InvalidInputError(f"{what}[{surface!r}] must be a list of field names")
        if not all(isinstance(n, str) for n in names):
            raise InvalidInputError(f"{what}[{surface!r}] must be a list of field names")
        out[surface] = tuple(dict.fromkeys(names))
    return FrozenMap(out)


@dataclass(frozen=True, slots=True)
class RecordIndexSpec:
    """The record index of a dual-surface collection and how to read it.

    Attributes:
        path: The index (a Parquet file or directory: local path or URI).
        field_roles: Contract name -> index column (``{"id": "fid", "datetime": "year"...}``),
            completed from ``column_map`` and ``href_column``.
        column_map: Index column -> contract name aliases (completed from ``field_roles``).
        href_column: Index column of COG URLs (role ``href``).
        band_index_map: ``{band: sample index}`` of the multi-band COG each record points at;
            its keys are the collection's bands.
        url_rewrite_patterns: Prefix rewrites of ``href_column`` URLs (``assets`` built from
            the index use the rewritten URL).
        surface_fields: Fields each surface (``index``, ``collection``...) carries.
        filter_capabilities: Filters each surface can evaluate.
        filesystem: ``pyarrow.fs.FileSystem`` the index and the collection data are read
            through (paths are then relative to it, without scheme).
    """

    path: str
    field_roles: FrozenMap[str, str]
    column_map: FrozenMap[str, str] | None = None
    href_column: str | None = None
    band_index_map: FrozenMap[str, int] | None = None
    url_rewrite_patterns: FrozenMap[str, str] | None = None
    surface_fields: FrozenMap[str, tuple[str, ...]] | None = None
    filter_capabilities: FrozenMap[str, tuple[str, ...]] | None = None
    filesystem: pafs.FileSystem | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        path: str | os.PathLike[str],
        *,
        field_roles: Mapping[str, str] | None = None,
        column_map: Mapping[str, str] | None = None,
        href_column: str | None = None,
        band_index_map: Mapping[str, int] | None = None,
        url_rewrite_patterns: Mapping[str, str] | None = None,
        filesystem: pafs.FileSystem | None = None,
        surface_fields: Mapping[str, Sequence[str]] | None = None,
        filter_capabilities: Mapping[str, Sequence[str]] | None = None,
    ) -> RecordIndexSpec:
        """Check the 0.4.1 ``record_index_*`` keywords and complete the roles.

        Raises:
            InvalidInputError: A role / map that is not ``str -> str``, a band index that is
                not a non-negative int, or an unknown surface name.
        """
        roles_in = _string_map(field_roles, "record_index_field_roles", "field_roles")
        cmap_in = _string_map(column_map, "record_index_column_map", "column_map")
        if href_column is not None and (not isinstance(href_column, str) or not href_column):
            raise InvalidInputError("record_index_href_column must be a non-empty string")
        if band_index_map is not None and not (
            isinstance(band_index_map, Mapping)
            and all(
                isinstance(k, str) and k and isinstance(v, int) and not isinstance(v, bool)
                for k, v in band_index_map.items()
            )
            and all(v >= 0 for v in band_index_map.values())
        ):
            raise InvalidInputError(
                "record_index_band_index_map must map band codes to non-negative integers"
            )
        roles, cmap, href = complete_field_roles(roles_in, cmap_in, href_column)
        return cls(
            path=os.fspath(path),
            field_roles=FrozenMap(roles),
            column_map=freeze(cmap),
            href_column=href,
            band_index_map=freeze(band_index_map),
            url_rewrite_patterns=_string_map(
                url_rewrite_patterns, "record_index_url_rewrite_patterns", "url patterns"
            ),
            surface_fields=_surfaces(surface_fields, "surface_fields"),
            filter_capabilities=_surfaces(filter_capabilities, "filter_capabilities"),
            filesystem=filesystem,
        )

    @classmethod
    def from_descriptor(
        cls,
        d: DatasetDescriptor,
        *,
        filesystem: pafs.FileSystem | None = None,
        path: str | None = None,
        cloud_config: CloudConfig | None = None,
    ) -> RecordIndexSpec | None:
        """The record index of a catalog dataset that has both an index and collection data.

        Args:
            d: The descriptor (``runtime_index_uri`` is the index, ``collection_uri`` the
                collection data).
            filesystem: Filesystem for both surfaces.
            path: The index path as ``filesystem`` sees it (default ``runtime_index_uri``).
            cloud_config: URL rewrites (default: the descriptor's ``cloud_config``).

        Returns:
            The spec, or None when ``d`` has no separate record index.
        """
        index = d.runtime_index_uri
        if not index or not d.collection_uri or index == d.collection_uri:
            return None
        patterns = (
            dict(cloud_config.url_patterns)
            if cloud_config is not None
            else dict((d.cloud_config or {}).get("url_patterns") or {})
        )
        return cls.build(
            path or index,
            field_roles=d.field_roles,
            column_map=d.column_map,
            href_column=d.href_column,
            band_index_map=d.band_index_map,
            url_rewrite_patterns=patterns or None,
            filesystem=filesystem,
            surface_fields=d.surface_fields,
            filter_capabilities=d.filter_capabilities,
        )

    def column(self, canonical: str) -> str:
        """The index column playing contract role ``canonical`` (the name itself if unmapped)."""
        return self.field_roles.get(canonical, canonical)

    def supports(self, surface: str, capability: str) -> bool:
        """Whether ``surface`` is declared able to filter on ``capability`` (undeclared: yes)."""
        return surface_supports_filter(
            self.filter_capabilities, self.surface_fields, surface, capability
        )
