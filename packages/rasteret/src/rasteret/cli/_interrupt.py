"""Ctrl-C that always stops the command.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives. When that is a weakref callback, a ``__del__`` or a garbage-collector callback, the
interpreter cannot propagate it: it prints "Exception ignored in ..." and carries on, so one
Ctrl-C out of many is silently dropped and the command runs to the end. While
:func:`interrupts_not_swallowed` is active, such an interrupt is delivered to the main thread
again once the unraisable-exception hook has returned, where it surfaces at the next
instruction as a normal ``KeyboardInterrupt``.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["interrupts_not_swallowed"]

# How long the re-delivering thread waits for the hook to return (it takes microseconds).
_WAIT_S = 1.0


@contextmanager
def interrupts_not_swallowed() -> Iterator[None]:
    """Re-raise in the main thread any ``KeyboardInterrupt`` Python would otherwise ignore."""
    previous = sys.unraisablehook
    in_hook = threading.Event()

    def redeliver() -> None:
        # An interrupt tripped while the hook still runs would be raised inside the hook,
        # where it is ignored again: wait until it has returned.
        deadline = time.monotonic() + _WAIT_S
        while in_hook.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
        _thread.interrupt_main(signal.SIGINT)

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
            return
        in_hook.set()
        try:
            threading.Thread(target=redeliver, name="rasteret-interrupt", daemon=True).start()
        finally:
            in_hook.clear()

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
