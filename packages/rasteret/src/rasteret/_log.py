"""The package logger (``logging.getLogger("rasteret")``) and its ``NullHandler``.

Importing :mod:`logging` costs more than the rest of ``import rasteret`` together (~15 ms), so
the package attaches the conventional library ``NullHandler`` here, in the module every
rasteret logger comes from, instead of at ``import rasteret`` (which does it only when
``logging`` is already loaded). Either way the handler is in place before rasteret logs
anything; no other logging configuration happens.
"""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("rasteret")
if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
    logger.addHandler(logging.NullHandler())
