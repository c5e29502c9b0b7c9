"""The object server and latency proxy CLIs: start, print ``PORT n``, serve, stop."""

from __future__ import annotations

import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_port(proc: subprocess.Popen[str], timeout: float = 20.0) -> int:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail("no PORT line within timeout")
    line = proc.stdout.readline().split()
    assert line[0] == "PORT", line
    return int(line[1])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.bin").write_bytes(bytes(range(256)) * 10)
    return tmp_path


def _range_get(port: int, path: str, spec: str) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/{path}", headers={"Range": spec})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 206
        return resp.read()


def test_objserver_cli_serves_until_sigterm(root: Path) -> None:
    log = root / "log.jsonl"
    proc = _spawn(
        "rasteret_testkit.objserver",
        "--root",
        str(root),
        "--latency-ms",
        "5",
        "--lifetime-s",
        "60",
        "--log-jsonl",
        str(log),
    )
    try:
        port = _read_port(proc)
        assert _range_get(port, "b/x.bin", "bytes=2-5") == bytes([2, 3, 4, 5])
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
    assert proc.stderr is not None and "STOPPED requests=1 cpu_s=" in proc.stderr.read()
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and '"status": 206' in lines[0]


def test_objserver_cli_lifetime(root: Path) -> None:
    proc = _spawn("rasteret_testkit.objserver", "--root", str(root), "--lifetime-s", "0.5")
    _read_port(proc)
    t0 = time.monotonic()
    assert proc.wait(10) == 0
    assert time.monotonic() - t0 < 5


def test_latency_proxy_cli(root: Path) -> None:
    from rasteret_testkit.objserver import ObjectServer

    with ObjectServer(root) as srv:
        proc = _spawn(
            "rasteret_testkit.latency_proxy",
            "--upstream",
            f"127.0.0.1:{srv.port}",
            "--delay-ms",
            "20",
            "--lifetime-s",
            "60",
        )
        try:
            port = _read_port(proc)
            t0 = time.monotonic()
            assert _range_get(port, "b/x.bin", "bytes=0-3") == bytes([0, 1, 2, 3])
            assert time.monotonic() - t0 >= 0.035  # request and response each delayed 20 ms
        finally:
            proc.terminate()
            proc.wait(10)
        assert proc.returncode == 0
