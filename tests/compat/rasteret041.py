"""Run rasteret 0.4.1's own public-surface tests against this package.

The 0.4.1 source distribution ships its test suite (``src/rasteret/tests``). We never copy
another project's code into ours, so nothing of it is vendored: the pinned sdist is fetched
from PyPI at test time with pip (``pip download --no-binary :all: --no-deps``), its sha256 is
checked, the test files listed in :data:`RUN` are extracted into a temporary directory next to
our adapted ``conftest.py`` (``suite_conftest.py``), and pytest runs them in a subprocess
against the installed workspace packages.

The sdist is cached (``$RASTERET_CI_CACHE``, default ``~/.cache/rasteret-ci``) so only the
first run needs PyPI; ``RASTERET_041_SDIST`` points at a local copy instead. Every test file of
the sdist is either in :data:`RUN` or in :data:`NOT_RUN` with the reason, and every skipped test
of a run file is in :data:`SKIPS` with the reason; ``docs/compat.md`` lists both (a test checks).

Usage: ``uv run python tests/compat/rasteret041.py [pytest args...]`` (exit code of pytest;
``3`` when the sdist cannot be fetched).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "0.4.1"
SDIST_NAME = f"rasteret-{VERSION}.tar.gz"
SDIST_SHA256 = "3f10261357221e3edd51d7d5232a5d2bf1d4327196c3998e866be5003926b733"
TESTS_IN_SDIST = f"rasteret-{VERSION}/src/rasteret/tests"
HERE = Path(__file__).resolve().parent

RUN: tuple[str, ...] = (
    "test_catalog.py",
    "test_registry.py",
    "test_cli.py",
    "test_collection_naming.py",
    "test_public_api_surface.py",
)
"""Files that exercise the public API (module-level imports of public module paths only)."""

_IMPL = "imports 0.4.1 implementation modules at module level"

NOT_RUN: dict[str, str] = {
    "test_boto3_provider_logging.py": "monkeypatches rasteret.fetch.cog internals (boto3 provider)",
    "test_cog_reader.py": f"{_IMPL} (rasteret.fetch.cog: COGReader, merge_ranges, read_cog)",
    "test_collection_filters.py": f"{_IMPL} (rasteret.ingest.normalize) and patches read_cog",
    "test_compat_matrix.py": "stubs 0.4.1's STAC client and header parser (internal wiring)",
    "test_dataset_pixel_comparison.py": "network only; imports rasteret.core.utils",
    "test_execution.py": f"{_IMPL} (rasteret.core.execution, point_sampling, utils); patches COGReader",
    "test_geometry_arrow_bridge.py": f"{_IMPL} (rasteret.core.geometry)",
    "test_geoparquet_conformance.py": f"{_IMPL} (rasteret.ingest.normalize)",
    "test_header_parser_local.py": f"{_IMPL} (rasteret.fetch.header_parser)",
    "test_huggingface.py": f"{_IMPL} (rasteret.integrations.huggingface); mocks HfApi",
    "test_ingest.py": f"{_IMPL} (rasteret.ingest.enrich, normalize, parquet_record_table)",
    "test_local_tiff_support.py": f"{_IMPL} (rasteret.fetch.cog.read_cog)",
    "test_native_res.py": f"{_IMPL} (rasteret.ingest.normalize)",
    "test_network_smoke.py": "network only (live Earth Search / Planetary Computer / Landsat)",
    "test_obstore_routing.py": f"{_IMPL} (rasteret.fetch.cog routing internals)",
    "test_pickle_after_read.py": f"{_IMPL} (rasteret.core.reader_pool)",
    "test_public_network_smoke.py": "needs the internet (live S3 / GCS), partly unmarked",
    "test_reader_reuse.py": f"{_IMPL} (rasteret.core.execution); patches COGReader",
    "test_rio_semantics.py": f"{_IMPL} (rasteret.core.rio_semantics)",
    "test_stac_indexer.py": f"{_IMPL} (rasteret.ingest.stac_indexer)",
    "test_utils.py": f"{_IMPL} (rasteret.core.utils)",
}
"""Test files of the sdist that are not run, with the reason."""

_PATCHES_EXEC = "patches 0.4.1's execution functions in rasteret.core.collection"
_DUAL = (
    "record-index (dual-surface) internals: patches rasteret.core.collection.ds / reads "
    "private attributes of 0.4.1's Collection"
)
_GEOPARQUET = "patches pyarrow.dataset.dataset and rasteret.build_from_table (0.4.1 build wiring)"

SKIPS: dict[str, str] = {
    "test_cli.py::test_collections_build_passes_args_and_returns_summary": (
        "patches the 0.4.1 module attribute rasteret.cli.build_from_stac and uses the private "
        "Collection._load_cached"
    ),
    "test_public_api_surface.py::test_build_from_stac_returns_cached_collection_without_network": (
        "deliberate: a cache hit is validated like load() (its fixture has no bbox column; "
        "0.4.1 skipped validation on cache hits)"
    ),
    "test_public_api_surface.py::test_collection_analysis_methods_delegate_to_execution_layer": (
        _PATCHES_EXEC
    ),
    "test_public_api_surface.py::test_get_numpy_forwards_all_touched_flag": _PATCHES_EXEC,
    "test_public_api_surface.py::test_sample_points_forwards_nodata_fallback_params": (
        _PATCHES_EXEC
    ),
    "test_public_api_surface.py::test_load_hf_uri_uses_hf_reader": (
        "patches rasteret.core.collection.open_hf_streaming_source, reads Collection._hf_streaming"
    ),
    "test_public_api_surface.py::test_build_aef_dataset_id_routes_to_load_alias": (
        "patches the module attribute rasteret.load (build does not look it up there)"
    ),
    "test_public_api_surface.py::test_load_dataset_id_preserves_data_source_for_auto_backend": (
        "calls the private Collection._auto_backend()"
    ),
    "test_public_api_surface.py::test_open_parquet_dataset_prefers_metadata_sidecar": (
        "tests the private rasteret.core.collection._open_parquet_dataset"
    ),
    "test_public_api_surface.py::test_open_parquet_dataset_caches_local_dataset_until_file_changes": (
        "tests the private _open_parquet_dataset and _PARQUET_DATASET_CACHE"
    ),
    "test_public_api_surface.py::test_load_dataset_id_head_does_not_open_wide_dataset": _DUAL,
    "test_public_api_surface.py::test_dual_surface_bands_do_not_open_wide_dataset": _DUAL,
    "test_public_api_surface.py::test_dual_surface_epsg_uses_index_without_opening_wide_dataset": (
        _DUAL
    ),
    "test_public_api_surface.py::test_dual_surface_crs_uses_index_without_opening_wide_dataset": (
        _DUAL
    ),
    "test_public_api_surface.py::test_dual_surface_subset_keeps_wide_filter_plan_without_opening_data": (
        _DUAL
    ),
    "test_public_api_surface.py::test_load_dataset_id_uses_source_part_to_narrow_data_fragments": (
        _DUAL
    ),
    "test_public_api_surface.py::test_build_geoparquet_descriptor_uses_struct_bbox_when_no_bbox_columns": (
        _GEOPARQUET
    ),
    "test_public_api_surface.py::test_build_geoparquet_descriptor_uses_field_role_bbox_source": (
        _GEOPARQUET
    ),
    "test_public_api_surface.py::test_build_geoparquet_descriptor_uses_datetime_field_role_even_when_named_datetime": (
        _GEOPARQUET
    ),
    "test_public_api_surface.py::test_build_geoparquet_descriptor_without_cloud_config_still_builds": (
        _GEOPARQUET
    ),
    "test_public_api_surface.py::test_build_geoparquet_descriptor_applies_post_build_date_filter_for_string_datetime": (
        _GEOPARQUET
    ),
    "test_public_api_surface.py::test_from_parquet_deferred_open_rejects_non_timestamp_datetime_on_first_open": (
        "calls the private Collection._filtered_data_dataset()"
    ),
    "test_public_api_surface.py::test_build_collection_from_table_reprojects_geoarrow_footprint_to_crs84": (
        "imports the 0.4.1 implementation module rasteret.ingest.normalize"
    ),
    "test_public_api_surface.py::test_as_collection_warns_for_large_in_memory_table": (
        "patches the private rasteret._total_ram_bytes"
    ),
}
"""Tests of the run files that are skipped, with the reason (``file::test``)."""


class SdistUnavailable(RuntimeError):
    """The pinned sdist could not be fetched (PyPI unreachable) or failed its checksum."""


def cache_dir() -> Path:
    """Where the downloaded sdist is kept between runs."""
    root = os.environ.get("RASTERET_CI_CACHE") or str(Path.home() / ".cache" / "rasteret-ci")
    return Path(root).expanduser() / "rasteret-0.4.1-sdist"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pip() -> list[str]:
    """A pip to download with: this interpreter's, else ``uv tool run pip``, else ``python3``'s."""
    if _works([sys.executable, "-m", "pip", "--version"]):
        return [sys.executable, "-m", "pip"]
    uv = shutil.which("uv")
    if uv and _works([uv, "tool", "run", "pip", "--version"]):
        return [uv, "tool", "run", "pip"]
    python = shutil.which("python3")
    if python and _works([python, "-m", "pip", "--version"]):
        return [python, "-m", "pip"]
    raise SdistUnavailable("no pip available to download the rasteret 0.4.1 sdist")


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def fetch_sdist() -> Path:
    """The verified sdist: ``$RASTERET_041_SDIST``, the cached copy, or a fresh download.

    Raises:
        SdistUnavailable: PyPI unreachable, or a file whose sha256 is not the pinned one.
    """
    override = os.environ.get("RASTERET_041_SDIST")
    if override:
        path = Path(override).expanduser()
        if not path.is_file() or _sha256(path) != SDIST_SHA256:
            raise SdistUnavailable(f"RASTERET_041_SDIST={path} is missing or not the pinned sdist")
        return path
    target = cache_dir() / SDIST_NAME
    if target.is_file() and _sha256(target) == SDIST_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        # 0.4.1 declares Python >= 3.12; --python-version lets an older pip fetch the sdist.
        cmd = [
            *_pip(),
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--python-version",
            "3.12",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            f"rasteret=={VERSION}",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise SdistUnavailable("pip download of rasteret 0.4.1 timed out") from None
        got = Path(tmp) / SDIST_NAME
        if proc.returncode != 0 or not got.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise SdistUnavailable(
                f"cannot download rasteret {VERSION} from PyPI: {' | '.join(tail)}"
            )
        digest = _sha256(got)
        if digest != SDIST_SHA256:
            raise SdistUnavailable(f"downloaded sdist has sha256 {digest}, expected {SDIST_SHA256}")
        os.replace(got, target)
    return target


def prepare(sdist: Path, dest: Path) -> Path:
    """Extract the :data:`RUN` files plus our conftest, pytest.ini and skip table into ``dest``.

    Returns:
        The directory holding the test files.
    """
    suite = dest / "rasteret041_tests"
    suite.mkdir(parents=True)
    wanted = {f"{TESTS_IN_SDIST}/{name}": name for name in RUN}
    with tarfile.open(sdist, "r:gz") as tar:
        names = set(tar.getnames())
        in_sdist = {n.rsplit("/", 1)[1] for n in names if n.startswith(f"{TESTS_IN_SDIST}/test_")}
        unknown = in_sdist - set(RUN) - set(NOT_RUN)
        if unknown:
            raise RuntimeError(f"test files of the sdist neither run nor listed: {sorted(unknown)}")
        for member, name in wanted.items():
            fh = tar.extractfile(member)
            if fh is None:
                raise RuntimeError(f"{member} missing from {sdist}")
            (suite / name).write_bytes(fh.read())
    shutil.copyfile(HERE / "suite_conftest.py", suite / "conftest.py")
    (suite / "skips.json").write_text(json.dumps(SKIPS, indent=1), encoding="utf-8")
    (suite / "pytest.ini").write_text(
        "[pytest]\naddopts = -ra\nfilterwarnings =\n"
        "    ignore:Use `@` matmul instead:PendingDeprecationWarning\n",
        encoding="utf-8",
    )
    return suite


@dataclass
class Outcome:
    """What one run gave: pytest's exit code and each test's outcome (``file::[Class::]test``)."""

    returncode: int
    output: str
    results: dict[str, str] = field(default_factory=dict)
    skip_reasons: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        """How many tests had ``outcome`` (passed / failed / skipped / error)."""
        return sum(1 for v in self.results.values() if v == outcome)


def _parse_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    results: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module, _, cls = case.get("classname", "").partition(".")
        key = f"{module}.py::{cls + '::' if cls else ''}{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                if child.tag == "skipped":
                    reasons[key] = child.get("message", "")
        results[key] = outcome
    return results, reasons


def run(extra_args: list[str] | None = None, *, python: str | None = None) -> Outcome:
    """Fetch, extract and run the suite once; return its outcome.

    Raises:
        SdistUnavailable: The sdist could not be fetched.
    """
    sdist = fetch_sdist()
    with tempfile.TemporaryDirectory(prefix="rasteret041-") as tmp:
        root = Path(tmp)
        suite = prepare(sdist, root)
        home = root / "home"
        home.mkdir()
        env = {
            **os.environ,
            "HOME": str(home),  # defaults such as ~/rasteret_workspace stay inside the run
            "RASTERET_LOCAL_DATASETS_PATH": str(home / ".rasteret" / "datasets.local.json"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        junit = root / "junit.xml"
        cmd = [
            python or sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "-c",
            str(suite / "pytest.ini"),
            "--rootdir",
            str(suite),
            f"--junitxml={junit}",
            "-o",
            "junit_family=xunit1",
            "-q",
            str(suite),
            *(extra_args or []),
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=root, timeout=1800, check=False
        )
        results, reasons = _parse_junit(junit) if junit.exists() else ({}, {})
        return Outcome(proc.returncode, proc.stdout + proc.stderr, results, reasons)


def main(argv: list[str]) -> int:
    """Run the suite and print pytest's output and a summary; returns pytest's exit code."""
    try:
        outcome = run(argv)
    except SdistUnavailable as exc:
        print(f"rasteret 0.4.1 compat suite not run: {exc}", file=sys.stderr)
        return 3
    print(outcome.output)
    print(
        f"rasteret {VERSION} suite: {outcome.count('passed')} passed, "
        f"{outcome.count('skipped')} skipped, {outcome.count('failed')} failed, "
        f"{outcome.count('error')} errors; files run: {', '.join(RUN)}"
    )
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
