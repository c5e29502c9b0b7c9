"""A STAC API on 127.0.0.1 via ``rustac serve`` (in-memory backend).

The memory backend supports item search with ``bbox``, ``datetime``, ``collections``, ``ids``
and paging; it ignores ``query`` and CQL2 ``filter``. Items are served from an ndjson file next to
a link-free ``collection.json`` (relative item links would make rustac fail to start).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rasteret_testkit.lifecycle import HOST, ServerLifecycle, free_port, stop_process

__all__ = ["StacApiFactory", "StacApiServer", "find_rustac"]


def find_rustac() -> str | None:
    """Return the ``rustac`` executable next to ``sys.executable``, else on ``PATH``."""
    here = Path(sys.executable).parent / ("rustac.exe" if os.name == "nt" else "rustac")
    if here.is_file():
        return str(here)
    return shutil.which("rustac")


class StacApiServer(ServerLifecycle):
    """One ``rustac serve`` subprocess serving a collection and its items.

    Args:
        workdir: Directory for ``collection.json``, ``items.ndjson`` and ``rustac.log``.
        collection: A STAC collection dict (its ``links`` are dropped).
        items: STAC item dicts; a missing ``collection`` field is set to the collection id.
        max_lifetime_s: The process is terminated by a watchdog after this many seconds.
        exe: rustac executable (default: :func:`find_rustac`).
        start_timeout: Seconds to wait for the API to answer, per start attempt.
        start_attempts: Start attempts (each on a new free port).
    """

    def __init__(
        self,
        workdir: Path,
        collection: dict[str, Any],
        items: list[dict[str, Any]],
        *,
        max_lifetime_s: float = 3600.0,
        exe: str | None = None,
        start_timeout: float = 20.0,
        start_attempts: int = 3,
    ) -> None:
        super().__init__(max_lifetime_s)
        self.workdir = Path(workdir)
        self.exe = exe or find_rustac()
        if self.exe is None:
            raise FileNotFoundError("rustac executable not found (pip install rustac)")
        self.start_timeout = start_timeout
        self.start_attempts = start_attempts
        self._collection = {**collection, "links": []}
        cid = self._collection.get("id")
        self._items = [{**it, "collection": it.get("collection", cid)} for it in items]
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the API landing page)."""
        return f"http://{HOST}:{self.port}"

    def _write_inputs(self) -> tuple[Path, Path]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        coll = self.workdir / "collection.json"
        coll.write_text(json.dumps(self._collection), encoding="utf-8")
        nd = self.workdir / "items.ndjson"
        nd.write_text("".join(json.dumps(it) + "\n" for it in self._items), encoding="utf-8")
        return coll, nd

    def _start(self) -> None:
        coll, nd = self._write_inputs()
        log = self.workdir / "rustac.log"
        last_error = "not started"
        for _ in range(self.start_attempts):
            self.port = free_port()
            with log.open("ab") as fh:
                self._proc = subprocess.Popen(
                    [str(self.exe), "serve", "--addr", f"{HOST}:{self.port}", str(coll), str(nd)],
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            ok, last_error = self._wait_ready(self.start_timeout)
            if ok:
                return
            self._stop(5.0)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"rustac serve did not start ({last_error}); log tail:\n{tail}")

    def _wait_ready(self, timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        error = "timeout"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False, f"exited with {self._proc.returncode}"
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=1.0) as resp:
                    if resp.status == 200:
                        return True, ""
            except (urllib.error.URLError, OSError) as exc:
                error = repr(exc)
            time.sleep(0.03)
        return False, error

    def _stop(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, grace_s=min(timeout, 5.0))


class StacApiFactory:
    """Callable ``(collection, items) -> base_url`` starting one new server per call.

    Args:
        tmp_root: Directory under which each server gets its own working directory.
        max_lifetime_s: Lifetime bound of each server.
    """

    def __init__(self, tmp_root: Path, *, max_lifetime_s: float = 3600.0) -> None:
        self.tmp_root = Path(tmp_root)
        self.max_lifetime_s = max_lifetime_s
        self.servers: list[StacApiServer] = []
        self._started = 0

    def __call__(self, collection: dict[str, Any], items: list[dict[str, Any]]) -> str:
        """Serve ``collection`` and ``items``; return the API base URL."""
        workdir = self.tmp_root / f"stac-{self._started}"
        self._started += 1
        srv = StacApiServer(workdir, collection, items, max_lifetime_s=self.max_lifetime_s)
        srv.start()
        self.servers.append(srv)
        return srv.base_url

    def close(self) -> None:
        """Stop every server started by this factory."""
        for srv in self.servers:
            srv.stop()
        self.servers.clear()
