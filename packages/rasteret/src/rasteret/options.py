"""Global options under their rasteret 0.4.1 module path (``rasteret.options``).

In rasteret 0.4.1 ``rasteret.options`` names both this module (``from rasteret.options
import get_options``) and the ``options(...)`` context manager (``with
rasteret.options(progress=True):``). Here the module object itself is callable: calling it
is calling :func:`options`, so both spellings work whichever was imported first.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from rasteret._options import RasteretOptions, get_options, options, set_options

if TYPE_CHECKING:  # pragma: no cover
    from contextlib import AbstractContextManager

__all__ = ["RasteretOptions", "get_options", "options", "set_options"]


class _CallableModule(types.ModuleType):
    """A module that is also the ``options(...)`` context manager."""

    def __call__(
        self,
        *,
        progress: bool | None = None,
        memory_budget: int | str | None = None,
        deadline: float | str | None = None,
        timeout: float | str | None = None,
        staleness: str | None = None,
        max_requests_in_flight: int | None = None,
    ) -> AbstractContextManager[RasteretOptions]:
        return options(
            progress=progress,
            memory_budget=memory_budget,
            deadline=deadline,
            timeout=timeout,
            staleness=staleness,
            max_requests_in_flight=max_requests_in_flight,
        )


sys.modules[__name__].__class__ = _CallableModule
