"""Build collection rows (schema-contract dicts) straight from local COGs, for read tests,
and normalised record tables without COGs, for write tests.

Uses the production mapping (``rasteret_io.header_meta``), so what tests read is exactly what
the indexer writes. Imported lazily: only tests that need rows pull rasteret_io (or
rasteret_ingest) in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["record_table", "row_for_cogs", "rows_table"]


def row_for_cogs(
    record_id: str,
    bands: Mapping[str, tuple[str | Path, str] | tuple[str | Path, str, int]],
    *,
    datetime: dt.datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A collection row for bands stored in local COG files.

    Args:
        record_id: Row id.
        bands: ``band -> (local_path, href)`` or ``(local_path, href, band_index)``; the header
            is parsed from ``local_path`` and ``href`` is what readers fetch.
        datetime: Row datetime (default 2024-01-01).
        bbox: CRS84 bbox (default: computed from the first band's footprint with pyproj).
        extra: More columns.
    """
    from rasteret_catalog.schema import AssetField, BboxField, Col, band_metadata_column
    from rasteret_cog import open_header
    from rasteret_io.header_meta import band_metadata, crs_sidecars

    row: dict[str, Any] = {
        Col.ID.value: record_id,
        Col.DATETIME.value: datetime or dt.datetime(2024, 1, 1),
        Col.ASSETS.value: {},
    }
    first = None
    for band, spec in bands.items():
        path, href = spec[0], spec[1]
        index = spec[2] if len(spec) > 2 else None
        header = open_header(path)
        first = first or header
        row[Col.ASSETS.value][band] = {
            AssetField.HREF.value: href,
            AssetField.BAND_INDEX.value: index,
        }
        row[band_metadata_column(band)] = band_metadata(header, band_index=index)
    assert first is not None
    epsg, crs = crs_sidecars(first)
    row[Col.PROJ_EPSG.value] = epsg
    row[Col.CRS.value] = crs
    if bbox is None and first.transform is not None and crs is not None:
        from pyproj import Transformer

        a, _b, c, _d, e, f = first.transform
        w, h = first.full.width, first.full.height
        tr = Transformer.from_crs(epsg or crs, 4326, always_xy=True)
        xs, ys = tr.transform([c, c + a * w, c, c + a * w], [f, f, f + e * h, f + e * h])
        bbox = (min(xs), min(ys), max(xs), max(ys))
    if bbox is not None:
        row[Col.BBOX.value] = dict(zip([f.value for f in BboxField], bbox, strict=True))
    row.update(extra or {})
    return row


def rows_table(rows: list[dict[str, Any]], *, chunks: int = 1) -> Any:
    """``rows`` as a ``pyarrow.Table`` with the contract schema (as a saved collection reads).

    Args:
        rows: Row dicts (e.g. from :func:`row_for_cogs`).
        chunks: Split the table into this many record batches (as a multi-file dataset
            scans), to exercise readers that walk batches.
    """
    import pyarrow as pa

    from rasteret_catalog.arrow import to_pyarrow_schema

    bands = sorted(
        {k.removesuffix("_metadata") for r in rows for k in r if k.endswith("_metadata")}
        | {a for r in rows for a in (r.get("assets") or {})}
    )
    table = pa.Table.from_pylist(rows, schema=to_pyarrow_schema(bands, partitions=False))
    if chunks <= 1 or table.num_rows < 2:
        return table
    step = -(-table.num_rows // chunks)
    return pa.concat_tables([table.slice(i, step) for i in range(0, table.num_rows, step)])


def record_table(
    ids: Sequence[str],
    *,
    month: int = 1,
    year: int = 2024,
    datetimes: Sequence[str] | None = None,
    x: float = 0.0,
    **extra: Any,
) -> Any:
    """Normalised records (``rasteret_ingest.normalize_table``) without COGs: record *i* covers
    the unit box east of ``x + i`` and has one asset ``B1``.

    Args:
        ids: Record ids.
        month: Month of every record (days 1, 2, ... 27, 1, ...).
        year: Their year.
        datetimes: ISO datetimes instead (one per record).
        x: West edge of the first box.
        **extra: More columns.
    """
    import pyarrow as pa
    import shapely

    from rasteret_ingest.normalize import normalize_table

    n = len(ids)
    if datetimes is None:
        datetimes = [f"{year}-{month:02d}-{1 + i % 27:02d}T00:00:00Z" for i in range(n)]
    t = pa.table(
        {
            "id": list(ids),
            "datetime": list(datetimes),
            "geometry": [shapely.box(x + i, 0, x + i + 1, 1).wkb for i in range(n)],
            "assets": [{"B1": {"href": f"s3://b/{i}.tif", "band_index": 0}} for i in range(n)],
            **extra,
        }
    )
    return normalize_table(t)
