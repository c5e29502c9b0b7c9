"""Minimal S3 ListObjectsV2 for the object server (``GET /{bucket}?list-type=2``).

Lists the regular files under ``root/bucket`` (aliases are not listed). Supports ``prefix``,
``delimiter``, ``max-keys``, ``start-after`` and ``continuation-token`` (the token is the last
name returned, opaque to clients).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["list_objects_v2"]

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _walk(bucket_dir: Path) -> list[tuple[str, os.stat_result]]:
    out: list[tuple[str, os.stat_result]] = []
    for dirpath, _dirs, files in os.walk(bucket_dir):
        for name in files:
            path = Path(dirpath) / name
            st = path.stat()
            out.append((path.relative_to(bucket_dir).as_posix(), st))
    out.sort(key=lambda kv: kv[0])
    return out


def _tag(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def list_objects_v2(
    bucket_dir: Path,
    bucket: str,
    query: Mapping[str, str],
    etag: Callable[[os.stat_result], str],
) -> bytes:
    """Render a ListObjectsV2 result for ``bucket_dir``.

    Args:
        bucket_dir: Directory holding the bucket's objects.
        bucket: Bucket name echoed in the result.
        query: The request's query parameters.
        etag: Gives an object's ETag from its stat result.
    """
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = max(0, min(int(query.get("max-keys", "1000") or 1000), 1000))
    token = query.get("continuation-token")
    after = query.get("start-after", "")
    if token:
        after = max(after, base64.urlsafe_b64decode(token.encode()).decode())

    entries: list[tuple[str, os.stat_result | None]] = []  # (name, stat or None for a prefix)
    seen_prefixes: set[str] = set()
    for key, key_stat in _walk(bucket_dir):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest.split(delimiter, 1)[0] + delimiter
            if common not in seen_prefixes:
                seen_prefixes.add(common)
                entries.append((common, None))
            continue
        entries.append((key, key_stat))
    entries = [e for e in entries if e[0] > after]
    page, truncated = entries[:max_keys], len(entries) > max_keys

    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_NS}">',
        _tag("Name", bucket),
        _tag("Prefix", prefix),
        _tag("KeyCount", len(page)),
        _tag("MaxKeys", max_keys),
        _tag("IsTruncated", "true" if truncated else "false"),
    ]
    if delimiter:
        parts.append(_tag("Delimiter", delimiter))
    if token:
        parts.append(_tag("ContinuationToken", token))
    if truncated and page:
        nxt = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
        parts.append(_tag("NextContinuationToken", nxt))
    for name, st in page:
        if st is None:
            parts.append(f"<CommonPrefixes>{_tag('Prefix', name)}</CommonPrefixes>")
            continue
        modified = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        parts.append(
            "<Contents>"
            + _tag("Key", name)
            + _tag("LastModified", modified)
            + _tag("ETag", etag(st))
            + _tag("Size", st.st_size)
            + _tag("StorageClass", "STANDARD")
            + "</Contents>"
        )
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()
