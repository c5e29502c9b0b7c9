"""Crash-safe replacement of local collection directories: writer lock, temp dirs, swap.

Every writer of a local collection ``{parent}/{name}`` (a build, a forced rebuild, an
update, an export) works like this:

1. it takes the collection's **writer lock**: an exclusive ``flock`` on the hidden file
   ``{parent}/.{name}.lock``. The kernel drops the lock when its process ends, SIGKILL
   included, so a lock is never left held by a dead process;
2. holding it, it removes the **leftovers** of earlier writers of that collection (see
   :func:`remove_leftovers`): since every writer holds the lock for as long as its temp
   directory exists, any ``.{name}.tmp-*`` / ``.{name}.old-*`` directory found by the lock
   holder belongs to a writer that died (a live concurrent writer would still hold the lock);
3. it writes into ``.{name}.tmp-{uuid}`` and swaps that directory with the collection in one
   ``renameat2(RENAME_EXCHANGE)`` (Linux), so readers see the old or the new collection,
   never a partial one; the old one (now at the temp path) is then deleted;
4. it deletes the lock file while still holding it, then releases it (a waiter that locked
   the unlinked file notices, and locks the new one: see :class:`WriterLock`).

Where ``renameat2`` is unavailable the old directory is renamed aside to
``.{name}.old-{uuid}`` first: a kill in the instant between the two renames leaves no
collection at the path but the old one at the ``.old-`` path, which the next writer
renames back before anything else. Where ``fcntl`` is unavailable (Windows) there is no
lock, and leftovers are removed only once they are a day old.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from rasteret_ingest.errors import WriteError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LEFTOVER_AGE_WITHOUT_LOCKS",
    "LOCK_TIMEOUT",
    "Staging",
    "WriterLock",
    "new_temp_dir",
    "remove_leftovers",
    "staged",
    "swap_into_place",
]

LOCK_TIMEOUT = 3600.0
"""Seconds a writer waits for another writer of the same collection before giving up."""

LEFTOVER_AGE_WITHOUT_LOCKS = 86_400.0
"""Without ``fcntl`` (no writer lock), leftovers are removed only once this old (seconds)."""

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_POLL = 0.05


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _old_prefix(target: Path) -> str:
    return f".{target.name}.old-"


def new_temp_dir(target: Path) -> Path:
    """A fresh temp directory path next to ``target`` (not created)."""
    return target.parent / f"{_temp_prefix(target)}{uuid.uuid4().hex[:12]}"


class Staging:
    """A temp directory being filled with a new version of a collection (see :func:`staged`).

    Attributes:
        path: The temp directory (not created).
        discarded: True once :meth:`discard` was called.
    """

    __slots__ = ("discarded", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.discarded = False

    def discard(self) -> None:
        """Give the new version up: the temp directory is removed, the collection kept."""
        self.discarded = True


@contextlib.contextmanager
def staged(target: Path, what: str) -> Iterator[Staging]:
    """Write a new version of the collection at ``target`` into a temp directory next to it
    (the block fills ``staging.path``), then swap it into place when the block ends, unless
    it was discarded.

    The caller holds ``target``'s :class:`WriterLock`.

    Raises:
        WriteError: anything failed (``"{what} the collection at {target} failed: ..."``);
            ``target`` is left as it was and the temp directory removed.
    """
    staging = Staging(new_temp_dir(target))
    try:
        yield staging
        if staging.discarded:
            shutil.rmtree(staging.path, ignore_errors=True)
        else:
            swap_into_place(staging.path, target)
    except BaseException as exc:
        shutil.rmtree(staging.path, ignore_errors=True)
        if isinstance(exc, WriteError) or not isinstance(exc, Exception):
            raise
        raise WriteError(f"{what} the collection at {target} failed: {exc}") from exc


class WriterLock:
    """The exclusive writer lock of one local collection (``.{name}.lock`` next to it).

    A context manager. Acquiring waits (polling, up to ``timeout`` seconds) for another
    writer to finish. After ``flock`` succeeds the lock file is checked to still be the one
    at the path (a releasing writer unlinks it); if not, the new file is locked instead.

    Args:
        target: The collection directory.
        timeout: Seconds to wait; ``0`` tries once.

    Raises:
        WriteError: another writer held the lock for longer than ``timeout``.
    """

    __slots__ = ("_fd", "path", "target", "timeout")

    def __init__(self, target: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.target = target
        self.path = _lock_path(target)
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock (always False without ``fcntl``)."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock; False when ``timeout`` is 0 and another writer holds it.

        Raises:
            WriteError: waited ``timeout`` seconds in vain.
        """
        if fcntl is None:  # pragma: no cover - Windows
            return True
        stop = time.monotonic() + self.timeout
        self.target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= stop:
                    if self.timeout <= 0:
                        return False
                    raise WriteError(
                        f"another writer of {self.target} held {self.path} for more than "
                        f"{self.timeout:g} s"
                    ) from None
                time.sleep(_POLL)
                continue
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)  # locked a file its holder had just unlinked: lock the new one

    def release(self) -> None:
        """Delete the lock file and release the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _leftovers(target: Path) -> Iterator[Path]:
    tmp, old = _temp_prefix(target), _old_prefix(target)
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith((tmp, old)) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def remove_leftovers(target: Path, lock: WriterLock | None) -> list[Path]:
    """Remove the temp directories of dead writers of ``target``; restore an ``.old-`` one.

    The rule: a writer holds the collection's :class:`WriterLock` for as long as its temp
    directory exists, so once *we* hold the lock every ``.{name}.tmp-*`` and
    ``.{name}.old-*`` directory is a dead writer's. If ``target`` itself is missing and an
    ``.old-`` directory exists (a writer killed between the two renames of the fallback
    swap), the newest ``.old-`` directory is renamed back to ``target`` instead of removed.
    Without the lock (no ``fcntl``), only leftovers older than
    :data:`LEFTOVER_AGE_WITHOUT_LOCKS` are removed.

    Args:
        target: The collection directory.
        lock: The held writer lock (None or not held: the age rule applies).

    Returns:
        The directories removed (or restored).
    """
    locked = lock is not None and lock.held
    now = time.time()
    found = []
    for path in _leftovers(target):
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if locked or age > LEFTOVER_AGE_WITHOUT_LOCKS:
            found.append((age, path))
    olds = sorted((age, p) for age, p in found if p.name.startswith(_old_prefix(target)))
    done: list[Path] = []
    if olds and not target.exists():
        _, newest = olds[0]
        os.rename(newest, target)
        done.append(newest)
    for _, path in found:
        if path in done:
            continue
        shutil.rmtree(path, ignore_errors=True)
        done.append(path)
    return done


def _rename_exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2); False when unsupported."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), a)


def swap_into_place(tmp: Path, target: Path) -> None:
    """Move the finished directory ``tmp`` to ``target``, replacing what is there atomically.

    The replaced collection is deleted afterwards.
    """
    if not target.exists():
        try:
            os.rename(tmp, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if _rename_exchange(str(tmp), str(target)):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old collection
        return
    old = target.parent / f"{_old_prefix(target)}{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
