"""The inspection methods of :class:`~rasteret.Collection`: bands, bounds, CRSs, summaries.

Each asks the collection's record provider for narrow columns (:meth:`RecordProvider.inspect`):
a dataset scans them, a record index answers from its own columns, a streaming collection
streams them. The folding itself is in :mod:`rasteret.core.inspect`.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret.core.describe import (
    DescribeResult,
    catalog_comparison,
    collection_repr,
    summary_rows,
)
from rasteret.core.inspect import bounds_of, crs_of, epsg_of, first_value
from rasteret.errors import InvalidCollectionError
from rasteret_catalog import DatasetRegistry
from rasteret_catalog.schema import ASSET_SIGNING_KEY, BAND_ALIASES_KEY, Col, MetaKey

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.core.provider import RecordProvider

__all__ = ["InspectionMethods"]


class InspectionMethods:
    """``bands``, ``bounds``, ``epsg``, ``crs``, ``repr``, ``describe``, ``compare_to_catalog``.

    The host class provides the provider and the descriptive values (:class:`~rasteret.Collection`).
    """

    _provider: RecordProvider | None
    name: str
    data_source: str
    start_date: _dt.datetime | None
    end_date: _dt.datetime | None

    if TYPE_CHECKING:  # provided by Collection

        @property
        def schema(self) -> pa.Schema: ...

        def __len__(self) -> int: ...

    @property
    def bands(self) -> list[str]:
        """Band codes: the ``{band}_metadata`` columns in schema order (a record index with a
        band index map: the map's keys)."""
        return [] if self._provider is None else self._provider.bands()

    def _inspect(self, *columns: str) -> pa.RecordBatchReader | None:
        return None if self._provider is None else self._provider.inspect(columns)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(minx, miny, maxx, maxy)`` in lon/lat over the filtered records, or ``None``."""
        reader = self._inspect(Col.BBOX)
        return None if reader is None else bounds_of(reader)

    @property
    def epsg(self) -> list[int]:
        """Sorted distinct raster EPSG codes (``proj:epsg``, else from ``crs``)."""
        reader = self._inspect(Col.PROJ_EPSG, Col.CRS)
        return [] if reader is None else epsg_of(reader)

    @property
    def crs(self) -> list[str]:
        """Sorted distinct raster CRSs (``"EPSG:32632"``...) from ``crs``, else ``proj:epsg``."""
        reader = self._inspect(Col.CRS, Col.PROJ_EPSG)
        return [] if reader is None else crs_of(reader)

    def _infer_data_source(self, data_source: str | None) -> str:
        """Explicit argument, else ``data_source``, else metadata, else the ``collection`` column."""
        if data_source:
            return data_source
        if self.data_source:
            return self.data_source
        if self._provider is None:
            return ""
        meta = self._provider.metadata().get(MetaKey.DATA_SOURCE, "")
        if meta and meta != "unknown":
            return meta
        value = first_value(self._provider.inspect([Col.COLLECTION]), Col.COLLECTION)
        return "" if value is None else str(value)

    def _band_aliases(self) -> dict[str, str]:
        """The collection's ``band_aliases`` metadata (``{alias: band code}``), else ``{}``."""
        try:
            raw = (self.schema.metadata or {}).get(BAND_ALIASES_KEY.encode())
        except ValueError:  # a collection without records has no schema
            return {}
        try:
            aliases = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(aliases, dict):
            return {}
        return {str(k): str(v) for k, v in aliases.items() if isinstance(v, str)}

    def _asset_signing(self) -> str | None:
        """The URL signing scheme the collection's assets need (its ``asset_signing``
        metadata, e.g. ``"planetary_computer"``), else None."""
        try:
            raw = (self.schema.metadata or {}).get(ASSET_SIGNING_KEY.encode())
        except ValueError:  # a collection without records has no schema
            return None
        return raw.decode() if raw else None

    def _date_text(self) -> str | None:
        if self.start_date is None or self.end_date is None:
            return None
        return f"{self.start_date.date().isoformat()}..{self.end_date.date().isoformat()}"

    def _count(self) -> int | None:
        """``len(self)``, or None when the records are streamed and cannot be counted."""
        try:
            return len(self)
        except TypeError:
            return None

    def __repr__(self) -> str:
        if self._provider is None:
            return f"Collection({self.name!r}, records=0)"
        try:
            records = self._count()
            epsg = self.epsg if records is not None else []
        except (OSError, pa.ArrowException):
            records, epsg = None, []
        return collection_repr(
            self.name, self.data_source, len(self.bands), records, epsg, self._date_text()
        )

    def _summary(self) -> dict[str, Any]:
        has = self._provider is not None
        data: dict[str, Any] = {
            "name": self.name,
            "records": self._count() if has else 0,
            "bands": self.bands,
            "bounds": self.bounds if has else None,
            "crs": self.epsg if has else [],
        }
        if self.start_date is not None and self.end_date is not None:
            data["dates"] = (
                self.start_date.date().isoformat(),
                self.end_date.date().isoformat(),
            )
        if self.data_source:
            data["source"] = self.data_source
        return data

    def describe(self) -> DescribeResult:
        """A summary (name, records, bands, bounds, crs, dates, source) for display.

        ``records`` is None for a streamed ``hf://`` collection (rows are not counted).
        """
        data = self._summary()
        return DescribeResult(f"Collection {self.name!r}", data, summary_rows(data))

    def _repr_html_(self) -> str:
        return self.describe()._repr_html_()

    def compare_to_catalog(self) -> DescribeResult:
        """Compare this collection with its catalog entry (found from ``data_source``).

        Raises:
            ValueError: No catalog descriptor matches ``data_source``.
        """
        d = DatasetRegistry.get(self.data_source) if self.data_source else None
        if d is None and self.data_source:
            d = next(
                (x for x in DatasetRegistry.list() if x.stac_collection == self.data_source), None
            )
        if d is None:
            raise InvalidCollectionError(
                f"no catalog dataset matches data_source {self.data_source!r}; "
                "see `rasteret datasets list`"
            )
        return catalog_comparison(f"Collection {self.name!r}", self._summary(), d)
