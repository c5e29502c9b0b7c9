"""``rasteret demo`` exactly as a user runs it: the console script, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np


def _console_script() -> list[str]:
    exe = Path(sys.executable).with_name("rasteret")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("rasteret")
    return [found] if found else [sys.executable, "-m", "rasteret.cli"]


def test_rasteret_demo_writes_a_figure_and_cleans_up(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "fig" / "demo.png"
    # a configured proxy (unreachable) must not capture the loopback traffic
    env = dict(os.environ, TMPDIR=str(tmp), HTTP_PROXY="http://127.0.0.1:9")
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    proc = subprocess.run(
        [*_console_script(), "demo", "--output", str(out), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["output"] == str(out.resolve()) and report["workdir"] is None
    assert report["records_total"] == 11 and report["records_kept"] == 8
    phases = {p["phase"].split(" ")[0]: p for p in report["phases"]}
    # one ranged header request per COG (22) plus the catalog / collection / 11 item JSONs
    assert phases["build"]["requests"] == 22 + 13
    assert 0 < phases["read"]["requests"] <= 16 and phases["filter"]["requests"] == 0
    assert phases["read"]["bytes"] < report["bytes_on_server"] / 4
    ndvi = [d["ndvi_aoi"] for d in report["dates"]]
    assert len(ndvi) == 8 and all(0.2 < v < 0.8 for v in ndvi)

    assert out.stat().st_size > 20_000
    img = mpimg.imread(out)
    assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 600
    assert float(np.asarray(img[..., :3]).std()) > 0.05
    assert list(tmp.iterdir()) == []  # the working directory is gone


def test_rasteret_demo_quiet_prints_only_the_path(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.run(
        [*_console_script(), "demo", "--quiet", "--keep"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "rasteret-demo.png")
    (kept,) = list(tmp.iterdir())  # --keep leaves the COGs, catalog and collection
    assert (kept / "www" / "stac" / "catalog.json").is_file()
    assert len(list((kept / "www" / "cogs").rglob("*.tif"))) == 22
    shutil.rmtree(kept)


def test_rasteret_demo_ctrl_c_cleans_up(tmp_path: Path) -> None:
    import signal
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.Popen(
        [*_console_script(), "demo", "--output", str(tmp_path / "x.png")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp.glob("rasteret-demo-*/www/cogs/*/B04.tif")):  # generating
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err.strip() == "rasteret: interrupted"
    assert list(tmp.iterdir()) == [] and not (tmp_path / "x.png").exists()
