"""The loopback Hub emulator against real ``huggingface_hub`` calls (HfFileSystem, HfApi,
hf_hub_download, pyarrow over HfFileSystem), with Range requests and byte counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rasteret_testkit.hub import HubEmulator
from rasteret_testkit.hub_client import hub_env, use_hub

hf = pytest.importorskip("huggingface_hub")
hf_errors = pytest.importorskip("huggingface_hub.errors")

ROWS = 80_000
ROW_GROUP = 10_000  # ~300 KB per row group, well above pyarrow's 64 KiB footer prefetch


def _make_repo(root: Path, *, seed: int = 0) -> Path:
    """README (plain git), a multi-row-group Parquet file (LFS) and a nested text file."""
    (root / "data" / "sub").mkdir(parents=True)
    (root / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# test\n")
    (root / "data" / "sub" / "notes.txt").write_text("nested\n")
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "k": np.arange(ROWS, dtype=np.int64),
            "v": rng.random(ROWS),
            "s": [f"row-{i:08d}-{seed}" for i in range(ROWS)],
        }
    )
    pq.write_table(table, root / "data" / "part-0.parquet", row_group_size=ROW_GROUP)
    return root


@pytest.fixture
def repo(hf_hub: HubEmulator, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Path]:
    repo_id = f"testorg/{request.node.name.replace('[', '-').replace(']', '')[:60]}"
    root = _make_repo(tmp_path / "repo")
    hf_hub.add_dataset(repo_id, root)
    return repo_id, root


def test_ls_info_and_listing_endpoints(hf_hub: HubEmulator, repo: tuple[str, Path]) -> None:
    repo_id, root = repo
    fs = hf.HfFileSystem()
    base = f"datasets/{repo_id}"
    assert sorted(fs.ls(base, detail=False)) == [f"{base}/README.md", f"{base}/data"]
    info = fs.info(f"{base}/data/part-0.parquet")
    size = (root / "data" / "part-0.parquet").stat().st_size
    assert info["type"] == "file" and info["size"] == size
    assert info["lfs"] is not None and info["lfs"].size == size  # *.parquet is LFS
    assert fs.info(f"{base}/README.md")["lfs"] is None  # plain git file
    assert fs.isdir(f"{base}/data/sub")
    assert sorted(fs.find(base)) == [
        f"{base}/README.md",
        f"{base}/data/part-0.parquet",
        f"{base}/data/sub/notes.txt",
    ]
    api = hf.HfApi()
    assert api.list_repo_files(repo_id, repo_type="dataset") == [
        "README.md",
        "data/part-0.parquet",
        "data/sub/notes.txt",
    ]
    (got,) = api.get_paths_info(repo_id, ["data/part-0.parquet"], repo_type="dataset")
    assert got.size == size and got.lfs is not None
    commit = hf_hub.repo(repo_id).branches["main"].commit
    assert api.dataset_info(repo_id).sha == commit
    assert [b.target_commit for b in api.list_repo_refs(repo_id, repo_type="dataset").branches] == [
        commit
    ]
    kinds = {r.kind for r in hf_hub.requests}
    assert {"repo-info", "tree", "paths-info", "refs"} <= kinds
    assert hf_hub.count(kind="other") == 0
    assert hf_hub.bytes_served(repo_id) == 0  # listing reads no file content


def test_tree_pagination_follows_link_header(hf_hub: HubEmulator, repo: tuple[str, Path]) -> None:
    repo_id, root = repo
    for i in range(7):
        (root / "data" / f"extra-{i}.txt").write_text(str(i))
    hf_hub.configure(tree_page_size=2)
    files = hf.HfApi().list_repo_files(repo_id, repo_type="dataset")
    assert len(files) == 3 + 7
    assert hf_hub.count(repo_id, kind="tree") >= 6  # 12 entries (2 dirs) in pages of 2


def test_revisions_branch_and_commit(hf_hub: HubEmulator, repo: tuple[str, Path], tmp_path: Path):
    repo_id, _ = repo
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "only-on-v2.txt").write_text("v2")
    branch = hf_hub.add_dataset(repo_id, v2, revision="v2")
    fs = hf.HfFileSystem()
    assert fs.ls(f"datasets/{repo_id}@v2", detail=False) == [
        f"datasets/{repo_id}@v2/only-on-v2.txt"
    ]
    at_sha = f"datasets/{repo_id}@{branch.commit}"
    assert fs.cat_file(f"{at_sha}/only-on-v2.txt") == b"v2"
    assert fs.cat_file(f"datasets/{repo_id}@refs%2Fheads%2Fv2/only-on-v2.txt") == b"v2"
    with pytest.raises(FileNotFoundError):
        fs.ls(f"datasets/{repo_id}@nope")
    with pytest.raises(hf_errors.RevisionNotFoundError):
        hf.HfApi().dataset_info(repo_id, revision="nope")
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        hf.HfApi().dataset_info("testorg/does-not-exist")
    with pytest.raises(FileNotFoundError):
        fs.info(f"datasets/{repo_id}/data/missing.parquet")
    revs = {r.revision for r in hf_hub.requests if r.kind == "resolve"}
    assert {branch.commit, "refs/heads/v2"} <= revs


def test_open_reads_exact_ranges_and_counts_bytes(
    hf_hub: HubEmulator, repo: tuple[str, Path]
) -> None:
    repo_id, root = repo
    local = (root / "data" / "part-0.parquet").read_bytes()
    fs = hf.HfFileSystem()
    hf_hub.reset()
    with fs.open(f"datasets/{repo_id}/data/part-0.parquet", "rb", cache_type="none") as f:
        f.seek(1000)
        assert f.read(500) == local[1000:1500]
        f.seek(len(local) - 8)
        assert f.read() == local[-8:]
    path = "data/part-0.parquet"
    assert hf_hub.spans_served(repo_id, path) == [(1000, 1499), (len(local) - 8, len(local) - 1)]
    assert hf_hub.bytes_served(repo_id, path) == 508
    # LFS: resolve answers 302 (no content) and the CDN, another origin, serves the ranges
    resolves = [r for r in hf_hub.requests if r.kind == "resolve"]
    assert resolves and all(r.status == 302 and r.bytes_sent == 0 for r in resolves)
    cdn = [r for r in hf_hub.requests if r.kind == "cdn"]
    assert [r.status for r in cdn] == [206, 206]
    assert [r.range for r in cdn] == ["bytes=1000-1499", f"bytes={len(local) - 8}-{len(local) - 1}"]
    # a plain git file is served by resolve itself, also with Range
    with fs.open(f"datasets/{repo_id}/README.md", "rb", cache_type="none") as f:
        f.seek(4)
        assert f.read(7) == (root / "README.md").read_bytes()[4:11]
    (rec,) = [r for r in hf_hub.requests if r.path == "README.md" and r.bytes_sent]
    assert (rec.kind, rec.status, rec.span) == ("resolve", 206, (4, 10))


def _row_group_spans(meta: pq.FileMetaData) -> list[tuple[int, int]]:
    spans = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        starts = []
        ends = []
        for c in range(rg.num_columns):
            col = rg.column(c)
            start = col.dictionary_page_offset or col.data_page_offset
            starts.append(start)
            ends.append(start + col.total_compressed_size - 1)
        spans.append((min(starts), max(ends)))
    return spans


def test_parquet_file_reads_only_the_requested_row_group(
    hf_hub: HubEmulator, repo: tuple[str, Path]
) -> None:
    repo_id, root = repo
    local = root / "data" / "part-0.parquet"
    meta = pq.ParquetFile(local).metadata
    assert meta.num_row_groups == ROWS // ROW_GROUP
    spans = _row_group_spans(meta)
    fs = hf.HfFileSystem()
    hf_hub.reset()
    with fs.open(f"datasets/{repo_id}/data/part-0.parquet", "rb", cache_type="none") as f:
        got = pq.ParquetFile(f).read_row_group(5)
    assert got.equals(pq.ParquetFile(local).read_row_group(5))
    served = hf_hub.spans_served(repo_id, "data/part-0.parquet")
    for i, (lo, hi) in enumerate(spans):
        overlap = sum(max(0, min(e, hi) - max(s, lo) + 1) for s, e in served)
        if i == 5:
            assert overlap == hi - lo + 1
        elif i == len(spans) - 1:  # pyarrow reads the footer with a 64 KiB tail prefetch
            assert overlap <= 64 * 1024
        else:
            assert overlap == 0, f"row group {i} span={(lo, hi)} served={served}"
    total = hf_hub.bytes_served(repo_id, "data/part-0.parquet")
    assert total < local.stat().st_size / 4


def test_pyarrow_dataset_filter_prunes_row_groups_over_hf(
    hf_hub: HubEmulator, repo: tuple[str, Path]
) -> None:
    repo_id, root = repo
    local = root / "data" / "part-0.parquet"
    fs = hf.HfFileSystem(block_size=16 * 1024)
    hf_hub.reset()
    dataset = ds.dataset(f"datasets/{repo_id}/data/part-0.parquet", filesystem=fs, format="parquet")
    got = dataset.to_table(filter=ds.field("k") >= ROWS - 10)
    assert got.column("k").to_pylist() == list(range(ROWS - 10, ROWS))
    served = hf_hub.bytes_served(repo_id, "data/part-0.parquet")
    assert 0 < served < local.stat().st_size / 3


def test_hf_hub_download_lfs_and_plain(
    hf_hub: HubEmulator, repo: tuple[str, Path], tmp_path: Path
) -> None:
    repo_id, root = repo
    commit = hf_hub.repo(repo_id).branches["main"].commit
    p = hf.hf_hub_download(repo_id, "data/part-0.parquet", repo_type="dataset")
    assert Path(p).read_bytes() == (root / "data" / "part-0.parquet").read_bytes()
    assert f"/snapshots/{commit}/" in Path(p).as_posix()
    assert str(tmp_path) in p  # the fixture's download cache
    heads = [r for r in hf_hub.requests if r.method == "HEAD"]
    assert [(r.kind, r.status) for r in heads] == [("resolve", 302)]  # metadata, not followed
    p2 = hf.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=commit)
    assert Path(p2).read_text() == (root / "README.md").read_text()
    with pytest.raises(hf_errors.EntryNotFoundError):
        hf.hf_hub_download(repo_id, "nope.txt", repo_type="dataset")
    assert hf_hub.bytes_by_path(repo_id) == {
        "data/part-0.parquet": (root / "data" / "part-0.parquet").stat().st_size,
        "README.md": (root / "README.md").stat().st_size,
    }


def test_use_hub_restores_the_client(hf_hub_session: HubEmulator, tmp_path: Path) -> None:
    import huggingface_hub.constants as constants
    from huggingface_hub.hf_api import api

    before = (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, api.endpoint)
    env_before = os.environ.get("HF_ENDPOINT")
    with use_hub(hf_hub_session.endpoint, cache_dir=tmp_path):
        assert constants.ENDPOINT == hf_hub_session.endpoint == api.endpoint
        assert os.environ["HF_ENDPOINT"] == hf_hub_session.endpoint
        assert str(tmp_path) == constants.HF_HUB_CACHE
    assert (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, api.endpoint) == before
    assert os.environ.get("HF_ENDPOINT") == env_before


def test_hub_env_points_a_fresh_process_at_the_emulator(
    hf_hub: HubEmulator, repo: tuple[str, Path], tmp_path: Path
) -> None:
    repo_id, _ = repo
    code = (
        "import json, sys; from huggingface_hub import HfFileSystem;"
        f"print(json.dumps(HfFileSystem().ls('datasets/{repo_id}', detail=False)))"
    )
    env = {**os.environ, **hub_env(hf_hub.endpoint, tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)) == [
        f"datasets/{repo_id}/README.md",
        f"datasets/{repo_id}/data",
    ]
