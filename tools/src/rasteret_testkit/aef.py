"""A small synthetic AlphaEarth Foundations (AEF) collection, shaped like ``aef/v1-annual``.

The published collection is read-ready: a narrow **record index** (``index.parquet``, one row
per tile and year: ``fid, geom, year, bbox, path, crs, utm_zone`` and optionally
``source_part``) beside a wide **data** Parquet dataset (``data/``, several shards) holding the
schema-contract columns and 64 ``{band}_metadata`` columns ``A00``..``A63``. Every band of a row
reads the same COG (one 64-band Int8 file, planar-separate, nodata -128, south-up
ModelTransformation) at ``band_index`` 0..63.

:func:`build_aef_collection` writes such a collection from GDAL-written COGs (via rasterio), with
the ``{band}_metadata`` structs produced by the library's own header mapping
(``rasteret_cog.open_header`` + ``rasteret_io.header_meta.band_metadata``), i.e. exactly what an
indexing run writes. Layout under ``root``::

    objects/tge-labs/aef/v1/annual/<year>/<utm_zone>/<tile>.tiff   the COGs (bucket-relative keys)
    collection/index.parquet                                       the record index
    collection/data/part-00000.parquet ...                         the wide data, sharded
    collection/README.md, collection/.gitattributes                to serve it as a Hub repo

The index ``path`` holds the source URL (``https://data.source.coop/tge-labs/...``); the wide
data's ``assets`` hold it rewritten by ``url_rewrite_patterns`` (by default the descriptor's
``https://data.source.coop/`` -> ``s3://us-west-2.opendata.source.coop/``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "AEF_BANDS",
    "AEF_BAND_INDEX_MAP",
    "AEF_BUCKET",
    "AEF_COG_PREFIX",
    "AEF_COLLECTION_PREFIX",
    "AEF_DATA_SOURCE",
    "AEF_FIELD_ROLES",
    "AEF_INDEX_COLUMNS",
    "AEF_NODATA",
    "AEF_SOURCE_PREFIX",
    "AEF_URL_REWRITE",
    "DEFAULT_TILES",
    "AefCollection",
    "AefRecord",
    "AefSpec",
    "AefTile",
    "build_aef_collection",
    "polygon_wkb",
    "rewrite_href",
    "write_aef_cog",
]

AEF_DATA_SOURCE = "aef/v1-annual"
AEF_BANDS: tuple[str, ...] = tuple(f"A{i:02d}" for i in range(64))
AEF_BAND_INDEX_MAP: dict[str, int] = {b: i for i, b in enumerate(AEF_BANDS)}
AEF_NODATA = -128
#: Where the index ``path`` URLs point (the public HTTPS face of Source Cooperative).
AEF_SOURCE_PREFIX = "https://data.source.coop/"
#: The descriptor's S3 bucket (``cloud_config.url_patterns`` target).
AEF_BUCKET = "us-west-2.opendata.source.coop"
AEF_URL_REWRITE: dict[str, str] = {AEF_SOURCE_PREFIX: f"s3://{AEF_BUCKET}/"}
#: Bucket-relative prefix of the COGs and of the collection.
AEF_COG_PREFIX = "tge-labs/aef/v1/annual"
AEF_COLLECTION_PREFIX = "terrafloww/aef-v1-annual-rasteret"
#: The descriptor's field roles: canonical name -> index column.
AEF_FIELD_ROLES: dict[str, str] = {
    "id": "fid",
    "geometry": "geom",
    "datetime": "year",
    "bbox": "bbox",
    "href": "path",
    "proj:epsg": "crs",
}
AEF_INDEX_COLUMNS: tuple[str, ...] = (
    "fid",
    "geom",
    "year",
    "bbox",
    "path",
    "crs",
    "utm_zone",
    "source_part",
)


@dataclass(frozen=True, slots=True)
class AefTile:
    """One AEF tile footprint: a square of ``size`` pixels in a UTM zone.

    Attributes:
        name: File stem (``<name>.tiff``).
        epsg: UTM EPSG code (326xx north).
        utm_zone: Zone label as in the index (``"10N"``).
        x0: West edge (metres).
        y0: South edge (metres); AEF rasters are south-up, so this is the origin.
    """

    name: str
    epsg: int
    utm_zone: str
    x0: float
    y0: float


#: Two adjacent tiles in San Francisco (inside the descriptor's example bbox, EPSG:32610) and one
#: in Los Angeles (EPSG:32611), so the index spans two UTM zones / CRSs.
DEFAULT_TILES: tuple[AefTile, ...] = (
    AefTile("sf-a", 32610, "10N", 550_000.0, 4_180_000.0),
    AefTile("sf-b", 32610, "10N", 552_560.0, 4_180_000.0),
    AefTile("la-a", 32611, "11N", 384_000.0, 3_768_000.0),
)


@dataclass(frozen=True, slots=True)
class AefSpec:
    """Size parameters of a synthetic AEF collection (defaults keep tests fast: 6 COGs).

    Attributes:
        years: One record per tile and year.
        tiles: Tile footprints.
        size: Raster width = height in pixels.
        blocksize: COG tile size (``size / blocksize`` squared tiles per band plane).
        resolution: Pixel size in metres.
        shards: Number of wide-data Parquet files (rows split in index order).
        row_group_size: Wide-data rows per Parquet row group (1: one row group per record, so
            streaming readers can prune by row-group statistics).
        source_part: Write the index's ``source_part`` column (shard file per row).
        compress: GDAL compression of the COGs.
        nodata_block: Side in pixels of an all-nodata block in the south-west corner of every
            band (0 for none).
        seed: Pixel data seed.
    """

    years: tuple[int, ...] = (2022, 2023)
    tiles: tuple[AefTile, ...] = DEFAULT_TILES
    size: int = 256
    blocksize: int = 128
    resolution: float = 10.0
    shards: int = 3
    row_group_size: int = 1
    source_part: bool = True
    compress: str = "DEFLATE"
    nodata_block: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.years or not self.tiles:
            raise ValueError("AefSpec needs at least one year and one tile")
        if self.size % self.blocksize or self.blocksize % 16:
            raise ValueError("size must be a multiple of blocksize, itself a multiple of 16")
        if not 1 <= self.shards <= len(self.years) * len(self.tiles):
            raise ValueError("shards must be between 1 and the number of records")
        if self.row_group_size < 1:
            raise ValueError("row_group_size must be >= 1")

    @property
    def records(self) -> int:
        """Number of records (tiles x years)."""
        return len(self.years) * len(self.tiles)


@dataclass(frozen=True, slots=True)
class AefRecord:
    """One record (tile x year), as written to the index and the wide data.

    Attributes:
        fid: Index id (int64); the wide data's ``id`` is ``str(fid)``.
        year: Year (the index's ``datetime`` role; the wide ``datetime`` is Jan 1 of it).
        tile: Tile name.
        utm_zone: Zone label.
        epsg: Raster CRS EPSG code.
        bbox: CRS84 ``(xmin, ymin, xmax, ymax)`` of the footprint.
        source_href: The index ``path`` (source URL).
        href: The asset href in the wide data (``source_href`` rewritten).
        key: Bucket-relative object key of the COG.
        local_cog: The COG on disk.
        source_part: Wide-data shard file holding the row, relative to ``data/``.
    """

    fid: int
    year: int
    tile: str
    utm_zone: str
    epsg: int
    bbox: tuple[float, float, float, float]
    source_href: str
    href: str
    key: str
    local_cog: Path
    source_part: str

    @property
    def id(self) -> str:
        """The record id in the wide data."""
        return str(self.fid)


@dataclass(frozen=True, slots=True)
class AefCollection:
    """A written synthetic AEF collection.

    Attributes:
        root: The collection directory (``index.parquet``, ``data/``; a Hub repo root).
        objects: Directory holding the COGs under their bucket-relative keys.
        index_path: The record index.
        data_dir: The wide data directory.
        shard_paths: Wide-data shard files, in order.
        records: Every record, in index order.
        spec: The size parameters used.
        url_rewrite_patterns: Source prefix -> href prefix used for the wide ``assets``.
    """

    root: Path
    objects: Path
    index_path: Path
    data_dir: Path
    shard_paths: tuple[Path, ...]
    records: tuple[AefRecord, ...]
    spec: AefSpec
    url_rewrite_patterns: dict[str, str] = field(default_factory=dict)

    @property
    def bands(self) -> tuple[str, ...]:
        """Band codes ``A00``..``A63``."""
        return AEF_BANDS

    @property
    def band_index_map(self) -> dict[str, int]:
        """Band code -> sample index in the COG."""
        return dict(AEF_BAND_INDEX_MAP)

    @property
    def field_roles(self) -> dict[str, str]:
        """Canonical name -> index column (the descriptor's ``field_roles``)."""
        return dict(AEF_FIELD_ROLES)


# ----------------------------------------------------------------------------------- COGs
def write_aef_cog(path: Path, tile: AefTile, spec: AefSpec, seed: int) -> np.ndarray:
    """Write one 64-band Int8 planar-separate south-up COG with GDAL; return its pixels.

    GDAL's COG driver only writes band-interleaved files from GDAL 3.11, so the file is written
    the classic way: a tiled GTiff, then ``COPY_SRC_OVERVIEWS=YES`` (header and tile tables
    first, then the tile data), which is a valid COG.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.transform import Affine

    from rasteret_testkit.cogs import sample_array

    n = spec.size
    data = sample_array("int8", len(AEF_BANDS), n, n, seed=seed)
    if spec.nodata_block:
        data[:, : spec.nodata_block, : spec.nodata_block] = AEF_NODATA  # row 0 is the south
    transform = Affine(spec.resolution, 0.0, tile.x0, 0.0, spec.resolution, tile.y0)
    co: dict[str, Any] = {
        "tiled": True,
        "blockxsize": spec.blocksize,
        "blockysize": spec.blocksize,
        "interleave": "band",
        "compress": spec.compress,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rasteret-aef-") as tmp:
        src = Path(tmp) / "src.tif"
        profile = {
            "driver": "GTiff",
            "width": n,
            "height": n,
            "count": len(AEF_BANDS),
            "dtype": "int8",
            "crs": f"EPSG:{tile.epsg}",
            "transform": transform,
            "nodata": AEF_NODATA,
            **co,
            "compress": "NONE",  # only the final copy is compressed (faster)
        }
        with rasterio.open(src, "w", **profile) as dst:
            dst.write(data)
        rasterio.shutil.copy(src, path, driver="GTiff", copy_src_overviews=True, **co)
    return data


# ----------------------------------------------------------------------------------- geometry
def polygon_wkb(ring: Sequence[tuple[float, float]]) -> bytes:
    """Little-endian WKB of a one-ring polygon (the ring is closed if needed)."""
    pts = list(ring)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    out = struct.pack("<BII", 1, 3, 1) + struct.pack("<I", len(pts))
    return out + b"".join(struct.pack("<dd", x, y) for x, y in pts)


def _footprint(tile: AefTile, spec: AefSpec) -> tuple[bytes, tuple[float, float, float, float]]:
    from pyproj import Transformer

    span = spec.size * spec.resolution
    xs = [tile.x0, tile.x0 + span, tile.x0 + span, tile.x0]
    ys = [tile.y0, tile.y0, tile.y0 + span, tile.y0 + span]
    tr = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    lons, lats = tr.transform(xs, ys)
    ring = list(zip((float(v) for v in lons), (float(v) for v in lats), strict=True))
    return polygon_wkb(ring), (min(lons), min(lats), max(lons), max(lats))


def rewrite_href(url: str, patterns: Mapping[str, str]) -> str:
    """Replace the first matching prefix (the descriptor's ``url_patterns`` rule)."""
    for prefix, target in patterns.items():
        if url.startswith(prefix):
            return target + url[len(prefix) :]
    return url


# ----------------------------------------------------------------------------------- tables
def build_aef_collection(
    root: str | Path,
    spec: AefSpec | None = None,
    *,
    url_rewrite_patterns: Mapping[str, str] | None = None,
    etags: bool = False,
    objects: str | Path | None = None,
) -> AefCollection:
    """Write the COGs, the record index and the sharded wide data under ``root``.

    Args:
        root: Output directory (created).
        spec: Size parameters (default :class:`AefSpec`).
        url_rewrite_patterns: Source prefix -> href prefix for the wide ``assets`` (default
            :data:`AEF_URL_REWRITE`, the descriptor's pattern). Use ``{AEF_SOURCE_PREFIX:
            (root / "objects").as_uri() + "/"}`` for local ``file://`` reads.
        etags: Store each COG's S3 ETag (quoted MD5, what moto returns for a single-part
            upload) in the band metadata, as an indexing run against S3 would.
        objects: COG directory (default ``root / "objects"``). COGs already present there are
            reused, not rewritten: pass another collection's ``objects`` (built with the same
            ``spec``) to write a second set of tables, e.g. with other hrefs, cheaply.
    """
    root = Path(root)
    spec = spec or AefSpec()
    patterns = dict(url_rewrite_patterns if url_rewrite_patterns is not None else AEF_URL_REWRITE)
    objects = Path(objects) if objects is not None else root / "objects"
    coll = root / "collection"
    data_dir = coll / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    pairs = [(y, t) for y in sorted(spec.years) for t in sorted(spec.tiles, key=_tile_order)]
    shard_of = np.array_split(np.arange(len(pairs)), spec.shards)
    part_names = [f"part-{k:05d}.parquet" for k in range(spec.shards)]
    part_for = {int(i): part_names[k] for k, idx in enumerate(shard_of) for i in idx}

    records: list[AefRecord] = []
    metas: list[dict[str, dict[str, Any]]] = []
    geoms: list[bytes] = []
    keys = [f"{AEF_COG_PREFIX}/{year}/{tile.utm_zone}/{tile.name}.tiff" for year, tile in pairs]
    todo = [
        (objects / key, tile, spec.seed * 1000 + fid)
        for fid, (key, (_, tile)) in enumerate(zip(keys, pairs, strict=True))
        if not (objects / key).is_file()
    ]
    # GDAL and most of numpy release the GIL: write the COGs concurrently.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: write_aef_cog(job[0], job[1], spec, job[2]), todo))
    for fid, ((year, tile), key) in enumerate(zip(pairs, keys, strict=True)):
        local = objects / key
        wkb, bbox = _footprint(tile, spec)
        source = AEF_SOURCE_PREFIX + key
        records.append(
            AefRecord(
                fid=fid,
                year=year,
                tile=tile.name,
                utm_zone=tile.utm_zone,
                epsg=tile.epsg,
                bbox=bbox,
                source_href=source,
                href=rewrite_href(source, patterns),
                key=key,
                local_cog=local,
                source_part=part_for[fid],
            )
        )
        geoms.append(wkb)
        metas.append(_band_metadata(local, etag=_s3_etag(local) if etags else None))

    index = _index_table(records, geoms, spec)
    pq.write_table(index, coll / "index.parquet")
    wide = _wide_table(records, geoms, metas)
    shard_paths = []
    for k, idx in enumerate(shard_of):
        path = data_dir / part_names[k]
        pq.write_table(wide.take(pa.array(idx)), path, row_group_size=spec.row_group_size)
        shard_paths.append(path)
    _write_repo_files(coll, spec)
    return AefCollection(
        root=coll,
        objects=objects,
        index_path=coll / "index.parquet",
        data_dir=data_dir,
        shard_paths=tuple(shard_paths),
        records=tuple(records),
        spec=spec,
        url_rewrite_patterns=patterns,
    )


def _tile_order(t: AefTile) -> tuple[str, str]:
    return (t.utm_zone, t.name)


def _s3_etag(path: Path) -> str:
    return '"' + hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest() + '"'


def _band_metadata(path: Path, *, etag: str | None) -> dict[str, dict[str, Any]]:
    """``{band: struct}`` for every AEF band, from the library's header mapping."""
    # Imported here: only tests that build AEF collections pull the rasteret packages in.
    from rasteret_cog import open_header
    from rasteret_io.header_meta import band_metadata

    header = open_header(path)
    return {
        band: band_metadata(header, band_index=i, etag=etag, file_size=path.stat().st_size)
        for band, i in AEF_BAND_INDEX_MAP.items()
    }


def _geo_metadata(column: str) -> bytes:
    cover = {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}
    geo = {
        "version": "1.1.0",
        "primary_column": column,
        "columns": {
            column: {"encoding": "WKB", "geometry_types": ["Polygon"], "covering": {"bbox": cover}}
        },
    }
    return json.dumps(geo).encode()


def _index_table(records: Sequence[AefRecord], geoms: Sequence[bytes], spec: AefSpec) -> pa.Table:
    from rasteret_catalog.arrow import bbox_type

    cols: dict[str, pa.Array] = {
        "fid": pa.array([r.fid for r in records], pa.int64()),
        "geom": pa.array(geoms, pa.binary()),
        "year": pa.array([r.year for r in records], pa.int32()),
        "bbox": _bbox_array(records, bbox_type()),
        "path": pa.array([r.source_href for r in records], pa.string()),
        "crs": pa.array([f"EPSG:{r.epsg}" for r in records], pa.string()),
        "utm_zone": pa.array([r.utm_zone for r in records], pa.string()),
    }
    if spec.source_part:
        cols["source_part"] = pa.array([r.source_part for r in records], pa.string())
    return pa.table(cols).replace_schema_metadata({b"geo": _geo_metadata("geom")})


def _bbox_array(records: Sequence[AefRecord], typ: pa.StructType) -> pa.StructArray:
    names = [f.name for f in typ]
    return pa.array([dict(zip(names, r.bbox, strict=True)) for r in records], typ)


def _wide_table(
    records: Sequence[AefRecord],
    geoms: Sequence[bytes],
    metas: Sequence[Mapping[str, Mapping[str, Any]]],
) -> pa.Table:
    from rasteret_catalog import schema as S
    from rasteret_catalog.arrow import to_pyarrow_schema

    contract = to_pyarrow_schema(AEF_BANDS, optional=True, partitions=True)
    wanted = [
        S.Col.ID,
        S.Col.DATETIME,
        S.Col.GEOMETRY,
        S.Col.ASSETS,
        S.Col.BBOX,
        S.Col.PROJ_EPSG,
        S.Col.CRS,
        S.Col.YEAR,
        S.Col.MONTH,
    ]
    fields = [contract.field(c.value) for c in wanted]
    fields += [pa.field("fid", pa.int64()), pa.field("path", pa.string())]
    fields += [pa.field("utm_zone", pa.string())]
    fields += [contract.field(S.band_metadata_column(b)) for b in AEF_BANDS]
    rows: list[dict[str, Any]] = []
    for r, wkb, meta in zip(records, geoms, metas, strict=True):
        row: dict[str, Any] = {
            S.Col.ID.value: r.id,
            S.Col.DATETIME.value: dt.datetime(r.year, 1, 1),
            S.Col.GEOMETRY.value: wkb,
            S.Col.ASSETS.value: {
                b: {S.AssetField.HREF.value: r.href, S.AssetField.BAND_INDEX.value: i}
                for b, i in AEF_BAND_INDEX_MAP.items()
            },
            S.Col.BBOX.value: dict(zip([f.value for f in S.BboxField], r.bbox, strict=True)),
            S.Col.PROJ_EPSG.value: r.epsg,
            S.Col.CRS.value: f"EPSG:{r.epsg}",
            S.Col.YEAR.value: r.year,
            S.Col.MONTH.value: 1,
            "fid": r.fid,
            "path": r.source_href,
            "utm_zone": r.utm_zone,
        }
        for band in AEF_BANDS:
            row[S.band_metadata_column(band)] = meta[band]
        rows.append(row)
    years = sorted({r.year for r in records})
    md = {
        S.MetaKey.NAME.value: "aef-v1-annual-synthetic",
        S.MetaKey.DESCRIPTION.value: "Synthetic AEF-shaped collection (rasteret testkit)",
        S.MetaKey.DATA_SOURCE.value: AEF_DATA_SOURCE,
        S.MetaKey.DATE_RANGE.value: f"{years[0]}-01-01T00:00:00,{years[-1]}-01-01T00:00:00",
        S.MetaKey.SCHEMA_VERSION.value: S.SCHEMA_VERSION,
        S.MetaKey.COLLECTION_VERSION.value: S.LEGACY_COLLECTION_VERSION,
        S.MetaKey.GEO.value: _geo_metadata(S.Col.GEOMETRY.value).decode(),
    }
    return pa.Table.from_pylist(rows, schema=pa.schema(fields, metadata=md))


def _write_repo_files(coll: Path, spec: AefSpec) -> None:
    """A dataset card and ``.gitattributes`` so the directory is a plausible Hub dataset repo."""
    (coll / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (coll / "README.md").write_text(
        "---\nlicense: cc-by-4.0\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n"
        "---\n# Synthetic AEF-shaped collection\n\n"
        f"{spec.records} records ({len(spec.tiles)} tiles x {len(spec.years)} years), "
        f"{spec.shards} shards; written by rasteret_testkit.aef.\n"
    )
