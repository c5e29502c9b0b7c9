"""obstore store construction per scheme / bucket / origin.

:class:`StoreSettings` is the picklable recipe (credential provider, S3 config layers,
client and retry options); :func:`build_store` turns a :class:`~rasteret_io.urls.Location`
into an obstore store. :class:`StoreCache` keeps one store per bucket / container /
origin for the lifetime of a backend in one process, and stores are shared between backends
whose settings are equal in value (:data:`SHARED_STORES`): building an obstore cloud store
costs ~20 ms of CPU (its HTTP client and TLS roots) and holds the event loop while it runs,
and a shared store keeps its warm connections, so a backend built per read costs nothing after
the first.

S3 configuration is layered: the anonymous base ``{"skip_signature": True}``, then
``default_s3_config``, then the per-bucket override, then the region implied by a
virtual-hosted URL (if no layer set one). A truthy ``request_payer`` or a credential
provider removes ``skip_signature`` (requester-pays needs signed requests); without a
provider obstore then uses its own credential chain (environment, profile, web
identity, instance metadata).

Retries: stores built here get ``max_retries=0``; the fetch layer
(:mod:`rasteret_io.retry`) is the single retry policy. ``allow_http`` is turned on for
``http://`` origins and for ``http://`` S3/GCS/Azure endpoints so dev servers (MinIO,
moto, loopback) work.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from rasteret_io.errors import ConfigError
from rasteret_io.urls import Location, redact_mapping, redact_text

if TYPE_CHECKING:
    from obstore.store import (
        AzureCredentialProvider,
        GCSCredentialProvider,
        ObjectStore,
        S3CredentialProvider,
    )

    CredentialProvider: TypeAlias = (
        S3CredentialProvider | GCSCredentialProvider | AzureCredentialProvider
    )
else:
    CredentialProvider = object

__all__ = [
    "DEFAULT_CLIENT_OPTIONS",
    "SHARED_STORES",
    "ClientOptions",
    "CredentialProvider",
    "StoreCache",
    "StoreSettings",
    "build_store",
    "no_retry_config",
]


class ClientOptions(TypedDict, total=False):
    """Subset of obstore ``ClientConfig`` keys commonly set (any obstore key is accepted)."""

    allow_http: bool
    connect_timeout: str | timedelta
    timeout: str | timedelta
    pool_idle_timeout: str | timedelta
    pool_max_idle_per_host: str
    http2_keep_alive_interval: str
    http2_keep_alive_while_idle: str
    user_agent: str


DEFAULT_CLIENT_OPTIONS: ClientOptions = {
    "connect_timeout": "5s",
    "timeout": "30s",
    "pool_idle_timeout": "90s",
    "pool_max_idle_per_host": "64",
}
"""HTTP client defaults: fail fast on connect, bound each response, keep a warm pool."""

_BOOL_KEYS = frozenset(
    {
        "skip_signature",
        "request_payer",
        "virtual_hosted_style_request",
        "unsigned_payload",
        "s3_express",
        "disable_tagging",
        "use_emulator",
        "use_fabric_endpoint",
        "aws_skip_signature",
        "aws_request_payer",
    }
)


def no_retry_config() -> dict[str, Any]:
    """obstore ``RetryConfig`` that disables obstore's own retries."""
    return {
        "max_retries": 0,
        "retry_timeout": timedelta(seconds=30),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=1),
            "base": 2,
        },
    }


def _norm(config: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (config or {}).items():
        key = str(k).lower()
        if key.startswith("aws_"):
            key = key[4:]
        if key in _BOOL_KEYS and isinstance(v, str):
            v = v.strip().lower() in ("1", "true", "yes", "on")
        if key == "endpoint_url":
            key = "endpoint"
        out[key] = v
    return out


@dataclass(frozen=True, slots=True, repr=False)
class StoreSettings:
    """Everything needed to build stores; picklable when the provider is.

    Its repr names the credential provider's type only and redacts every secret-looking
    config value (keys, tokens, passwords, SAS, signed URLs), also after pickling.

    Attributes:
        credential_provider: obstore credential provider (callable or object) for
            S3/GCS/Azure, or None for anonymous access (S3 requester-pays buckets
            use obstore's credential chain).
        default_s3_config: obstore ``S3Config`` applied to every bucket.
        s3_overrides: Per-bucket ``S3Config`` applied after the default.
        gcs_config: obstore ``GCSConfig`` for every GCS bucket.
        azure_config: obstore ``AzureConfig`` for every container.
        client_options: obstore ``ClientConfig`` merged over the defaults.
        retry_config: obstore ``RetryConfig``; default disables obstore retries.
    """

    credential_provider: CredentialProvider | None = None
    default_s3_config: Mapping[str, Any] = field(default_factory=dict)
    s3_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gcs_config: Mapping[str, Any] = field(default_factory=dict)
    azure_config: Mapping[str, Any] = field(default_factory=dict)
    client_options: Mapping[str, Any] = field(default_factory=dict)
    retry_config: Mapping[str, Any] | None = None

    def s3_config(self, bucket: str, region: str | None = None) -> dict[str, Any]:
        """The layered S3 config for ``bucket`` (see module docs)."""
        cfg: dict[str, Any] = {"skip_signature": True}
        cfg.update(_norm(self.default_s3_config))
        cfg.update(_norm(self.s3_overrides.get(bucket)))
        if region and "region" not in cfg:
            cfg["region"] = region
        if cfg.get("request_payer") or self.credential_provider is not None:
            cfg.pop("skip_signature", None)
        if cfg.get("skip_signature") is False:
            cfg.pop("skip_signature")
        return cfg

    def gcs_store_config(self) -> dict[str, Any]:
        """The GCS config: anonymous unless it carries credentials or a provider is set."""
        return self._anonymous_unless_credentials(_norm(self.gcs_config))

    def azure_store_config(self, account: str | None = None) -> dict[str, Any]:
        """The Azure config for a container of ``account`` (anonymous unless credentials)."""
        cfg = _norm(self.azure_config)
        if account and "account_name" not in cfg:
            cfg["account_name"] = account
        return self._anonymous_unless_credentials(cfg)

    def _anonymous_unless_credentials(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if self.credential_provider is None and not _has_credentials(cfg):
            cfg.setdefault("skip_signature", True)
        return cfg

    def client_for(self, endpoint: str | None = None, origin: str | None = None) -> dict[str, Any]:
        """Client options for a store whose endpoint/origin is given."""
        opts: dict[str, Any] = dict(DEFAULT_CLIENT_OPTIONS)
        opts.update(self.client_options)
        for url in (endpoint, origin):
            if url and url.lower().startswith("http://"):
                opts.setdefault("allow_http", True)
        return opts

    def retries(self) -> dict[str, Any]:
        """obstore retry config to use."""
        return dict(self.retry_config) if self.retry_config is not None else no_retry_config()

    def cache_key(self) -> tuple[Any, ...] | None:
        """A hashable value equal for equal settings (stores are shared between them), or None
        when some part has no value identity (an unhashable credential provider)."""
        provider = self.credential_provider
        try:
            if provider is not None:
                hash(provider)  # a provider is its own key (held, so never reused)
            return (
                provider,
                _frozen(self.default_s3_config),
                _frozen(self.s3_overrides),
                _frozen(self.gcs_config),
                _frozen(self.azure_config),
                _frozen(self.client_options),
                None if self.retry_config is None else _frozen(self.retry_config),
            )
        except TypeError:
            return None

    def __repr__(self) -> str:
        provider = self.credential_provider
        parts = [
            f"credential_provider={'None' if provider is None else f'<{type(provider).__name__}>'}",
            f"default_s3_config={redact_mapping(self.default_s3_config)!r}",
            f"s3_overrides={redact_mapping(self.s3_overrides)!r}",
            f"gcs_config={redact_mapping(self.gcs_config)!r}",
            f"azure_config={redact_mapping(self.azure_config)!r}",
            f"client_options={redact_mapping(self.client_options)!r}",
        ]
        if self.retry_config is not None:
            parts.append(f"retry_config={redact_mapping(self.retry_config)!r}")
        return f"StoreSettings({', '.join(parts)})"


def build_store(loc: Location, settings: StoreSettings) -> ObjectStore:
    """Build the obstore store serving ``loc``.

    Args:
        loc: Classified location.
        settings: Store recipe.

    Returns:
        An obstore store (``LocalStore``, ``S3Store``, ``GCSStore``, ``AzureStore`` or
        ``HTTPStore``).

    Raises:
        ConfigError: When obstore rejects the configuration.
    """
    from obstore.store import HTTPStore, LocalStore  # lazy: obstore loads on first use

    try:
        if loc.kind == "local":
            return LocalStore()
        if loc.kind == "http":
            base = loc.signed_url or f"{loc.origin}/"
            http: Any = HTTPStore  # obstore's TypedDict configs; ours are plain dicts
            store: ObjectStore = http.from_url(
                base,
                client_options=settings.client_for(origin=base),
                retry_config=settings.retries(),
            )
            return store
        if loc.kind in ("s3", "gcs", "azure"):
            return _cloud_store(loc, settings)
    except ConfigError:
        raise
    except Exception as exc:  # obstore configuration errors
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"cannot build {loc.kind} store for {loc.bucket or loc.origin or 'local files'}: "
            f"{type(exc).__name__}: {redact_text(first)}"
        ) from None
    raise ConfigError(f"unsupported store kind {loc.kind!r}")


def _cloud_store(loc: Location, settings: StoreSettings) -> ObjectStore:
    """An S3, GCS or Azure store for ``loc.bucket`` (a container for Azure)."""
    from obstore.store import AzureStore, GCSStore, S3Store  # lazy: see build_store

    if loc.bucket is None:
        raise ConfigError(f"{loc.kind} location without a bucket")
    cls: Any  # obstore's store classes take TypedDict configs; ours are plain dicts
    if loc.kind == "s3":
        cls, cfg, endpoint = S3Store, settings.s3_config(loc.bucket, loc.region), "endpoint"
    elif loc.kind == "gcs":
        cls, cfg, endpoint = GCSStore, settings.gcs_store_config(), "base_url"
    else:
        cls, cfg, endpoint = AzureStore, settings.azure_store_config(loc.account), "endpoint"
    kwargs: dict[str, Any] = {
        "config": cfg,
        "client_options": settings.client_for(endpoint=cfg.get(endpoint)),
        "retry_config": settings.retries(),
    }
    provider = settings.credential_provider
    if provider is not None:
        try:
            store: ObjectStore = cls(loc.bucket, credential_provider=provider, **kwargs)
            return store
        except TypeError:
            pass  # the provider does not fit this store type (e.g. S3 provider, Azure URL)
        except Exception as exc:
            if type(exc).__name__ != "UnknownConfigurationKeyError":
                raise
        # Fall back to anonymous access, as the original library does.
        kwargs["config"] = {**cfg, "skip_signature": True}
    store = cls(loc.bucket, **kwargs)
    return store


_CREDENTIAL_KEYS = (
    "access_key",
    "secret",
    "token",
    "service_account",
    "application_credentials",
    "sas",
    "bearer",
    "client_secret",
    "account_key",
    "use_emulator",
    "skip_signature",
)


def _has_credentials(cfg: Mapping[str, Any]) -> bool:
    return any(any(m in k for m in _CREDENTIAL_KEYS) for k in cfg)


def _frozen(value: Any) -> Any:
    """A hashable, order-independent copy of a config value (mappings, sequences, scalars)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    hash(value)  # TypeError for anything else without value identity
    return value


class _SharedStores:
    """Stores shared by every backend of this process, keyed by (settings value, store key).

    Least recently used stores beyond ``maxsize`` are dropped (a backend keeps the stores it
    got in its own :class:`StoreCache`). Forgotten in a forked child: a store's connection
    pool belongs to the process that built it.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._stores: OrderedDict[tuple[Any, ...], ObjectStore] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> ObjectStore | None:
        with self._lock:
            if self._pid != os.getpid():
                self._stores.clear()
                self._pid = os.getpid()
            store = self._stores.get(key)
            if store is not None:
                self._stores.move_to_end(key)
            return store

    def put(self, key: tuple[Any, ...], store: ObjectStore) -> None:
        with self._lock:
            self._stores[key] = store
            self._stores.move_to_end(key)
            while len(self._stores) > self.maxsize:
                self._stores.popitem(last=False)

    def __len__(self) -> int:
        return len(self._stores)

    def clear(self) -> None:
        """Drop every shared store."""
        with self._lock:
            self._stores.clear()


SHARED_STORES = _SharedStores()
"""The process-wide store cache behind every :class:`StoreCache`."""


class StoreCache:
    """One store per ``Location.store_key``, created on first use (thread-safe); stores of
    equal settings are shared with other backends through :data:`SHARED_STORES`."""

    __slots__ = ("_key", "_lock", "_settings", "_stores")

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._key = settings.cache_key()
        self._stores: dict[tuple[str, ...], ObjectStore] = {}
        self._lock = threading.Lock()

    def get(self, loc: Location) -> ObjectStore:
        """Return the cached store for ``loc``, building it if needed."""
        store = self._stores.get(loc.store_key)
        if store is not None:
            return store
        with self._lock:
            store = self._stores.get(loc.store_key)
            if store is None:
                shared = None if self._key is None else (self._key, loc.store_key)
                store = SHARED_STORES.get(shared) if shared is not None else None
                if store is None:
                    store = build_store(loc, self._settings)
                    if shared is not None:
                        SHARED_STORES.put(shared, store)
                self._stores[loc.store_key] = store
            return store

    def __len__(self) -> int:
        return len(self._stores)

    def __repr__(self) -> str:
        return f"StoreCache(stores={len(self._stores)})"

    def clear(self) -> None:
        """Drop every cached store."""
        with self._lock:
            self._stores.clear()
