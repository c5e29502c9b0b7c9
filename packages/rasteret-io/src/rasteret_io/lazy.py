"""Lazy package exports (PEP 562), shared by the package roots of the workspace.

A root lists what it exports and the submodule defining each name; a submodule is imported
the first time one of its names is used, so importing the root stays cheap (no numpy,
pyarrow or obstore). Standard library only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package root exporting lazily.

    Call it in the root (``__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)``).
    A resolved name is stored in the root's namespace, so its submodule is looked up once.

    Args:
        package: The root's ``__name__``.
        where: Exported name -> submodule of ``package`` that defines it.
        names: The root's ``__all__``; ``dir()`` lists them with what the root holds.

    Returns:
        ``(__getattr__, __dir__)`` for the root module.
    """
    namespace = sys.modules[package].__dict__
    listed = frozenset(names)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | listed)

    return __getattr__, __dir__
