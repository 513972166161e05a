"""Content-addressed file store: files are kept by the SHA-256 of their bytes.

Process variables carry only the reference (``sha256:<hex>``), never file content. The
local default keeps files in a folder outside any web root (``var/files``). The same
bytes stored twice are stored once, which also makes a retried upload harmless.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

REF_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 64 * 1024


class FileStoreError(Exception):
    """Base of the file store's errors."""


class FileTooLarge(FileStoreError):
    """The stream exceeded the size limit; nothing was stored."""


class FileNotFound(FileStoreError):
    """No file is stored under this reference."""


class FileStore(Protocol):
    """What the webapp and workers need from a file store."""

    def put(self, stream: BinaryIO, *, max_bytes: int) -> str: ...

    def read(self, ref: str) -> bytes: ...


def check_ref(ref: str) -> str:
    """Return ``ref`` if well formed; refuse anything else (it would become a path)."""
    if not isinstance(ref, str) or not REF_PATTERN.match(ref):
        raise FileNotFound(f"Not a file reference: {ref!r} (expected sha256:<64 hex digits>)")
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
        """Store the stream's bytes, up to ``max_bytes``; return its reference."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(f"File exceeds the limit of {max_bytes} bytes")
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            ref = f"sha256:{digest.hexdigest()}"
            target = self._path(ref)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp_name, target)
            return ref
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

    def exists(self, ref: str) -> bool:
        return self._path(ref).is_file()
