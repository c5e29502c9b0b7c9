"""``import rasteret_catalog`` loads only standard-library modules."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
before = set(sys.modules)
import rasteret_catalog
rasteret_catalog.DatasetRegistry.ids()
rasteret_catalog.schema.COLUMNS
new = sorted(set(sys.modules) - before)
print(json.dumps(new))
"""


def test_import_loads_no_third_party_module(tmp_path):
    env = {"RASTERET_LOCAL_DATASETS_PATH": str(tmp_path / "none.json"), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True
    )
    loaded = json.loads(out.stdout)
    third_party = [
        m for m in loaded
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "rasteret_catalog"
    ]  # fmt: skip
    assert third_party == []
    assert "pyarrow" not in loaded
