"""The local dataset registry file (``~/.rasteret/datasets.local.json``).

The file is a JSON list of descriptor objects sorted by id (the format rasteret 0.4.1 uses).
Rules that protect what the user has on disk:

- a file that cannot be parsed is never overwritten: writers raise
  :class:`~rasteret_catalog.errors.LocalRegistryError` naming it;
- entries this version cannot interpret (e.g. written by a newer version) are kept verbatim
  when the file is rewritten, and skipped with a warning when loading;
- writes are atomic (temporary file in the same directory, fsync, rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rasteret_catalog.descriptor import DatasetDescriptor
from rasteret_catalog.errors import (
    DescriptorError,
    DuplicateDatasetError,
    LocalRegistryError,
)

__all__ = [
    "ENV_VAR",
    "default_registry_path",
    "load_local_descriptors",
    "read_raw_entries",
    "remove_local_descriptor",
    "save_local_descriptor",
    "write_descriptor_json",
]

ENV_VAR = "RASTERET_LOCAL_DATASETS_PATH"


def default_registry_path() -> Path:
    """The registry file: ``$RASTERET_LOCAL_DATASETS_PATH``, else ``~/.rasteret/datasets.local.json``.

    The environment is read when called, never at import.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".rasteret" / "datasets.local.json"


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path is not None else default_registry_path()


def read_raw_entries(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Read the file's entries as raw dicts (``[]`` when the file does not exist).

    Raises:
        LocalRegistryError: The file is unreadable, not JSON, not a list of objects, or
            holds two entries with the same id.
    """
    p = _resolve(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LocalRegistryError(f"cannot read local dataset registry {p}: {exc}") from exc
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalRegistryError(
            f"local dataset registry {p} is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); fix or move the file — rasteret will not overwrite it"
        ) from exc
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise LocalRegistryError(
            f"local dataset registry {p} must hold a JSON list of descriptor objects, "
            f"got {type(data).__name__}; fix or move the file — rasteret will not overwrite it"
        )
    seen: set[object] = set()
    for entry in data:
        key = entry.get("id")
        if key in seen:
            raise DuplicateDatasetError(
                f"local dataset registry {p} lists dataset id {key!r} twice"
            )
        seen.add(key)
    return data


def load_local_descriptors(path: str | os.PathLike[str] | None = None) -> list[DatasetDescriptor]:
    """Load the descriptors of the local registry file.

    Entries that this version cannot interpret are skipped with a ``UserWarning`` naming the
    file and the entry.

    Raises:
        LocalRegistryError: The file itself is corrupt (see :func:`read_raw_entries`).
    """
    p = _resolve(path)
    out: list[DatasetDescriptor] = []
    for entry in read_raw_entries(p):
        try:
            out.append(DatasetDescriptor.from_dict(entry))
        except (DescriptorError, TypeError) as exc:
            warnings.warn(
                f"skipping entry of local dataset registry {p}: {exc}", UserWarning, stacklevel=2
            )
    return out


def _write_atomic(p: Path, entries: list[dict[str, Any]]) -> None:
    entries = sorted(entries, key=lambda e: str(e.get("id", "")))
    _write_text_atomic(p, json.dumps(entries, indent=2, sort_keys=True) + "\n")


def _write_text_atomic(p: Path, payload: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_local_descriptor(
    descriptor: DatasetDescriptor, path: str | os.PathLike[str] | None = None
) -> Path:
    """Insert or replace ``descriptor`` (by id) in the local registry file, atomically.

    Returns:
        The path written.

    Raises:
        LocalRegistryError: The existing file is corrupt; it is left untouched.
    """
    p = _resolve(path)
    entries = [e for e in read_raw_entries(p) if e.get("id") != descriptor.id]
    entries.append(descriptor.to_dict())
    _write_atomic(p, entries)
    return p


def remove_local_descriptor(dataset_id: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Remove ``dataset_id`` from the local registry file; ``False`` when it was not there."""
    p = _resolve(path)
    entries = read_raw_entries(p)
    kept = [e for e in entries if e.get("id") != dataset_id]
    if len(kept) == len(entries):
        return False
    _write_atomic(p, kept)
    return True


def write_descriptor_json(entry: dict[str, Any], output_path: str | os.PathLike[str]) -> Path:
    """Write one descriptor object (``to_dict()`` form) to ``output_path`` as JSON, atomically.

    The format is rasteret 0.4.1's export format: a single JSON object, ``indent=2``, sorted
    keys, trailing newline.

    Returns:
        The path written.
    """
    out = Path(output_path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(entry, indent=2, sort_keys=True) + "\n"
    _write_text_atomic(out, payload)
    return out
