"""The ``rasteret`` command, run as a subprocess: output, JSON, exit codes, error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


# -- rasteret 0.4.1 CLI compatibility (issue #13) and argument checks before I/O (#16) -----------

V041_SUMMARY_KEYS = {"name", "path", "scene_count", "date_start", "date_end",
                     "has_split_column", "columns"}  # fmt: skip


def test_collections_info_json_is_a_superset_of_041(home: Path, legacy_dir: Path) -> None:
    ws = str(legacy_dir.parent)
    out = run("collections", "info", "legacy", "--workspace-dir", ws, "--json", env_home=home)
    info = json.loads(out.stdout)
    assert set(info) >= V041_SUMMARY_KEYS, set(info)
    assert {"kind", "data_source", "date_range", "size", "created"} <= set(info)
    assert info["scene_count"] == info["size"] == 6
    assert info["has_split_column"] is False and info["name"] == "legacy"
    assert info["date_start"].startswith(info["date_range"][0])
    assert info["date_end"].startswith(info["date_range"][1])
    gone = run("collections", "delete", "legacy", "--workspace-dir", ws, "--yes", env_home=home)
    assert gone.stdout.strip() == f"Deleted: {legacy_dir}"


def test_local_registry_commands_act_on_the_running_process(
    legacy_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rasteret.cli import main
    from rasteret_catalog import DatasetRegistry

    reg = str(tmp_path / "reg.json")
    assert main(["datasets", "register-local", "local/run", str(legacy_dir),
                 "--registry-path", reg, "--json"]) == 0  # fmt: skip
    registered = json.loads(capsys.readouterr().out)
    assert DatasetRegistry.get("local/run") is not None
    assert main(["datasets", "unregister-local", "local/run", "--registry-path", reg,
                 "--json"]) == 0  # fmt: skip
    removed = json.loads(capsys.readouterr().out)
    assert {**registered, "removed": True} == removed  # the 0.4.1 descriptor keys, plus ours
    assert DatasetRegistry.get("local/run") is None
    assert main(["datasets", "list", "--json"]) == 0
    assert "local/run" not in {d["id"] for d in json.loads(capsys.readouterr().out)}
    assert json.loads(Path(reg).read_text()) == []

    # never persisted: still exported from, and removed from, this process
    assert main(["datasets", "register-local", "local/mem", str(legacy_dir), "--no-persist"]) == 0
    out_path = tmp_path / "shared" / "mem.json"
    assert main(["datasets", "export-local", "local/mem", str(out_path), "--json"]) == 0
    capsys.readouterr()
    exported = json.loads(out_path.read_text())
    assert isinstance(exported, dict) and exported["id"] == "local/mem"
    assert exported["collection_uri"] == str(legacy_dir)
    assert main(["datasets", "unregister-local", "local/mem"]) == 0
    assert DatasetRegistry.get("local/mem") is None
    assert main(["datasets", "unregister-local", "local/mem"]) == 1


def test_register_local_blames_the_missing_path(home: Path, tmp_path: Path) -> None:
    for missing in ("/nonexistent", str(tmp_path / "no" / "such_records"), "./gone.parquet"):
        proc = run("datasets", "register-local", "local/x", missing, env_home=home)
        line = one_line_error(proc)
        assert proc.returncode == 1 and "does not exist" in line
        assert "workspace" not in line and Path(missing).name in line
    bare = run("datasets", "register-local", "local/x", "nosuchname", env_home=home)
    line = one_line_error(bare)
    assert "'nosuchname' is neither an existing path nor a cached collection" in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--max-concurrent", "-5"), "integer >= 1"),
        (("--max-concurrent", "0"), "integer >= 1"),
        (("--max-concurrent", "lots"), "integer >= 1"),
        (("--bbox", "nan,0,1,1"), "finite"),
        (("--bbox", "500000,4000000,510000,4010000"), "lon/lat"),
        (("--bbox", "1,1,0,2"), "west"),
        (("--date-range", "2024-02-01,2024-01-01"), "after its end"),
        (("--date-range", "2024-13-01,2024-12-31"), "2024-13-01"),
        (("--query", "[1, 2]"), "JSON object"),
        (("--query", "{oops"), "invalid JSON"),
    ],
)
def test_build_arguments_fail_before_any_io(home: Path, argv: tuple[str, ...], needle: str) -> None:
    # port 9 (discard) on loopback: a request would fail differently (and slowly); exit 2
    # with the argument's message shows nothing was attempted
    base = {"--bbox": "0,0,1,1", "--date-range": "2024-01-01,2024-01-31"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    flat = [x for kv in base.items() for x in kv if kv[0] not in ("--max-concurrent", "--query")]
    extra = [x for kv in base.items() if kv[0] in ("--max-concurrent", "--query") for x in kv]
    proc = run("collections", "build", "n", "--stac-api", "http://127.0.0.1:9/stac",
               "--collection", "c", *flat, *extra, env_home=home)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_path_arguments_checked_before_io(home: Path, legacy_dir: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    ws = run("datasets", "build", "earthsearch/sentinel-2-l2a", "n", "--bbox", "0,0,1,1",
             "--date-range", "2024-01-01,2024-01-02", "--workspace-dir", str(a_file),
             env_home=home)  # fmt: skip
    assert ws.returncode == 2 and "is a file" in one_line_error(ws)
    reg_dir = run("datasets", "register-local", "local/x", str(legacy_dir), "--registry-path",
                  str(tmp_path), env_home=home)  # fmt: skip
    assert reg_dir.returncode == 2 and "is a directory" in one_line_error(reg_dir)
    out_dir = run("datasets", "export-local", "local/x", str(tmp_path), env_home=home)
    assert out_dir.returncode == 2 and "is a directory" in one_line_error(out_dir)
    cmap = run("collections", "import", "n", "--record-table", str(a_file), "--column-map",
               '{"a": 1}', env_home=home)  # fmt: skip
    assert cmap.returncode == 2 and "column names" in cmap.stderr
    cols = run("collections", "import", "n", "--record-table", str(a_file), "--columns", ",,",
               env_home=home)  # fmt: skip
    assert cols.returncode == 2 and "column names" in cols.stderr


# -- build bounds and the build report on the command line (issue #16) ---------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--deadline", "0"), ("--deadline", "-2"), ("--deadline", "nan"), ("--deadline", "inf"),
     ("--deadline", "soon"), ("--request-timeout", "0"), ("--request-timeout", "-1")],
)  # fmt: skip
def test_build_bounds_fail_before_any_io(home: Path, tmp_path: Path, flag: str, value: str) -> None:
    # port 9 (discard) on loopback: a request would fail differently; exit 2 shows none was made
    stac = run("collections", "build", "n", "--stac-api", "http://127.0.0.1:9/stac",
               "--collection", "c", "--bbox", "0,0,1,1", "--date-range",
               "2024-01-01,2024-01-31", flag, value, env_home=home)  # fmt: skip
    assert stac.returncode == 2 and flag in stac.stderr and "seconds" in stac.stderr
    table = run("collections", "import", "n", "--record-table", "http://127.0.0.1:9/t.parquet",
                "--workspace-dir", str(tmp_path / "ws"), "--enrich", flag, value,
                env_home=home)  # fmt: skip
    assert table.returncode == 2 and flag in table.stderr
    dataset = run("build", "earthsearch/sentinel-2-l2a", "n", flag, value, env_home=home)
    assert dataset.returncode == 2 and flag in dataset.stderr


def _failing_records(object_server: Any, cog_factory: Any, tmp_path: Path) -> Path:
    """A record table of four scenes on the object server; the headers of three are missing."""
    import datetime as dt
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    pool = Path(object_server.root) / "clipool"
    pool.mkdir(exist_ok=True)
    shutil.copy(cog_factory(dtype="uint16", seed=7, height=200, width=200), pool / "b.tif")
    object_server.alias_pattern("cli/{n}/{file}", "clipool/{file}")
    object_server.configure(missing_keys={f"cli/{i}/b.tif" for i in range(3)})
    table = pa.table({
        "id": [f"s{i}" for i in range(4)],
        "datetime": pa.array([dt.datetime(2024, 5, 1 + i, tzinfo=dt.UTC) for i in range(4)]),
        "geometry": [shapely.to_wkb(shapely.box(15.0, 45.0, 15.1, 45.1))] * 4,
        "assets": [{"B04": {"href": object_server.url(f"cli/{i}/b.tif")}} for i in range(4)],
    })  # fmt: skip
    path = tmp_path / "records.parquet"
    pq.write_table(table, path)
    return path


def test_build_commands_show_the_build_report(
    object_server: Any, cog_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rasteret.cli import main
    from rasteret_ingest import IngestWarning

    src = str(_failing_records(object_server, cog_factory, tmp_path))
    ws = str(tmp_path / "ws")
    argv = ["collections", "import", "rep", "--record-table", src, "--workspace-dir", ws,
            "--enrich", "--deadline", "60", "--request-timeout", "10"]  # fmt: skip
    with pytest.warns(IngestWarning, match="3 of 4"):
        assert main([*argv, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    report = info["build_report"]
    assert info["scene_count"] == 4 and report["failed"] == 3 and report["attempted"] == 4
    assert [f["record_id"] for f in report["failures"]] == ["s0", "s1", "s2"]
    assert {f["status"] for f in report["failures"]} == {404}
    assert report["failures"][0]["url"] == object_server.url("cli/0/b.tif")
    with pytest.warns(IngestWarning):
        assert main([*argv, "--force"]) == 0
    text = capsys.readouterr().out
    assert "Failures:   3" in text
    for i in range(3):
        assert f"{object_server.url(f'cli/{i}/b.tif')} (record s{i}, band B04)" in text
    # reused from the workspace: nothing was read, so there is no report
    assert main([*argv[:-5], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["build_report"] is None
    # --deadline / --request-timeout reach the build: a stalled header is a reported failure
    object_server.configure(missing_keys=set(), stall_s=30.0)
    object_server.inject("stall", 100, key="cli/1/")
    t0 = time.monotonic()
    with pytest.warns(IngestWarning, match="DeadlineExceededError"):
        assert main(["collections", "import", "dl", "--record-table", src, "--workspace-dir",
                     ws, "--enrich", "--deadline", "1.5", "--request-timeout", "1",
                     "--json"]) == 0  # fmt: skip
    assert time.monotonic() - t0 < 15
    failures = json.loads(capsys.readouterr().out)["build_report"]["failures"]
    assert [(f["record_id"], f["kind"]) for f in failures] == [("s1", "DeadlineExceededError")]


def test_build_summary_of_a_streamed_collection_does_not_count_it(
    aef_hf_repo: Any, hf_hub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import rasteret
    from rasteret.cli import main
    from rasteret_catalog import DatasetDescriptor

    rasteret.register(DatasetDescriptor(id="test/aef-hf", name="AEF on the Hub",
                                        collection_uri=aef_hf_repo.uri))  # fmt: skip
    assert main(["build", "test/aef-hf", "streamed", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "streamed" and info["scene_count"] is None
    assert info["date_start"] is None and info["build_report"] is None
    assert info["bands"] and "datetime" in info["columns"]
    assert main(["build", "test/aef-hf", "streamed"]) == 0
    text = capsys.readouterr().out
    assert "Records:    ? (streamed, not counted)" in text and "Failures" not in text


def test_an_interrupt_python_would_ignore_still_stops_the_command() -> None:
    # SIGINT landing in a weakref callback is printed as "Exception ignored" and dropped by
    # Python; the CLI must deliver it again so one Ctrl-C always stops the command.
    import weakref

    from rasteret.cli._interrupt import interrupts_not_swallowed

    class Thing:
        pass

    def interrupted(_ref: object) -> None:
        raise KeyboardInterrupt

    seen: list[object] = []
    with pytest.raises(KeyboardInterrupt), interrupts_not_swallowed():
        thing = Thing()
        ref = weakref.ref(thing, interrupted)
        del thing  # the callback's KeyboardInterrupt becomes unraisable here
        for _ in range(200):  # bounded: the re-delivered interrupt surfaces at once
            seen.append(ref)
            time.sleep(0.005)
    assert len(seen) < 200
