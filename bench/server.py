"""Spawn and stop the testkit object server (``python -m rasteret_testkit.objserver``) as a
separate process, and count the requests it logged in a time window (server-side counts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class ServerProc:
    """A running object server subprocess with its JSONL request log."""

    proc: subprocess.Popen[str]
    port: int
    log_path: Path
    latency_ms: float
    _fh: IO[str] | None = field(default=None, repr=False)
    _pos: int = 0
    _records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> list[dict[str, Any]]:
        """All finished requests logged so far (reads the log incrementally)."""
        if self._fh is None:
            if not self.log_path.exists():
                return self._records
            self._fh = self.log_path.open("r", encoding="utf-8")
        while True:
            line = self._fh.readline()
            if not line or not line.endswith("\n"):
                if line:
                    self._fh.seek(self._fh.tell() - len(line.encode()))
                break
            self._records.append(json.loads(line))
        return self._records

    def window(self, t0: float, t1: float, settle_s: float = 0.15) -> dict[str, Any]:
        """Requests that started within ``[t0, t1]`` (``time.monotonic`` of any process)."""
        time.sleep(settle_s)
        rs = [r for r in self.records() if t0 <= r["start"] <= t1]
        return {
            "requests": len(rs),
            "gets": sum(1 for r in rs if r["method"] == "GET"),
            "heads": sum(1 for r in rs if r["method"] == "HEAD"),
            "bytes": sum(int(r["bytes_sent"]) for r in rs),
            "errors": sum(1 for r in rs if int(r["status"]) >= 400),
            "files": len({r["path"].split("?")[0] for r in rs}),
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ServerProc:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start(
    root: Path,
    log_path: Path,
    *,
    latency_ms: float = 0.0,
    latency_p99_ms: float | None = None,
    bandwidth_mbps: float | None = None,
    lifetime_s: float = 3600.0,
) -> ServerProc:
    """Start the object server on 127.0.0.1 (a free port) and wait for its ``PORT n`` line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.unlink()
    cmd = [
        sys.executable,
        "-m",
        "rasteret_testkit.objserver",
        "--root",
        str(root),
        "--latency-ms",
        str(latency_ms),
        "--lifetime-s",
        str(lifetime_s),
        "--log-jsonl",
        str(log_path),
    ]
    if latency_p99_ms is not None:
        cmd += ["--latency-p99-ms", str(latency_p99_ms)]
    if bandwidth_mbps is not None:
        cmd += ["--bandwidth-mbps", str(bandwidth_mbps)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("PORT "):
            return ServerProc(proc, int(line.split()[1]), log_path, latency_ms)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("object server did not start")


def server_cpu_s(proc: subprocess.Popen[str]) -> float:
    """CPU seconds (user + system) used so far by the server process (from /proc)."""
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return float("nan")
