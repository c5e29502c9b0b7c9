"""Loopback Hugging Face Hub emulator: dataset repos served from directories on disk.

:class:`HubEmulator` runs two aiohttp applications on 127.0.0.1 in a daemon thread: the Hub
(point ``huggingface_hub`` at :attr:`HubEmulator.endpoint` with
:func:`rasteret_testkit.hub_client.use_hub`) and a CDN on another port serving LFS objects,
which the Hub's ``resolve`` redirects to, as the real Hub does. Every request is logged with the
repo, revision, file path and file-content bytes sent, so tests can assert what a client read.

Example::

    with HubEmulator() as hub, use_hub(hub.endpoint):
        hub.add_dataset("org/name", local_dir)
        fs = HfFileSystem()
        fs.ls("datasets/org/name")
        hub.bytes_served("org/name", "data/part-0.parquet")
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from rasteret_testkit.hub_http import (
    TREE_PAGE_SIZE,
    TREE_PAGE_SIZE_EXPAND,
    HubState,
    build_cdn_app,
    build_hub_app,
)
from rasteret_testkit.hub_model import DEFAULT_LFS_PATTERNS, Branch, HubRepo, HubRequest
from rasteret_testkit.lifecycle import HOST, LoopThreadServer, listen, serve_apps

__all__ = ["HubEmulator", "HubRequest"]


class HubEmulator(LoopThreadServer):
    """A Hub (API + ``resolve``) and its CDN on loopback, serving dataset repos from disk.

    The Hub listens on :attr:`port`, the CDN on a second port; both are served by one
    :class:`~rasteret_testkit.lifecycle.LoopThreadServer` thread.

    Args:
        max_lifetime_s: The server stops by itself after this many seconds.
        tree_page_size: Entries per ``tree`` page (the Hub uses 1000); small values exercise the
            client's ``Link``-header pagination.
        tree_page_size_expand: Entries per page with ``expand=true`` (the Hub uses 50).

    Attributes:
        expired: True when the server stopped because its lifetime ran out.
    """

    thread_name = "hub"

    def __init__(
        self,
        *,
        max_lifetime_s: float = 900.0,
        tree_page_size: int = TREE_PAGE_SIZE,
        tree_page_size_expand: int = TREE_PAGE_SIZE_EXPAND,
    ) -> None:
        if tree_page_size < 1 or tree_page_size_expand < 1:
            raise ValueError("tree page sizes must be >= 1")
        super().__init__(max_lifetime_s=max_lifetime_s)
        self._defaults = (tree_page_size, tree_page_size_expand)
        self._state = HubState(
            tree_page_size=tree_page_size, tree_page_size_expand=tree_page_size_expand
        )
        self._cdn_sock: socket.socket | None = None

    # ------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        self._cdn_sock = listen()
        self._state.cdn_base = f"http://{HOST}:{self._cdn_sock.getsockname()[1]}"
        super()._start()

    def _stop(self, timeout: float) -> None:
        super()._stop(timeout)
        if self._cdn_sock is not None:
            self._cdn_sock.close()  # already closed by the CDN site when it served

    async def _open(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        assert self._cdn_sock is not None  # bound by _start
        self._state.hub_base = self.base_url
        return await serve_apps(
            [(build_hub_app(self._state), sock), (build_cdn_app(self._state), self._cdn_sock)]
        )

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint(self) -> str:
        """The Hub's base URL, ``http://127.0.0.1:PORT`` (the value for ``HF_ENDPOINT``)."""
        return self.base_url

    @property
    def cdn_endpoint(self) -> str:
        """The CDN's base URL (another port, so another origin than :attr:`endpoint`)."""
        if self._cdn_sock is None:
            raise RuntimeError("hub emulator not started")
        return self._state.cdn_base

    # ------------------------------------------------------------------ repos
    def add_dataset(
        self,
        repo_id: str,
        root: str | Path,
        *,
        revision: str = "main",
        lfs_patterns: tuple[str, ...] | None = None,
    ) -> Branch:
        """Serve the files under ``root`` as branch ``revision`` of dataset repo ``repo_id``.

        Call again with another ``revision`` (and directory) to add a branch; calling with an
        existing branch replaces it (new commit sha when the files changed). The files are
        listed live; the commit sha is fixed at registration.

        Args:
            repo_id: ``"<org>/<name>"``.
            root: Directory whose tree is the repo's content.
            revision: Branch name.
            lfs_patterns: Which files are LFS (redirected to the CDN); default
                :data:`~rasteret_testkit.hub_model.DEFAULT_LFS_PATTERNS`. Set only when the
                repo is first registered.

        Returns:
            The branch, with its commit sha (``.commit``) for ``@<sha>`` revisions.
        """
        org, sep, name = repo_id.partition("/")
        if not org or not sep or not name or "/" in name:
            raise ValueError(f"repo_id must be '<org>/<name>', got {repo_id!r}")
        with self._state.lock:
            repo = self._state.repos.get(repo_id)
            if repo is None:
                repo = HubRepo(repo_id, lfs_patterns or DEFAULT_LFS_PATTERNS)
                self._state.repos[repo_id] = repo
            return repo.add_branch(revision, Path(root))

    def repo(self, repo_id: str) -> HubRepo:
        """The registered repo (``KeyError`` when unknown)."""
        return self._state.repos[repo_id]

    def configure(
        self, *, tree_page_size: int | None = None, tree_page_size_expand: int | None = None
    ) -> None:
        """Change the ``tree`` page sizes at runtime (:meth:`reset` restores them)."""
        if tree_page_size is not None:
            self._state.tree_page_size = max(1, int(tree_page_size))
        if tree_page_size_expand is not None:
            self._state.tree_page_size_expand = max(1, int(tree_page_size_expand))

    def reset(self) -> None:
        """Clear the request log and restore the construction-time page sizes (repos stay)."""
        self._state.log.clear()
        self._state.tree_page_size, self._state.tree_page_size_expand = self._defaults

    # ------------------------------------------------------------------ request log
    @property
    def requests(self) -> list[HubRequest]:
        """Every answered request, in completion order."""
        return self._state.log.snapshot()

    def _select(
        self,
        repo_id: str | None,
        path: str | None,
        kind: str | None,
        method: str | None,
    ) -> Iterator[HubRequest]:
        for r in self._state.log.snapshot():
            if repo_id is not None and r.repo_id != repo_id:
                continue
            if path is not None and not _path_matches(r.path, path):
                continue
            if kind is not None and r.kind != kind:
                continue
            if method is not None and r.method != method:
                continue
            yield r

    def count(
        self,
        repo_id: str | None = None,
        path: str | None = None,
        *,
        kind: str | None = None,
        method: str | None = None,
    ) -> int:
        """Number of requests matching every given criterion.

        Args:
            repo_id: Repo addressed.
            path: A repo path; a value ending in ``/`` matches every path under that directory.
            kind: ``"repo-info"``, ``"tree"``, ``"paths-info"``, ``"refs"``, ``"resolve"``,
                ``"cdn"`` or ``"other"``.
            method: HTTP method.
        """
        return sum(1 for _ in self._select(repo_id, path, kind, method))

    def bytes_served(self, repo_id: str | None = None, path: str | None = None) -> int:
        """File-content bytes sent for matching files (``resolve`` and CDN bodies together)."""
        return sum(r.bytes_sent for r in self._select(repo_id, path, None, None))

    def spans_served(self, repo_id: str, path: str) -> list[tuple[int, int]]:
        """Inclusive byte spans of ``path`` that were sent, in request order."""
        return [r.span for r in self._select(repo_id, path, None, None) if r.span is not None]

    def bytes_by_path(self, repo_id: str | None = None) -> dict[str, int]:
        """``path -> file-content bytes sent`` for every file that was read."""
        out: dict[str, int] = {}
        for r in self._select(repo_id, None, None, None):
            if r.path is not None and r.bytes_sent:
                out[r.path] = out.get(r.path, 0) + r.bytes_sent
        return out

    def __repr__(self) -> str:
        where = self._state.hub_base or "not started"
        return f"HubEmulator({where}, repos={sorted(self._state.repos)})"


def _path_matches(actual: str | None, wanted: str) -> bool:
    if actual is None:
        return False
    if wanted.endswith("/"):
        return actual.startswith(wanted) or actual == wanted.rstrip("/")
    return actual == wanted
