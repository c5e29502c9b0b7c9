"""State of the loopback Hugging Face Hub emulator: repos, revisions, file entries, request log.

A repo revision (a branch) is a directory on disk; its files are listed live. Git-like ids are
derived, not stored: a file's ``oid`` is its git blob sha1 (of the LFS pointer for LFS files),
an LFS file's ``sha256`` is the content hash, and a branch's commit is a sha1 over the repo id,
branch name and the file listing at registration time. Hashes are cached per
``(path, size, mtime_ns)`` so a file is read once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "DEFAULT_LFS_PATTERNS",
    "LFS_SIZE_THRESHOLD",
    "Branch",
    "FileEntry",
    "HubRepo",
    "HubRequest",
    "RequestLog",
    "git_blob_oid",
    "lfs_pointer",
]

#: Files stored through git-LFS (served by a redirect to the CDN), like a dataset repo's
#: ``.gitattributes`` on the Hub.
DEFAULT_LFS_PATTERNS: tuple[str, ...] = (
    "*.parquet",
    "*.arrow",
    "*.tif",
    "*.tiff",
    "*.bin",
    "*.npy",
    "*.zip",
    "*.gz",
)
#: Larger files are LFS whatever their name (the Hub rejects plain git files above 10 MB).
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_HASH_CHUNK = 1024 * 1024


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-LFS pointer file stored in git for an LFS object."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def git_blob_oid(data: bytes) -> str:
    """Git's blob id: ``sha1(b"blob <size>\\0" + data)``."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a revision, as the Hub describes it.

    Attributes:
        path: Path inside the repo (posix, no leading slash).
        local: The file on disk.
        size: Size in bytes.
        oid: Git blob id (of the pointer file for LFS files).
        sha256: Content sha256 for LFS files, else None.
    """

    path: str
    local: Path
    size: int
    oid: str
    sha256: str | None

    @property
    def is_lfs(self) -> bool:
        """Whether the file is an LFS object (resolved through the CDN)."""
        return self.sha256 is not None

    @property
    def etag(self) -> str:
        """The ETag the Hub sends: the sha256 for LFS objects, the git blob id otherwise."""
        return f'"{self.sha256 or self.oid}"'

    def tree_json(self) -> dict[str, object]:
        """This entry in the ``tree`` / ``paths-info`` JSON format."""
        out: dict[str, object] = {
            "type": "file",
            "oid": self.oid,
            "size": self.size,
            "path": self.path,
        }
        if self.sha256 is not None:
            out["lfs"] = {
                "oid": self.sha256,
                "size": self.size,
                "pointerSize": len(lfs_pointer(self.sha256, self.size)),
            }
        return out


class _HashCache:
    """``(path, size, mtime_ns) -> (sha1 of content, sha256 of content)``, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, int], tuple[str, str]] = {}

    def hashes(self, path: Path, st: os.stat_result) -> tuple[str, str]:
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        blob = hashlib.sha1(b"blob %d\x00" % st.st_size, usedforsecurity=False)
        sha = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                blob.update(chunk)
                sha.update(chunk)
        out = (blob.hexdigest(), sha.hexdigest())
        with self._lock:
            self._cache[key] = out
        return out


@dataclass(frozen=True, slots=True)
class Branch:
    """A branch of a repo: its name, commit sha and the directory holding its files."""

    name: str
    commit: str
    root: Path


@dataclass(slots=True)
class HubRepo:
    """A dataset repo served by the emulator.

    Attributes:
        repo_id: ``"<org>/<name>"``.
        branches: Branch name -> :class:`Branch`; ``"main"`` is the default revision.
        lfs_patterns: ``fnmatch`` patterns (on the file name and on the repo path) of LFS files.
    """

    repo_id: str
    lfs_patterns: tuple[str, ...] = DEFAULT_LFS_PATTERNS
    branches: dict[str, Branch] = field(default_factory=dict)
    _hashes: _HashCache = field(default_factory=_HashCache)
    created: float = field(default_factory=time.time)

    def add_branch(self, name: str, root: Path) -> Branch:
        """Register (or replace) branch ``name`` serving the files under ``root``."""
        if not name or name.startswith("refs/") or _COMMIT_RE.match(name):
            raise ValueError(f"invalid branch name {name!r}")
        root = root.resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"repo root is not a directory: {root}")
        sig = hashlib.sha1(f"dataset/{self.repo_id}@{name}".encode(), usedforsecurity=False)
        for rel, local in _walk(root):
            st = local.stat()
            sig.update(f"\n{rel}\t{st.st_size}\t{st.st_mtime_ns}".encode())
        branch = Branch(name, sig.hexdigest(), root)
        self.branches[name] = branch
        return branch

    def resolve(self, revision: str) -> Branch | None:
        """The branch a revision names: a branch name, ``refs/heads/<name>`` or a commit sha."""
        if revision.startswith("refs/heads/"):
            revision = revision[len("refs/heads/") :]
        if revision in self.branches:
            return self.branches[revision]
        if _COMMIT_RE.match(revision):
            for b in self.branches.values():
                if b.commit == revision:
                    return b
        return None

    def is_lfs(self, rel: str, size: int) -> bool:
        """Whether ``rel`` (a repo path) of ``size`` bytes is stored through LFS."""
        if size > LFS_SIZE_THRESHOLD:
            return True
        name = PurePosixPath(rel).name
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in self.lfs_patterns)

    def entry(self, branch: Branch, rel: str) -> FileEntry | None:
        """The file at repo path ``rel`` of ``branch``, or None when it is not a file."""
        local = _local_path(branch.root, rel)
        if local is None or not local.is_file():
            return None
        st = local.stat()
        blob, sha = self._hashes.hashes(local, st)
        if self.is_lfs(rel, st.st_size):
            oid = git_blob_oid(lfs_pointer(sha, st.st_size))
            return FileEntry(rel, local, st.st_size, oid, sha)
        return FileEntry(rel, local, st.st_size, blob, None)

    def is_dir(self, branch: Branch, rel: str) -> bool:
        """Whether ``rel`` is a directory of ``branch`` (``""`` is the root)."""
        local = _local_path(branch.root, rel)
        return local is not None and local.is_dir()

    def tree_id(self, branch: Branch, rel: str) -> str:
        """A stable synthetic git tree id for directory ``rel`` of ``branch``."""
        return hashlib.sha1(f"{branch.commit}:{rel}".encode(), usedforsecurity=False).hexdigest()

    def listing(self, branch: Branch, rel: str, *, recursive: bool) -> list[dict[str, object]]:
        """Tree entries under directory ``rel``: direct children, or the whole sub-tree.

        Entries are sorted by name within a directory and a directory comes right before its
        contents (depth first), like the Hub's tree-first listing.
        """
        base = _local_path(branch.root, rel)
        if base is None or not base.is_dir():
            return []
        out: list[dict[str, object]] = []
        self._list_into(branch, base, rel, recursive, out)
        return out

    def _list_into(
        self,
        branch: Branch,
        local_dir: Path,
        rel: str,
        recursive: bool,
        out: list[dict[str, object]],
    ) -> None:
        for child in sorted(local_dir.iterdir(), key=lambda p: p.name):
            if child.name == ".git":
                continue
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child.is_dir():
                out.append(
                    {
                        "type": "directory",
                        "oid": self.tree_id(branch, child_rel),
                        "size": 0,
                        "path": child_rel,
                    }
                )
                if recursive:
                    self._list_into(branch, child, child_rel, recursive, out)
            elif child.is_file():
                entry = self.entry(branch, child_rel)
                if entry is not None:
                    out.append(entry.tree_json())

    def files(self, branch: Branch) -> list[str]:
        """Every file path of ``branch``, sorted."""
        return sorted(rel for rel, _ in _walk(branch.root))


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            local = Path(dirpath) / name
            yield local.relative_to(root).as_posix(), local


def _local_path(root: Path, rel: str) -> Path | None:
    """``root / rel`` when ``rel`` is a clean relative path staying under ``root``."""
    if rel in ("", "."):
        return root
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        return None
    return root.joinpath(*parts)


@dataclass(frozen=True, slots=True)
class HubRequest:
    """One request the emulator answered.

    Attributes:
        kind: ``"repo-info"``, ``"tree"``, ``"paths-info"``, ``"refs"``, ``"resolve"``,
            ``"cdn"`` or ``"other"`` (anything not emulated, answered 404).
        method: HTTP method.
        url: Request path and query as received.
        repo_id: Repo addressed, if any.
        revision: Revision as requested (branch, ``refs/heads/...`` or commit sha).
        path: Repo path (file or directory), if any.
        range: The raw ``Range`` header, if any.
        status: Response status.
        bytes_sent: File-content bytes written in the body (0 for JSON, redirects, errors, HEAD).
        span: Inclusive ``(first, last)`` byte span of the file that was sent, if any.
    """

    kind: str
    method: str
    url: str
    repo_id: str | None
    revision: str | None
    path: str | None
    range: str | None
    status: int
    bytes_sent: int
    span: tuple[int, int] | None


class RequestLog:
    """Thread-safe list of :class:`HubRequest` with counting helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[HubRequest] = []

    def add(self, item: HubRequest) -> None:
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[HubRequest]:
        with self._lock:
            return list(self._items)
