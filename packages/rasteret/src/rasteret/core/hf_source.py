"""``hf://datasets/<org>/<name>[@revision][/subpath]``: Parquet files of a Hugging Face dataset repo.

:func:`open_hf_source` resolves a URI once, through ``huggingface_hub`` (extra
``rasteret[hf]``): the revision becomes a commit sha (so every later read of the collection
sees the same files, even if the branch moves), the repo's Parquet files are listed, and the
schema is read from the first file's footer. No data is downloaded; rows are streamed later by
:mod:`rasteret.core.hf_scan`.

Which files: a ``subpath`` ending in ``.parquet`` is that file; another ``subpath`` is every
Parquet file under it; without one, the files under ``data/`` when there are any (the Hub's
convention, and where a dual-surface repo keeps its wide data), else every Parquet file of
the repo. Files are sorted by path.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rasteret.errors import CollectionNotFoundError, InvalidInputError, missing_dependency
from rasteret.query.filters import Subset

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import HfFileSystem

__all__ = [
    "HF_PREFIX",
    "HfStreamingSource",
    "HfUri",
    "file_metadata",
    "hf_filesystem",
    "is_hf_uri",
    "open_hf_file",
    "open_hf_source",
]

HF_PREFIX = "hf://datasets/"
_FOOTERS_CACHED = 64


def is_hf_uri(path: Any) -> bool:
    """Whether ``path`` is an ``hf://`` URI (a Hugging Face repo)."""
    return isinstance(path, str | os.PathLike) and os.fspath(path).startswith("hf://")


@dataclass(frozen=True, slots=True)
class HfUri:
    """A parsed ``hf://datasets/<org>/<name>[@revision][/subpath]``.

    Attributes:
        repo_id: ``"<org>/<name>"``.
        revision: Branch, tag or commit (None: the default branch).
        subpath: Path inside the repo (``""``: the whole repo).
    """

    repo_id: str
    revision: str | None
    subpath: str

    @classmethod
    def parse(cls, uri: str) -> HfUri:
        """Parse ``uri``.

        Raises:
            InvalidInputError: Not ``hf://datasets/<org>/<name>...`` (models and spaces hold no
                collections).
        """
        if not uri.startswith(HF_PREFIX):
            raise InvalidInputError(
                f"{uri!r}: Hugging Face collections are dataset repos, "
                "hf://datasets/<org>/<name>[@revision][/subpath]"
            )
        parts = [p for p in uri[len(HF_PREFIX) :].split("/") if p]
        if len(parts) < 2:
            raise InvalidInputError(
                f"{uri!r} names no dataset repo: expected hf://datasets/<org>/<name>"
            )
        org, name = parts[0], parts[1]
        revision = None
        if "@" in name:
            name, revision = name.split("@", 1)
            revision = revision or None
        return cls(f"{org}/{name}", revision, "/".join(parts[2:]))


def hf_filesystem() -> HfFileSystem:
    """The ``huggingface_hub`` filesystem (fsspec caches one instance per configuration).

    Raises:
        MissingDependencyError: ``huggingface_hub`` is not installed (``rasteret[hf]``).
    """
    try:
        from huggingface_hub import HfFileSystem
    except ImportError as exc:
        raise missing_dependency("huggingface_hub", "hf", "hf:// collections") from exc
    return HfFileSystem()


def _api() -> Any:
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise missing_dependency("huggingface_hub", "hf", "hf:// collections") from exc
    return HfApi()


@dataclass(frozen=True, slots=True)
class HfStreamingSource:
    """The Parquet files of a Hub dataset repo at a fixed commit, and the view's criteria.

    Attributes:
        uri: The URI it was opened from.
        repo_id: ``"<org>/<name>"``.
        revision: The commit sha the files are read at.
        files: Repo paths of the Parquet files, sorted.
        schema: Arrow schema (from the first file's footer).
        criteria: The view's ``subset`` criteria (all must hold).
    """

    uri: str
    repo_id: str
    revision: str
    files: tuple[str, ...]
    schema: pa.Schema = field(compare=False)
    criteria: tuple[Subset, ...] = ()

    def path(self, file: str) -> str:
        """The ``HfFileSystem`` path of repo file ``file`` at :attr:`revision`."""
        return f"datasets/{self.repo_id}@{self.revision}/{file}"

    @property
    def name(self) -> str:
        """The repo name (``<name>`` of ``<org>/<name>``)."""
        return self.repo_id.split("/", 1)[1]


def open_hf_file(fs: HfFileSystem, path: str) -> Any:
    """Open ``path`` for Parquet reads: no read-ahead, so only the byte ranges pyarrow asks
    for are downloaded (fsspec's default would read ahead 5 MB per request)."""
    return fs.open(path, "rb", cache_type="none")


def _not_found(uri: str, exc: Exception) -> CollectionNotFoundError:
    return CollectionNotFoundError(f"Hugging Face collection not found: {uri} ({exc})")


def _pick_files(files: list[str], subpath: str, uri: str) -> tuple[str, ...]:
    sub = subpath.strip("/")
    if sub.endswith(".parquet"):
        if sub not in files:
            raise CollectionNotFoundError(f"{uri}: the repo has no file {sub!r}")
        return (sub,)
    parquet = sorted(f for f in files if f.endswith(".parquet"))
    if sub:
        chosen = [f for f in parquet if f.startswith(sub + "/")]
    else:
        chosen = [f for f in parquet if f.startswith("data/")] or parquet
    if not chosen:
        where = f" under {sub!r}" if sub else ""
        raise CollectionNotFoundError(f"{uri}: no Parquet files{where} in the repo")
    return tuple(chosen)


def open_hf_source(uri: str) -> HfStreamingSource:
    """Resolve ``uri`` to a commit, list its Parquet files and read the first file's schema.

    Raises:
        InvalidInputError: A malformed URI.
        CollectionNotFoundError: Unknown repo or revision, or no Parquet files.
        MissingDependencyError: ``huggingface_hub`` is not installed (``rasteret[hf]``).
        OSError: The Hub could not be reached.
    """
    parsed = HfUri.parse(uri)
    api = _api()
    from huggingface_hub.errors import HfHubHTTPError  # installed: _api() checked it

    try:
        info = api.dataset_info(parsed.repo_id, revision=parsed.revision)
        sha = info.sha or parsed.revision or "main"
        files = api.list_repo_files(parsed.repo_id, repo_type="dataset", revision=sha)
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404 or "NotFound" in type(exc).__name__:
            raise _not_found(uri, exc) from None
        raise
    chosen = _pick_files(list(files), parsed.subpath, uri)
    probe = HfStreamingSource(uri, parsed.repo_id, sha, chosen, pa.schema([]))
    schema = file_metadata(probe.path(chosen[0])).schema.to_arrow_schema()
    return HfStreamingSource(uri, parsed.repo_id, sha, chosen, schema)


@functools.lru_cache(maxsize=_FOOTERS_CACHED)
def _footer(endpoint: str, path: str) -> Any:
    import pyarrow.parquet as pq

    with open_hf_file(hf_filesystem(), path) as f:
        return pq.ParquetFile(f).metadata


def file_metadata(path: str) -> Any:
    """The Parquet footer (``pyarrow.parquet.FileMetaData``) of ``path`` (``datasets/<repo>@<sha>/
    <file>``), read once per process: files at a commit never change, and a wide collection's
    footer can be megabytes."""
    return _footer(hf_filesystem().endpoint, path)
