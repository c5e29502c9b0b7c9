"""Import weight (stdlib only for parsing) and the ``python -m rasteret_cog info`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rasteret_cog.cli import main

_PROBE = r"""
import sys
import rasteret_cog
from rasteret_cog import open_header, parse_header, plan_window
h = open_header(sys.argv[1])
with open(sys.argv[1], "rb") as fh:
    h2 = parse_header(fh.read(65536))
plan = plan_window(h.levels[0], 0, 0, 10, 10)
assert h2.levels[0].tile_offsets == h.levels[0].tile_offsets and plan.tiles
heavy = sorted(m for m in ("numpy", "imagecodecs", "rasterio", "tifffile") if m in sys.modules)
stdlib = set(sys.stdlib_module_names)
third = sorted({m.split(".")[0] for m in sys.modules} - stdlib - {"rasteret_cog", "__main__"}
               - {m for m in sys.modules if m.startswith("_")})
import json
print(json.dumps([heavy, third]))
"""


def test_parsing_loads_only_stdlib(cog_factory):
    path = cog_factory(dtype="uint16", mask=True, blocksize=128)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, check=True
    )
    heavy, third = json.loads(out.stdout)
    assert heavy == [], out.stdout
    assert third == [], f"non-stdlib modules loaded: {third}"


def test_cli_info_local(cog_factory, capsys):
    path = cog_factory(dtype="uint16", mask=True, blocksize=128, nodata=0)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "EPSG:32633" in out and "level 0" in out and "mask IFD" in out and "nodata: 0" in out
    assert main(["info", "--json", "--tiles", str(path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["requests"] == 1 and d["levels"][0]["tile_offsets"]


def test_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    assert main(["info", str(bad)]) == 1
    assert "not a TIFF" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.tif")]) == 1


class _RangeHandler(BaseHTTPRequestHandler):
    root: Path

    def do_GET(self):
        data = (self.root / self.path.lstrip("/")).read_bytes()
        rng = self.headers.get("Range")
        if rng:
            start, end = rng.removeprefix("bytes=").split("-")
            s, e = int(start), min(int(end), len(data) - 1)
            if s >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            body = data[s : e + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {s}-{e}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def range_server(tmp_path):
    handler = type("H", (_RangeHandler,), {"root": tmp_path})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield tmp_path, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_cli_info_url(cog_factory, range_server, capsys):
    root, base = range_server
    src = cog_factory(dtype="uint8", bands=3, compress="JPEG", blocksize=128)
    (root / "x.tif").write_bytes(src.read_bytes())
    assert main(["info", f"{base}/x.tif"]) == 0
    out = capsys.readouterr().out
    assert "JPEG" in out and "header read in 1 request(s)" in out


def test_clean_venv_without_numpy_parses_headers(cog_factory, tmp_path):
    """``rasteret-cog`` installed alone, without its (decode-only) dependencies, parses headers."""
    import os
    import shutil

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    pkg = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    r = subprocess.run(
        [uv, "venv", "-q", str(venv), "--python", py], env=env, capture_output=True, text=True
    )
    if r.returncode:
        pytest.skip(f"cannot create a venv here: {r.stderr.strip()}")
    python = venv / "bin" / "python"
    r = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), "--no-deps", str(pkg)],
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        pytest.skip(f"cannot install into the venv (offline build backend?): {r.stderr.strip()}")
    path = cog_factory(dtype="uint16", mask=True, blocksize=128)
    probe = _PROBE + "\nimport importlib.util\nassert importlib.util.find_spec('numpy') is None\n"
    out = subprocess.run(
        [str(python), "-c", probe, str(path)], capture_output=True, text=True, check=True
    )
    heavy, third = json.loads(out.stdout.splitlines()[0])
    assert heavy == [] and third == []
