"""Footprint probe (run by .ci/footprint.sh in a venv holding only rasteret-catalog).

Checks that the registry and the contract work and that no third-party module was imported.
"""

import sys

import rasteret_catalog

assert len(rasteret_catalog.DatasetRegistry.ids()) == 12
assert rasteret_catalog.schema.REQUIRED_COLUMNS
loaded = {m.split(".")[0] for m in sys.modules}
third_party = sorted(
    m for m in loaded - set(sys.stdlib_module_names) if m not in ("rasteret_catalog", "__main__")
)
assert not third_party, f"third-party modules loaded: {third_party}"
try:
    import rasteret_catalog.arrow
except ImportError as exc:
    assert "rasteret-catalog[arrow]" in str(exc), exc
else:
    raise AssertionError("pyarrow should not be installed here")
print("rasteret-catalog footprint probe: ok")
