"""obstore-backed range readers: one store, or URL-routed stores.

- :class:`ObstoreBackend` wraps one obstore store (original API:
  ``ObstoreBackend(store, url_prefix="", client_options=None)``).
- :class:`RoutingBackend` routes any URL (``s3://``, ``gs://``, ``az://``, ``abfs://``,
  ``http[s]://``, ``file://``, local paths; virtual-hosted S3, Azure blob and GCS
  https URLs go to the native store) to a cached store per bucket / container /
  origin, after applying URL rewrite patterns.
- :func:`create_backend` builds a :class:`RoutingBackend` with the original signature.

Both implement :class:`~rasteret_io.protocols.IdentifiedRangeReader` (``get_ranges(url,
starts, ends)``, plus ranged reads reporting the object's ETag / size / Last-Modified and
a HEAD) and the original ``get_range(url, start, length)``. Backends pickle their
configuration only; stores are rebuilt lazily in the new process, and stores inherited
through ``fork`` are dropped (detected by pid) because their connection pools belong
to the parent. Their reprs never show credentials.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rasteret_io.errors import ConfigError, ForkSafetyError
from rasteret_io.identity import ObjectIdentity
from rasteret_io.protocols import (
    Backend,
    Buffer,
    IdentifiedRangeReader,
    RangeBody,
    RangeReader,
    StorageBackend,
)
from rasteret_io.stores import CredentialProvider, StoreCache, StoreSettings
from rasteret_io.urls import Location, classify, redact_url, rewrite_url

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = [
    "CloudConfigLike",
    "ObstoreBackend",
    "RoutingBackend",
    "as_range_reader",
    "create_backend",
    "get_default_backend",
]


_obstore_pid: int | None = None
_MAX_ROUTES = 16384


def _check_fork() -> None:
    """Refuse (instead of hanging forever) to use obstore in a child forked after use."""
    global _obstore_pid
    pid = os.getpid()
    if _obstore_pid is None:
        _obstore_pid = pid
    elif _obstore_pid != pid:
        raise ForkSafetyError(
            "obstore was already used in the parent of this forked process and its runtime "
            "does not survive fork(); start workers with multiprocessing's 'spawn' or "
            "'forkserver' method (rasteret backends pickle), or fork before the first read"
        )


async def _obstore_ranges(
    store: ObjectStore, path: str, starts: Sequence[int], ends: Sequence[int]
) -> list[Buffer]:
    import obstore  # lazy: importing rasteret_io must not load obstore

    _check_fork()
    if len(starts) == 1:
        return [await obstore.get_range_async(store, path, start=starts[0], end=ends[0])]
    return list(
        await obstore.get_ranges_async(
            store, path, starts=list(starts), ends=list(ends), coalesce=0
        )
    )


async def _obstore_identified(store: ObjectStore, path: str, start: int, end: int) -> RangeBody:
    import obstore  # lazy: importing rasteret_io must not load obstore

    _check_fork()
    result = await obstore.get_async(store, path, options={"range": (start, end)})
    data = await result.bytes_async()
    return RangeBody(data, ObjectIdentity.from_meta(result.meta))


async def _obstore_identify(store: ObjectStore, path: str) -> ObjectIdentity:
    import obstore  # lazy: importing rasteret_io must not load obstore

    _check_fork()
    return ObjectIdentity.from_meta(await obstore.head_async(store, path))


class _StoreReads:
    """The reads of a backend that serves each URL from an obstore store (:meth:`store_for`)."""

    __slots__ = ()

    def store_for(self, url: str) -> tuple[ObjectStore, str]:
        """Return ``(store, path)`` serving ``url``."""
        raise NotImplementedError

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[Buffer]:
        """Fetch ``[starts[i], ends[i])`` of ``url`` (see :class:`RangeReader`)."""
        store, path = self.store_for(url)
        return await _obstore_ranges(store, path, starts, ends)

    async def get_range_identified(self, url: str, start: int, end: int) -> RangeBody:
        """Fetch ``[start, end)`` of ``url`` with the object's identity (one request)."""
        store, path = self.store_for(url)
        return await _obstore_identified(store, path, start, end)

    async def identify(self, url: str) -> ObjectIdentity:
        """The current identity of ``url`` (one HEAD request)."""
        store, path = self.store_for(url)
        return await _obstore_identify(store, path)

    async def get_range(self, url: str, start: int, length: int) -> Buffer:
        """Fetch ``length`` bytes at ``start`` (original signature)."""
        return (await self.get_ranges(url, [start], [start + length]))[0]


class ObstoreBackend(_StoreReads):
    """A range reader over one obstore store.

    Args:
        store: Any obstore store.
        url_prefix: Prefix stripped from URLs to get the store path (e.g.
            ``"s3://bucket/"``); URLs without it are used as paths unchanged.
        client_options: Accepted for compatibility with the original; unused (the store
            already has its client).
    """

    __slots__ = ("client_options", "store", "url_prefix")

    def __init__(
        self,
        store: ObjectStore,
        url_prefix: str = "",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.url_prefix = url_prefix
        self.client_options = dict(client_options or {})

    def _path(self, url: str) -> str:
        if self.url_prefix and url.startswith(self.url_prefix):
            return url[len(self.url_prefix) :]
        return url

    def store_for(self, url: str) -> tuple[ObjectStore, str]:
        """Return ``(store, path)`` serving ``url``."""
        return self.store, self._path(url)

    def __repr__(self) -> str:
        return (
            f"ObstoreBackend({type(self.store).__name__}, "
            f"url_prefix={redact_url(self.url_prefix)!r})"
        )


class RoutingBackend(_StoreReads):
    """Routes URLs to cached obstore stores; picklable and fork-safe.

    Args:
        settings: Store recipe (credentials, S3 layers, client/retry options).
        url_patterns: URL prefix rewrites applied before routing (first match, once).
    """

    def __init__(
        self, settings: StoreSettings | None = None, url_patterns: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings or StoreSettings()
        self.url_patterns: dict[str, str] = dict(url_patterns or {})
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._pid = os.getpid()
        self._cache = StoreCache(self.settings)
        self._lock = threading.Lock()
        # URL -> (store, path) of URLs with a scheme (relative local paths depend on the cwd)
        self._routes: dict[str, tuple[ObjectStore, str]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "url_patterns": self.url_patterns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self.url_patterns = state["url_patterns"]
        self._init_runtime()

    def _stores(self) -> StoreCache:
        if self._pid != os.getpid():  # forked: parent's connection pools are not ours
            self._init_runtime()
        return self._cache

    def locate(self, url: str) -> Location:
        """Rewrite and classify ``url``."""
        return classify(rewrite_url(url, self.url_patterns))

    def store_for(self, url: str) -> tuple[ObjectStore, str]:
        """Return ``(store, path)`` serving ``url`` (remembered per URL: a read asks per request)."""
        route = self._routes.get(url)
        if route is not None and self._pid == os.getpid():
            return route
        loc = self.locate(url)
        route = (self._stores().get(loc), loc.path)
        if "://" in url:
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[url] = route
        return route

    @property
    def store_count(self) -> int:
        """Number of stores built in this process so far."""
        return len(self._stores())

    def __repr__(self) -> str:
        return (
            f"RoutingBackend(settings={self.settings!r}, stores={len(self._cache)}, "
            f"url_patterns={len(self.url_patterns)})"
        )


class _LegacyAdapter:
    """Adapts an original-style backend (``get_range(url, start, length)``).

    Only ``get_range`` is called (concurrently for several ranges): its meaning is the
    same in every backend style, whereas ``get_ranges`` takes ``(start, length)`` pairs in
    the original protocol and ``(starts, ends)`` in ours.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[Buffer]:
        pairs = list(zip(starts, ends, strict=True))
        if len(pairs) == 1:
            return [await self.inner.get_range(url, pairs[0][0], pairs[0][1] - pairs[0][0])]
        return list(await asyncio.gather(*(self.inner.get_range(url, s, e - s) for s, e in pairs)))

    def __repr__(self) -> str:
        return f"_LegacyAdapter({type(self.inner).__name__})"


def as_range_reader(backend: Backend | None = None) -> RangeReader:
    """Return ``backend`` as a :class:`RangeReader`.

    Accepts our backends (and any :class:`IdentifiedRangeReader`) as they are; an object
    with the original ``get_range(url, start, length)`` is wrapped (only that method is
    used, so an object implementing both protocols works either way); an object with only
    ``get_ranges(url, starts, ends)`` is used as is. ``None`` gives the process default
    :class:`RoutingBackend`.

    Raises:
        ConfigError: If the object can fetch no ranges.
    """
    if backend is None:
        return get_default_backend()
    if isinstance(backend, IdentifiedRangeReader):
        return backend
    if isinstance(backend, StorageBackend):
        return _LegacyAdapter(backend)
    if isinstance(backend, RangeReader):
        return backend
    raise ConfigError(f"{type(backend).__name__} has neither get_ranges nor get_range")


_default: RoutingBackend | None = None
_default_lock = threading.Lock()


def get_default_backend() -> RoutingBackend:
    """The process-wide anonymous :class:`RoutingBackend` (stores reused across reads)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = RoutingBackend()
    return _default


class CloudConfigLike(Protocol):
    """What :func:`create_backend` reads from a ``CloudConfig`` (a mapping also works)."""

    @property
    def requester_pays(self) -> bool:
        """Whether S3 requests must be signed as requester-pays."""
        ...

    @property
    def region(self) -> str | None:
        """Default region of the source's buckets."""
        ...

    @property
    def url_patterns(self) -> Mapping[str, str] | None:
        """URL prefix rewrites."""
        ...


def _cfg_get(cfg: CloudConfigLike | Mapping[str, Any], name: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def backend_config_from_cloud_config(
    cloud_config: CloudConfigLike | Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Translate a ``CloudConfig`` (or mapping with the same fields) into backend options.

    Returns ``{"s3_overrides", "url_patterns", "default_s3_config"}`` with the original
    semantics: every ``s3://bucket/`` rewrite target gets ``region`` plus either
    ``request_payer`` (requester-pays) or ``skip_signature``; requester-pays also sets
    the default S3 config.
    """
    if cloud_config is None:
        return {"s3_overrides": {}, "url_patterns": {}, "default_s3_config": {}}
    requester_pays = bool(_cfg_get(cloud_config, "requester_pays", False))
    region = _cfg_get(cloud_config, "region", None)
    patterns = dict(_cfg_get(cloud_config, "url_patterns", None) or {})
    overrides: dict[str, dict[str, Any]] = {}
    for target in patterns.values():
        if target.startswith("s3://"):
            bucket = target[5:].split("/", 1)[0]
            if not bucket:
                continue
            over: dict[str, Any] = {"region": region} if region else {}
            if requester_pays:
                over["request_payer"] = True
            else:
                over["skip_signature"] = True
            overrides[bucket] = over
    default: dict[str, Any] = {}
    if requester_pays:
        default["request_payer"] = True
        if region:
            default["region"] = region
    return {"s3_overrides": overrides, "url_patterns": patterns, "default_s3_config": default}


def create_backend(
    credential_provider: CredentialProvider | None = None,
    cloud_config: CloudConfigLike | Mapping[str, Any] | None = None,
    region: str | None = None,
    default_s3_config: Mapping[str, Any] | None = None,
    *,
    client_options: Mapping[str, Any] | None = None,
    s3_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    url_patterns: Mapping[str, str] | None = None,
    gcs_config: Mapping[str, Any] | None = None,
    azure_config: Mapping[str, Any] | None = None,
    retry_config: Mapping[str, Any] | None = None,
) -> RoutingBackend:
    """Create the auto-routing obstore backend (original signature, plus keywords).

    Args:
        credential_provider: obstore credential provider used for S3/GCS/Azure stores
            (one the store type rejects falls back to anonymous access).
        cloud_config: A ``CloudConfig`` (or mapping with ``requester_pays``, ``region``,
            ``url_patterns``): adds URL rewrites and per-bucket S3 overrides.
        region: Shorthand for ``default_s3_config={"region": region}``.
        default_s3_config: obstore ``S3Config`` applied to every bucket, e.g.
            ``{"endpoint": "http://127.0.0.1:9000", "region": "us-east-1"}`` for MinIO.
        client_options: obstore ``ClientConfig`` over the defaults.
        s3_overrides: Extra per-bucket ``S3Config`` (after the cloud config's).
        url_patterns: Extra URL prefix rewrites (after the cloud config's).
        gcs_config: obstore ``GCSConfig`` for GCS buckets.
        azure_config: obstore ``AzureConfig`` for Azure containers.
        retry_config: obstore ``RetryConfig`` (default: obstore retries off; the fetch
            layer retries).

    Returns:
        A :class:`RoutingBackend`. Reuse it: it caches one store per bucket/origin.
    """
    translated = backend_config_from_cloud_config(cloud_config)
    default = dict(translated["default_s3_config"])
    if region:
        default["region"] = region
    default.update(default_s3_config or {})
    overrides = {k: dict(v) for k, v in translated["s3_overrides"].items()}
    for bucket, over in (s3_overrides or {}).items():
        overrides.setdefault(bucket, {}).update(over)
    patterns = dict(translated["url_patterns"])
    patterns.update(url_patterns or {})
    settings = StoreSettings(
        credential_provider=credential_provider,
        default_s3_config=default,
        s3_overrides=overrides,
        gcs_config=dict(gcs_config or {}),
        azure_config=dict(azure_config or {}),
        client_options=dict(client_options or {}),
        retry_config=dict(retry_config) if retry_config is not None else None,
    )
    return RoutingBackend(settings, patterns)
