"""URL parsing, classification, rewriting and redaction (pure, stdlib only).

A URL is classified into a :class:`Location`: which kind of store serves it, which
bucket/container/origin identifies that store (the cache key), and the object path
inside the store. Cloud URLs written as ``https`` (virtual-hosted and path-style S3,
Azure blob endpoints, ``storage.googleapis.com``) are routed to the native store so
they get signing, credentials and per-bucket configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from rasteret_io.errors import ConfigError

__all__ = [
    "Location",
    "StoreKind",
    "classify",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "rewrite_url",
]

StoreKind = Literal["local", "s3", "gcs", "azure", "http"]

_S3_VHOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?(?:\.dualstack)?"
    r"\.amazonaws\.com$"
)
_S3_PATH = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?(?:\.dualstack)?\.amazonaws\.com$")
_AZ_BLOB = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net$")
_GCS_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9._\-]*)\.storage\.googleapis\.com$")
_SENSITIVE_QUERY = re.compile(
    r"(sig|signature|token|credential|secret|password|passwd|key|auth|sas|^se$|^sp$|^sv$|"
    r"^st$|^sr$|^skoid$|^sktid$|^skt$|^ske$|^sks$|^skv$|^spr$|^srt$|^ss$)",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>)\]]+")
_KV_IN_TEXT = re.compile(
    r"(?i)\b(x-amz-signature|x-amz-credential|x-amz-security-token|sig|token|"
    r"access_key_id|secret_access_key|session_token|account_key|sas_key|authorization)"
    r"(\s*[=:]\s*\"?)([^\s&\"',;)]+)"
)
_SENSITIVE_KEY = re.compile(
    r"secret|token|password|passwd|key|credential|auth|sas|signature|bearer|cookie|session",
    re.IGNORECASE,
)
REDACTED = "REDACTED"


@dataclass(frozen=True, slots=True, repr=False)
class Location:
    """Where an object lives.

    Attributes:
        kind: Store kind that serves the object.
        store_key: Identifies one store instance (bucket, container+account, origin).
        path: Object path inside that store (no leading slash; absolute for local).
        bucket: Bucket or container name for cloud stores, else None.
        account: Azure storage account, else None.
        region: S3 region implied by the hostname, else None.
        origin: ``scheme://host[:port]`` for http stores, else None.
        signed_url: The full URL for pre-signed / SAS URLs served as one exact object.
    """

    kind: StoreKind
    store_key: tuple[str, ...]
    path: str
    bucket: str | None = None
    account: str | None = None
    region: str | None = None
    origin: str | None = None
    signed_url: str | None = None

    def __repr__(self) -> str:
        signed = None if self.signed_url is None else redact_url(self.signed_url)
        key = tuple(redact_url(k) for k in self.store_key)
        return (
            f"Location(kind={self.kind!r}, store_key={key!r}, path={self.path!r}, "
            f"bucket={self.bucket!r}, account={self.account!r}, region={self.region!r}, "
            f"origin={self.origin!r}, signed_url={signed!r})"
        )


def rewrite_url(url: str, patterns: Mapping[str, str] | None) -> str:
    """Apply the first matching prefix rewrite pattern, once.

    Args:
        url: The URL to rewrite.
        patterns: Mapping of URL prefix to replacement prefix, tried in order.

    Returns:
        The rewritten URL, or ``url`` unchanged when no prefix matches.
    """
    if patterns:
        for prefix, replacement in patterns.items():
            if prefix and url.startswith(prefix):
                return replacement + url[len(prefix) :]
    return url


def _local(path: str) -> Location:
    full = os.path.abspath(os.path.expanduser(path))
    return Location(kind="local", store_key=("local",), path=full)


def classify(url: str) -> Location:
    """Classify a URL or local path into a :class:`Location`.

    Args:
        url: ``s3://``, ``gs://``, ``az://``/``abfs[s]://``/``azure://``, ``http[s]://``,
            ``file://`` or a local path (relative paths resolve against the cwd).

    Returns:
        The location.

    Raises:
        ConfigError: For unsupported schemes, empty buckets or remote ``file://`` hosts.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError(f"expected a non-empty URL string, got {url!r}")
    # Windows drive letters ("C:\\x") and plain paths have no usable scheme.
    if "://" not in url and (re.match(r"^[a-zA-Z]:[\\/]", url) or ":" not in url.split("/", 1)[0]):
        return _local(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        host = parts.hostname or ""
        if host not in ("", "localhost"):
            raise ConfigError(f"file:// URL with a remote host is not supported: {redact_url(url)}")
        return _local(unquote(parts.path))
    if scheme in ("s3", "s3a"):
        bucket = parts.hostname or ""
        _require(bucket, url)
        return Location("s3", ("s3", bucket), _key(parts.path), bucket=bucket)
    if scheme in ("gs", "gcs"):
        bucket = parts.netloc
        _require(bucket, url)
        return Location("gcs", ("gcs", bucket), _key(parts.path), bucket=bucket)
    if scheme in ("az", "azure", "adl"):
        container = parts.netloc
        _require(container, url)
        return Location("azure", ("azure", "", container), _key(parts.path), bucket=container)
    if scheme in ("abfs", "abfss"):
        # abfs[s]://<container>@<account>.dfs.core.windows.net/<path>
        container = parts.username or ""
        host = (parts.hostname or "").lower()
        account = host.split(".", 1)[0] if host else ""
        _require(container, url)
        return Location(
            "azure",
            ("azure", account, container),
            _key(parts.path),
            bucket=container,
            account=account or None,
        )
    if scheme in ("http", "https"):
        return _classify_http(url, parts)
    raise ConfigError(f"unsupported URL scheme {scheme!r}: {redact_url(url)}")


def _require(name: str, url: str) -> None:
    if not name:
        raise ConfigError(f"URL has no bucket/container: {redact_url(url)}")


def _key(path: str) -> str:
    return unquote(path.lstrip("/"))


def _classify_http(url: str, parts) -> Location:
    host = (parts.hostname or "").lower()
    if not host:
        raise ConfigError(f"http URL without host: {redact_url(url)}")
    if parts.query:
        # Pre-signed S3 URLs and Azure SAS URLs: the query is the credential; serve
        # this exact URL. Keyed by the URL so it is never shared with another object.
        return Location(
            "http",
            ("http-signed", url),
            "",
            origin=f"{parts.scheme.lower()}://{parts.netloc}",
            signed_url=url,
        )
    if parts.scheme.lower() == "https" and parts.port is None:
        if m := _S3_VHOST.match(host):
            bucket = m.group("bucket")
            return Location(
                "s3", ("s3", bucket), _key(parts.path), bucket=bucket, region=_region(m)
            )
        if m := _S3_PATH.match(host):
            bucket, _, key = parts.path.lstrip("/").partition("/")
            if bucket:
                return Location(
                    "s3", ("s3", bucket), unquote(key), bucket=bucket, region=_region(m)
                )
        if m := _AZ_BLOB.match(host):
            container, _, key = parts.path.lstrip("/").partition("/")
            if container:
                account = m.group("account")
                return Location(
                    "azure",
                    ("azure", account, container),
                    unquote(key),
                    bucket=container,
                    account=account,
                )
        if host == "storage.googleapis.com":
            bucket, _, key = parts.path.lstrip("/").partition("/")
            if bucket:
                return Location("gcs", ("gcs", bucket), unquote(key), bucket=bucket)
        if m := _GCS_VHOST.match(host):
            bucket = m.group("bucket")
            return Location("gcs", ("gcs", bucket), _key(parts.path), bucket=bucket)
    origin = f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1]}"
    return Location("http", ("http", origin), _key(parts.path), origin=origin)


def _region(m: re.Match[str]) -> str | None:
    region = m.group("region")
    if region in (None, "external-1", "accelerate"):
        return None
    return region


def redact_url(url: str) -> str:
    """Remove credentials from a URL: userinfo and sensitive query values.

    Query parameter *names* are kept (useful for debugging), values of signature,
    token, credential, key and SAS parameters are replaced by ``REDACTED``.

    Args:
        url: Any URL or path.

    Returns:
        The URL safe to log or show in an error message.
    """
    if "://" not in url or ("@" not in url and "?" not in url):
        return url  # no userinfo, no query: nothing to redact (the common case, kept cheap)
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_IN_TEXT.sub(lambda m: m.group(0).split("?", 1)[0] + "?REDACTED", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if pairs:
            query = urlencode(
                [(k, REDACTED if _SENSITIVE_QUERY.search(k) else v) for k, v in pairs],
                safe="/:,",
            )
        else:
            query = REDACTED
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Redact every URL and ``key=value`` credential found in free text.

    Used on backend error messages before they are placed in our exceptions.

    Args:
        text: Arbitrary message text.

    Returns:
        The text with credentials removed.
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _KV_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_mapping(config: Mapping[str, Any]) -> dict[str, Any]:
    """Copy a config mapping with every secret-looking value replaced by ``REDACTED``.

    Values of keys naming a secret (``secret``, ``token``, ``password``, ``key``,
    ``credential``, ``auth``, ``sas``, ``signature``, ``session``...) are replaced unless
    they are booleans or None; nested mappings are redacted recursively and other strings
    pass through :func:`redact_text` (signed URLs, ``key=value`` credentials).

    Args:
        config: E.g. an obstore ``S3Config`` or ``ClientConfig``.

    Returns:
        A new dict safe to print or log.
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out[k] = redact_mapping(v)
        elif isinstance(v, bool) or v is None:
            out[k] = v
        elif _SENSITIVE_KEY.search(str(k)):
            out[k] = REDACTED
        elif isinstance(v, str):
            out[k] = redact_text(v)
        else:
            out[k] = v
    return out
