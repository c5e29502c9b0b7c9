"""moto's S3 server on 127.0.0.1 with one public-read bucket, for S3-protocol tests.

moto keeps its state in process-global backends; a ``moto.mock_aws`` block elsewhere in the same
process resets them on exit. :meth:`MotoS3.upload` therefore re-creates the bucket (and its
policy) when it has disappeared.

moto quirk: the bucket policy lets anonymous clients GET and list, but an anonymous HEAD is only
allowed on objects with a ``public-read`` ACL. :meth:`MotoS3.upload` and :meth:`MotoS3.put_bytes`
set that ACL; objects written by other clients (e.g. a signed obstore ``put``) answer an anonymous
HEAD with 403. Also, with the policy in place moto does not reject anonymous PUTs (real S3
would), so do not rely on moto to test write denial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rasteret_testkit.lifecycle import HOST, ServerLifecycle

__all__ = ["MotoS3", "anon_store_config"]


def anon_store_config(endpoint: str, region: str, bucket: str) -> dict[str, Any]:
    """Keyword arguments for an anonymous (``skip_signature``) ``S3Store(**cfg)`` on ``bucket``
    of the moto server at ``endpoint``."""
    return {
        "bucket": bucket,
        "endpoint": endpoint,
        "region": region,
        "skip_signature": True,
        "client_options": {"allow_http": True},
    }


class MotoS3(ServerLifecycle):
    """A ``moto.server.ThreadedMotoServer`` with bucket :attr:`bucket` readable anonymously.

    Args:
        bucket: Bucket created at start (3-63 characters).
        max_lifetime_s: The server is stopped by a watchdog after this many seconds.

    Attributes:
        endpoint: ``http://127.0.0.1:PORT`` once started.
        bucket: The bucket name (default ``"rasteret-test"``).
        region: ``"us-east-1"``.
        access_key_id: Credentials accepted by moto (any work; these are the conventional ones).
        secret_access_key: See ``access_key_id``.
    """

    region = "us-east-1"
    access_key_id = "testing"
    secret_access_key = "testing"

    def __init__(self, bucket: str = "rasteret-test", *, max_lifetime_s: float = 3600.0) -> None:
        super().__init__(max_lifetime_s)
        self.bucket = bucket
        self.endpoint = ""
        self._server: Any = None
        self._client: Any = None

    def _start(self) -> None:
        """Start moto on a free loopback port and create the public-read bucket."""
        from moto.server import ThreadedMotoServer  # lazy: moto is heavy to import

        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.ensure_bucket()

    def _stop(self, timeout: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def client(self) -> Any:
        """A boto3 S3 client for this server (signed with the test credentials)."""
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
            )
        return self._client

    def ensure_bucket(self, bucket: str | None = None) -> None:
        """Create ``bucket`` (default :attr:`bucket`) with a public-read policy unless it
        exists."""
        bucket = bucket or self.bucket
        client = self.client
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket in names:
            return
        client.create_bucket(Bucket=bucket)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def upload(self, local_path: str | Path, key: str) -> str:
        """Upload a local file to ``key`` in :attr:`bucket`; return its ``s3://`` URL."""
        self.ensure_bucket()
        key = key.lstrip("/")
        self.client.upload_file(str(local_path), self.bucket, key, ExtraArgs={"ACL": "public-read"})
        return self.s3_url(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key``; return its ``s3://`` URL."""
        self.ensure_bucket()
        key = key.lstrip("/")
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ACL="public-read")
        return self.s3_url(key)

    def s3_url(self, key: str) -> str:
        """``s3://{bucket}/{key}``."""
        return f"s3://{self.bucket}/{key.lstrip('/')}"

    def store_config(self) -> dict[str, Any]:
        """Keyword arguments for a signed ``obstore.store.S3Store(**cfg)`` on :attr:`bucket`."""
        return {
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "client_options": {"allow_http": True},
        }

    def anon_store_config(self) -> dict[str, Any]:
        """Keyword arguments for an anonymous (``skip_signature``) ``S3Store(**cfg)``."""
        return anon_store_config(self.endpoint, self.region, self.bucket)

    def __repr__(self) -> str:
        return f"MotoS3(endpoint={self.endpoint!r}, bucket={self.bucket!r})"
