"""Fixtures: small record tables in rasteret 0.4.1's collection layout (no network, no COGs)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import shapely

from rasteret_catalog import DatasetRegistry

# rasteret 0.4.1's 17-field band metadata struct, in its order
LEGACY_BAND_TYPE = pa.struct(
    [
        ("image_width", pa.int32()),
        ("image_height", pa.int32()),
        ("tile_width", pa.int32()),
        ("tile_height", pa.int32()),
        ("dtype", pa.string()),
        ("transform", pa.list_(pa.float64())),
        ("predictor", pa.int32()),
        ("compression", pa.int32()),
        ("tile_offsets", pa.list_(pa.int64())),
        ("tile_byte_counts", pa.list_(pa.int64())),
        ("pixel_scale", pa.list_(pa.float64())),
        ("tiepoint", pa.list_(pa.float64())),
        ("nodata", pa.float64()),
        ("samples_per_pixel", pa.int32()),
        ("planar_configuration", pa.int32()),
        ("photometric", pa.int32()),
        ("extra_samples", pa.list_(pa.int32())),
    ]
)
BBOX_TYPE = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])


def band_meta(x0: float, y0: float, res: float = 10.0, size: int = 100) -> dict[str, Any]:
    return {
        "image_width": size,
        "image_height": size,
        "tile_width": 64,
        "tile_height": 64,
        "dtype": "uint16",
        "transform": [res, x0, -res, y0],
        "predictor": 2,
        "compression": 8,
        "tile_offsets": [100, 200, 300, 400],
        "tile_byte_counts": [10, 10, 10, 10],
        "pixel_scale": [res, res, 0.0],
        "tiepoint": [0.0, 0.0, 0.0, x0, y0, 0.0],
        "nodata": 0.0,
        "samples_per_pixel": 1,
        "planar_configuration": 1,
        "photometric": 1,
        "extra_samples": [],
    }


def _make_records(
    n: int = 6,
    *,
    bands: Sequence[str] = ("B04", "B08"),
    start: dt.datetime = dt.datetime(2024, 1, 30, 6, 0),
    step: dt.timedelta = dt.timedelta(hours=20),
    epsg: Sequence[int] | None = None,
    extra: dict[str, list[Any]] | None = None,
    metadata: dict[str, str] | None = None,
) -> pa.Table:
    """``n`` records on a 1-degree lon grid, one per ``step`` from ``start``."""
    epsg = list(epsg or [32632] * n)
    rows: dict[str, list[Any]] = {
        "id": [f"rec-{i}" for i in range(n)],
        "datetime": [start + step * i for i in range(n)],
        "geometry": [shapely.to_wkb(shapely.box(i, 0, i + 1, 1)) for i in range(n)],
        "assets": [
            {b: {"href": f"https://example.test/rec-{i}/{b}.tif", "band_index": 0} for b in bands}
            for i in range(n)
        ],
        "bbox": [{"xmin": i, "ymin": 0.0, "xmax": i + 1.0, "ymax": 1.0} for i in range(n)],
        "proj:epsg": epsg,
        "crs": [f"EPSG:{e}" for e in epsg],
        "eo:cloud_cover": [float(10 * i) for i in range(n)],
        "collection": ["sentinel-2-l2a"] * n,
    }
    asset_t = pa.struct(
        [(b, pa.struct([("href", pa.string()), ("band_index", pa.int32())])) for b in bands]
    )
    fields = [
        pa.field("id", pa.string()),
        pa.field("datetime", pa.timestamp("us")),
        pa.field("geometry", pa.binary()),
        pa.field("assets", asset_t),
        pa.field("bbox", BBOX_TYPE),
        pa.field("proj:epsg", pa.int32()),
        pa.field("crs", pa.string()),
        pa.field("eo:cloud_cover", pa.float64()),
        pa.field("collection", pa.string()),
    ]
    for name, values in (extra or {}).items():
        rows[name] = values
        fields.append(pa.field(name, pa.array(values).type))
    for j, b in enumerate(bands):
        rows[f"{b}_metadata"] = [band_meta(500000.0 + 1000 * i, 4000000.0 - j) for i in range(n)]
        fields.append(pa.field(f"{b}_metadata", LEGACY_BAND_TYPE))
    dts = rows["datetime"]
    rows["year"] = [d.year for d in dts]
    rows["month"] = [d.month for d in dts]
    fields += [pa.field("year", pa.int32()), pa.field("month", pa.int32())]
    table = pa.table(rows, schema=pa.schema(fields))
    if metadata:
        table = table.replace_schema_metadata(metadata)
    return table


def legacy_metadata(table: pa.Table, **over: str) -> dict[str, str]:
    """The key-value metadata rasteret 0.4.1's export writes."""
    md = {
        "name": "legacy",
        "description": "written in the 0.4.1 layout",
        "data_source": "sentinel-2-l2a",
        "date_range": "2024-01-01,2024-02-29",
        "created": "2024-03-01T10:00:00",
        "rasteret_collection_version": "1",
        "geo": json.dumps(
            {
                "version": "1.1.0",
                "primary_column": "geometry",
                "columns": {
                    "geometry": {
                        "encoding": "WKB",
                        "geometry_types": ["Polygon"],
                        "covering": {
                            "bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}
                        },
                    }
                },
            }
        ),
    }
    md.update(over)
    return md


def _write_legacy(table: pa.Table, path: Path, **meta: str) -> Path:
    """Write ``table`` the way 0.4.1 exports: Hive year/month, ``part-{i}.parquet``, metadata."""
    table = table.replace_schema_metadata(legacy_metadata(table, **meta))
    ds.write_dataset(
        table,
        path,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("year", pa.int32()), ("month", pa.int32())]), flavor="hive"
        ),
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
    )
    return path


@pytest.fixture
def make_records() -> Any:
    """``make_records(n=6, *, bands, start, step, epsg, extra, metadata) -> pa.Table``."""
    return _make_records


@pytest.fixture
def write_legacy() -> Any:
    """``write_legacy(table, path, **metadata) -> path`` in the 0.4.1 export layout."""
    return _write_legacy


@pytest.fixture
def records() -> pa.Table:
    return _make_records()


@pytest.fixture
def legacy_dir(tmp_path: Path, records: pa.Table) -> Path:
    return _write_legacy(records, tmp_path / "ws" / "legacy_records")


@pytest.fixture(autouse=True)
def _isolated_registries(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A private local registry file and restored class registries for every test."""
    reg = tmp_path_factory.mktemp("registry") / "datasets.local.json"
    monkeypatch.setenv("RASTERET_LOCAL_DATASETS_PATH", str(reg))
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    before = DatasetRegistry.snapshot()
    DatasetRegistry.reset()
    yield
    DatasetRegistry.restore(before)


class OpenCounter(pafs.FileSystemHandler):
    """A pyarrow filesystem handler over ``base`` that records every file opened for reading.

    ``PyFileSystem(OpenCounter(base))`` is a real filesystem (any pyarrow one: local, S3 on
    moto...); ``opened`` lists the paths of ``open_input_file`` / ``open_input_stream`` calls,
    i.e. what a reader actually opened, in order.
    """

    def __init__(self, base: pafs.FileSystem) -> None:
        self.base = base
        self.opened: list[str] = []

    def files(self, under: str = "") -> set[str]:
        """Distinct opened paths (those under ``under`` when given)."""
        return {p for p in self.opened if p.startswith(under)}

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return f"counting+{self.base.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.base.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.base.get_file_info(selector)

    def open_input_stream(self, path: str) -> Any:
        self.opened.append(path)
        return self.base.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        self.opened.append(path)
        return self.base.open_input_file(path)

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("read-only test filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


@pytest.fixture
def counting_fs() -> Any:
    """``make(base=None) -> (PyFileSystem, OpenCounter)`` (base: the local filesystem)."""

    def make(base: pafs.FileSystem | None = None) -> tuple[pafs.PyFileSystem, OpenCounter]:
        handler = OpenCounter(base if base is not None else pafs.LocalFileSystem())
        return pafs.PyFileSystem(handler), handler

    return make
