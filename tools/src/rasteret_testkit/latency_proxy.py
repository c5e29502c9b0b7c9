"""Asyncio TCP delay proxy: puts a latency/bandwidth model in front of any loopback backend.

Every chunk read in one direction is forwarded after that direction's delay (pipelined, so a
stream of chunks is shifted in time rather than slowed per chunk), optionally paced to a
per-connection bandwidth. Half-closes are forwarded after the delay too. The TCP handshake itself
is not delayed. Use it to give moto, nginx or the object server the same network model.

In-process::

    with LatencyProxy(("127.0.0.1", moto_port), delay_ms=25) as proxy:
        endpoint = proxy.base_url

CLI (prints ``PORT n``, serves until the lifetime ends or SIGTERM/SIGINT)::

    python -m rasteret_testkit.latency_proxy --upstream 127.0.0.1:9000 --delay-ms 25 \
        [--up-delay-ms X] [--down-delay-ms Y] [--bandwidth-mbps 50] [--lifetime-s 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable

from rasteret_testkit.lifecycle import HOST, LoopThreadServer

__all__ = ["LatencyProxy", "main"]
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_READ = 64 * 1024


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay_s: float,
    bandwidth_bps: float | None,
) -> None:
    """Copy ``reader`` to ``writer``, shifting each chunk by ``delay_s`` and pacing it."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        try:
            while True:
                data = await reader.read(_READ)
                queue.put_nowait((time.monotonic() + delay_s, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((time.monotonic(), b""))

    async def send() -> None:
        busy_until = 0.0
        while True:
            due, data = await queue.get()
            if bandwidth_bps and data:
                busy_until = max(due, busy_until) + len(data) / bandwidth_bps
                due = busy_until
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    rx = asyncio.ensure_future(receive())
    try:
        await send()
    finally:
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await rx


class LatencyProxy(LoopThreadServer):
    """TCP proxy on 127.0.0.1 adding per-direction delay and optional per-connection bandwidth.

    Args:
        upstream: ``(host, port)`` of the backend; must be a loopback address.
        delay_ms: One-way delay applied in both directions unless overridden.
        up_delay_ms: Client → upstream delay (defaults to ``delay_ms``).
        down_delay_ms: Upstream → client delay (defaults to ``delay_ms``).
        bandwidth_bps: Per-connection downstream rate in bytes/second (``None`` = unlimited).
        port: Listening port on 127.0.0.1 (0 picks a free one).
        max_lifetime_s: The proxy stops by itself after this many seconds.
    """

    thread_name = "latency-proxy"

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        delay_ms: float = 0.0,
        up_delay_ms: float | None = None,
        down_delay_ms: float | None = None,
        bandwidth_bps: float | None = None,
        port: int = 0,
        max_lifetime_s: float = 900.0,
    ) -> None:
        host, up_port = upstream
        if host not in _LOOPBACK:
            raise ValueError(f"latency proxy upstream must be loopback, got {host!r}")
        super().__init__(port=port, max_lifetime_s=max_lifetime_s)
        self.upstream = (host, int(up_port))
        self.up_delay_s = (delay_ms if up_delay_ms is None else up_delay_ms) / 1000.0
        self.down_delay_s = (delay_ms if down_delay_ms is None else down_delay_ms) / 1000.0
        self.bandwidth_bps = bandwidth_bps
        self.connections = 0  #: Connections accepted so far.

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to."""
        return HOST, self.port

    async def _open(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        tasks: set[asyncio.Task[None]] = set()

        async def on_client(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            self.connections += 1
            try:
                await self._handle(cr, cw)
            except asyncio.CancelledError:
                pass  # shutdown; asyncio's stream callback would report a cancelled task
            finally:
                tasks.discard(task)

        server = await asyncio.start_server(on_client, sock=sock)

        async def cleanup() -> None:
            server.close()
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=2.0)

        return cleanup

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            cw.close()
            return
        try:
            # Errors (resets) end that direction only; closing both writers ends the other.
            await asyncio.gather(
                _pump(cr, uw, self.up_delay_s, None),
                _pump(ur, cw, self.down_delay_s, self.bandwidth_bps),
                return_exceptions=True,
            )
        finally:
            for w in (uw, cw):
                with contextlib.suppress(Exception):
                    w.close()


def _parse_upstream(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host or HOST, int(port)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: print ``PORT n`` and proxy until the lifetime ends or a signal."""
    p = argparse.ArgumentParser(prog="python -m rasteret_testkit.latency_proxy")
    p.add_argument("--upstream", required=True, type=_parse_upstream, help="HOST:PORT (loopback)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay, both directions")
    p.add_argument("--up-delay-ms", type=float, default=None)
    p.add_argument("--down-delay-ms", type=float, default=None)
    p.add_argument("--bandwidth-mbps", type=float, default=None, help="per connection, MB/s")
    p.add_argument("--lifetime-s", type=float, default=600.0)
    a = p.parse_args(argv)
    proxy = LatencyProxy(
        a.upstream,
        delay_ms=a.delay_ms,
        up_delay_ms=a.up_delay_ms,
        down_delay_ms=a.down_delay_ms,
        bandwidth_bps=None if a.bandwidth_mbps is None else a.bandwidth_mbps * 1e6,
        port=a.port,
        max_lifetime_s=a.lifetime_s,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    proxy.start()
    print(f"PORT {proxy.port}", flush=True)
    while not stop.is_set() and proxy.running:
        stop.wait(0.2)
    proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
