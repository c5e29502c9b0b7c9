"""Open Parquet collections, read their metadata, check them against the schema contract, and
describe where they live."""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from rasteret.errors import CollectionNotFoundError, InvalidCollectionError
from rasteret.records import CollectionInfo
from rasteret_catalog import CloudConfig, DatasetDescriptor
from rasteret_catalog.schema import (
    REQUIRED_COLUMNS,
    Col,
    MetaKey,
    band_of_metadata_column,
)

__all__ = [
    "anonymous_s3",
    "check_contract",
    "collection_info",
    "dataset_filesystem",
    "is_remote",
    "open_collection",
    "open_parquet_dataset",
    "parse_date_range_metadata",
    "schema_metadata",
    "strip_scheme",
]

_STEM_SUFFIXES = (".parquet", "_stac", "_records")


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a URI other than ``file://`` (s3://, gs://, az://, https://...)."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def strip_scheme(uri: str) -> str:
    """``uri`` without its ``scheme://`` prefix."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def anonymous_s3(region: str) -> pafs.S3FileSystem:
    """An unsigned pyarrow S3 filesystem (public buckets) in ``region``.

    Like obstore, which reads the pixels, it honours ``AWS_ENDPOINT_URL_S3`` /
    ``AWS_ENDPOINT_URL`` (read when called): a public dataset mirrored on another
    S3-compatible endpoint is then read from there, Parquet and pixels alike.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem(anonymous=True, region=region)
    scheme, sep, host = endpoint.partition("://")
    if not sep:
        scheme, host = "https", endpoint
    return pafs.S3FileSystem(
        anonymous=True, region=region, endpoint_override=host.rstrip("/"), scheme=scheme
    )


def dataset_filesystem(
    d: DatasetDescriptor, uri: str, cloud_config: CloudConfig | None = None
) -> tuple[str, pafs.FileSystem | None]:
    """``(path, filesystem)`` to read ``uri`` of ``d``: public S3 buckets without signing."""
    if not uri.startswith("s3://") or d.requires_auth:
        return uri, None
    region = (cloud_config.region if cloud_config else None) or (d.cloud_config or {}).get(
        "region", "us-west-2"
    )
    return strip_scheme(uri), anonymous_s3(region)


def _local(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(text).expanduser()


def open_parquet_dataset(
    path: str | os.PathLike[str], *, filesystem: pafs.FileSystem | None = None
) -> tuple[ds.Dataset, str]:
    """Open a Parquet file or (Hive-partitioned) directory as a dataset.

    Hive partitioning is tried first, then plain Parquet. When some files are not Parquet,
    they are skipped with a ``UserWarning`` naming them.

    Args:
        path: Local path, ``file://`` URI or a URI pyarrow can open (``s3://``, ``gs://``...).
        filesystem: A ``pyarrow.fs.FileSystem`` to read through (``path`` is then relative
            to it, without scheme).

    Returns:
        The dataset and the display form of its location.

    Raises:
        CollectionNotFoundError: A local path does not exist.
        InvalidCollectionError: Nothing readable as Parquet is there.
    """
    text = os.fspath(path)
    if text.startswith("hf://"):
        raise InvalidCollectionError(
            f"{text} is a Hugging Face dataset: open it with rasteret.load() or "
            "Collection.from_parquet() (a streaming collection), not as a Parquet dataset"
        )
    if filesystem is not None and "://" in text:
        text = strip_scheme(text)  # paths given with a filesystem are relative to it
    if filesystem is None and not is_remote(text):
        local = _local(text)
        if not local.exists():
            raise CollectionNotFoundError(f"collection not found: {local} does not exist")
        source: str = str(local)
    else:
        source = text
    errors: list[str] = []
    for partitioning in ("hive", None):
        try:
            dataset = ds.dataset(
                source, format="parquet", partitioning=partitioning, filesystem=filesystem
            )
            return dataset, source
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            errors.append(str(exc).splitlines()[0])
        except FileNotFoundError as exc:
            raise CollectionNotFoundError(f"collection not found: {source} ({exc})") from None
        except OSError as exc:
            raise CollectionNotFoundError(f"cannot open collection {source}: {exc}") from None
    try:
        dataset = ds.dataset(
            source,
            format="parquet",
            partitioning="hive",
            filesystem=filesystem,
            exclude_invalid_files=True,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        dataset = None
    files = list(getattr(dataset, "files", []) or [])
    if dataset is None or not files:
        raise InvalidCollectionError(
            f"{source} is not a readable Parquet collection: {errors[-1] if errors else 'no files'}"
        )
    warnings.warn(
        f"{source}: skipped files that are not valid Parquet ({errors[0]})",
        UserWarning,
        stacklevel=3,
    )
    return dataset, source


def schema_metadata(schema: pa.Schema) -> dict[str, str]:
    """Schema key-value metadata as text (undecodable values are skipped)."""
    out: dict[str, str] = {}
    for k, v in (schema.metadata or {}).items():
        try:
            out[k.decode() if isinstance(k, bytes) else str(k)] = (
                v.decode() if isinstance(v, bytes) else str(v)
            )
        except UnicodeDecodeError:
            continue
    return out


def parse_date_range_metadata(
    meta: Mapping[str, str],
) -> tuple[_dt.datetime | None, _dt.datetime | None]:
    """Parse the ``date_range`` metadata value ``"start,end"`` (either may be missing)."""
    raw = meta.get(MetaKey.DATE_RANGE, "")
    if not raw or "," not in raw:
        return None, None
    out: list[_dt.datetime | None] = []
    for part in raw.split(",", 1):
        part = part.strip()
        try:
            value = _dt.datetime.fromisoformat(part) if part else None
        except ValueError:
            value = None
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        out.append(value)
    return out[0], out[1]


def check_contract(schema: pa.Schema, *, where: str, require_band_metadata: bool = False) -> None:
    """Check the columns readers rely on; raise one error listing every defect.

    Only the required columns (``id``, ``datetime``, ``geometry``, ``assets``, ``bbox``) and,
    with ``require_band_metadata``, the ``{band}_metadata`` structs are checked: other
    columns are the user's.

    Raises:
        InvalidCollectionError: (a ``ValueError``) naming ``where`` and each problem.
    """
    from rasteret_catalog.arrow import validate_table

    problems = validate_table(schema, require_band_metadata=require_band_metadata)
    missing = [p.column for p in problems if p.kind == "missing" and p.column in REQUIRED_COLUMNS]
    lines: list[str] = []
    if missing:
        lines.append(f"missing required columns: {missing}")
    for p in problems:
        root = p.column.split(".", 1)[0].split("[", 1)[0]
        if p.kind == "missing" and p.column in REQUIRED_COLUMNS:
            continue
        if root == Col.DATETIME and p.kind == "type":
            lines.append(
                f"non-timestamp 'datetime' column ({schema.field(Col.DATETIME).type}): "
                "'datetime' must be an Arrow timestamp (naive = UTC)"
            )
        elif root == Col.DATETIME and p.kind == "timezone":
            lines.append(
                f"non-UTC 'datetime' timezone {schema.field(Col.DATETIME).type.tz!r}: "
                "store naive UTC or tz='UTC' timestamps"
            )
        elif root in REQUIRED_COLUMNS:
            lines.append(str(p))
        elif p.column == "*_metadata":
            lines.append("No '*_metadata' columns found: the table has no indexed COG headers")
        elif require_band_metadata and band_of_metadata_column(root) is not None:
            lines.append(str(p))
    if lines:
        raise InvalidCollectionError(f"{where}: " + "; ".join(lines))


def _stem(path: str | os.PathLike[str]) -> str:
    stem = os.path.basename(os.fspath(path).rstrip("/"))
    for suffix in _STEM_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    return stem


def open_collection(
    path: str | os.PathLike[str],
    *,
    name: str = "",
    data_source: str = "",
    filesystem: pafs.FileSystem | None = None,
    validate: bool = True,
) -> tuple[ds.Dataset, CollectionInfo]:
    """Open a collection written by rasteret (or 0.4.1) and read its descriptive metadata.

    ``name`` falls back to the ``name`` schema metadata, then the path stem; ``data_source``,
    ``description`` and the date range come from schema metadata.

    Raises:
        CollectionNotFoundError: A local path does not exist.
        InvalidCollectionError: Not readable as Parquet, or (with ``validate``) the required
            columns / bbox struct / UTC ``datetime`` are missing.
    """
    dataset, where = open_parquet_dataset(path, filesystem=filesystem)
    if validate:
        check_contract(dataset.schema, where=where, require_band_metadata=False)
    return dataset, collection_info(
        schema_metadata(dataset.schema), path, name=name, data_source=data_source
    )


def collection_info(
    meta: Mapping[str, str],
    path: str | os.PathLike[str],
    *,
    name: str = "",
    data_source: str = "",
) -> CollectionInfo:
    """Descriptive values of a collection from its schema metadata ``meta``.

    ``name`` falls back to the ``name`` metadata, then the stem of ``path``; ``data_source``
    to the ``data_source`` metadata (``"unknown"`` counts as none).
    """
    start, end = parse_date_range_metadata(meta)
    source_meta = meta.get(MetaKey.DATA_SOURCE, "")
    return CollectionInfo(
        name=name or meta.get(MetaKey.NAME, "") or _stem(path),
        description=meta.get(MetaKey.DESCRIPTION, ""),
        data_source=data_source or (source_meta if source_meta != "unknown" else ""),
        start_date=start,
        end_date=end,
    )
