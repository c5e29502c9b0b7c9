"""``iterate_rasters``: one :class:`RasterAccessor` per record of a collection view."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasteret.errors import InvalidInputError
from rasteret.read._adapter import EngineRecords, iter_engine_records
from rasteret_catalog import BandRegistry, asset_key_candidates
from rasteret_catalog.schema import AssetField, Col, band_of_metadata_column
from rasteret_io import default_fetcher, normalize_aois, read_aois

if TYPE_CHECKING:  # pragma: no cover
    from rasteret.records import RecordSource
    from rasteret_io.protocols import Backend

__all__ = ["RasterAccessor", "RasterInfo", "iterate_rasters"]


@dataclass
class RasterInfo:
    """One record of a collection (the 0.4.1 value shape of a Parquet row)."""

    id: str
    datetime: Any
    bbox: Sequence[float] | None
    footprint: Any
    crs: int | None
    cloud_cover: float
    assets: dict[str, Any]
    band_metadata: dict[str, Any]
    collection: str


@dataclass
class RasterAccessor(RasterInfo):
    """A record: its footprint, CRS, assets and indexed band headers, plus async reads."""

    data_source: str
    _record: EngineRecords | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: EngineRecords, *, data_source: str = "") -> RasterAccessor:
        """Build from a one-record :class:`~rasteret.read._adapter.EngineRecords`."""
        import shapely

        row = record.row(0)
        bb = row.get(Col.BBOX)
        geom = row.get(Col.GEOMETRY)
        assets = row.get(Col.ASSETS) or {}
        if isinstance(assets, list):
            assets = dict(assets)
        metas = {
            band: v
            for k, v in row.items()
            if (band := band_of_metadata_column(k)) is not None and v is not None
        }
        return cls(
            id=str(row.get(Col.ID)),
            datetime=row.get(Col.DATETIME),
            bbox=(bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]) if bb else None,
            footprint=shapely.from_wkb(geom) if geom else None,
            crs=row.get(Col.PROJ_EPSG),
            cloud_cover=row.get(Col.CLOUD_COVER) or 0,
            assets={k: v for k, v in assets.items() if v},
            band_metadata=metas,
            collection=row.get(Col.COLLECTION) or data_source,
            data_source=data_source,
            _record=record,
        )

    @property
    def geometry(self) -> Any:
        """Alias of :attr:`footprint`."""
        return self.footprint

    @property
    def available_bands(self) -> list[str]:
        """Asset keys of the record."""
        return list(self.assets)

    def intersects(self, geometry: Any) -> bool:
        """Whether ``geometry`` (lon/lat) meets the record's bbox."""
        if self.bbox is None:
            return False
        b = geometry.bounds
        return not (
            b[2] < self.bbox[0] or b[0] > self.bbox[2] or b[3] < self.bbox[1] or b[1] > self.bbox[3]
        )

    def try_get_band_cog_metadata(self, band: str) -> tuple[Any, str | None, int | None]:
        """``(metadata, url, band_index)`` of ``band``, or Nones when it cannot be resolved."""
        for key in asset_key_candidates(band, BandRegistry.get(self.data_source) or None):
            asset = self.assets.get(key)
            meta = self.band_metadata.get(band) or self.band_metadata.get(key)
            if asset and meta is not None:
                return meta, asset.get(AssetField.HREF), asset.get(AssetField.BAND_INDEX)
        return None, None, None

    async def load_bands(self, geometries: Any, bands: list[str], *, geometry_crs: Any = 4326,
                         backend: Backend | None = None, all_touched: bool = False,
                         max_concurrent: int = 50) -> dict[str, list[Any]]:  # fmt: skip
        """Masked reads of ``bands`` over each AOI: ``{band: [array per intersecting AOI]}``."""
        if self._record is None:
            raise InvalidInputError(f"raster {self.id!r} was not built from a collection record")
        aois = normalize_aois(geometries, geometry_crs=geometry_crs)
        out = await read_aois(self._record.engine_input(), bands, aois,
                              default_fetcher(backend, max_concurrent=max_concurrent),
                              band_map=BandRegistry.get(self.data_source) or None,
                              all_touched=all_touched)  # fmt: skip
        result: dict[str, list[Any]] = {b: [] for b in bands}
        for chip in out.chips:
            result[chip.band].append(chip.data)
        return result

    def __repr__(self) -> str:
        return f"RasterAccessor(id={self.id!r}, datetime='{self.datetime}', cloud_cover={self.cloud_cover})"


async def iterate_rasters(source: RecordSource, data_source: str) -> AsyncIterator[RasterAccessor]:
    """Yield one :class:`RasterAccessor` per record of ``source``.

    Raises:
        InvalidInputError: The records lack ``id``, ``datetime`` or ``assets``.
    """
    missing = [c.value for c in (Col.ID, Col.DATETIME, Col.ASSETS) if c not in source.schema.names]
    for records in iter_engine_records(source):
        if missing and len(records):
            raise InvalidInputError(f"iterate_rasters needs columns {missing}")
        for i in range(len(records)):
            yield RasterAccessor.from_record(records.record(i), data_source=data_source)
