"""Serve a synthetic AEF collection (:mod:`rasteret_testkit.aef`) on loopback servers.

- :func:`upload_aef_to_s3`: the COGs and the collection on moto's S3 server, under the
  ``aef/v1-annual`` descriptor's layout (bucket ``us-west-2.opendata.source.coop`` by default:
  COGs at ``tge-labs/aef/v1/annual/...``, the collection at
  ``terrafloww/aef-v1-annual-rasteret/{index.parquet,data/}``), so the descriptor's URIs and
  URL-rewrite pattern stay as published and only the S3 endpoint changes.
- :func:`serve_aef_on_hub`: the collection directory as a Hub dataset repo
  (``hf://datasets/<org>/<name>``): ``index.parquet``, ``data/part-*.parquet``, ``README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasteret_testkit.aef import (
    AEF_BUCKET,
    AEF_COLLECTION_PREFIX,
    AEF_SOURCE_PREFIX,
    AefCollection,
)
from rasteret_testkit.hub import HubEmulator
from rasteret_testkit.moto_s3 import MotoS3, anon_store_config

__all__ = ["AefHubRepo", "AefS3", "serve_aef_on_hub", "upload_aef_to_s3"]

#: Object written last by an upload; its presence means the upload is complete.
_SENTINEL = "_SUCCESS"


@dataclass(frozen=True, slots=True)
class AefS3:
    """A synthetic AEF collection on moto's S3 server.

    Attributes:
        collection: The local build (its ``records`` carry the asset hrefs).
        endpoint: moto's ``http://127.0.0.1:PORT``.
        bucket: Bucket holding COGs and collection.
        region: Region to configure clients with.
        index_uri: ``s3://<bucket>/terrafloww/aef-v1-annual-rasteret/index.parquet``.
        collection_uri: ``s3://<bucket>/terrafloww/aef-v1-annual-rasteret/data``.
        url_rewrite_patterns: The descriptor pattern mapping the index ``path`` to this bucket.
    """

    collection: AefCollection
    endpoint: str
    bucket: str
    region: str
    index_uri: str
    collection_uri: str
    url_rewrite_patterns: dict[str, str]

    @property
    def data_uris(self) -> tuple[str, ...]:
        """``s3://`` URI of every wide-data shard, in order."""
        return tuple(f"{self.collection_uri}/{p.name}" for p in self.collection.shard_paths)

    def store_config(self) -> dict[str, Any]:
        """Keyword arguments for an anonymous ``obstore.store.S3Store(**cfg)`` on the bucket."""
        return anon_store_config(self.endpoint, self.region, self.bucket)

    def pyarrow_filesystem(self) -> Any:
        """An anonymous ``pyarrow.fs.S3FileSystem`` on moto (paths are ``<bucket>/<key>``)."""
        from pyarrow import fs

        host = self.endpoint.split("://", 1)[1]
        return fs.S3FileSystem(
            anonymous=True, endpoint_override=host, scheme="http", region=self.region
        )

    def descriptor_overrides(self) -> dict[str, Any]:
        """``DatasetDescriptor`` fields that route ``aef/v1-annual`` to this bucket.

        With the default bucket these equal the published values (only the endpoint differs);
        pass them to ``dataclasses.replace(descriptor, **overrides)``.
        """
        return {
            "record_table_uri": self.index_uri,
            "index_uri": self.index_uri,
            "collection_uri": self.collection_uri,
            "cloud_config": {
                "provider": "aws",
                "requester_pays": False,
                "region": self.region,
                "url_patterns": dict(self.url_rewrite_patterns),
            },
        }


def upload_aef_to_s3(
    moto: MotoS3,
    collection: AefCollection,
    *,
    bucket: str = AEF_BUCKET,
    prefix: str = AEF_COLLECTION_PREFIX,
) -> AefS3:
    """Upload the COGs and the collection to ``bucket`` on moto (idempotent, fast when present).

    Objects are written with single-part ``put_object`` and a public-read ACL, so anonymous
    clients can GET and HEAD them and their ETag is the quoted MD5 (what
    ``build_aef_collection(etags=True)`` stores). The collection's asset hrefs must point at
    ``s3://<bucket>/`` (build it with ``url_rewrite_patterns={AEF_SOURCE_PREFIX:
    f"s3://{bucket}/"}``, the default for the default bucket).

    Raises:
        ValueError: the collection's hrefs do not point at ``bucket``.
    """
    target = f"s3://{bucket}/"
    if collection.url_rewrite_patterns.get(AEF_SOURCE_PREFIX) != target:
        raise ValueError(
            f"collection hrefs are rewritten to {collection.url_rewrite_patterns!r}, "
            f"not to {target!r}: build it with url_rewrite_patterns={{AEF_SOURCE_PREFIX: {target!r}}}"
        )
    prefix = prefix.strip("/")
    out = AefS3(
        collection=collection,
        endpoint=moto.endpoint,
        bucket=bucket,
        region=moto.region,
        index_uri=f"s3://{bucket}/{prefix}/index.parquet",
        collection_uri=f"s3://{bucket}/{prefix}/data",
        url_rewrite_patterns={AEF_SOURCE_PREFIX: target},
    )
    moto.ensure_bucket(bucket)
    from botocore.exceptions import ClientError  # boto3 comes with moto; imported with it

    client = moto.client
    sentinel = f"{prefix}/{_SENTINEL}"
    try:
        client.head_object(Bucket=bucket, Key=sentinel)
        return out
    except ClientError:  # 404: not uploaded yet, or wiped by a ``moto.mock_aws`` block
        pass
    uploads = [(r.key, r.local_cog) for r in collection.records]
    uploads.append((f"{prefix}/index.parquet", collection.index_path))
    uploads += [(f"{prefix}/data/{p.name}", p) for p in collection.shard_paths]
    for key, path in uploads:
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ACL="public-read")
    client.put_object(Bucket=bucket, Key=sentinel, Body=b"", ACL="public-read")
    return out


@dataclass(frozen=True, slots=True)
class AefHubRepo:
    """A synthetic AEF collection served as a Hub dataset repo.

    Attributes:
        collection: The local build served.
        repo_id: ``"<org>/<name>"``.
        revision: Branch name.
        commit: The branch's commit sha (for ``@<sha>`` URIs).
        endpoint: The emulator's Hub URL.
    """

    collection: AefCollection
    repo_id: str
    revision: str
    commit: str
    endpoint: str

    @property
    def uri(self) -> str:
        """``hf://datasets/<org>/<name>`` (the default branch)."""
        return f"hf://datasets/{self.repo_id}"

    def uri_at(self, revision: str, subpath: str = "") -> str:
        """``hf://datasets/<org>/<name>@<revision>[/<subpath>]``."""
        tail = f"/{subpath.strip('/')}" if subpath.strip("/") else ""
        return f"hf://datasets/{self.repo_id}@{revision}{tail}"

    @property
    def data_paths(self) -> tuple[str, ...]:
        """Repo paths of the wide-data shards (``data/part-*.parquet``)."""
        return tuple(f"data/{p.name}" for p in self.collection.shard_paths)


def serve_aef_on_hub(
    hub: HubEmulator,
    collection: AefCollection,
    *,
    repo_id: str = "rasteret/aef-v1-annual-mini",
    revision: str = "main",
) -> AefHubRepo:
    """Register ``collection.root`` as branch ``revision`` of dataset repo ``repo_id``."""
    branch = hub.add_dataset(repo_id, collection.root, revision=revision)
    return AefHubRepo(collection, repo_id, revision, branch.commit, hub.endpoint)
