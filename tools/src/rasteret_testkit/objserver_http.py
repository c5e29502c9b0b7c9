"""HTTP semantics of the loopback object server: Range parsing, S3 error bodies, the handler.

The handler serves ``GET``/``HEAD /{key}`` from files under a root directory. S3 path-style
requests (``/{bucket}/{key}``) need nothing special: the bucket is the first directory under the
root; ``GET /{bucket}?list-type=2`` answers a minimal ListObjectsV2. Faults, latency and the shared bandwidth cap come from :class:`ServerState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mimetypes
import os
import random
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import NoReturn
from xml.sax.saxutils import escape

from aiohttp import web

from rasteret_testkit.objserver_model import (
    AliasTable,
    Fault,
    FaultDraw,
    FaultScript,
    RequestLog,
    RequestRecord,
    ServerConfig,
    TokenBucket,
)
from rasteret_testkit.objserver_s3list import list_objects_v2

__all__ = [
    "CHUNK",
    "CLIENT_CLOSED",
    "MAX_RANGES",
    "NO_RESPONSE",
    "ServerState",
    "build_app",
    "check_preconditions",
    "parse_range",
]

#: Body write size; each chunk passes through the shared token bucket.
CHUNK = 64 * 1024
#: Status recorded when the request ended before headers were sent (nginx's convention).
CLIENT_CLOSED = 499
#: A file body: the file and its pieces (literal bytes or ``(offset, length)`` of the file).
_FileBody = tuple[Path, list[bytes | tuple[int, int]]]
#: Status recorded when the server reset the connection instead of answering.
NO_RESPONSE = 0
#: More ranges than this in one header are ignored (200 with the full body), like nginx.
MAX_RANGES = 64


def parse_range(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header against a representation of ``size`` bytes.

    Args:
        header: The raw header value (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``, comma lists).
        size: Object size in bytes.

    Returns:
        ``None`` when the header is absent or invalid and must be ignored (serve 200), an empty
        list when no range is satisfiable (serve 416), else inclusive ``(first, last)`` pairs.
    """
    if header is None:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec.split(",")]
    if not specs or len(specs) > MAX_RANGES:
        return None
    out: list[tuple[int, int]] = []
    for item in specs:
        first_s, dash, last_s = item.partition("-")
        if not dash:
            return None
        first_s, last_s = first_s.strip(), last_s.strip()
        try:
            if not first_s:  # suffix: last n bytes
                n = int(last_s)
                if n < 0:
                    return None
                if n > 0 and size > 0:
                    out.append((max(0, size - n), size - 1))
                continue
            first = int(first_s)
            last = int(last_s) if last_s else size - 1
        except ValueError:
            return None
        if first < 0 or last < first:
            return None
        if first < size:
            out.append((first, min(last, size - 1)))
    return out


def _etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list matches ``etag`` (weak comparison)."""
    bare = etag.removeprefix("W/")
    for item in header.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/") == bare:
            return True
    return False


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def check_preconditions(headers: Mapping[str, str], etag: str, mtime: float) -> int | None:
    """Evaluate conditional request headers (RFC 9110 §13.2.2 order).

    Returns:
        412 or 304 when a precondition stops the request, else ``None``.
    """
    mtime = float(int(mtime))  # HTTP dates have one-second resolution
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            return 412
    elif (ius := headers.get("If-Unmodified-Since")) is not None:
        when = _http_date(ius)
        if when is not None and mtime > when:
            return 412
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            return 304
    elif (ims := headers.get("If-Modified-Since")) is not None:
        when = _http_date(ims)
        if when is not None and mtime <= when:
            return 304
    return None


def s3_error_xml(code: str, message: str, resource: str) -> bytes:
    """Return an S3-style ``<Error>`` document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()


def etag_for(st: os.stat_result) -> str:
    """Stable strong ETag from size and modification time."""
    digest = hashlib.blake2s(f"{st.st_size}:{st.st_mtime_ns}".encode(), digest_size=8)
    return f'"{digest.hexdigest()}"'


@dataclass(slots=True)
class ServerState:
    """Mutable server state shared between the controlling thread and the event loop.

    ``config`` is swapped atomically under ``lock``; the random streams are used under it too.
    """

    root: Path
    config: ServerConfig
    aliases: AliasTable = field(default_factory=AliasTable)
    log: RequestLog = field(default_factory=RequestLog)
    lock: threading.Lock = field(default_factory=threading.Lock)
    bucket: TokenBucket = field(default_factory=TokenBucket)
    script: FaultScript = field(default_factory=FaultScript)
    on_record: Callable[[RequestRecord], None] | None = None
    closing: asyncio.Event | None = None
    fault_rng: random.Random = field(init=False)
    latency_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.reseed()

    def reseed(self) -> None:
        """Restart both random streams from ``config.fault_seed``."""
        seed = self.config.fault_seed
        self.fault_rng = random.Random(seed)
        self.latency_rng = random.Random(None if seed is None else seed + 1)

    def draw(self, key: str, method: str) -> FaultDraw:
        """Draw this request's fault and first-byte delay from the current config."""
        scripted = self.script.take(key)
        with self.lock:
            return FaultDraw.draw(
                self.config, key, method, self.fault_rng, self.latency_rng, scripted
            )

    def locate(self, physical_key: str) -> Path | None:
        """Return the file for ``physical_key`` if it is a regular file inside the root."""
        if not physical_key:
            return None
        path = (self.root / physical_key).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    async def sleep(self, seconds: float) -> None:
        """Sleep, returning early when the server is shutting down."""
        if seconds <= 0:
            return
        if self.closing is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)


@dataclass(slots=True)
class _Outcome:
    """What the handler learned, turned into a :class:`RequestRecord` at the end."""

    status: int = 500
    bytes_sent: int = 0
    first_byte: float | None = None
    fault: Fault | None = None
    physical: str | None = None


def _segments(
    path: Path, ranges: list[tuple[int, int]], size: int, ctype: str, boundary: str
) -> tuple[list[bytes | tuple[int, int]], int]:
    """Plan a multipart/byteranges body as literal bytes and (offset, length) file pieces."""
    parts: list[bytes | tuple[int, int]] = []
    total = 0
    for first, last in ranges:
        head = (
            f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\n"
            f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        ).encode()
        parts += [head, (first, last - first + 1)]
        total += len(head) + last - first + 1
    tail = f"\r\n--{boundary}--\r\n".encode()
    parts.append(tail)
    return parts, total + len(tail)


def _chunks(fd: int, parts: list[bytes | tuple[int, int]]) -> Iterator[bytes]:
    """Yield the body in pieces of at most :data:`CHUNK` bytes."""
    for part in parts:
        if isinstance(part, bytes):
            yield part
            continue
        offset, length = part
        while length > 0:
            data = os.pread(fd, min(CHUNK, length), offset)
            if not data:
                return
            offset += len(data)
            length -= len(data)
            yield data


async def _stream(
    request: web.Request,
    state: ServerState,
    out: _Outcome,
    status: int,
    headers: dict[str, str],
    body: bytes | _FileBody | None,
    length: int,
    body_fault: Fault | None = None,
) -> web.StreamResponse:
    """Send headers announcing ``length`` body bytes, then the body through the token bucket.

    ``body_fault`` (``TRUNCATE`` or ``BODY_STALL``) applies to GET responses with a body: the
    connection is closed, or the body stalls for ``stall_s``, after half of it.
    """
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = length
    out.status = status
    has_body = request.method != "HEAD" and body is not None and length > 0
    if body_fault is not None and not (has_body and request.method == "GET"):
        body_fault = None
    if out.fault in (Fault.TRUNCATE, Fault.BODY_STALL) and body_fault is None:
        out.fault = None  # drawn, but this response has no body to cut
    truncate = body_fault is Fault.TRUNCATE
    stall_at = length // 2 if body_fault is Fault.BODY_STALL else None
    await resp.prepare(request)
    out.first_byte = time.monotonic()
    if not has_body or body is None:
        await resp.write_eof()
        return resp
    limit = length // 2 if truncate else length
    own_bucket = TokenBucket()  # per-response (= per-connection) cap
    if isinstance(body, bytes):
        pieces: Iterator[bytes] = iter([body])
        fd = None
    else:
        fd = os.open(body[0], os.O_RDONLY)
        pieces = _chunks(fd, body[1])
    try:
        for piece in pieces:
            for i in range(0, len(piece), CHUNK):
                chunk = piece[i : i + CHUNK][: limit - out.bytes_sent]
                if stall_at is not None and out.bytes_sent + len(chunk) > stall_at:
                    head = chunk[: max(0, stall_at - out.bytes_sent)]
                    if head:
                        await resp.write(head)
                        out.bytes_sent += len(head)
                    await state.sleep(state.config.stall_s)
                    chunk, stall_at = chunk[len(head) :], None
                if not chunk:
                    break
                cfg = state.config
                await own_bucket.take(len(chunk), cfg.connection_bandwidth_bps)
                await state.bucket.take(len(chunk), cfg.bandwidth_bps)
                await resp.write(chunk)
                out.bytes_sent += len(chunk)
            if out.bytes_sent >= limit:
                break
    finally:
        if fd is not None:
            os.close(fd)
    if truncate:
        # Headers promised ``length`` bytes; hang up so the client sees a short body.
        resp.force_close()
        transport = request.transport
        if transport is not None:
            transport.close()
        raise _Truncated
    await resp.write_eof()
    return resp


class _Truncated(Exception):
    """Raised after a deliberately truncated body so aiohttp does not finish the response."""


#: S3-style error code and message per injected failure status.
_FAIL_BODIES = {
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway timeout."),
}


def _reset(request: web.Request, out: _Outcome) -> NoReturn:
    """Reset the connection (TCP RST via SO_LINGER 0) before any response byte."""
    out.status = NO_RESPONSE
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise _Truncated


def _error(code: str, message: str, key: str) -> bytes:
    return s3_error_xml(code, message, "/" + key)


async def _serve(request: web.Request, state: ServerState, out: _Outcome) -> web.StreamResponse:
    method = request.method
    key = request.path.lstrip("/")
    xml = {"Content-Type": "application/xml"}
    if method not in ("GET", "HEAD"):
        body = _error("MethodNotAllowed", f"{method} is not supported", key)
        return await _stream(request, state, out, 405, xml, body, len(body))
    unsigned = [q for q in sorted(state.config.required_query) if q not in request.query]
    if unsigned:
        body = _error("AuthenticationFailed", f"missing query parameter(s) {unsigned}", key)
        return await _stream(request, state, out, 403, xml, body, len(body))
    draw = state.draw(key, method)
    out.fault = draw.fault
    await state.sleep(draw.delay_s)
    if draw.fault is Fault.RESET:
        _reset(request, out)
    if draw.fault in (Fault.FAIL, Fault.BROKEN):
        status = state.config.fail_status
        code, message = _FAIL_BODIES.get(status, ("InternalError", "We encountered an error."))
        body = _error(code, message, key)
        return await _stream(request, state, out, status, xml, body, len(body))
    if method == "GET" and "list-type" in request.query and "/" not in key.rstrip("/"):
        return await _list_bucket(request, state, out, key.rstrip("/"))
    physical = state.aliases.resolve(key)
    path = None if draw.fault is Fault.MISSING else state.locate(physical)
    if path is None:
        body = _error("NoSuchKey", "The specified key does not exist.", key)
        return await _stream(request, state, out, 404, xml, body, len(body))
    out.physical = physical
    st = path.stat()
    size = st.st_size
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag_for(st),
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Content-Type": ctype,
    }
    precondition = check_preconditions(request.headers, headers["ETag"], st.st_mtime)
    if precondition is not None:
        failed = {"ETag": headers["ETag"], "Last-Modified": headers["Last-Modified"]}
        if precondition == 304:
            return await _stream(request, state, out, 304, failed, None, 0)
        body = _error("PreconditionFailed", "At least one precondition failed", key)
        return await _stream(request, state, out, 412, {**xml, **failed}, body, len(body))
    body_fault = draw.fault if draw.fault in (Fault.TRUNCATE, Fault.BODY_STALL) else None
    ranges = parse_range(request.headers.get("Range"), size)
    if ranges is None:
        whole: _FileBody = (path, [(0, size)])
        return await _stream(request, state, out, 200, headers, whole, size, body_fault)
    if not ranges:
        body = _error("InvalidRange", "The requested range is not satisfiable", key)
        h416 = {**xml, "Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
        return await _stream(request, state, out, 416, h416, body, len(body))
    if len(ranges) == 1:
        first, last = ranges[0]
        if draw.fault is Fault.SHORT and method == "GET" and last > first:
            last = first + (last - first + 1) // 2 - 1  # a valid answer for half the range
        elif draw.fault is Fault.SHORT:
            out.fault = None
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        n = last - first + 1
        piece: _FileBody = (path, [(first, n)])
        return await _stream(request, state, out, 206, headers, piece, n, body_fault)
    boundary = secrets.token_hex(12)
    if draw.fault is Fault.SHORT:
        out.fault = None  # multipart answers are not shortened
    parts, total = _segments(path, ranges, size, ctype, boundary)
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    return await _stream(request, state, out, 206, headers, (path, parts), total, body_fault)


async def _list_bucket(
    request: web.Request, state: ServerState, out: _Outcome, bucket: str
) -> web.StreamResponse:
    xml = {"Content-Type": "application/xml"}
    bucket_dir = (state.root / bucket).resolve()
    if not bucket or not bucket_dir.is_relative_to(state.root) or not bucket_dir.is_dir():
        body = _error("NoSuchBucket", "The specified bucket does not exist", bucket)
        return await _stream(request, state, out, 404, xml, body, len(body))
    try:
        body = list_objects_v2(bucket_dir, bucket, request.query, etag_for)
    except ValueError:
        body = _error("InvalidArgument", "Invalid list parameters", bucket)
        return await _stream(request, state, out, 400, xml, body, len(body))
    return await _stream(request, state, out, 200, xml, body, len(body))


def build_app(state: ServerState) -> web.Application:
    """Return the aiohttp application serving ``state.root``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        out = _Outcome()
        start = time.monotonic()
        generation = state.log.begin()
        record_path = request.path_qs if request.query_string else request.path
        try:
            return await _serve(request, state, out)
        except _Truncated:
            # Returning nothing usable: aiohttp sees a closed transport and drops the request.
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            # Client went away (e.g. timed out during a stall) or the server is stopping.
            if out.first_byte is None:
                out.status = CLIENT_CLOSED
            raise
        finally:
            record = RequestRecord(
                method=request.method,
                path=record_path,
                range=request.headers.get("Range"),
                status=out.status,
                bytes_sent=out.bytes_sent,
                start=start,
                first_byte=out.first_byte,
                end=time.monotonic(),
                fault=out.fault,
                physical=out.physical,
            )
            kept = state.log.finish(record, generation)
            if kept and state.on_record is not None:
                state.on_record(record)

    app = web.Application()
    app.router.add_route("*", "/{key:.*}", handler)
    return app
