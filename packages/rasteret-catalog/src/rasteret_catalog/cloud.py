"""Per-data-source cloud settings: provider, requester-pays, region and URL rewrites."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rasteret_catalog.frozen import FrozenMap

__all__ = [
    "CloudConfig",
    "backend_config_from_cloud_config",
    "rewrite_url",
    "s3_overrides_from_config",
]


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """Cloud access settings of one data source (an immutable, hashable value).

    Constructed as in rasteret 0.4.1 (``CloudConfig(provider="aws", url_patterns={...})``);
    ``url_patterns`` is stored as a read-only :class:`~rasteret_catalog.frozen.FrozenMap`
    that compares equal to the dict it was built from. Two configs with the same values are
    equal and hash alike, so caches key on the value, never on the object's identity.

    Attributes:
        provider: ``aws``, ``gcp``, ``azure`` or a custom label.
        requester_pays: Whether S3 requests must be signed as requester-pays.
        region: Default region of the source's buckets.
        url_patterns: Prefix rewrites applied to asset URLs (first match, replaced once),
            e.g. ``{"https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"}``.
    """

    provider: str
    requester_pays: bool = False
    region: str = "us-west-2"
    url_patterns: Mapping[str, str] = field(default_factory=FrozenMap)

    _configs: ClassVar[dict[str, CloudConfig]] = {}
    _before_lookup: ClassVar[Callable[[], None] | None] = None
    """Set by the dataset registry so that lookups see built-in datasets' cloud configs."""

    def __post_init__(self) -> None:
        if not isinstance(self.url_patterns, FrozenMap):
            object.__setattr__(self, "url_patterns", FrozenMap(self.url_patterns or {}))

    @classmethod
    def register(cls, source_id: str, config: CloudConfig) -> None:
        """Register (or replace) the config of ``source_id`` (case-insensitive)."""
        if not isinstance(config, CloudConfig):
            raise TypeError(f"config must be a CloudConfig, got {type(config).__name__}")
        cls._configs[source_id.lower()] = config

    @classmethod
    def get_config(cls, source_id: str | None) -> CloudConfig | None:
        """The config registered for ``source_id`` (case-insensitive), or ``None``."""
        if not source_id:
            return None
        if cls._before_lookup is not None:
            cls._before_lookup()
        return cls._configs.get(source_id.lower())

    @classmethod
    def unregister(cls, source_id: str) -> CloudConfig | None:
        """Remove and return the config of ``source_id``."""
        return cls._configs.pop(source_id.lower(), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloudConfig:
        """Build from a descriptor's ``cloud_config`` dict, with the usual defaults."""
        return cls(
            provider=str(data.get("provider", "aws")),
            requester_pays=bool(data.get("requester_pays", False)),
            region=str(data.get("region", "us-west-2")),
            url_patterns=dict(data.get("url_patterns") or {}),
        )


CloudConfig.register("sentinel-2-l2a", CloudConfig(provider="aws"))
CloudConfig.register(
    "landsat-c2-l2",
    CloudConfig(
        provider="aws",
        requester_pays=True,
        region="us-west-2",
        url_patterns={"https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"},
    ),
)


def rewrite_url(url: str, config: CloudConfig | Mapping[str, str] | None) -> str:
    """Apply the first matching prefix rewrite of ``config`` (a CloudConfig or a pattern dict)."""
    if config is None:
        return url
    patterns = config.url_patterns if isinstance(config, CloudConfig) else config
    for prefix, replacement in patterns.items():
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def s3_overrides_from_config(config: CloudConfig | None) -> dict[str, dict[str, str]]:
    """Per-bucket S3 settings for every ``s3://bucket/`` rewrite target of ``config``."""
    if config is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    for target in config.url_patterns.values():
        if not target.startswith("s3://"):
            continue
        bucket = target[len("s3://") :].split("/", 1)[0]
        if not bucket:
            continue
        if config.requester_pays:
            out[bucket] = {"region": config.region, "request_payer": "true"}
        else:
            out[bucket] = {"region": config.region, "skip_signature": "true"}
    return out


def backend_config_from_cloud_config(config: CloudConfig | None) -> dict[str, Any]:
    """Keyword arguments for a storage backend: S3 overrides, URL patterns, default S3 config."""
    if config is None:
        return {"s3_overrides": {}, "url_patterns": {}, "default_s3_config": None}
    default = {"request_payer": "true", "region": config.region} if config.requester_pays else None
    return {
        "s3_overrides": s3_overrides_from_config(config),
        "url_patterns": dict(config.url_patterns),
        "default_s3_config": default,
    }
