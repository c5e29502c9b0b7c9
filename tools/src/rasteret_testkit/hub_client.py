"""Point ``huggingface_hub`` at a loopback Hub (:class:`~rasteret_testkit.hub.HubEmulator`).

``huggingface_hub`` reads ``HF_ENDPOINT`` **once, at import time**, into module attributes,
and builds a default ``HfApi`` (``huggingface_hub.hf_api.api``) and ``HfFileSystem``
(``huggingface_hub.hf_file_system.hffs``) from it. Setting the environment variable after the
first import therefore changes nothing. :func:`use_hub` does both:

1. sets the environment (``HF_ENDPOINT``, ``HF_HUB_DISABLE_TELEMETRY=1``, ``HF_HUB_OFFLINE=0``,
   and ``HF_HUB_CACHE`` when a cache dir is given), which covers a first import inside the
   block and child processes (:func:`hub_env` gives the same mapping for ``subprocess``);
2. patches what the client reads at call time:

   - ``huggingface_hub.constants``: ``ENDPOINT``, ``HUGGINGFACE_CO_URL_TEMPLATE`` (``hf_hub_url``
     formats it, then only swaps the prefix when it starts with ``ENDPOINT``), ``HF_URL_HOSTS``,
     ``HF_HUB_DISABLE_TELEMETRY`` (with telemetry on, the first request's User-Agent lookup
     fetches ``/api/agent-harnesses`` from the Hub), ``HF_HUB_OFFLINE`` and, with a cache dir,
     ``HF_HUB_CACHE``;
   - ``huggingface_hub.utils._http._HUB_ORIGINS`` (origins whose redirects are followed);
   - the ``endpoint`` of the module-level ``HfApi`` and ``HfFileSystem`` instances;
   - fsspec's instance cache of ``HfFileSystem`` is cleared on entry and exit, so
     ``HfFileSystem()`` builds a fresh instance (empty directory cache) bound to the emulator.

Everything is restored on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["hub_env", "use_hub"]


def hub_env(endpoint: str, cache_dir: str | Path | None = None) -> dict[str, str]:
    """Environment variables pointing a *new* process's ``huggingface_hub`` at ``endpoint``."""
    env = {
        "HF_ENDPOINT": endpoint.rstrip("/"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
    }
    if cache_dir is not None:
        env["HF_HUB_CACHE"] = str(cache_dir)
    return env


@contextlib.contextmanager
def use_hub(endpoint: str, *, cache_dir: str | Path | None = None) -> Iterator[None]:
    """Within the block, ``huggingface_hub`` talks to ``endpoint`` (see the module docstring).

    Args:
        endpoint: The Hub base URL (``HubEmulator.endpoint``).
        cache_dir: Download cache for ``hf_hub_download`` (default: leave it unchanged).
    """
    endpoint = endpoint.rstrip("/")
    saved_env = {k: os.environ.get(k) for k in hub_env(endpoint, cache_dir)}
    os.environ.update(hub_env(endpoint, cache_dir))
    # Imported here, after the environment is set, so a first import already sees it.
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api
    import huggingface_hub.hf_file_system as hf_fs
    import huggingface_hub.utils._http as hf_http

    origin = _origin(endpoint)
    host = urlsplit(endpoint).hostname or ""
    patches: list[tuple[Any, str, Any]] = [
        (constants, "ENDPOINT", endpoint),
        (
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        ),
        (constants, "HF_URL_HOSTS", frozenset(constants.HF_URL_HOSTS | {host})),
        (constants, "HF_HUB_DISABLE_TELEMETRY", True),
        (constants, "HF_HUB_OFFLINE", False),
        (hf_http, "_HUB_ORIGINS", frozenset(hf_http._HUB_ORIGINS | {origin})),
        (hf_api.api, "endpoint", endpoint),
        (hf_fs.hffs, "endpoint", endpoint),
        (hf_fs.hffs._api, "endpoint", endpoint),
    ]
    if cache_dir is not None:
        patches.append((constants, "HF_HUB_CACHE", str(cache_dir)))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    hf_fs.HfFileSystem.clear_instance_cache()
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)
        hf_fs.HfFileSystem.clear_instance_cache()
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme, 0)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)
