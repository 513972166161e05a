"""Content-addressed file store: files are kept by the SHA-256 of their bytes.

Process variables carry only the reference (``sha256:<hex>``), never file content. The
local default keeps files in a folder outside any web root (``var/files``); production
may keep them in an S3 bucket instead (``hireflow.adapters.s3_file_store``). The same
bytes stored twice are stored once, which also makes a retried upload harmless.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from hireflow.errors import PermanentFailure
from hireflow.paths import data_root

REF_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 64 * 1024


class FileStoreError(Exception):
    """Base of the file store's errors."""


class FileTooLarge(FileStoreError):
    """The stream exceeded the size limit; nothing was stored."""


class FileNotFound(FileStoreError):
    """No file is stored under this reference."""


class NotAFileReference(FileNotFound, PermanentFailure):
    """The reference is not of the store's form: no file can ever be found under it.

    A permanent failure to the workers, so a malformed ``file_ref`` is an incident at once
    rather than a file to restore after five tries.
    """


class FileStoreUnavailable(FileStoreError):
    """The store cannot be reached or refused the call; trying again later may succeed."""


class FileStore(Protocol):
    """What the webapp and workers need from a file store."""

    def put(self, stream: BinaryIO, *, max_bytes: int) -> str: ...

    def read(self, ref: str) -> bytes: ...

    def delete(self, ref: str) -> bool:
        """Remove the file (a candidate's erasure); False if there was none."""
        ...

    def check(self) -> str:
        """Readiness: where the files are kept; raises ``FileStoreUnavailable`` if unusable."""
        ...


def copy_hashing(stream: BinaryIO, sink: BinaryIO, max_bytes: int) -> tuple[Any, int]:
    """Copy ``stream`` into ``sink``; its SHA-256 and size. Raises FileTooLarge past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(f"File exceeds the limit of {max_bytes} bytes")
        digest.update(chunk)
        sink.write(chunk)
    return digest, size


def check_ref(ref: str) -> str:
    """Return ``ref`` if well formed; refuse anything else (it would become a path)."""
    if not isinstance(ref, str) or not REF_PATTERN.fullmatch(ref):
        raise NotAFileReference(f"Not a file reference: {ref!r} (expected sha256:<64 hex digits>)")
    return ref


class LocalFileStore:
    """Files in ``root/ab/cdef...``; writes are atomic (temporary file, fsync, rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, ref: str) -> Path:
        digest = check_ref(ref).removeprefix("sha256:")
        return self.root / digest[:2] / digest[2:]

    def put(self, stream: BinaryIO, *, max_bytes: int) -> str:
        """Store the stream's bytes, up to ``max_bytes``; return its reference.

        The folder failing (full, read-only, gone) is ``FileStoreUnavailable``, as a bucket's
        failure is: the webapp answers 503 and a worker tries again, instead of a 500.
        """
        try:
            fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        except OSError as exc:
            raise self._unavailable("writing", exc) from exc
        try:
            with os.fdopen(fd, "wb") as tmp:
                digest, _ = copy_hashing(stream, tmp, max_bytes)
                tmp.flush()
                os.fsync(tmp.fileno())
            ref = f"sha256:{digest.hexdigest()}"
            target = self._path(ref)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp_name, target)
            return ref
        except ConnectionError:
            raise  # the sender's connection, not the folder
        except OSError as exc:
            raise self._unavailable("writing", exc) from exc
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def read(self, ref: str) -> bytes:
        """The stored bytes of ``ref``."""
        path = self._path(ref)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFound(f"No file stored as {ref}") from exc
        except OSError as exc:
            raise self._unavailable("reading", exc) from exc

    def _unavailable(self, doing: str, exc: OSError) -> FileStoreUnavailable:
        return FileStoreUnavailable(f"the files folder {self.root} failed {doing}: {exc.strerror or exc}")

    def exists(self, ref: str) -> bool:
        return self._path(ref).is_file()

    def delete(self, ref: str) -> bool:
        """Remove the file; False if there was none."""
        try:
            self._path(ref).unlink()
        except FileNotFoundError:
            return False
        return True

    def check(self) -> str:
        """Readiness: the folder is there and this process may write to it."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise FileStoreUnavailable(f"the files folder {self.root} is missing or not writable")
        return str(self.root)


def file_store_from_environment(env: Mapping[str, str]) -> FileStore:
    """The store the environment names.

    ``HIREFLOW_FILES_URL=s3://bucket/optional/prefix`` keeps files in that bucket, with
    ``HIREFLOW_S3_ENDPOINT_URL`` for an S3-compatible store (MinIO, Ceph) and boto's own
    ``AWS_*`` settings for credentials and region. Without it, files stay in the folder
    ``HIREFLOW_FILES_DIR`` (default ``var/files``).
    """
    url = env.get("HIREFLOW_FILES_URL", "").strip()
    if not url:
        return LocalFileStore(Path(env.get("HIREFLOW_FILES_DIR") or data_root() / "files"))
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"HIREFLOW_FILES_URL={url!r}: expected s3://<bucket>[/<prefix>]")
    try:
        from hireflow.adapters.s3_file_store import S3FileStore, s3_client
    except ImportError as exc:  # boto3 comes with the s3 extra
        raise ValueError(
            f"HIREFLOW_FILES_URL names a bucket but boto3 is missing ({exc}); install hireflow[s3]"
        ) from exc
    client = s3_client(
        env.get("HIREFLOW_S3_ENDPOINT_URL", "").strip() or None,
        env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
    )
    return S3FileStore(client, parts.netloc, parts.path)
