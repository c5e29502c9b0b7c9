"""The lazy exports of the package roots (rasteret_io.lazy_exports)."""

from __future__ import annotations

import sys
import types

import pytest

from rasteret_io import lazy_exports


def test_lazy_exports_imports_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    root = types.ModuleType("lazy_pkg")
    child = types.ModuleType("lazy_pkg.child")
    child.VALUE = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_pkg", root)
    root.__getattr__, root.__dir__ = lazy_exports(  # type: ignore[method-assign]
        "lazy_pkg", {"VALUE": "child"}, ["VALUE"]
    )
    assert "VALUE" in dir(root) and "VALUE" not in vars(root)
    monkeypatch.setitem(sys.modules, "lazy_pkg.child", child)
    assert root.VALUE == 42  # type: ignore[attr-defined]
    assert vars(root)["VALUE"] == 42  # stored: the next access does not call __getattr__
    with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'other'"):
        _ = root.other  # type: ignore[attr-defined]
