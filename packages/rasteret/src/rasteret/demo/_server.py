"""A small loopback HTTP file server with single-range support, for ``rasteret demo``.

Serves one directory read-only on ``127.0.0.1`` (an ephemeral port) from a background thread,
answering ``GET`` / ``HEAD`` with ``Range: bytes=...`` (one range: ``206`` + ``Content-Range``;
unsatisfiable: ``416``; several ranges or none: the whole file, ``200``), ``ETag`` and
``Last-Modified``, over HTTP/1.1 keep-alive. It counts requests and body bytes so the demo can
show how few bytes an index-first read moves. Its lifetime is bounded: it stops by itself after
``max_lifetime`` seconds if nobody stops it.
"""

from __future__ import annotations

import email.utils
import http.server
import os
import posixpath
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DemoServer", "TrafficSnapshot"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class TrafficSnapshot:
    """Counters of a :class:`DemoServer` at one instant."""

    requests: int
    range_requests: int
    bytes_sent: int

    def __sub__(self, other: TrafficSnapshot) -> TrafficSnapshot:
        return TrafficSnapshot(
            self.requests - other.requests,
            self.range_requests - other.range_requests,
            self.bytes_sent - other.bytes_sent,
        )


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Resolve a ``Range`` header against a file of ``size`` bytes.

    Args:
        header: The header value, or None.
        size: File size.

    Returns:
        ``(start, end)`` inclusive for one satisfiable range, None to send the whole file
        (no header, several ranges or a syntax the server ignores), or ``"unsatisfiable"``.
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None  # multiple ranges or unknown unit: RFC 9110 lets a server ignore Range
    first, last = m.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rasteret-demo"
    sys_version = ""
    timeout = 10  # idle keep-alive connections close after this many seconds

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request log lines."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def _resolve(self) -> Path | None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
        target = self.server.root.joinpath(*parts) if parts else self.server.root
        try:
            target.resolve().relative_to(self.server.root)
        except ValueError:
            return None
        return target if target.is_file() else None

    def do_HEAD(self) -> None:
        """Headers of a file (counted as a request)."""
        self._serve(body=False)

    def do_GET(self) -> None:
        """A file or one byte range of it."""
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        target = self._resolve()
        if target is None:
            self.server.count(0, ranged=False)
            self.send_error(404, "not found")
            return
        st = target.stat()
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        rng = parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            self.server.count(0, ranged=True)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(rng, tuple):
            start, end = rng
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            start, end = 0, size - 1
            self.send_response(200)
        length = end - start + 1
        ctype = "application/json" if target.suffix == ".json" else "image/tiff"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.end_headers()
        sent = 0
        if body:
            with target.open("rb") as f:
                f.seek(start)
                while sent < length:
                    chunk = f.read(min(_CHUNK, length - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
        self.server.count(sent, ranged=isinstance(rng, tuple))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.requests = 0
        self.range_requests = 0
        self.bytes_sent = 0

    def count(self, nbytes: int, *, ranged: bool) -> None:
        with self._lock:
            self.requests += 1
            self.range_requests += int(ranged)
            self.bytes_sent += nbytes

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class DemoServer:
    """Serve ``root`` on ``http://127.0.0.1:<ephemeral port>/`` from a background thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with DemoServer(directory) as server:
            url = server.url("scene/B04.tif")

    Args:
        root: Directory to serve (read-only; paths outside it are never served).
        max_lifetime: Seconds after which the server stops by itself.
    """

    def __init__(self, root: str | os.PathLike[str], *, max_lifetime: float = 600.0) -> None:
        self._root = Path(root)
        self._max_lifetime = max_lifetime
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the demo server is not running")
        host, port = self._server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{text}:{port}"

    def url(self, relative: str | os.PathLike[str]) -> str:
        """The URL of a file given relative to the served root."""
        rel = Path(relative).as_posix().lstrip("/")
        return f"{self.base_url}/{urllib.parse.quote(rel)}"

    def traffic(self) -> TrafficSnapshot:
        """Requests, range requests and body bytes served so far."""
        s = self._server
        if s is None:
            return TrafficSnapshot(0, 0, 0)
        with s._lock:
            return TrafficSnapshot(s.requests, s.range_requests, s.bytes_sent)

    def start(self) -> DemoServer:
        """Bind 127.0.0.1 on an ephemeral port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server(self._root)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rasteret-demo-http",
            daemon=True,
        )
        self._thread.start()
        self._timer = threading.Timer(self._max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket (idempotent)."""
        server, self._server = self._server, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
