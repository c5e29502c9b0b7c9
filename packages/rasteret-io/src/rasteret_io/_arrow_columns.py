"""Column views of one Arrow record batch, for :mod:`rasteret_io.arrow_sources`.

:class:`Assets` reads the ``assets`` column (struct of per-key structs, or any other form);
:class:`MetaColumn` a ``{band}_metadata`` column (level tile tables as numpy views over the
flattened lists, row signatures, object identities); :class:`Proto` what rows of one signature
share, so resolving a row costs a few views whatever the tile or overview count of its file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rasteret_catalog.schema import AssetField, BandField, Col, LevelField
from rasteret_io.identity import ObjectIdentity
from rasteret_io.sources import (
    TILE_REF,
    BandSource,
    LazyLevels,
    LevelRef,
    TileTable,
    overview_levels,
)
from rasteret_io.urls import redact_url

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["Assets", "MetaColumn", "Proto"]

_LEVEL_LISTS = (LevelField.TILE_OFFSETS.value, LevelField.TILE_BYTE_COUNTS.value)
#: Fields of a level struct (overview, mask) that band sources are built from.
_LEVEL_FIELDS = frozenset(f.value for f in LevelField)
#: Fields of a ``{band}_metadata`` struct that band sources are built from (legacy
#: ``width`` / ``height`` included); the rest (provenance, GeoTIFF tags) is not read.
_SOURCE_FIELDS = frozenset(
    [
        *(
            f.value
            for f in (
                BandField.IMAGE_WIDTH, BandField.IMAGE_HEIGHT, BandField.TILE_WIDTH,
                BandField.TILE_HEIGHT, BandField.DTYPE, BandField.TRANSFORM,
                BandField.PREDICTOR, BandField.COMPRESSION, BandField.NODATA,
                BandField.SAMPLES_PER_PIXEL, BandField.PLANAR_CONFIGURATION,
                BandField.PHOTOMETRIC, BandField.BITS_PER_SAMPLE, BandField.BYTE_ORDER,
                BandField.JPEG_TABLES, BandField.LERC_PARAMETERS,
            )
        ),
        "width",
        "height",
    ]
)  # fmt: skip


class Assets:
    """The ``assets`` column: struct of per-key structs (fast path) or any other form."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa

        idx = batch.schema.get_field_index(Col.ASSETS)
        self.n = batch.num_rows
        self.col = batch.column(idx) if idx >= 0 else None
        self.struct = self.col is not None and pa.types.is_struct(self.col.type)
        self._rows: list[dict[str, Any]] | None = None
        self._fields: dict[str, tuple[list[bool], list[Any], list[Any]]] = {}

    def _dicts(self) -> list[dict[str, Any]]:
        if self._rows is None:
            values = self.col.to_pylist() if self.col is not None else [None] * self.n
            self._rows = [
                dict(v) if isinstance(v, list) else (v or {})  # Arrow map -> (key, value) pairs
                for v in values
            ]
        return self._rows

    def _field(self, key: str) -> tuple[list[bool], list[Any], list[Any]] | None:
        if key not in self._fields:
            col = self.col
            assert col is not None
            if col.type.get_field_index(key) < 0:
                return None
            child = col.field(key)
            valid = (
                _and_valid(col.is_valid(), child.is_valid())
                if col.null_count
                else child.is_valid().to_pylist()
            )
            href = _child_list(child, AssetField.HREF)
            index = _child_list(child, AssetField.BAND_INDEX)
            self._fields[key] = (valid, href, index)
        return self._fields[key]

    def present(self, key: str) -> list[bool]:
        """Per row: the asset ``key`` is set (not null)."""
        if self.struct:
            f = self._field(key)
            return f[0] if f is not None else [False] * self.n
        return [bool(d.get(key)) for d in self._dicts()]

    def entry(self, key: str, i: int) -> Mapping[str, Any]:
        """The asset entry ``{href, band_index}`` of row ``i``."""
        if self.struct:
            f = self._field(key)
            assert f is not None
            return {AssetField.HREF.value: f[1][i], AssetField.BAND_INDEX.value: f[2][i]}
        return self._dicts()[i][key]

    def available(self, i: int) -> list[str]:
        """Asset keys set in row ``i`` (for error messages)."""
        if self.struct:
            assert self.col is not None
            return sorted(
                f.name for f in self.col.type if (v := self._field(f.name)) is not None and v[0][i]
            )
        return sorted(k for k, v in self._dicts()[i].items() if v)


def _and_valid(a: pa.Array, b: pa.Array) -> list[bool]:
    import pyarrow.compute as pc

    return pc.and_(a, b).to_pylist()


def _child_list(struct: pa.StructArray, name: str) -> list[Any]:
    if struct.type.get_field_index(name) < 0:
        return [None] * len(struct)
    return struct.field(name).to_pylist()


def _int64_values(lst: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(values, offsets)`` of a list array as int64 numpy arrays (values zero-copy if possible)."""
    import numpy as np

    values = lst.values
    if values.null_count:
        vals = values.fill_null(0).to_numpy(zero_copy_only=False)
    else:
        vals = values.to_numpy(zero_copy_only=False)
    if vals.dtype != np.int64:
        vals = vals.astype(np.int64)
    offs = lst.offsets.to_numpy(zero_copy_only=False)
    return vals, offs


_NAN = object()  # stands for NaN in row signatures (NaN != NaN would defeat dict lookups)


def _hashable(values: list[Any], kind: str) -> list[Any]:
    if kind == "list":
        return [tuple(v) if v is not None else None for v in values]
    if kind == "float":
        return [_NAN if v is not None and v != v else v for v in values]
    return values


class _LevelColumns:
    """The fields of a level struct column (band metadata, an overview list's values, a mask).

    Scalar fields are converted to Python once per column; rows are handed out as the plain
    dicts ``to_pylist`` would give, except that tile tables are numpy views into one
    :class:`TileTable` (and say where, under :data:`~rasteret_io.sources.TILE_REF`).
    """

    def __init__(self, struct: pa.StructArray, used: frozenset[str]) -> None:
        import pyarrow as pa

        self.struct = struct
        t = struct.type
        self.fields = [
            t.field(i)
            for i in range(t.num_fields)
            if t.field(i).name in used and t.field(i).name not in _LEVEL_LISTS
        ]
        self.keys = [f.name for f in self.fields]
        self.valid: list[bool] = (
            struct.is_valid().to_pylist() if struct.null_count else [True] * len(struct)
        )
        self._cols: list[list[Any]] | None = None
        self._sigs: list[tuple[Any, ...]] | None = None
        self.table: TileTable | None = None
        self.offs: tuple[list[int], list[int]] | None = None
        self._null: list[bool] | None = None
        self._fallback: tuple[list[Any], list[Any]] | None = None
        names = {t.field(i).name for i in range(t.num_fields)}
        if not all(n in names for n in _LEVEL_LISTS):
            return
        lo, lc = struct.field(_LEVEL_LISTS[0]), struct.field(_LEVEL_LISTS[1])
        if all(pa.types.is_list(x.type) or pa.types.is_large_list(x.type) for x in (lo, lc)):
            ov, oo = _int64_values(lo)
            cv, co = _int64_values(lc)
            self.table = TileTable(ov, cv)
            self.offs = (oo.tolist(), co.tolist())  # Python ints: cheap per-row lookups
            if lo.null_count or lc.null_count:
                self._null = pc_or_null(lo, lc)
        else:  # not a list type we know: plain Python values
            self._fallback = (lo.to_pylist(), lc.to_pylist())

    def _kind(self, f: pa.Field) -> str:
        import pyarrow as pa

        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            return "list"
        return "float" if pa.types.is_floating(f.type) else ""

    def _values(self) -> list[list[Any]]:
        if self._cols is None:
            self._cols = [_pyvalues(self.struct.field(f.name)) for f in self.fields]
        return self._cols

    def signature(self, i: int) -> tuple[Any, ...]:
        """Hashable value of row ``i``'s scalar fields and tile counts."""
        if self._sigs is None:
            sigs = []
            for f, vals in zip(self.fields, self._values(), strict=True):
                kind = self._kind(f)
                sigs.append(_hashable(vals, kind) if kind else vals)
            if self.offs is not None:  # tile counts are part of the signature
                oo, co = self.offs
                sigs.append([b - a for a, b in itertools.pairwise(oo)])
                sigs.append([b - a for a, b in itertools.pairwise(co)])
            n = len(self.struct)
            self._sigs = list(zip(*sigs, strict=True)) if sigs else [()] * n
        return self._sigs[i]

    def tiles(self, i: int) -> tuple[Any, Any, TileTable | None, int] | None:
        """Row ``i``'s tile tables as views (and where they sit), or None when unusable."""
        if self.offs is None or self.table is None or (self._null is not None and self._null[i]):
            return None
        oo, co = self.offs
        o0, o1, c0, c1 = oo[i], oo[i + 1], co[i], co[i + 1]
        if o1 - o0 != c1 - c0:
            return None
        table = self.table
        shared = o0 == c0
        return table.offsets[o0:o1], table.byte_counts[c0:c1], table if shared else None, o0

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a dict (tile tables as numpy views)."""
        d = {k: vals[i] for k, vals in zip(self.keys, self._values(), strict=True)}
        if self.offs is not None and self.table is not None:
            oo, co = self.offs
            o0, o1, c0, c1 = oo[i], oo[i + 1], co[i], co[i + 1]
            if self._null is not None and self._null[i]:
                d[_LEVEL_LISTS[0]] = d[_LEVEL_LISTS[1]] = None
            else:
                d[_LEVEL_LISTS[0]] = self.table.offsets[o0:o1]
                d[_LEVEL_LISTS[1]] = self.table.byte_counts[c0:c1]
                if o0 == c0 and o1 == c1:  # aligned: gather straight from the shared table
                    d[TILE_REF] = (self.table, o0)
        elif self._fallback is not None:
            d[_LEVEL_LISTS[0]] = self._fallback[0][i]
            d[_LEVEL_LISTS[1]] = self._fallback[1][i]
        return d


def _pyvalues(arr: pa.Array) -> list[Any]:
    """``arr.to_pylist()``, through numpy for null-free integer / float columns (much faster)."""
    import pyarrow as pa

    t = arr.type
    if not arr.null_count and (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return arr.to_numpy(zero_copy_only=False).tolist()
    return arr.to_pylist()


def pc_or_null(a: pa.Array, b: pa.Array) -> list[bool]:
    """Per row: either list is null."""
    import pyarrow.compute as pc

    return pc.or_(a.is_null(), b.is_null()).to_pylist()


class MetaColumn(_LevelColumns):
    """A ``{band}_metadata`` column: level 0 fields plus overviews and the internal mask."""

    def __init__(self, col: pa.StructArray) -> None:
        super().__init__(col, _SOURCE_FIELDS)
        names = {col.type.field(i).name for i in range(col.type.num_fields)}
        self._has_ov = BandField.OVERVIEWS.value in names
        self._has_mask = BandField.MASK.value in names
        self._ov: tuple[_LevelColumns, list[int], list[bool]] | None = None
        self._mask: _LevelColumns | None = None
        self._ident: list[list[Any] | None] | None = None

    def identity(self, i: int) -> ObjectIdentity | None:
        """The object identity row ``i`` recorded at build time (``etag``, ``file_size``,
        ``last_modified``), or None (not recorded: collections written before they were)."""
        if self._ident is None:
            t = self.struct.type
            names = {t.field(k).name for k in range(t.num_fields)}
            self._ident = [
                self.struct.field(f.value).to_pylist() if f.value in names else None
                for f in _IDENTITY_FIELDS
            ]
        etags, sizes, mods = self._ident
        ident = ObjectIdentity(
            etags[i] if etags is not None else None,
            sizes[i] if sizes is not None else None,
            mods[i] if mods is not None else None,
        )
        return ident if ident.known else None

    def overview_columns(self) -> tuple[_LevelColumns, list[int], list[bool]] | None:
        """``(levels, list offsets, row valid)`` of the overviews list, if the struct has one."""
        if not self._has_ov:
            return None
        if self._ov is None:
            lst = self.struct.field(BandField.OVERVIEWS.value)
            valid = lst.is_valid().to_pylist() if lst.null_count else [True] * len(lst)
            offs = lst.offsets.to_numpy(zero_copy_only=False).tolist()
            self._ov = (_LevelColumns(lst.values, _LEVEL_FIELDS), offs, valid)
        return self._ov

    def mask_columns(self) -> _LevelColumns | None:
        """The internal-mask struct's columns, if the struct has one."""
        if self._has_mask and self._mask is None:
            self._mask = _LevelColumns(self.struct.field(BandField.MASK.value), _LEVEL_FIELDS)
        return self._mask

    def overview_rows(self, i: int) -> range:
        """Positions of row ``i``'s overviews in :meth:`overview_columns` (empty if none)."""
        ov = self.overview_columns()
        if ov is None or not ov[2][i]:
            return range(0)
        return range(ov[1][i], ov[1][i + 1])

    def signature(self, i: int) -> tuple[Any, ...]:
        """Row ``i``'s level-0 and mask signature (overviews are built per row, on use)."""
        mask = self.mask_columns()
        msig = mask.signature(i) if mask is not None and mask.valid[i] else None
        return (super().signature(i), msig)

    def row(self, i: int) -> dict[str, Any]:
        d = super().row(i)
        ov = self.overview_columns()
        if ov is not None:
            d[BandField.OVERVIEWS.value] = (
                [ov[0].row(j) for j in self.overview_rows(i)] if ov[2][i] else None
            )
        mask = self.mask_columns()
        if mask is not None:
            d[BandField.MASK.value] = mask.row(i) if mask.valid[i] else None
        return d


_IDENTITY_FIELDS = (BandField.ETAG, BandField.FILE_SIZE, BandField.LAST_MODIFIED)

_LevelParams = tuple[int, int, int, int, Any, Any]  # width, height, tiles, transform, compression


def _params(lv: LevelRef) -> _LevelParams:
    return (lv.width, lv.height, lv.tile_width, lv.tile_height, lv.transform, lv.compression)


def _level_ref(p: _LevelParams, tiles: tuple[Any, Any, TileTable | None, int]) -> LevelRef:
    offsets, counts, table, start = tiles
    return LevelRef(p[0], p[1], p[2], p[3], p[4], offsets, counts, p[5], table, start)


class Proto:
    """What rows of one signature share: the validated spec and level-0 / mask geometry.

    Overview levels are not part of it: each row's are built from its own overview entries
    the first time a read asks for a level other than 0 (:class:`LazyLevels`), so the cost
    of resolving a row does not depend on the pyramid depth or tile count of its file.
    """

    __slots__ = ("level0", "mask", "nodata", "sample", "spec")

    def __init__(self, src: BandSource) -> None:
        self.spec = src.spec
        self.sample = src.sample
        self.nodata = src.nodata
        self.level0 = _params(src.levels[0])
        self.mask = _params(src.mask) if src.mask is not None else None

    def source(
        self,
        record_id: str,
        band: str,
        url: Any,
        crs: Any,
        mcol: MetaColumn,
        i: int,
        identity: ObjectIdentity | None = None,
    ) -> BandSource | None:
        """Row ``i``'s band source, or None when its tile tables need the full rules."""
        t0 = mcol.tiles(i)
        if t0 is None or not url:
            return None
        mask = None
        if self.mask is not None:
            mcols = mcol.mask_columns()
            mt = mcols.tiles(i) if mcols is not None else None
            if mt is None:
                return None
            mask = _level_ref(self.mask, mt)
        level0 = _level_ref(self.level0, t0)
        n_ov = len(mcol.overview_rows(i))
        levels: Sequence[LevelRef] = (level0,)
        if n_ov:
            ov = mcol.overview_columns()
            assert ov is not None
            w, h, transform = self.level0[0], self.level0[1], self.level0[4]
            what = f"record {record_id!r} band {band!r} ({redact_url(str(url))})"

            def overviews() -> list[LevelRef]:
                rows = [ov[0].row(j) for j in mcol.overview_rows(i)]
                return overview_levels(rows, w, h, transform, what)

            levels = LazyLevels(level0, 1 + n_ov, overviews)
        return BandSource(
            record_id,
            band,
            str(url),
            self.spec,
            self.sample,
            crs,
            self.nodata,
            levels,
            mask,
            identity,
        )
