"""The public surface matches rasteret 0.4.1 name for name and signature for signature."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

import rasteret

EXPECTED_ALL = [
    "BandRegistry", "CloudConfig", "Collection", "DatasetDescriptor", "DatasetRegistry",
    "__version__", "as_collection", "build", "build_from_stac", "build_from_table",
    "create_backend", "get_options", "load", "options", "register", "register_local",
    "set_options", "version",
]  # fmt: skip

# Signatures from the 0.4.1 reference (§1, §2): name, kind, default (repr) per parameter.
P, K, V = "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY", "VAR_KEYWORD"
_NO = inspect.Parameter.empty
# Keyword-only additions after 0.4.1's parameters (issue 16: read trust); 0.4.1 calls are
# unaffected because every addition is keyword-only with a default.
_OPTIONS_ADDED = [("memory_budget", K, None), ("deadline", K, None), ("timeout", K, None),
                  ("staleness", K, None), ("max_requests_in_flight", K, None)]  # fmt: skip
_TRUST = [("error_policy", K, "raise"), ("deadline", K, None), ("timeout", K, None),
          ("staleness", K, None)]  # fmt: skip
FUNCTIONS = {
    "build": [("dataset", P, _NO), ("name", K, _NO), ("bbox", K, None), ("date_range", K, None),
              ("workspace_dir", K, None), ("force", K, False), ("max_concurrent", K, 50),
              ("query", K, None), ("prefer_geoparquet", K, False), ("stac_api", K, None),
              ("cloud_config", K, None), ("backend", K, None)],
    "build_from_stac": [("name", K, _NO), ("stac_api", K, _NO), ("collection", K, _NO),
                        ("data_source", K, None), ("band_map", K, None),
                        ("band_index_map", K, None), ("bbox", K, None), ("date_range", K, None),
                        ("workspace_dir", K, None), ("force", K, False),
                        ("max_concurrent", K, 50), ("cloud_config", K, None), ("query", K, None),
                        ("backend", K, None), ("static_catalog", K, False)],
    "build_from_table": [("path", P, _NO), ("name", K, ""), ("data_source", K, ""),
                         ("workspace_dir", K, None), ("column_map", K, None),
                         ("href_column", K, None), ("band_index_map", K, None),
                         ("url_rewrite_patterns", K, None), ("filesystem", K, None),
                         ("columns", K, None), ("filter_expr", K, None), ("enrich_cog", K, False),
                         ("band_codes", K, None), ("cloud_config", K, None),
                         ("max_concurrent", K, 300), ("force", K, False), ("backend", K, None)],
    "load": [("path", P, _NO), ("name", P, "")],
    "as_collection": [("table", P, _NO), ("name", K, ""), ("data_source", K, ""),
                      ("description", K, ""), ("start_date", K, None), ("end_date", K, None),
                      ("require_band_metadata", K, True)],
    "register": [("descriptor", P, _NO)],
    "register_local": [("dataset_id", P, _NO), ("path", P, _NO), ("name", K, None),
                       ("description", K, ""), ("data_source", K, ""), ("persist", K, True),
                       ("registry_path", K, None)],
    "create_backend": [("credential_provider", P, None), ("cloud_config", P, None),
                       ("region", P, None), ("default_s3_config", P, None)],
    "set_options": [("progress", K, None), *_OPTIONS_ADDED],
    "options": [("progress", K, None), *_OPTIONS_ADDED],
    "get_options": [],
    "version": [],
}  # fmt: skip

# Keyword-only additions after 0.4.1's own parameters (0.4.1 calls keep working unchanged).
_BUILD_BOUNDS = [("deadline", K, None), ("request_timeout", K, None)]

_READ = [("max_concurrent", K, 50), ("progress", K, None), ("cloud_config", K, None),
         ("data_source", K, None), ("backend", K, None), ("target_crs", K, None),
         ("geometry_crs", K, "auto"), ("geometry_column", K, None), ("all_touched", K, False)]  # fmt: skip
_F = [("filters", V, _NO)]
METHODS = {
    "subset": [("cloud_cover_lt", K, None), ("date_range", K, None), ("bbox", K, None),
               ("geometries", K, None), ("split", K, None), ("split_column", K, "split")],
    "where": [("expr", P, _NO)],
    "select_split": [("split", P, _NO), ("split_column", K, "split")],
    "export": [("path", P, _NO), ("partition_by", P, ("year", "month"))],
    "head": [("n", P, 5), ("columns", P, None)],
    "to_table": [("columns", P, None)],
    "to_batches": [("columns", P, None)],
    "to_reader": [("columns", P, None), ("requested_schema", P, None)],
    "describe": [],
    "compare_to_catalog": [],
    "footprints": [("crs", K, None), ("band", K, None)],
    "native_res": [("band", P, None)],
    "get_numpy": [("geometries", P, _NO), ("bands", P, _NO), *_READ, *_TRUST,
                  ("return_ids", K, False), *_F],
    "get_gdf": [("geometries", P, _NO), ("bands", P, _NO), *_READ, *_TRUST, *_F],
    "get_xarray": [("geometries", P, _NO), ("bands", P, _NO), *_READ,
                   ("xr_combine", K, "combine_first"), *_TRUST, *_F],
    "sample_points": [("points", P, _NO), ("bands", P, _NO), ("geometry_column", K, None),
                      ("x_column", K, None), ("y_column", K, None), ("max_concurrent", K, 50),
                      ("progress", K, None), ("cloud_config", K, None), ("data_source", K, None),
                      ("backend", K, None), ("geometry_crs", K, "auto"), ("match", K, "all"),
                      ("max_distance_pixels", K, 0), ("return_neighbourhood", K, "off"),
                      *_TRUST, *_F],
    "read_window": [("record_ids", K, _NO), ("bounds", K, _NO), ("res", K, _NO),
                    ("bands", K, _NO), ("target_crs", K, None), ("max_concurrent", K, 50),
                    ("backend", K, None), ("group_by", K, None), *_TRUST],
    "iterate_rasters": [("data_source", P, None), ("bands", P, None)],
    "get_first_raster": [],
}  # fmt: skip
# Keyword-only parameters added after 0.4.1 (issue #15), between the 0.4.1 parameters and
# **filters: every 0.4.1 call keeps working and keeps its output (defaults). The full
# signature is still checked exactly: the 0.4.1 parameters, then these, then **filters.
# They follow the read-trust keywords (in METHODS above as _TRUST / return_ids).
_CUBE = [("resolution", K, None), ("resampling", K, "nearest"), ("dtype", K, None),
         ("fill_value", K, None)]  # fmt: skip
ADDED = {
    "build": _BUILD_BOUNDS,
    "build_from_stac": _BUILD_BOUNDS,
    "build_from_table": _BUILD_BOUNDS,
    "get_numpy": [*_CUBE, ("anchor", K, None)],
    "get_xarray": [*_CUBE, ("groupby", K, None), ("anchor", K, None), ("chunks", K, None)],
}
CLASSMETHODS = {
    "from_parquet": [("path", P, _NO), ("name", P, ""), ("data_source", K, ""),
                     ("defer_dataset_open", K, False), ("record_index_path", K, None),
                     ("record_index_field_roles", K, None), ("record_index_column_map", K, None),
                     ("record_index_href_column", K, None),
                     ("record_index_band_index_map", K, None),
                     ("record_index_url_rewrite_patterns", K, None),
                     ("record_index_filesystem", K, None), ("surface_fields", K, None),
                     ("filter_capabilities", K, None)],
    "from_arrow": [("data", P, _NO), ("kwargs", V, _NO)],
    "create_name": [("custom_name", P, _NO), ("date_range", P, _NO), ("data_source", P, _NO)],
    "parse_name": [("name", P, _NO)],
    "list_collections": [("workspace_dir", P, None)],
}  # fmt: skip


def _shape(fn) -> list[tuple[str, str, object]]:
    return [
        (p.name, p.kind.name, p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("self", "cls")
    ]


def test_all_and_dir_are_exactly_the_reference_list() -> None:
    assert sorted(rasteret.__all__) == sorted(EXPECTED_ALL)
    assert dir(rasteret) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(rasteret, name) is not None


def test_unknown_attributes_raise() -> None:
    with pytest.raises(AttributeError):
        rasteret.Rasteret  # noqa: B018
    assert not hasattr(rasteret, "nonexistent_thing")


def test_catalog_classes_are_the_same_objects() -> None:
    import rasteret_catalog

    for name in ("BandRegistry", "CloudConfig", "DatasetDescriptor", "DatasetRegistry"):
        assert getattr(rasteret, name) is getattr(rasteret_catalog, name)


def test_options_is_the_context_manager_and_the_module() -> None:
    import types

    import rasteret.options as options_module
    from rasteret.options import RasteretOptions, get_options, options, set_options

    # 0.4.1: `rasteret.options` is both a module path and the context manager
    assert rasteret.options is options_module and isinstance(options_module, types.ModuleType)
    assert get_options is rasteret.get_options and set_options is rasteret.set_options
    with options(progress=True) as current:
        assert isinstance(current, RasteretOptions) and current.progress is True
    assert callable(rasteret.options)
    assert rasteret.get_options().progress is False
    with rasteret.options(progress=True):
        assert rasteret.get_options().progress is True
    assert rasteret.get_options().progress is False
    rasteret.set_options(progress=True)
    rasteret.set_options()  # None keeps the value
    assert rasteret.get_options().progress is True
    rasteret.set_options(progress=False)
    with pytest.raises(TypeError):
        rasteret.set_options(progress="yes")  # type: ignore[arg-type]


def test_version() -> None:
    assert rasteret.version() == rasteret.__version__
    assert rasteret.version().count(".") >= 2


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_signatures(name: str) -> None:
    assert _shape(getattr(rasteret, name)) == FUNCTIONS[name] + ADDED.get(name, [])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_collection_method_signatures(name: str) -> None:
    ref = METHODS[name]
    if name in ADDED:  # 0.4.1's parameters, the added keyword-only ones, then **filters
        assert ref[-1] == ("filters", V, _NO)
        ref = [*ref[:-1], *ADDED[name], ref[-1]]
    assert _shape(getattr(rasteret.Collection, name)) == ref


@pytest.mark.parametrize("name", sorted(CLASSMETHODS))
def test_collection_classmethod_signatures(name: str) -> None:
    assert _shape(getattr(rasteret.Collection, name)) == CLASSMETHODS[name]


def test_collection_properties_and_protocols() -> None:
    for prop in ("bands", "bounds", "crs", "epsg", "dataset"):
        assert isinstance(inspect.getattr_static(rasteret.Collection, prop), property)
    for dunder in ("__len__", "__iter__", "__arrow_c_stream__", "__arrow_c_array__",
                   "__arrow_c_schema__", "_repr_html_", "__repr__"):  # fmt: skip
        assert callable(getattr(rasteret.Collection, dunder))
    assert inspect.isasyncgenfunction(rasteret.Collection.iterate_rasters)


_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import rasteret
t1 = time.perf_counter()
heavy = sorted(m for m in ("pyarrow", "numpy", "pandas", "shapely", "pyproj", "obstore",
                            "xarray", "geopandas", "rasteret_io", "rasteret_ingest")
               if m in sys.modules)
print(json.dumps({"seconds": t1 - t0, "heavy": heavy}))
"""


def test_import_is_lazy_and_cheap() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], result
    # reported, never asserted: timings belong in bench/
    cumulative = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith("| rasteret")]
    print(f"import rasteret: {result['seconds'] * 1000:.1f} ms; {cumulative}")


_LOG_PROBE = r"""
import sys
pre = set(sys.modules)
import rasteret
loaded = [m for m in ("logging", "typing", "importlib") if m in set(sys.modules) - pre]
import logging
before = list(logging.getLogger("rasteret").handlers)
from rasteret.builds import dataset  # a module that logs through the package logger
after = logging.getLogger("rasteret").handlers
print(loaded, len(before), [type(h).__name__ for h in after])
"""


def test_import_skips_logging_but_package_logger_has_null_handler() -> None:
    """`import rasteret` loads no logging/typing; the NullHandler is attached where rasteret
    logs (or at import when logging is already loaded)."""
    out = subprocess.run(
        [sys.executable, "-c", _LOG_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["[]", "0", "['NullHandler']"], out.stdout
    first = subprocess.run(
        [sys.executable, "-c", "import logging, rasteret; print(logging.getLogger('rasteret').handlers)"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "NullHandler" in first.stdout
