"""A large synthetic AEF-shaped record index (default 1,000,000 rows, 200 shards) for benchmarks.

Rows are synthetic and hrefs virtual (nothing is fetched): each year covers a lon/lat grid of
cells (south to north, west to east), one row per cell and year. The index
(``index.parquet``: ``fid, geom, year, bbox, path, crs, utm_zone, source_part``) is sorted by
year then latitude, so its row groups and the shards (contiguous runs of rows) each cover one
year and a latitude band: a small bbox in one year touches one or two shards. The wide data
(``data/part-NNNNN.parquet``) has the contract columns and ``bands`` ``{band}_metadata``
columns (default 4: the real 64 would make the wide side 16x larger still and the build far
slower; the narrow/wide byte ratio only improves with more bands).

Everything is built with vectorised numpy/Arrow (no per-row Python objects), so the default
size writes in well under a minute.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rasteret_testkit.aef import (
    AEF_BANDS,
    AEF_COG_PREFIX,
    AEF_NODATA,
    AEF_SOURCE_PREFIX,
    AEF_URL_REWRITE,
)

__all__ = ["ScaleIndex", "write_scale_record_index"]

_LON0, _LON1, _LAT0, _LAT1 = -180.0, 180.0, -60.0, 75.0
_STATS_COLUMNS = [
    "id",
    "datetime",
    "year",
    "month",
    "proj:epsg",
    "crs",
    "utm_zone",
    "fid",
    "bbox.xmin",
    "bbox.ymin",
    "bbox.xmax",
    "bbox.ymax",
]
_WKB_POLY = np.dtype(
    [("bo", "u1"), ("typ", "<u4"), ("rings", "<u4"), ("pts", "<u4"), ("xy", "<f8", (10,))]
)


@dataclass(frozen=True, slots=True)
class ScaleIndex:
    """A written large record index.

    Attributes:
        root: Output directory.
        index_path: ``root / "index.parquet"``.
        data_dir: ``root / "data"`` (wide shards).
        shard_paths: Wide shards, in order (``source_part`` is the file name).
        rows: Total rows.
        years: Years covered (equal share of rows each).
        bands: Band codes with a ``{band}_metadata`` column in the wide data.
        grid: ``(nx, ny)`` cells per year.
        cell: ``(dlon, dlat)`` cell size in degrees.
    """

    root: Path
    index_path: Path
    data_dir: Path
    shard_paths: tuple[Path, ...]
    rows: int
    years: tuple[int, ...]
    bands: tuple[str, ...]
    grid: tuple[int, int]
    cell: tuple[float, float]

    def small_bbox(
        self, lon: float = -122.4, lat: float = 37.8
    ) -> tuple[float, float, float, float]:
        """A bbox strictly inside the cell holding ``(lon, lat)`` (matches one row per year)."""
        dlon, dlat = self.cell
        i = math.floor((lon - _LON0) / dlon)
        j = math.floor((lat - _LAT0) / dlat)
        x0, y0 = _LON0 + i * dlon, _LAT0 + j * dlat
        return (x0 + dlon * 0.25, y0 + dlat * 0.25, x0 + dlon * 0.75, y0 + dlat * 0.75)

    def wide_bytes(self) -> int:
        """Total size of the wide shards on disk."""
        return sum(p.stat().st_size for p in self.shard_paths)


def write_scale_record_index(
    root: str | Path,
    *,
    rows: int = 1_000_000,
    shards: int = 200,
    years: Sequence[int] = (2019, 2020, 2021, 2022, 2023),
    bands: int = 4,
    tiles_per_side: int = 2,
    index_row_group_size: int = 65_536,
    data_row_group_size: int | None = None,
) -> ScaleIndex:
    """Write a synthetic record index and its sharded wide data under ``root``.

    Args:
        root: Output directory (created).
        rows: Total rows; must be a multiple of ``len(years)``.
        shards: Wide-data files (contiguous runs of index rows).
        years: Years; each gets ``rows / len(years)`` grid cells.
        bands: ``{band}_metadata`` columns in the wide data (``A00``...; at most 64).
        tiles_per_side: COG tiles per side in the synthetic tile tables.
        index_row_group_size: Rows per row group of ``index.parquet``.
        data_row_group_size: Rows per row group of the wide shards (default: one per shard).

    Parquet statistics are written for the top-level scalar columns and the ``bbox`` children
    (what filters use), dictionary encoding only for the low-cardinality strings: both are
    pyarrow defaults everywhere else, but would triple the write time of the nested
    ``{band}_metadata`` columns here without changing what a filtered read has to fetch.
    """
    years = tuple(sorted(years))
    if rows <= 0 or rows % len(years):
        raise ValueError("rows must be a positive multiple of len(years)")
    if not 1 <= shards <= rows:
        raise ValueError("shards must be between 1 and rows")
    if not 1 <= bands <= len(AEF_BANDS):
        raise ValueError("bands must be between 1 and 64")
    root = Path(root)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    cells = rows // len(years)
    nx = max(1, math.ceil(math.sqrt(cells * (_LON1 - _LON0) / (_LAT1 - _LAT0))))
    ny = math.ceil(cells / nx)
    dlon, dlat = (_LON1 - _LON0) / nx, (_LAT1 - _LAT0) / ny
    fid = np.arange(rows, dtype=np.int64)
    cell = fid % cells
    year = np.asarray(years, dtype=np.int32)[fid // cells]
    xmin = _LON0 + (cell % nx) * dlon
    ymin = _LAT0 + (cell // nx) * dlat
    xmax, ymax = xmin + dlon, ymin + dlat

    zone_no = np.clip(((xmin + dlon / 2 + 180.0) // 6).astype(np.int64) + 1, 1, 60)
    north = (ymin + dlat / 2) >= 0
    epsg = np.where(north, 32600, 32700) + zone_no
    zone_labels = pa.array([f"{z}{h}" for h in "SN" for z in range(1, 61)])
    utm_zone = zone_labels.take(pa.array(north.astype(np.int64) * 60 + zone_no - 1))
    crs = pc.binary_join_element_wise("EPSG:", pc.cast(pa.array(epsg), pa.string()), "")
    paths = pc.binary_join_element_wise(
        f"{AEF_SOURCE_PREFIX}{AEF_COG_PREFIX}/",
        pc.cast(pa.array(year), pa.string()),
        "/",
        utm_zone,
        "/",
        pc.cast(pa.array(fid), pa.string()),
        ".tiff",
        "",
    )
    bounds = np.stack([xmin, ymin, xmax, ymax])
    geom = _polygons_wkb(*bounds)
    bbox = pa.StructArray.from_arrays(
        [pa.array(v) for v in bounds], names=["xmin", "ymin", "xmax", "ymax"]
    )
    parts = np.array_split(fid, shards)
    part_names = pa.array([f"part-{k:05d}.parquet" for k in range(shards)])
    part_of = np.repeat(np.arange(shards), [len(p) for p in parts])
    source_part = part_names.take(pa.array(part_of))

    index = pa.table(
        {
            "fid": pa.array(fid),
            "geom": geom,
            "year": pa.array(year),
            "bbox": bbox,
            "path": paths,
            "crs": crs,
            "utm_zone": utm_zone,
            "source_part": source_part,
        }
    )

    band_codes = AEF_BANDS[:bands]

    def write_shard(k: int) -> Path:
        idx = parts[k]
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        wide = _wide_shard(index.slice(lo, hi - lo), band_codes, tiles_per_side)
        path = data_dir / f"part-{k:05d}.parquet"
        pq.write_table(
            wide,
            path,
            row_group_size=data_row_group_size or wide.num_rows,
            write_statistics=_STATS_COLUMNS,
            use_dictionary=["crs", "utm_zone", "proj:epsg", "year", "month"],
        )
        return path

    # Parquet encoding releases the GIL: shards are written concurrently.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        index_done = pool.submit(
            pq.write_table, index, root / "index.parquet", row_group_size=index_row_group_size
        )
        shard_paths = list(pool.map(write_shard, range(shards)))
        index_done.result()
    return ScaleIndex(
        root=root,
        index_path=root / "index.parquet",
        data_dir=data_dir,
        shard_paths=tuple(shard_paths),
        rows=rows,
        years=years,
        bands=band_codes,
        grid=(nx, ny),
        cell=(dlon, dlat),
    )


def _polygons_wkb(
    xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray
) -> pa.Array:
    """WKB rectangles (5-point rings), built in one numpy structured array."""
    n = len(xmin)
    arr = np.zeros(n, dtype=_WKB_POLY)
    arr["bo"], arr["typ"], arr["rings"], arr["pts"] = 1, 3, 1, 5
    xy = np.stack([xmin, ymin, xmax, ymin, xmax, ymax, xmin, ymax, xmin, ymin], axis=1)
    arr["xy"] = xy
    size = _WKB_POLY.itemsize
    offsets = np.arange(n + 1, dtype=np.int32) * size
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(arr.tobytes())]
    )


def _fixed_list(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    """A list array of ``values.shape[1]`` items per row."""
    n, k = values.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), typ.value_type), type=typ)


def _band_struct(
    typ: pa.StructType, n: int, band_index: int, x0: np.ndarray, y0: np.ndarray, tps: int
) -> pa.StructArray:
    """Synthetic ``{band}_metadata`` values (64-band Int8 planar, south-up, 512 px tiles)."""
    tiles = tps * tps
    tile_bytes = 60_000
    plane = np.arange(tiles, dtype=np.int64) * tile_bytes + 16_384 + band_index * tiles * tile_bytes
    ones = np.ones(n, dtype=np.int32)
    given: dict[str, pa.Array] = {
        "image_width": pa.array(ones * 512 * tps),
        "image_height": pa.array(ones * 512 * tps),
        "tile_width": pa.array(ones * 512),
        "tile_height": pa.array(ones * 512),
        "dtype": pa.array(np.full(n, "int8", dtype=object), pa.string()),
        "predictor": pa.array(ones),
        "compression": pa.array(ones * 8),
        "nodata": pa.array(np.full(n, float(AEF_NODATA))),
        "samples_per_pixel": pa.array(ones * 64),
        "planar_configuration": pa.array(ones * 2),
        "photometric": pa.array(ones),
        "bits_per_sample": pa.array(ones * 8),
        "sample_format": pa.array(ones * 2),
        "file_size": pa.array(np.full(n, 16_384 + 64 * tiles * tile_bytes, dtype=np.int64)),
    }
    lists = {
        "transform": np.stack([np.full(n, 10.0), x0, np.full(n, 10.0), y0], axis=1),
        "tile_offsets": np.broadcast_to(plane, (n, tiles)),
        "tile_byte_counts": np.full((n, tiles), tile_bytes, dtype=np.int64),
        "pixel_scale": np.broadcast_to(np.array([10.0, 10.0, 0.0]), (n, 3)),
        "tiepoint": np.stack([np.zeros(n), np.zeros(n), np.zeros(n), x0, y0, np.zeros(n)], axis=1),
        "extra_samples": np.zeros((n, 63), dtype=np.int32),
    }
    children = []
    for f in typ:
        if f.name in given:
            children.append(given[f.name].cast(f.type))
        elif f.name in lists:
            children.append(_fixed_list(np.ascontiguousarray(lists[f.name]), f.type))
        elif f.name == "byte_order":
            children.append(pa.array(np.full(n, "little", dtype=object), pa.string()))
        elif f.name == "overviews":
            children.append(
                pa.ListArray.from_arrays(
                    pa.array(np.zeros(n + 1, np.int32)), pa.nulls(0, f.type.value_type), type=f.type
                )
            )
        else:
            children.append(pa.nulls(n, f.type))
    return pa.StructArray.from_arrays(children, fields=list(typ))


def _wide_shard(index: pa.Table, bands: Sequence[str], tps: int) -> pa.Table:
    from rasteret_catalog import schema as S
    from rasteret_catalog.arrow import asset_type, band_metadata_type

    n = index.num_rows
    year = index.column("year").combine_chunks()
    fid = index.column("fid").combine_chunks()
    jan1 = (year.to_numpy().astype(np.int64) - 1970).astype("datetime64[Y]")
    when = pa.array(jan1.astype("datetime64[us]"), pa.timestamp("us"))
    href = pc.replace_substring(
        index.column("path"), AEF_SOURCE_PREFIX, AEF_URL_REWRITE[AEF_SOURCE_PREFIX]
    )
    href = href.combine_chunks()
    atype = asset_type()
    assets = pa.StructArray.from_arrays(
        [
            pa.StructArray.from_arrays(
                [href, pa.array(np.full(n, i, dtype=np.int32))], fields=list(atype)
            )
            for i in range(len(bands))
        ],
        names=list(bands),
    )
    x0 = 100_000.0 + (fid.to_numpy() % 64) * 20_480.0
    y0 = 1_000_000.0 + (fid.to_numpy() // 64 % 64) * 20_480.0
    mtype = band_metadata_type()
    cols: dict[str, pa.Array] = {
        S.Col.ID.value: pc.cast(fid, pa.string()),
        S.Col.DATETIME.value: when,
        S.Col.GEOMETRY.value: index.column("geom").combine_chunks(),
        S.Col.ASSETS.value: assets,
        S.Col.BBOX.value: index.column("bbox").combine_chunks(),
        S.Col.PROJ_EPSG.value: pc.cast(
            pc.utf8_slice_codeunits(index.column("crs"), 5), pa.int32()
        ).combine_chunks(),
        S.Col.CRS.value: index.column("crs").combine_chunks(),
        S.Col.YEAR.value: year,
        S.Col.MONTH.value: pa.array(np.ones(n, dtype=np.int32)),
        "fid": fid,
        "path": index.column("path").combine_chunks(),
        "utm_zone": index.column("utm_zone").combine_chunks(),
    }
    for i, band in enumerate(bands):
        cols[S.band_metadata_column(band)] = _band_struct(mtype, n, i, x0, y0, tps)
    return pa.table(cols)
