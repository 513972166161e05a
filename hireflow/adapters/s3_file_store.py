"""The file store in an S3 bucket: AWS S3, or any S3-compatible store (MinIO, Ceph RGW, R2).

A folder shared by every webapp and worker pod needs a ReadWriteMany volume, which many
clusters lack; a bucket is what most production set-ups already have. Objects are keyed
by content hash exactly like ``LocalFileStore``'s files, so the same reference means the
same bytes in either store, and a retried upload writes nothing new.

boto3 comes with the ``s3`` extra (the images install it); this module is imported only
when ``HIREFLOW_FILES_URL`` names a bucket.
"""

from __future__ import annotations

import base64
import tempfile
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hireflow.adapters.file_store import FileNotFound, FileStoreUnavailable, check_ref, copy_hashing

# Uploads up to this size stay in memory while they are hashed; larger ones spill to disk.
SPOOL_BYTES = 8 * 1024 * 1024
# The object already exists (If-None-Match: *), or another writer is storing it right now:
# either way the same bytes are, or are about to be, stored under this key.
ALREADY_STORED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client with short timeouts and boto's standard retries (3 tries).

    Credentials come from boto's usual chain: ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, a profile, or the pod's role (IRSA, instance profile).
    """
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 3},
        # Path-style addressing works with every S3-compatible store, not only AWS.
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)


class S3FileStore:
    """Files as objects ``<prefix>ab/cdef...`` in ``bucket``; writes are conditional and checksummed."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def __repr__(self) -> str:
        return f"S3FileStore(s3://{self.bucket}/{self.prefix})"

    def _key(self, ref: str) -> str:
        digest = check_ref(ref).removeprefix("sha256:")
        return f"{self.prefix}{digest[:2]}/{digest[2:]}"

    def _unavailable(self, doing: str, exc: Exception) -> FileStoreUnavailable:
        return FileStoreUnavailable(f"S3 bucket {self.bucket!r} failed {doing}: {exc}")

    def put(self, stream: BinaryIO, *, max_bytes: int) -> str:
        """Store the stream's bytes, up to ``max_bytes``; return its reference.

        The object is written only if absent (``If-None-Match: *``), with its SHA-256 for
        the store to verify, so a damaged upload is refused rather than kept.
        """
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            digest, size = copy_hashing(stream, spool, max_bytes)
            spool.seek(0)
            ref = f"sha256:{digest.hexdigest()}"
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(ref),
                    Body=spool,
                    ContentLength=size,
                    ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                if _error_code(exc) not in ALREADY_STORED:
                    raise self._unavailable(f"storing {ref}", exc) from exc
            except BotoCoreError as exc:
                raise self._unavailable(f"storing {ref}", exc) from exc
        return ref

    def read(self, ref: str) -> bytes:
        """The stored bytes of ``ref``."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(ref))
            return response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                raise FileNotFound(f"No file stored as {ref} in s3://{self.bucket}/{self.prefix}") from exc
            raise self._unavailable(f"reading {ref}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"reading {ref}", exc) from exc

    def exists(self, ref: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(ref))
            return True
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                return False
            raise self._unavailable(f"looking up {ref}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"looking up {ref}", exc) from exc

    def delete(self, ref: str) -> bool:
        """Remove the object; False if there was none. (A versioned bucket keeps older versions.)"""
        existed = self.exists(ref)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(ref))
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(f"deleting {ref}", exc) from exc
        return existed

    def check(self) -> str:
        """Readiness: the bucket answers and these credentials may use it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("a readiness check", exc) from exc
        return f"s3://{self.bucket}/{self.prefix}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
