"""Without torch / torchgeo, ``to_torchgeo_dataset`` names the extra to install."""

from __future__ import annotations

import importlib.util

import pyarrow as pa
import pytest
import shapely

import rasteret

if importlib.util.find_spec("torchgeo") is not None:
    pytest.skip("torchgeo is installed here", allow_module_level=True)


def test_missing_torchgeo_names_the_extra():
    table = pa.table(
        {
            "id": ["a"],
            "datetime": pa.array([0], pa.timestamp("us")),
            "geometry": [shapely.to_wkb(shapely.box(0, 0, 1, 1))],
            "assets": [{"B04": {"href": "http://127.0.0.1:9/a.tif"}}],
        }
    )
    coll = rasteret.build_from_table(table)
    with pytest.raises(ImportError, match=r"rasteret\[torchgeo\]"):
        coll.to_torchgeo_dataset(bands=["B04"])
