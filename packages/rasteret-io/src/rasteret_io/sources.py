"""Band sources: what the read engine needs per (record, band), rebuilt from collection rows.

A :class:`BandSource` is derived from the ``assets`` entry and the ``{band}_metadata`` struct
of one row (schema contract of ``rasteret_catalog``), so reads never touch a COG header.
Tile tables are held as numpy arrays: views into the flattened values of the collection's
Arrow list columns (:mod:`rasteret_io.arrow_sources`), or arrays made from the lists of a
dict row (:func:`record_sources`). Nothing here turns a tile table into Python ints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rasteret_catalog.bands import asset_key_candidates
from rasteret_catalog.schema import AssetField, BandField, Col, LevelField, band_metadata_column
from rasteret_cog import TileSpec
from rasteret_io.errors import BandResolutionError, ReadError
from rasteret_io.grid import Grid, Transform, transform_from_metadata
from rasteret_io.identity import ObjectIdentity
from rasteret_io.urls import redact_url

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TILE_REF",
    "BandSource",
    "LazyLevels",
    "LevelRef",
    "RecordSources",
    "TileTable",
    "crs_of",
    "crs_of_row",
    "overview_levels",
    "record_sources",
]


#: Key of a level dict holding ``(TileTable, start)``: where its tile lists sit in a shared
#: flattened table (set by :mod:`rasteret_io.arrow_sources`; dict rows never carry it).
TILE_REF = "__tile_ref__"


class TileTable:
    """Tile offsets and byte counts of many images, flattened into two int64 arrays.

    One table typically holds the ``tile_offsets`` / ``tile_byte_counts`` list values of one
    Arrow column of a record batch (every row's tiles back to back); a :class:`LevelRef`
    points into it with ``start``. The planner gathers the tiles of many windows with one
    numpy take per table.

    Attributes:
        offsets: Tile byte offsets (int64).
        byte_counts: Tile byte counts (int64), same length.
    """

    __slots__ = ("byte_counts", "offsets")

    def __init__(self, offsets: np.ndarray, byte_counts: np.ndarray) -> None:
        self.offsets = offsets
        self.byte_counts = byte_counts


@dataclass(frozen=True, slots=True, eq=False)
class LevelRef:
    """One pyramid level of a band: its size, tiling, transform and tile table.

    Attributes:
        width: Level width in pixels.
        height: Level height in pixels.
        tile_width: Tile width.
        tile_height: Tile height.
        transform: Geotransform of the level.
        tile_offsets: The level's tile offsets (an int64 numpy array, usually a view into
            ``table``).
        tile_byte_counts: The level's tile byte counts, same length.
        compression: Compression of the level when it differs from the band's (masks).
        table: The flattened table ``tile_offsets`` is a view of (None: a table of its own).
        start: Position of the level's first tile in ``table``.
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    transform: Transform
    tile_offsets: Sequence[int]
    tile_byte_counts: Sequence[int]
    compression: int | None = None
    table: TileTable | None = None
    start: int = 0

    def tiles(self) -> tuple[TileTable, int]:
        """``(table, start)``: where the planner gathers this level's tiles from."""
        if self.table is not None:
            return self.table, self.start
        import numpy as np

        table = TileTable(
            np.asarray(self.tile_offsets, dtype=np.int64),
            np.asarray(self.tile_byte_counts, dtype=np.int64),
        )
        object.__setattr__(self, "table", table)  # cached: computed once per level
        return table, 0

    def __reduce__(self) -> Any:
        # Pickle only this level's tiles, never the whole flattened batch table.
        import numpy as np

        return (
            LevelRef,
            (
                self.width,
                self.height,
                self.tile_width,
                self.tile_height,
                self.transform,
                np.array(self.tile_offsets, dtype=np.int64),
                np.array(self.tile_byte_counts, dtype=np.int64),
                self.compression,
            ),
        )


class LazyLevels(Sequence[LevelRef]):
    """Pyramid levels whose overviews are built on first use (level 0 is always at hand).

    Most reads use only full resolution; building every overview's :class:`LevelRef` for every
    record would make planning cost grow with the pyramid depth. Pickles as a plain tuple.
    """

    __slots__ = ("_all", "_first", "_make", "_n")

    def __init__(self, first: LevelRef, n: int, make: Callable[[], Sequence[LevelRef]]) -> None:
        self._first = first
        self._n = n
        self._make: Callable[[], Sequence[LevelRef]] | None = make
        self._all: tuple[LevelRef, ...] | None = None

    def _levels(self) -> tuple[LevelRef, ...]:
        if self._all is None:
            make = self._make
            assert make is not None
            self._all = (self._first, *make())
            self._make = None
        return self._all

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: Any) -> Any:
        if k == 0 or (isinstance(k, int) and k == -self._n):
            return self._first
        return self._levels()[k]

    def __iter__(self) -> Iterator[LevelRef]:
        return iter(self._levels())

    def __reduce__(self) -> Any:
        return (tuple, (self._levels(),))


@dataclass(frozen=True, slots=True)
class BandSource:
    """Everything needed to read one band of one record.

    Attributes:
        record_id: Record id (named in errors).
        band: Band code as requested.
        url: COG URL.
        spec: Decode spec of the full-resolution level (single plane when planar tables were
            sliced per band at index time).
        sample: Sample to take from decoded tiles (chunky multi-sample) or plane to read
            (planar tables not sliced), else 0.
        crs: Raster CRS (EPSG int, or a WKT / PROJJSON string), or None.
        nodata: Nodata value, or None.
        levels: Level 0 is full resolution, then overviews from finest to coarsest.
        mask: Internal mask of the full-resolution level, if indexed.
        identity: ETag / size / Last-Modified of the object when it was indexed (from the
            ``{band}_metadata`` struct), carried into every range request so bytes of a
            rewritten object are refused; None when the collection recorded none.
    """

    record_id: str
    band: str
    url: str
    spec: TileSpec
    sample: int
    crs: Any
    nodata: float | int | None
    levels: Sequence[LevelRef]
    mask: LevelRef | None = None
    identity: ObjectIdentity | None = None

    def __repr__(self) -> str:
        # the URL may be signed (SAS / presigned query, userinfo): never print it whole
        return (
            f"BandSource(record_id={self.record_id!r}, band={self.band!r}, "
            f"url={redact_url(self.url)!r}, spec={self.spec!r}, sample={self.sample!r}, "
            f"crs={self.crs!r}, nodata={self.nodata!r}, levels={list(self.levels)!r}, "
            f"mask={self.mask!r}, identity={self.identity!r})"
        )

    @property
    def transform(self) -> Transform:
        """Full-resolution geotransform."""
        return self.levels[0].transform

    def grid(self, level: int = 0) -> Grid:
        """The pixel grid of ``level``."""
        lv = self.levels[level]
        return Grid(self.crs, lv.transform, lv.width, lv.height)

    def level_spec(self, level: int) -> TileSpec:
        """Decode spec of ``level``."""
        if level == 0:
            return self.spec
        lv = self.levels[level]
        return replace(
            self.spec,
            width=lv.width,
            height=lv.height,
            tile_width=lv.tile_width,
            tile_height=lv.tile_height,
        )

    def mask_source(self) -> BandSource | None:
        """A source reading this band's internal (GDAL) mask at full resolution, if indexed.

        Mask tiles decode to 0 (invalid) / 255 (valid) uint8, as GDAL's mask band does.
        """
        m = self.mask
        if m is None:
            return None
        spec = TileSpec(
            width=m.width,
            height=m.height,
            tile_width=m.tile_width,
            tile_height=m.tile_height,
            dtype="uint8",
            compression=int(m.compression if m.compression is not None else self.spec.compression),
            photometric=4,
            bits_per_sample=1,
            byte_order=self.spec.byte_order,
        )
        lv = LevelRef(
            m.width,
            m.height,
            m.tile_width,
            m.tile_height,
            self.transform,
            m.tile_offsets,
            m.tile_byte_counts,
            table=m.table,
            start=m.start,
        )
        return BandSource(
            self.record_id,
            f"{self.band}:mask",
            self.url,
            spec,
            0,
            self.crs,
            None,
            (lv,),
            identity=self.identity,
        )

    def best_level(self, res: float | None) -> int:
        """Coarsest level whose decimation factor is at most the requested shrink ``res /
        native pixel size``; factors are rounded as GDAL reports overview factors (a 1933-px
        band's 966-px overview is factor 2, although its pixels are 0.05 % larger than 2x).
        This is odc-stac's choice (and GDAL's, within its oversampling tolerance)."""
        if res is None or len(self.levels) == 1:
            return 0
        base = abs(self.levels[0].transform[0])
        shrink = res / base
        best = 0
        for i, lv in enumerate(self.levels):
            if round(abs(lv.transform[0]) / base) <= shrink * (1 + 1e-9):
                best = i
        return best


@dataclass(frozen=True, slots=True)
class RecordSources:
    """The resolvable bands of one record."""

    index: int
    record_id: str
    datetime: Any
    crs: Any
    bands: Mapping[str, BandSource | ReadError]


def crs_of(epsg: Any, crs: Any) -> Any:
    """Raster CRS from the ``proj:epsg`` and ``crs`` values of a row (see :func:`crs_of_row`)."""
    if epsg is not None:
        return int(epsg)
    if crs:
        if isinstance(crs, str) and crs.upper().startswith("EPSG:") and crs[5:].isdigit():
            return int(crs[5:])
        return crs
    return None


def crs_of_row(row: Mapping[str, Any]) -> Any:
    """Raster CRS of a row: ``proj:epsg`` when set, else the ``crs`` column, else None."""
    return crs_of(row.get(Col.PROJ_EPSG), row.get(Col.CRS))


def _level(meta: Mapping[str, Any], transform: Transform, what: str) -> LevelRef:
    offsets = meta.get(LevelField.TILE_OFFSETS)
    counts = meta.get(LevelField.TILE_BYTE_COUNTS)
    if offsets is None or counts is None or len(offsets) != len(counts):
        raise ReadError(f"{what}: tile_offsets / tile_byte_counts missing or of different lengths")
    # Rows from Arrow batches say where their tiles sit in the batch's flattened table.
    table, start = meta.get(TILE_REF) or (None, 0)
    return LevelRef(
        width=int(meta[LevelField.IMAGE_WIDTH]),
        height=int(meta[LevelField.IMAGE_HEIGHT]),
        tile_width=int(meta[LevelField.TILE_WIDTH]),
        tile_height=int(meta[LevelField.TILE_HEIGHT]),
        transform=transform,
        tile_offsets=offsets,
        tile_byte_counts=counts,
        compression=meta.get(LevelField.COMPRESSION),
        table=table,
        start=start,
    )


_SPECS: dict[tuple[Any, ...], TileSpec] = {}


def _tile_spec(key: tuple[Any, ...]) -> TileSpec:
    """The :class:`TileSpec` of ``key`` (its constructor arguments), shared by equal keys."""
    spec = _SPECS.get(key)
    if spec is None:
        (w, h, tw, th, dtype, comp, pred, phot, spp, planar, bits, order, jpeg, lerc, nodata) = key
        spec = TileSpec(
            width=w,
            height=h,
            tile_width=tw,
            tile_height=th,
            dtype=dtype,
            compression=comp,
            predictor=pred,
            photometric=phot,
            samples_per_pixel=spp,
            planar_configuration=planar,
            bits_per_sample=bits,
            byte_order=order,
            jpeg_tables=jpeg,
            lerc_parameters=lerc,
            nodata=nodata,
        )
        if len(_SPECS) > 4096:  # a bounded cache of plain values
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def overview_levels(
    overviews: Iterable[Mapping[str, Any]],
    width: int,
    height: int,
    transform: Transform,
    what: str,
) -> list[LevelRef]:
    """Levels of a band's overview entries (finest first); transforms default to the full
    resolution one scaled by the size ratio.

    Raises:
        ReadError: an unusable transform or tile table (``what`` names record, band and URL).
    """
    out = []
    for ov in overviews:
        ov_t = ov.get(LevelField.TRANSFORM)
        if ov_t:
            t = transform_from_metadata(ov_t, what=what)
        else:
            sx = width / int(ov[LevelField.IMAGE_WIDTH])
            sy = height / int(ov[LevelField.IMAGE_HEIGHT])
            a, b, c, d, e, f = transform
            t = (a * sx, b, c, d, e * sy, f)
        out.append(_level(ov, t, what))
    return out


def band_source(
    record_id: str,
    band: str,
    asset: Mapping[str, Any],
    meta: Mapping[str, Any],
    crs: Any,
) -> BandSource:
    """Build a :class:`BandSource` from an asset entry and a ``{band}_metadata`` struct.

    Raises:
        ReadError: inconsistent metadata (names the URL, band and record).
    """
    url = asset.get(AssetField.HREF)
    if not url:
        raise BandResolutionError(f"record {record_id!r}: band {band!r} has no href")
    what = f"record {record_id!r} band {band!r} ({redact_url(str(url))})"
    band_index = asset.get(AssetField.BAND_INDEX)
    width = meta.get(BandField.IMAGE_WIDTH, meta.get("width"))
    height = meta.get(BandField.IMAGE_HEIGHT, meta.get("height"))
    if width is None or height is None:
        raise ReadError(f"{what}: metadata lacks image_width / image_height")
    transform = transform_from_metadata(meta[BandField.TRANSFORM], what=what)
    spp = int(meta.get(BandField.SAMPLES_PER_PIXEL) or 1)
    planar = int(meta.get(BandField.PLANAR_CONFIGURATION) or 1)
    tw, th = int(meta[BandField.TILE_WIDTH]), int(meta[BandField.TILE_HEIGHT])
    per_plane = math.ceil(int(width) / tw) * math.ceil(int(height) / th)
    offsets = meta[BandField.TILE_OFFSETS]
    sample = int(band_index) if band_index is not None else 0
    if planar == 2 and spp > 1 and len(offsets) == per_plane:
        spp_spec, planar_spec, sample = 1, 1, 0  # tables already sliced to this band's plane
    else:
        spp_spec, planar_spec = spp, planar
        if spp > 1 and band_index is None:
            raise BandResolutionError(
                f"{what}: the COG has {spp} samples per pixel; the asset needs a band_index"
            )
        if not 0 <= sample < spp:
            raise BandResolutionError(f"{what}: band_index {sample} out of range for {spp} samples")
    nodata = meta.get(BandField.NODATA)
    order = meta.get(BandField.BYTE_ORDER)
    lerc = meta.get(BandField.LERC_PARAMETERS)
    try:
        spec = _tile_spec(
            (
                int(width),
                int(height),
                tw,
                th,
                str(meta[BandField.DTYPE]),
                int(meta.get(BandField.COMPRESSION) or 1),
                int(meta.get(BandField.PREDICTOR) or 1),
                int(meta.get(BandField.PHOTOMETRIC) or 1),
                spp_spec,
                planar_spec,
                meta.get(BandField.BITS_PER_SAMPLE),
                ">" if order in (">", "big") else "<",
                meta.get(BandField.JPEG_TABLES),
                tuple(lerc) if lerc is not None else None,
                nodata,
            )
        )
    except (ValueError, TypeError) as exc:
        raise ReadError(f"{what}: unusable band metadata: {exc}") from exc
    levels = [_level(meta, transform, what)]
    levels.extend(
        overview_levels(
            meta.get(BandField.OVERVIEWS) or (), int(width), int(height), transform, what
        )
    )
    mask_meta = meta.get(BandField.MASK)
    mask = _level(mask_meta, transform, what) if mask_meta else None
    identity = ObjectIdentity.from_band_metadata(meta)
    return BandSource(
        record_id, band, str(url), spec, sample, crs, nodata, tuple(levels), mask, identity
    )


def record_sources(
    row: Mapping[str, Any],
    index: int,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None = None,
) -> RecordSources:
    """Resolve ``bands`` of one collection row (a dict as ``pa.Table.to_pylist`` gives).

    Unresolvable bands map to a :class:`BandResolutionError` instead of raising, so callers
    apply their error policy per band.
    """
    record_id = str(row.get(Col.ID))
    assets = row.get(Col.ASSETS) or {}
    if isinstance(assets, list):  # Arrow map -> list of (key, value)
        assets = dict(assets)
    crs = crs_of_row(row)
    out: dict[str, BandSource | ReadError] = {}
    for band in bands:
        keys = [k for k in asset_key_candidates(band, band_map) if assets.get(k)]
        if not keys:
            out[band] = BandResolutionError(
                f"record {record_id!r}: band {band!r} not found; tried asset keys "
                f"{asset_key_candidates(band, band_map)}, available: {sorted(k for k, v in assets.items() if v)}"
            )
            continue
        key = keys[0]
        meta = row.get(band_metadata_column(band)) or row.get(band_metadata_column(key))
        if meta is None:
            out[band] = BandResolutionError(
                f"record {record_id!r}: band {band!r} has no indexed header "
                f"({band_metadata_column(band)} is null or missing)"
            )
            continue
        try:
            out[band] = band_source(record_id, band, assets[key], meta, crs)
        except ReadError as exc:
            out[band] = exc
    return RecordSources(index, record_id, row.get(Col.DATETIME), crs, out)
