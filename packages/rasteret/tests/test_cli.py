"""The ``rasteret`` command, run as a subprocess: output, JSON, exit codes, error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env_home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["HOME"] = str(env_home)
    env["RASTERET_LOCAL_DATASETS_PATH"] = str(env_home / "datasets.local.json")
    return subprocess.run(
        [sys.executable, "-m", "rasteret.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rasteret: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_help_and_version(home: Path) -> None:
    assert run(env_home=home).returncode == 0
    out = run("--version", env_home=home)
    assert out.returncode == 0 and out.stdout.startswith("rasteret ")


def test_datasets_list_and_info(home: Path) -> None:
    out = run("datasets", "list", "--json", env_home=home)
    assert out.returncode == 0
    ids = [d["id"] for d in json.loads(out.stdout)]
    assert "earthsearch/sentinel-2-l2a" in ids and "aef/v1-annual" in ids
    out = run("datasets", "list", "--search", "landsat", env_home=home)
    assert out.returncode == 0 and "earthsearch/landsat-c2-l2" in out.stdout
    out = run("datasets", "info", "earthsearch/naip", "--json", env_home=home)
    assert json.loads(out.stdout)["band_index_map"]["NIR"] == 3
    info = run("datasets", "info", "earthsearch/naip", env_home=home).stdout
    assert "Auth" in info and "required" in info


def test_unknown_dataset_is_one_line_exit_1(home: Path) -> None:
    for argv in (("datasets", "info", "nope/x"), ("datasets", "build", "nope/x", "n")):
        proc = run(*argv, env_home=home)
        assert proc.returncode == 1
        line = one_line_error(proc)
        assert "nope/x" in line and "earthsearch/sentinel-2-l2a" in line


def test_debug_shows_traceback(home: Path) -> None:
    proc = run("--debug", "datasets", "info", "nope/x", env_home=home)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_usage_errors_exit_2(home: Path) -> None:
    assert run("datasets", "frobnicate", env_home=home).returncode == 2
    proc = run(
        "datasets", "build", "earthsearch/sentinel-2-l2a", "x", "--bbox", "1,2,3", env_home=home
    )
    assert proc.returncode == 2 and "4 comma-separated" in proc.stderr
    proc = run("datasets", "build", "earthsearch/sentinel-2-l2a", "x", env_home=home)
    assert proc.returncode == 2 and "--bbox and --date-range" in one_line_error(proc)


def test_collections_commands(home: Path, legacy_dir: Path) -> None:
    ws = str(legacy_dir.parent)
    out = run("collections", "list", "--workspace-dir", ws, "--json", env_home=home)
    assert out.returncode == 0
    [entry] = json.loads(out.stdout)
    assert entry["name"] == "legacy" and entry["size"] == 6 and entry["kind"] == "records"
    table = run("collections", "list", "--workspace-dir", ws, env_home=home).stdout
    assert "legacy" in table and "data_source" in table
    info = run("collections", "info", "leg", "--workspace-dir", ws, "--json", env_home=home)
    assert info.returncode == 0 and json.loads(info.stdout)["path"] == str(legacy_dir)
    refused = run("collections", "delete", "legacy", "--workspace-dir", ws, env_home=home)
    assert refused.returncode == 2 and legacy_dir.exists()
    gone = run("collections", "delete", "legacy", "--workspace-dir", ws, "--yes", env_home=home)
    assert gone.returncode == 0 and not legacy_dir.exists()
    empty = run("collections", "list", "--workspace-dir", ws, env_home=home)
    assert "No cached collections found." in empty.stdout


def test_collections_bad_input(home: Path, tmp_path: Path) -> None:
    missing = run("collections", "list", "--workspace-dir", str(tmp_path / "nope"), env_home=home)
    assert missing.returncode == 1 and "does not exist" in one_line_error(missing)
    ws = tmp_path / "ws"
    (ws / "bad_records").mkdir(parents=True)
    (ws / "bad_records" / "part-0.parquet").write_bytes(b"not parquet at all")
    corrupt = run("collections", "info", "bad", "--workspace-dir", str(ws), env_home=home)
    assert corrupt.returncode == 1 and "not a readable Parquet" in one_line_error(corrupt)
    unknown = run("collections", "info", "zzz", "--workspace-dir", str(ws), env_home=home)
    assert unknown.returncode == 1 and "zzz" in one_line_error(unknown)


def test_register_and_unregister_local(home: Path, legacy_dir: Path) -> None:
    reg = str(home / "reg.json")
    out = run("datasets", "register-local", "local/legacy", str(legacy_dir),
              "--registry-path", reg, "--json", env_home=home)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["collection_uri"] == str(legacy_dir)
    by_name = run("datasets", "register-local", "local/again", "legacy", "--workspace-dir",
                  str(legacy_dir.parent), "--registry-path", reg, env_home=home)  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    assert [e["id"] for e in json.loads(Path(reg).read_text())] == ["local/again", "local/legacy"]
    out = run("datasets", "unregister-local", "local/legacy", "--registry-path", reg, env_home=home)
    assert out.returncode == 0
    again = run(
        "datasets", "unregister-local", "local/legacy", "--registry-path", reg, env_home=home
    )
    assert again.returncode == 1 and "local/legacy" in one_line_error(again)
    bad = run(
        "datasets",
        "register-local",
        "local/x",
        str(home / "missing"),
        "--registry-path",
        reg,
        env_home=home,
    )
    assert bad.returncode == 1
    one_line_error(bad)


def test_build_local_dataset_via_cli(home: Path, legacy_dir: Path) -> None:
    reg = home / "datasets.local.json"
    assert (
        run(
            "datasets",
            "register-local",
            "local/legacy",
            str(legacy_dir),
            "--registry-path",
            str(reg),
            env_home=home,
        ).returncode
        == 0
    )
    out = run(
        "build",
        "local/legacy",
        "mine",
        "--date-range",
        "2024-01-30,2024-01-31",
        "--json",
        env_home=home,
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["scene_count"] == 3 and info["name"] == "mine" and info["path"] == str(legacy_dir)


def test_collections_import(home: Path, tmp_path: Path, records) -> None:
    import pyarrow.parquet as pq

    src = tmp_path / "table.parquet"
    pq.write_table(records, src)
    ws = tmp_path / "ws"
    out = run("collections", "import", "tiles", "--record-table", str(src), "--workspace-dir",
              str(ws), "--data-source", "sentinel-2-l2a", "--json", env_home=home)  # fmt: skip
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["scene_count"] == 6 and info["path"] == str(ws / "tiles_records")
    listed = run("collections", "list", "--workspace-dir", str(ws), "--json", env_home=home)
    assert [c["name"] for c in json.loads(listed.stdout)] == ["tiles"]
    missing = run("collections", "import", "x", "--record-table", str(tmp_path / "nope.parquet"),
                  "--workspace-dir", str(ws), env_home=home)  # fmt: skip
    assert missing.returncode == 1 and "nope.parquet" in one_line_error(missing)
