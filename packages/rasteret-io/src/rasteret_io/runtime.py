"""Sync facade: run coroutines from synchronous code, anywhere.

Sync entry points call :func:`run_sync`. It submits the coroutine to a per-process
event loop running in a daemon thread and blocks the calling thread until the result
is ready. This works

- in plain scripts (no running loop),
- inside Jupyter/IPython or any other thread that runs an event loop (the coroutine
  runs on the background loop, so the caller's loop is merely blocked, never
  re-entered: no ``nest_asyncio``),
- in worker processes: the loop thread is (re)created lazily, after ``fork``
  (detected with ``os.getpid``; the inherited loop object belongs to a thread that
  does not exist in the child and is dropped) and after unpickling (nothing of it is
  pickled).

Calling :func:`run_sync` from a coroutine running *on the background loop itself*
would deadlock and raises ``RuntimeError`` instead; async callers should ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["background_loop", "run_sync", "shutdown"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def background_loop() -> asyncio.AbstractEventLoop:
    """Return this process's background event loop, starting it if needed."""
    global _loop, _thread, _pid
    pid = os.getpid()
    loop = _loop
    if loop is not None and _pid == pid and _thread is not None and _thread.is_alive():
        return loop
    with _lock:
        if _pid != pid:  # forked child: the parent's loop thread does not exist here
            _loop = None
            _thread = None
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_serve, args=(loop, ready), name="rasteret-io-loop", daemon=True
            )
            thread.start()
            ready.wait()
            _loop, _thread, _pid = loop, thread, pid
        assert _loop is not None
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Args:
        coro: The coroutine to run.
        timeout: Seconds to wait before cancelling it and raising ``TimeoutError``.

    Returns:
        The coroutine's result; its exception is re-raised in the caller.

    Raises:
        RuntimeError: When called from the background loop's own thread.
        TimeoutError: When ``timeout`` expires.
    """
    loop = background_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError(
            "run_sync() called from rasteret-io's event loop thread; await the coroutine instead"
        )
    finished = threading.Event()
    fut = asyncio.run_coroutine_threadsafe(_tracked(coro, finished), loop)
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        if fut.done() and not fut.cancelled():
            # The coroutine itself raised a TimeoutError (e.g. a FetchTimeoutError), which
            # is the same class as the wait's timeout: hand its own outcome back.
            return fut.result()
        fut.cancel()
        finished.wait(_CLEANUP_WAIT)
        raise TimeoutError(f"operation did not finish within {timeout} s") from None
    except BaseException:
        # KeyboardInterrupt or similar in the caller: cancel the work and let its
        # cleanup (cancelling and awaiting sibling requests) finish before returning.
        if not fut.done():
            fut.cancel()
            finished.wait(_CLEANUP_WAIT)
        raise


_CLEANUP_WAIT = 10.0


async def _tracked(coro: Coroutine[Any, Any, T], finished: threading.Event) -> T:
    try:
        return await coro
    finally:
        finished.set()


def shutdown(timeout: float = 5.0) -> None:
    """Stop the background loop (cancelling pending work); it restarts on next use."""
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        _loop = _thread = None
    if loop is not None and thread is not None and thread.is_alive() and _pid == os.getpid():
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


if hasattr(os, "register_at_fork"):

    def _after_fork_in_child() -> None:
        global _loop, _thread, _pid, _lock
        _lock = threading.Lock()
        _loop = None
        _thread = None
        _pid = None

    os.register_at_fork(after_in_child=_after_fork_in_child)
