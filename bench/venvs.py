"""The peers' own Python 3.12 venvs under ``bench/.venvs/`` (created on first use with uv).

- ``peers``: rasterio >= 1.5 (GDAL 3.12), async-tiff, async-geotiff, obstore, numpy,
  imagecodecs.
- ``rasteret041``: rasteret 0.4.1 from PyPI (needs Python >= 3.12 and rasterio < 1.5).
- ``virtual``: VirtualiZarr + virtual-tiff + icechunk + xarray (the persisted-index peer).
- ``odc``: odc-stac with rasterio >= 1.5 (GDAL 3.12) and pystac.

A venv is rebuilt when its package list changes (the list is kept in its stamp file).

A venv that cannot be built is reported (and its readers skipped); the run continues.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.corpus import BENCH_DIR

VENV_DIR = BENCH_DIR / ".venvs"
SPECS = {
    "peers": [
        "rasterio>=1.5",
        "async-tiff==0.7.2",
        "async-geotiff==0.5.1",
        "obstore",
        "numpy",
        "imagecodecs",
    ],
    "rasteret041": ["rasteret==0.4.1", "rasterio<1.5"],
    "virtual": [
        "virtualizarr==2.8.0",
        "virtual-tiff==0.5.0",
        "icechunk==2.3.0",
        "xarray",
        "zarr",
        "obstore",
        "numpy",
        "imagecodecs",
    ],
    "odc": ["odc-stac==0.5.3", "rasterio>=1.5", "pystac", "numpy"],
}
UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "PYENV_VERSION": "3.11.7:3.12.1:3.13.0"}


def _uv() -> list[str]:
    exe = shutil.which("uv")
    return [exe] if exe else [sys.executable, "-m", "uv"]


def python(name: str) -> Path:
    return VENV_DIR / name / "bin" / "python"


def ensure(name: str, log=print) -> tuple[Path | None, str]:
    """Return ``(python, "")`` or ``(None, reason)``."""
    py = python(name)
    stamp = VENV_DIR / name / ".bench-ok"
    want = "\n".join(SPECS[name]) + "\n"
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py, ""
    env = {**os.environ, **UV_ENV}
    env.pop("VIRTUAL_ENV", None)
    try:
        log(f"creating venv {name} (Python 3.12): {' '.join(SPECS[name])}")
        subprocess.run(
            [*_uv(), "venv", "-q", "--clear", "-p", "3.12", str(VENV_DIR / name)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        subprocess.run(
            [*_uv(), "pip", "install", "-q", *SPECS[name]],
            check=True,
            env={**env, "VIRTUAL_ENV": str(VENV_DIR / name)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        err = getattr(exc, "stderr", "") or str(exc)
        return None, f"venv {name} could not be built: {err.strip()[-500:]}"
    stamp.write_text(want)
    return py, ""


def freeze(py: Path) -> dict[str, str]:
    """Installed package versions of a venv (uv pip list)."""
    try:
        out = subprocess.run(
            [*_uv(), "pip", "list", "--format", "freeze", "--python", str(py)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **UV_ENV},
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split("==", 1) for line in out.splitlines() if "==" in line)
