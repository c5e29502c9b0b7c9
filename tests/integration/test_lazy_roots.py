"""The lazily exporting package roots resolve every name they list."""

from __future__ import annotations

import types

import pytest

import rasteret_ingest
import rasteret_io


@pytest.mark.parametrize("package", [rasteret_io, rasteret_ingest])
def test_root_resolves_every_export(package: types.ModuleType) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute 'x'"):
        _ = package.x
