"""Global options under their rasteret 0.4.1 module path (``rasteret.options``).

In rasteret 0.4.1 ``rasteret.options`` names both this module (``from rasteret.options
import get_options``) and the ``options(...)`` context manager (``with
rasteret.options(progress=True):``). Here the module object itself is callable: calling it
is calling :func:`options`, so both spellings work whichever was imported first.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import TYPE_CHECKING, Any

from rasteret._options import RasteretOptions, get_options, options, set_options

if TYPE_CHECKING:  # pragma: no cover
    from contextlib import AbstractContextManager

__all__ = ["RasteretOptions", "get_options", "options", "set_options"]


class _CallableModule(types.ModuleType):
    """A module that is also the ``options(...)`` context manager."""

    # inspect.signature(rasteret.options) reads it: the keywords of set_options
    __signature__ = inspect.signature(options)

    def __call__(self, **changes: Any) -> AbstractContextManager[RasteretOptions]:
        return options(**changes)


sys.modules[__name__].__class__ = _CallableModule
