"""Loopback object server for tests and benchmarks (HTTP Range + S3 path-style, faults, latency).

:class:`ObjectServer` runs an aiohttp application on 127.0.0.1 in a daemon thread with its own
event loop. It serves files under ``root``; S3 path-style URLs ``/{bucket}/{key}`` are the same
layout (bucket = first directory under ``root``). Behaviour knobs live in
:class:`~rasteret_testkit.objserver_model.ServerConfig` and can be changed at runtime with
:meth:`ObjectServer.configure`.

CLI (benchmarks run it in its own process)::

    python -m rasteret_testkit.objserver --root DIR [--port N] [--latency-ms 30]
        [--latency-p99-ms 120] [--bandwidth-mbps 100] [--connection-mbps 20] [--fail-rate R]
        [--fail-status 503] [--stall-rate R] [--stall-s S] [--truncate-rate R] [--short-rate R]
        [--reset-rate R] [--body-stall-rate R] [--seed N] [--lifetime-s 600] [--log-jsonl FILE]

prints ``PORT n`` on stdout, then serves until the lifetime ends or SIGTERM/SIGINT arrives; on
exit it prints ``STOPPED requests=N cpu_s=X`` (the server process's CPU time) on stderr.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from rasteret_testkit.lifecycle import HOST, LoopThreadServer, serve_apps
from rasteret_testkit.objserver_http import ServerState, build_app
from rasteret_testkit.objserver_model import Fault, RequestRecord, ServerConfig

__all__ = ["HOST", "Fault", "ObjectServer", "RequestRecord", "ServerConfig", "main"]


class ObjectServer(LoopThreadServer):
    """Range-capable loopback object server with latency, bandwidth and fault injection.

    Args:
        root: Directory whose files are served; ``/{key}`` maps to ``root / key``.
        port: TCP port on 127.0.0.1 (0 picks a free one).
        max_lifetime_s: The server stops by itself after this many seconds.
        log_path: Optional JSONL file receiving one line per finished request.
        **options: Initial :class:`ServerConfig` fields (``latency_ms``, ``latency_p99_ms``,
            ``bandwidth_bps``, ``connection_bandwidth_bps``, ``fail_rate``, ``fail_status``,
            ``stall_rate``, ``stall_s``, ``truncate_rate``, ``short_rate``, ``reset_rate``,
            ``body_stall_rate``, ``missing_keys``, ``broken_keys``, ``fault_seed``, ``required_query``).
            :meth:`reset` restores these.

    Example:
        >>> with ObjectServer(tmp_path, latency_ms=20) as srv:  # doctest: +SKIP
        ...     srv.alias_pattern("scenes/{i}/B04.tif", "pool/B04.tif")
        ...     store = HTTPStore.from_url(srv.base_url, client_options={"allow_http": True})
    """

    thread_name = "objserver"

    def __init__(
        self,
        root: str | Path,
        *,
        port: int = 0,
        max_lifetime_s: float = 900.0,
        log_path: str | Path | None = None,
        **options: Any,
    ) -> None:
        super().__init__(port=port, max_lifetime_s=max_lifetime_s)
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"object server root is not a directory: {self.root}")
        self._default = ServerConfig().updated(**options)
        self._state = ServerState(self.root, self._default)
        self._log_path = Path(log_path) if log_path is not None else None
        self._log_file: IO[str] | None = None

    # ------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        if self._log_path is not None:
            self._log_file = self._log_path.open("a", encoding="utf-8")
            self._state.on_record = self._write_jsonl
        super()._start()

    def _stop(self, timeout: float) -> None:
        super()._stop(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def _open(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        self._state.closing = self._stop_event  # in-flight stalls end when stopping
        return await serve_apps([(build_app(self._state), sock)])

    def _write_jsonl(self, record: RequestRecord) -> None:
        if self._log_file is not None:
            self._log_file.write(json.dumps(record.as_json()) + "\n")
            self._log_file.flush()

    # ------------------------------------------------------------------ addresses
    def url(self, key: str) -> str:
        """Full URL of ``key`` (a path relative to the root or an alias)."""
        return f"{self.base_url}/{key.lstrip('/')}"

    def s3_store_config(self, bucket: str) -> dict[str, Any]:
        """Keyword arguments for ``obstore.store.S3Store(**cfg)`` reading ``bucket`` anonymously.

        The bucket is the first directory under ``root``. Add ``retry_config=`` as needed.
        """
        return {
            "bucket": bucket,
            "endpoint": self.base_url,
            "region": "us-east-1",
            "skip_signature": True,
            "client_options": {"allow_http": True},
        }

    # ------------------------------------------------------------------ content helpers
    def put(self, key: str, data: bytes) -> str:
        """Write ``data`` to ``root / key`` (creating directories) and return its URL."""
        path = self.root / key.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.url(key)

    def alias(self, url_key: str, physical_key: str) -> str:
        """Serve ``physical_key`` for ``url_key``; return the URL of ``url_key``."""
        self._state.aliases.add(url_key, physical_key)
        return self.url(url_key)

    def alias_pattern(self, pattern: str, physical_key: str) -> None:
        """Serve ``physical_key`` for every key matching ``pattern``.

        ``{name}`` placeholders match one path segment and may be reused in ``physical_key``:
        ``alias_pattern("scenes/{i}/{band}.tif", "pool/{band}.tif")``.
        """
        self._state.aliases.add_pattern(pattern, physical_key)

    # ------------------------------------------------------------------ configuration
    @property
    def config(self) -> ServerConfig:
        """Current configuration (immutable snapshot)."""
        return self._state.config

    def configure(self, **options: Any) -> ServerConfig:
        """Change options at runtime (thread-safe); reseeds the random streams if
        ``fault_seed`` is given. Returns the new configuration."""
        with self._state.lock:
            self._state.config = self._state.config.updated(**options)
            if "fault_seed" in options:
                self._state.reseed()
            return self._state.config

    def inject(self, fault: Fault | str, count: int = 1, key: str | None = None) -> None:
        """Serve ``fault`` to the next ``count`` requests (of keys starting with ``key``).

        Scripted faults come before the random draw, in the order they were injected: e.g.
        a burst of three 503s then a reset is ``inject("fail", 3); inject("reset")``.
        """
        self._state.script.add(fault, count, key)

    @property
    def pending_faults(self) -> int:
        """Injected faults not served yet."""
        return self._state.script.pending()

    def reset(self) -> None:
        """Clear the log, aliases and injected faults; restore the construction-time config."""
        self._state.log.clear()
        self._state.aliases.clear()
        self._state.script.clear()
        with self._state.lock:
            self._state.config = self._default
            self._state.reseed()

    # ------------------------------------------------------------------ request log
    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled; return ``False`` on timeout."""
        return self._state.log.wait_idle(timeout)

    @property
    def requests(self) -> list[RequestRecord]:
        """Finished requests in completion order (waits up to 0.5 s for in-flight ones)."""
        self._state.log.wait_idle(0.5)
        return self._state.log.snapshot()

    def count(
        self,
        method: str | None = None,
        path_prefix: str | None = None,
        *,
        status: int | None = None,
        fault: Fault | str | None = None,
    ) -> int:
        """Count finished requests matching all given filters.

        Args:
            method: e.g. ``"GET"``.
            path_prefix: Prefix of the request path; a leading ``/`` is optional.
            status: Exact status code.
            fault: Fault kind (``"fail"``, ``"broken"``, ``"stall"``, ``"truncate"``,
                ``"short"``, ``"reset"``, ``"body_stall"``, ``"missing"``).
        """
        prefix = None if path_prefix is None else "/" + path_prefix.lstrip("/")
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (prefix is None or r.path.startswith(prefix))
            and (status is None or r.status == status)
            and (fault is None or r.fault == fault)
        )

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"ObjectServer({where}, root={str(self.root)!r})"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rasteret_testkit.objserver",
        description="Loopback object server (HTTP Range + S3 path-style) on 127.0.0.1.",
    )
    p.add_argument("--root", required=True, type=Path, help="directory to serve")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="median first-byte delay")
    p.add_argument("--latency-p99-ms", type=float, default=None, help="p99 first-byte delay")
    p.add_argument("--bandwidth-mbps", type=float, default=None, help="aggregate cap, MB/s (1e6)")
    p.add_argument("--connection-mbps", type=float, default=None, help="per-connection cap, MB/s")
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--stall-rate", type=float, default=0.0)
    p.add_argument("--stall-s", type=float, default=30.0)
    p.add_argument("--truncate-rate", type=float, default=0.0)
    p.add_argument("--short-rate", type=float, default=0.0)
    p.add_argument("--reset-rate", type=float, default=0.0)
    p.add_argument("--body-stall-rate", type=float, default=0.0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--seed", type=int, default=0, help="fault/latency seed")
    p.add_argument("--lifetime-s", type=float, default=600.0, help="stop after this long")
    p.add_argument("--log-jsonl", type=Path, default=None, help="append one JSON line/request")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the server from the command line; print ``PORT n`` and serve until stopped."""
    a = _parser().parse_args(argv)
    srv = ObjectServer(
        a.root,
        port=a.port,
        max_lifetime_s=a.lifetime_s,
        log_path=a.log_jsonl,
        latency_ms=a.latency_ms,
        latency_p99_ms=a.latency_p99_ms,
        bandwidth_bps=None if a.bandwidth_mbps is None else a.bandwidth_mbps * 1e6,
        connection_bandwidth_bps=None if a.connection_mbps is None else a.connection_mbps * 1e6,
        fail_rate=a.fail_rate,
        stall_rate=a.stall_rate,
        stall_s=a.stall_s,
        truncate_rate=a.truncate_rate,
        short_rate=a.short_rate,
        reset_rate=a.reset_rate,
        body_stall_rate=a.body_stall_rate,
        fail_status=a.fail_status,
        fault_seed=a.seed,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    srv.start()
    print(f"PORT {srv.port}", flush=True)
    deadline = time.monotonic() + srv.max_lifetime_s + 5.0
    while not stop.is_set() and srv.running and time.monotonic() < deadline:
        stop.wait(0.2)
    srv.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"STOPPED requests={len(srv.requests)} cpu_s={usage.ru_utime + usage.ru_stime:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
