"""Band sources straight from the collection's Arrow batches (the read engine's primary input).

:func:`records_from_arrow` resolves the requested bands of every row of a ``pyarrow.Table`` /
``RecordBatch`` (schema contract of ``rasteret_catalog``) column by column: scalar fields are
converted once per column, and tile tables are never turned into Python objects — each
``{band}_metadata.tile_offsets`` / ``tile_byte_counts`` list column becomes one
:class:`~rasteret_io.sources.TileTable` over its flattened values (zero-copy when the values
have no nulls), and every level of every row keeps only its start in that table. Planning a
window then gathers the few tiles it needs with numpy (:mod:`rasteret_io.tileplan`), so its
cost does not depend on how many tiles a file has.

:func:`read_columns` names the columns a read needs, so callers scan only those.
:func:`as_records` accepts either form (Arrow, or a sequence of row dicts as
``pa.Table.to_pylist`` gives) and resolves both with the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rasteret_catalog.bands import asset_key_candidates
from rasteret_catalog.schema import AssetField, Col, band_metadata_column
from rasteret_io._arrow_columns import Assets, MetaColumn, Proto
from rasteret_io.errors import BandResolutionError, ReadError
from rasteret_io.sources import (
    BandSource,
    RecordSources,
    band_source,
    crs_of,
    record_sources,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["as_records", "bboxes", "is_arrow", "read_columns", "records_from_arrow"]

#: Top-level record columns a read uses besides the band metadata columns.
RECORD_COLUMNS: tuple[str, ...] = (
    Col.ID.value,
    Col.DATETIME.value,
    Col.ASSETS.value,
    Col.BBOX.value,
    Col.PROJ_EPSG.value,
    Col.CRS.value,
)


def is_arrow(rows: Any) -> bool:
    """True for a ``pyarrow.Table`` / ``RecordBatch`` / ``RecordBatchReader``."""
    mod = type(rows).__module__ or ""
    return mod.startswith("pyarrow") and hasattr(rows, "schema")


def read_columns(
    names: Iterable[str] | Any,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None = None,
    *,
    extra: Sequence[str] = (),
) -> list[str]:
    """Top-level columns a read of ``bands`` needs, among ``names``.

    Args:
        names: Column names available (or a ``pyarrow.Schema``).
        bands: Band codes to read.
        band_map: Band code -> asset key map.
        extra: More columns the caller wants (kept when present).

    Returns:
        The record columns (id, datetime, assets, bbox, CRS sidecars), then the
        ``{key}_metadata`` column of every asset key a band may resolve to, in that order.
    """
    have = list(getattr(names, "names", names))
    present = set(have)
    cols = [c for c in (*RECORD_COLUMNS, *extra) if c in present]
    for band in bands:
        for key in asset_key_candidates(band, band_map):
            col = band_metadata_column(key)
            if col in present and col not in cols:
                cols.append(col)
    return list(dict.fromkeys(cols))


def as_records(
    rows: Any,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None = None,
) -> list[RecordSources]:
    """Resolve ``bands`` of every row of ``rows`` (Arrow data or a sequence of row dicts)."""
    if is_arrow(rows):
        return records_from_arrow(rows, bands, band_map)
    return [record_sources(r, i, bands, band_map) for i, r in enumerate(rows)]


def bboxes(rows: Any) -> list[Mapping[str, Any] | None]:
    """The ``bbox`` struct of every row (None where missing), Arrow or dict rows."""
    if not is_arrow(rows):
        return [r.get(Col.BBOX) for r in rows]
    out: list[Mapping[str, Any] | None] = []
    for batch in _batches(rows):
        out.extend(_pylist(batch, Col.BBOX))
    return out


def records_from_arrow(
    data: Any,
    bands: Sequence[str],
    band_map: Mapping[str, str] | None = None,
) -> list[RecordSources]:
    """Resolve ``bands`` of every row of an Arrow table / record batch / batch reader.

    Same rules as :func:`rasteret_io.sources.record_sources` (first asset key present, then
    ``{band}_metadata`` or ``{key}_metadata``); unresolvable bands map to an error instead of
    raising. Record indices count rows across batches.
    """
    out: list[RecordSources] = []
    for batch in _batches(data):
        out.extend(_batch_records(batch, len(out), bands, band_map))
    return out


def _batches(data: Any) -> Iterator[pa.RecordBatch]:
    if hasattr(data, "to_batches"):  # Table: one batch (per-batch column setup costs more
        if any(c.num_chunks > 1 for c in data.columns):  # than copying the buffers together)
            data = data.combine_chunks()
        yield from data.to_batches()
    elif hasattr(data, "num_columns") and hasattr(data, "column"):  # RecordBatch
        yield data
    else:  # RecordBatchReader or any iterable of batches
        yield from data


def _pylist(batch: pa.RecordBatch, name: str) -> list[Any]:
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return [None] * batch.num_rows
    return batch.column(idx).to_pylist()


def _batch_records(
    batch: pa.RecordBatch, base: int, bands: Sequence[str], band_map: Mapping[str, str] | None
) -> list[RecordSources]:
    n = batch.num_rows
    ids = [str(v) for v in _pylist(batch, Col.ID)]
    datetimes = _pylist(batch, Col.DATETIME)
    crss = [crs_of(e, c) for e, c in zip(_pylist(batch, Col.PROJ_EPSG), _pylist(batch, Col.CRS))]
    assets = Assets(batch)
    metas: dict[str, MetaColumn | None] = {}

    def meta_column(name: str) -> MetaColumn | None:
        if name not in metas:
            idx = batch.schema.get_field_index(name)
            metas[name] = MetaColumn(batch.column(idx)) if idx >= 0 else None
        return metas[name]

    # Rows whose metadata agree in every scalar field (same grid, tiling, dtype, codec...) share
    # one validated prototype: a row then costs a few views and LevelRefs, whatever the tile
    # or overview count of its file.
    protos: dict[tuple[Any, ...] | None, Proto] = {}
    per_band: list[list[BandSource | ReadError]] = []
    for band in bands:
        cands = asset_key_candidates(band, band_map)
        present = {k: assets.present(k) for k in cands}
        own_name = band_metadata_column(band)
        own = meta_column(own_name)
        col_out: list[BandSource | ReadError] = []
        chosen: list[str | None] = [None] * n  # per row: the first candidate key present
        for k in reversed(cands):
            chosen = [k if p else c for p, c in zip(present[k], chosen, strict=True)]
        for i in range(n):
            key = chosen[i]
            if key is None:
                col_out.append(
                    BandResolutionError(
                        f"record {ids[i]!r}: band {band!r} not found; tried asset keys {cands}, "
                        f"available: {assets.available(i)}"
                    )
                )
                continue
            mname = own_name if own is not None and own.valid[i] else band_metadata_column(key)
            mcol = meta_column(mname)
            if mcol is None or not mcol.valid[i]:
                col_out.append(
                    BandResolutionError(
                        f"record {ids[i]!r}: band {band!r} has no indexed header "
                        f"({own_name} is null or missing)"
                    )
                )
                continue
            asset = assets.entry(key, i)
            url, bidx = asset[AssetField.HREF.value], asset[AssetField.BAND_INDEX.value]
            sig: tuple[Any, ...] | None = (mname, mcol.signature(i), bidx, bool(url))
            try:
                proto = protos.get(sig)
            except TypeError:  # an unhashable field value: no sharing for this row
                proto, sig = None, None
            ident = mcol.identity(i)
            src = proto.source(ids[i], band, url, crss[i], mcol, i, ident) if proto else None
            if src is None:  # first row of its kind (or odd tile tables): the full rules
                try:
                    src = band_source(ids[i], band, asset, mcol.row(i), crss[i])
                except ReadError as exc:
                    col_out.append(exc)
                    continue
                if sig is not None:
                    protos[sig] = Proto(src)
                if ident is not None:
                    src = replace(src, identity=ident)
            col_out.append(src)
        per_band.append(col_out)
    return [
        RecordSources(
            base + i,
            ids[i],
            datetimes[i],
            crss[i],
            {band: per_band[j][i] for j, band in enumerate(bands)},
        )
        for i in range(n)
    ]
