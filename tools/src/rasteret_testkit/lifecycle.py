"""One lifecycle for every loopback test server: start/stop, context manager, bounded lifetime.

- :class:`ServerLifecycle` is the base of all testkit servers (object server, latency proxy,
  moto S3, STAC API, GCS emulator): ``start()`` returns the server, ``stop()`` is idempotent,
  ``with server:`` starts and stops it, and a watchdog stops it after ``max_lifetime_s`` (then
  ``expired`` is True), so no test can leave a server running forever.
- :class:`LoopThreadServer` adds what the in-process asyncio servers share: a socket bound on
  127.0.0.1, an event loop in a daemon thread, start-up errors surfaced by ``start()``, and a
  stop event that ends serving.
- :func:`listen` binds such a socket, :func:`serve_apps` serves aiohttp applications on
  sockets (returning their cleanup), as :meth:`LoopThreadServer._open` implementations do.
- :func:`free_port` and :func:`stop_process` serve the subprocess-based servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "HOST",
    "LoopThreadServer",
    "ServerLifecycle",
    "free_port",
    "listen",
    "serve_apps",
    "stop_process",
]

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def listen(port: int = 0) -> socket.socket:
    """A non-blocking listening TCP socket on 127.0.0.1 (``port`` 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve_apps(
    apps: list[tuple[web.Application, socket.socket]],
) -> Callable[[], Awaitable[None]]:
    """Serve each aiohttp application on its socket; return the cleanup of them all."""
    from aiohttp import web  # lazy: the subprocess-based servers do not need aiohttp

    runners: list[web.AppRunner] = []

    async def cleanup() -> None:
        for runner in runners:
            await runner.cleanup()

    try:
        for app, sock in apps:
            runner = web.AppRunner(
                app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
            )
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
    except BaseException:
        await cleanup()
        raise
    return cleanup


def stop_process(proc: subprocess.Popen[bytes] | None, grace_s: float = 5.0) -> None:
    """Terminate ``proc`` (SIGTERM, then SIGKILL after ``grace_s``) and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


class ServerLifecycle:
    """Start/stop boilerplate shared by the testkit servers.

    Subclasses implement :meth:`_start` (raise on failure; :meth:`stop` is then called) and
    :meth:`_stop` (must tolerate a partial start and repeated calls).

    Args:
        max_lifetime_s: The server is stopped by a watchdog after this many seconds.

    Attributes:
        max_lifetime_s: The lifetime bound.
        expired: True once the watchdog stopped the server.
    """

    def __init__(self, max_lifetime_s: float) -> None:
        self.max_lifetime_s = float(max_lifetime_s)
        self.expired = False
        self._started = False
        self._stopped = threading.Event()
        self._watchdog: threading.Timer | None = None
        self._stop_lock = threading.Lock()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self, timeout: float) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start serving; return ``self``.

        Raises:
            RuntimeError: When already started or when the server cannot start.
        """
        if self._started:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._watchdog = threading.Timer(self.max_lifetime_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def _expire(self) -> None:
        self.expired = True
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (idempotent)."""
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.cancel()
        with self._stop_lock:
            self._stop(timeout)
            if self._started:
                self._stopped.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (e.g. its lifetime ran out)."""
        return self._stopped.wait(timeout)

    @property
    def running(self) -> bool:
        """Whether the server was started and has not stopped."""
        return self._started and not self._stopped.is_set()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopThreadServer(ServerLifecycle):
    """An asyncio server on a 127.0.0.1 socket, run by an event loop in a daemon thread.

    Subclasses implement :meth:`_open`: start serving on the socket and return the coroutine
    function that cleans up; serving ends when :meth:`stop` sets :attr:`_stop_event`.

    Args:
        port: TCP port on 127.0.0.1 (0 picks a free one).
        max_lifetime_s: Lifetime bound (see :class:`ServerLifecycle`).
    """

    thread_name = "loopback-server"

    def __init__(self, *, port: int = 0, max_lifetime_s: float) -> None:
        super().__init__(max_lifetime_s)
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _open(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """Bound TCP port."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive() and not self._stopped.is_set()

    def _start(self) -> None:
        sock = listen(self._requested_port)
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"{self.thread_name}-{self._port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10.0) or self._error is not None:
            raise RuntimeError(f"{type(self).__name__} failed to start: {self._error!r}")

    def _stop(self, timeout: float) -> None:
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(sock))
        except BaseException as exc:  # surfaced through start()
            self._error = exc
        finally:
            self._stopped.set()
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self, sock: socket.socket) -> None:
        self._stop_event = asyncio.Event()
        cleanup = await self._open(sock)
        try:
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await cleanup()
