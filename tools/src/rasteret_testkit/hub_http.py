"""HTTP side of the loopback Hugging Face Hub emulator: the Hub API, ``resolve`` and the CDN.

Two aiohttp applications share one :class:`HubState`:

- the **Hub** (``HF_ENDPOINT``) answers the repo API (``/api/datasets/...``: repo info,
  ``tree``, ``paths-info``, ``refs``) and ``/datasets/<repo>/resolve/<rev>/<path>``;
- the **CDN** (another port, hence another origin, like the Hub's LFS/Xet bridge host) serves
  LFS objects that ``resolve`` redirects to.

Only what ``huggingface_hub``'s ``HfApi`` / ``HfFileSystem`` / ``hf_hub_download`` need to list a
dataset repo and read its files is emulated; see ``tools/README.md`` for the list and why.
"""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from aiohttp import web

from rasteret_testkit.hub_model import (
    Branch,
    FileEntry,
    HubRepo,
    HubRequest,
    RequestLog,
    lfs_pointer,
)
from rasteret_testkit.objserver_http import parse_range

__all__ = ["HubState", "build_cdn_app", "build_hub_app", "hub_file_url"]

#: Entries per ``tree`` page (the Hub's caps: 1000, or 50 with ``expand=true``).
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPAND = 50
_CHUNK = 256 * 1024
_TRUE = {"1", "true", "True", "yes"}


@dataclass(slots=True)
class HubState:
    """Everything the handlers share: repos, bases, page sizes and the request log."""

    repos: dict[str, HubRepo] = field(default_factory=dict)
    log: RequestLog = field(default_factory=RequestLog)
    hub_base: str = ""
    cdn_base: str = ""
    tree_page_size: int = TREE_PAGE_SIZE
    tree_page_size_expand: int = TREE_PAGE_SIZE_EXPAND
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(slots=True)
class _Ctx:
    """What one request is about, filled while routing and logged at the end."""

    kind: str = "other"
    repo_id: str | None = None
    revision: str | None = None
    path: str | None = None
    bytes_sent: int = 0
    span: tuple[int, int] | None = None
    # set once the request is in the log: a body's last bytes are logged before they are sent,
    # so a client that has read them always finds its request in the log
    log: Callable[[int], None] | None = None
    logged: bool = False


class _HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _json(data: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers=headers,
    )


def _segments(raw_path: str) -> list[str]:
    path = raw_path.split("?", 1)[0]
    return [unquote(s) for s in path.split("/")[1:]]


# ---------------------------------------------------------------------------------- routing
def build_hub_app(state: HubState) -> web.Application:
    """The Hub application (API + ``resolve``)."""
    return _app(state, _route_hub, "other")


def build_cdn_app(state: HubState) -> web.Application:
    """The CDN application serving LFS objects with Range support."""
    return _app(state, _cdn, "cdn")


_Route = Callable[[HubState, web.Request, _Ctx], Awaitable[web.StreamResponse]]


def _app(state: HubState, route: _Route, kind: str) -> web.Application:
    """An application answering every path with ``route``, each request logged once."""

    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = _Ctx(kind=kind)
        ctx.log = lambda status: _log(state, request, ctx, status)
        try:
            resp = await route(state, request, ctx)
        except _HubError as err:
            resp = _error(err)
        ctx.log(resp.status)
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _log(state: HubState, request: web.Request, ctx: _Ctx, status: int) -> None:
    if ctx.logged:
        return
    ctx.logged = True
    state.log.add(
        HubRequest(
            kind=ctx.kind,
            method=request.method,
            url=request.raw_path,
            repo_id=ctx.repo_id,
            revision=ctx.revision,
            path=ctx.path,
            range=request.headers.get("Range"),
            status=status,
            bytes_sent=ctx.bytes_sent,
            span=ctx.span,
        )
    )


def _error(err: _HubError) -> web.Response:
    headers = {"X-Error-Message": err.message}
    if err.code:
        headers["X-Error-Code"] = err.code
    if err.commit:
        headers["X-Repo-Commit"] = err.commit
    return _json({"error": err.message}, headers, err.status)


async def _route_hub(state: HubState, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
    segs = _segments(request.raw_path)
    if len(segs) >= 4 and segs[0] == "api" and segs[1] == "datasets":
        ctx.repo_id = f"{segs[2]}/{segs[3]}"
        rest = segs[4:]
        if not rest and request.method == "GET":
            ctx.kind = "repo-info"
            return _repo_info(state, request, ctx, "main")
        if len(rest) == 2 and rest[0] == "revision" and request.method == "GET":
            ctx.kind = "repo-info"
            return _repo_info(state, request, ctx, rest[1])
        if len(rest) >= 2 and rest[0] == "tree" and request.method == "GET":
            ctx.kind = "tree"
            return _tree(state, request, ctx, rest[1], "/".join(rest[2:]))
        if len(rest) == 2 and rest[0] == "paths-info" and request.method == "POST":
            ctx.kind = "paths-info"
            return await _paths_info(state, request, ctx, rest[1])
        if rest == ["refs"] and request.method == "GET":
            ctx.kind = "refs"
            return _refs(state, ctx)
    resolve = len(segs) >= 6 and segs[0] == "datasets" and segs[3] == "resolve"
    if resolve and request.method in ("GET", "HEAD"):
        ctx.kind = "resolve"
        ctx.repo_id = f"{segs[1]}/{segs[2]}"
        return await _resolve(state, request, ctx, segs[4], "/".join(segs[5:]))
    raise _HubError(404, None, f"not emulated: {request.method} {request.raw_path}")


def _repo(state: HubState, ctx: _Ctx) -> HubRepo:
    repo = state.repos.get(ctx.repo_id or "")
    if repo is None:
        raise _HubError(404, "RepoNotFound", f"Repository Not Found for url: {ctx.repo_id}")
    return repo


def _branch(state: HubState, ctx: _Ctx, revision: str) -> tuple[HubRepo, Branch]:
    ctx.revision = revision
    repo = _repo(state, ctx)
    branch = repo.resolve(revision)
    if branch is None:
        raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    return repo, branch


# ---------------------------------------------------------------------------------- API
def _repo_info(state: HubState, request: web.Request, ctx: _Ctx, revision: str) -> web.Response:
    repo, branch = _branch(state, ctx, revision)
    blobs = request.query.get("blobs", "") in _TRUE
    siblings: list[dict[str, Any]] = []
    used = 0
    for rel in repo.files(branch):
        sib: dict[str, Any] = {"rfilename": rel}
        if blobs:
            entry = repo.entry(branch, rel)
            if entry is None:
                continue
            used += entry.size
            sib.update(size=entry.size, blobId=entry.oid)
            if entry.sha256 is not None:
                sib["lfs"] = {
                    "sha256": entry.sha256,
                    "size": entry.size,
                    "pointerSize": len(lfs_pointer(entry.sha256, entry.size)),
                }
        siblings.append(sib)
    org = repo.repo_id.split("/", 1)[0]
    when = _iso(repo.created)
    return _json(
        {
            "_id": branch.commit[:24],
            "id": repo.repo_id,
            "author": org,
            "sha": branch.commit,
            "lastModified": when,
            "createdAt": when,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            **({"usedStorage": used} if blobs else {}),
        }
    )


def _last_commit(repo: HubRepo, branch: Branch) -> dict[str, str]:
    return {"id": branch.commit, "title": f"Snapshot of {branch.name}", "date": _iso(repo.created)}


def _tree(
    state: HubState, request: web.Request, ctx: _Ctx, revision: str, rel: str
) -> web.Response:
    repo, branch = _branch(state, ctx, revision)
    ctx.path = rel
    if not repo.is_dir(branch, rel):
        raise _HubError(404, "EntryNotFound", f"{rel} does not exist on {revision}")
    recursive = request.query.get("recursive", "") in _TRUE
    expand = request.query.get("expand", "") in _TRUE
    entries = repo.listing(branch, rel, recursive=recursive)
    size = state.tree_page_size_expand if expand else state.tree_page_size
    start = int(request.query.get("cursor", "0") or 0)
    page = entries[start : start + size]
    if expand:
        commit = _last_commit(repo, branch)
        page = [{**e, "lastCommit": commit} for e in page]
    headers: dict[str, str] = {}
    if start + size < len(entries):
        query = urlencode(
            {
                "recursive": str(recursive).lower(),
                "expand": str(expand).lower(),
                "cursor": start + size,
            }
        )
        path = request.raw_path.split("?", 1)[0]
        headers["Link"] = f'<{state.hub_base}{path}?{query}>; rel="next"'
    return _json(page, headers)


async def _paths_info(
    state: HubState, request: web.Request, ctx: _Ctx, revision: str
) -> web.Response:
    repo, branch = _branch(state, ctx, revision)
    form = await request.post()
    paths = [str(p) for p in form.getall("paths", [])]
    expand = str(form.get("expand", "")) in _TRUE
    ctx.path = paths[0] if len(paths) == 1 else None
    out: list[dict[str, Any]] = []
    for rel in paths:
        rel = rel.strip("/")
        entry = repo.entry(branch, rel)
        if entry is not None:
            info: dict[str, Any] = dict(entry.tree_json())
        elif rel and repo.is_dir(branch, rel):
            info = {"type": "directory", "oid": repo.tree_id(branch, rel), "size": 0, "path": rel}
        else:
            continue
        if expand:
            info["lastCommit"] = _last_commit(repo, branch)
        out.append(info)
    return _json(out)


def _refs(state: HubState, ctx: _Ctx) -> web.Response:
    repo = _repo(state, ctx)
    branches = [
        {"name": b.name, "ref": f"refs/heads/{b.name}", "targetCommit": b.commit}
        for b in repo.branches.values()
    ]
    return _json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})


# ---------------------------------------------------------------------------------- files
async def _resolve(
    state: HubState, request: web.Request, ctx: _Ctx, revision: str, rel: str
) -> web.StreamResponse:
    repo, branch = _branch(state, ctx, revision)
    ctx.path = rel
    entry = repo.entry(branch, rel)
    if entry is None:
        raise _HubError(404, "EntryNotFound", f"Entry not found: {rel}", commit=branch.commit)
    base = {"X-Repo-Commit": branch.commit, "Accept-Ranges": "bytes"}
    if entry.sha256 is not None:
        query = urlencode(
            {"repo": repo.repo_id, "commit": branch.commit, "path": rel, "X-Amz-Expires": "3600"}
        )
        sha = entry.sha256
        location = f"{state.cdn_base}/repos/{sha[:2]}/{sha[2:4]}/{sha}?{query}"
        body = b"" if request.method == "HEAD" else f"Found. Redirecting to {location}".encode()
        headers = {
            **base,
            "Location": location,
            "ETag": f'"{entry.oid}"',
            "X-Linked-Etag": entry.etag,
            "X-Linked-Size": str(entry.size),
        }
        return web.Response(status=302, body=body, headers=headers, content_type="text/plain")
    return await _serve_file(request, ctx, entry, {**base, "ETag": entry.etag})


async def _cdn(state: HubState, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
    segs = _segments(request.raw_path)
    query = parse_qs(request.raw_path.split("?", 1)[1]) if "?" in request.raw_path else {}
    repo_id = query.get("repo", [""])[0]
    commit = query.get("commit", [""])[0]
    rel = query.get("path", [""])[0]
    ctx.repo_id, ctx.revision, ctx.path = repo_id or None, commit or None, rel or None
    if request.method not in ("GET", "HEAD") or len(segs) != 4 or segs[0] != "repos":
        raise _HubError(404, None, f"no such object: {request.raw_path}")
    repo = state.repos.get(repo_id)
    branch = repo.resolve(commit) if repo else None
    entry = repo.entry(branch, rel) if repo and branch else None
    if entry is None or entry.sha256 != segs[3]:
        raise _HubError(404, None, f"no such object: {segs[3]}")
    headers = {"Accept-Ranges": "bytes", "ETag": entry.etag, "Cache-Control": "public, max-age=0"}
    return await _serve_file(request, ctx, entry, headers)


async def _serve_file(
    request: web.Request, ctx: _Ctx, entry: FileEntry, headers: dict[str, str]
) -> web.StreamResponse:
    """Send ``entry`` (whole, or one byte range) honouring ``Range``; count the bytes sent."""
    size = entry.size
    ranges = parse_range(request.headers.get("Range"), size)
    ctype = mimetypes.guess_type(entry.path)[0] or "application/octet-stream"
    if ranges is not None and not ranges:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if ranges is not None and len(ranges) == 1:
        first, last = ranges[0]
        status = 206
        headers = {**headers, "Content-Range": f"bytes {first}-{last}/{size}"}
    else:  # no Range, or several: the whole object (servers may ignore Range, RFC 9110)
        first, last, status = 0, size - 1, 200
    length = last - first + 1 if size else 0
    resp = web.StreamResponse(status=status, headers={**headers, "Content-Type": ctype})
    resp.content_length = length
    await resp.prepare(request)
    if request.method == "HEAD" or length == 0:
        await resp.write_eof()
        return resp
    ctx.span = (first, last)
    with entry.local.open("rb") as fh:
        fh.seek(first)
        remaining = length
        try:
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                ctx.bytes_sent += len(chunk)
                remaining -= len(chunk)
                if remaining == 0 and ctx.log is not None:
                    ctx.log(status)  # before the client can have read the last byte
                await resp.write(chunk)
        except ConnectionError:  # resets included
            return resp
    await resp.write_eof()
    return resp


def hub_file_url(hub_base: str, repo_id: str, revision: str, rel: str) -> str:
    """The ``resolve`` URL of a file, as ``huggingface_hub.hf_hub_url`` builds it."""
    return f"{hub_base}/datasets/{repo_id}/resolve/{quote(revision, safe='')}/{quote(rel)}"
