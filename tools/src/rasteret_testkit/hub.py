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

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web

from rasteret_testkit.hub_http import HubState, build_cdn_app, build_hub_app
from rasteret_testkit.hub_model import DEFAULT_LFS_PATTERNS, Branch, HubRepo, HubRequest

__all__ = ["HubEmulator", "HubRequest"]

HOST = "127.0.0.1"


class HubEmulator:
    """A Hub (API + ``resolve``) and its CDN on loopback, serving dataset repos from disk.

    Args:
        max_lifetime_s: The server stops by itself after this many seconds.
        tree_page_size: Entries per ``tree`` page (the Hub uses 1000); small values exercise the
            client's ``Link``-header pagination.
        tree_page_size_expand: Entries per page with ``expand=true`` (the Hub uses 50).

    Attributes:
        expired: True when the server stopped because its lifetime ran out.
    """

    def __init__(
        self,
        *,
        max_lifetime_s: float = 900.0,
        tree_page_size: int = 1000,
        tree_page_size_expand: int = 50,
    ) -> None:
        if tree_page_size < 1 or tree_page_size_expand < 1:
            raise ValueError("tree page sizes must be >= 1")
        self.max_lifetime_s = float(max_lifetime_s)
        self._defaults = (tree_page_size, tree_page_size_expand)
        self._state = HubState(
            tree_page_size=tree_page_size, tree_page_size_expand=tree_page_size_expand
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ports: tuple[int, int] | None = None
        self.expired = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind two loopback ports (Hub, CDN) and serve in a daemon thread; return ``self``."""
        if self._thread is not None:
            raise RuntimeError("hub emulator already started")
        socks = [_listen() for _ in range(2)]
        self._ports = (socks[0].getsockname()[1], socks[1].getsockname()[1])
        self._state.hub_base = f"http://{HOST}:{self._ports[0]}"
        self._state.cdn_base = f"http://{HOST}:{self._ports[1]}"
        self._thread = threading.Thread(
            target=self._run, args=(socks,), name=f"hub-{self._ports[0]}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10.0) or self._error is not None:
            self.stop()
            raise RuntimeError(f"hub emulator failed to start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (idempotent)."""
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                loop.call_soon_threadsafe(event.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, socks: list[socket.socket]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(socks))
        except BaseException as exc:  # surfaced through start()
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, socks: list[socket.socket]) -> None:
        self._stop_event = asyncio.Event()
        runners = [
            web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
            for app in (build_hub_app(self._state), build_cdn_app(self._state))
        ]
        try:
            for runner, sock in zip(runners, socks, strict=True):
                await runner.setup()
                await web.SockSite(runner, sock).start()
            self._ready.set()
            try:
                await asyncio.wait_for(self._stop_event.wait(), timeout=self.max_lifetime_s)
            except TimeoutError:
                self.expired = True
        finally:
            for runner in runners:
                await runner.cleanup()

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint(self) -> str:
        """The Hub's base URL, ``http://127.0.0.1:PORT`` (the value for ``HF_ENDPOINT``)."""
        if self._ports is None:
            raise RuntimeError("hub emulator not started")
        return self._state.hub_base

    @property
    def cdn_endpoint(self) -> str:
        """The CDN's base URL (another port, so another origin than :attr:`endpoint`)."""
        if self._ports is None:
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


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(256)
    sock.setblocking(False)
    return sock
