"""The file store: the local folder and an S3 bucket keep files alike (issue 3).

The S3 store runs against moto's S3 server over real HTTP on a local port, so boto3's
requests, conditional writes and error codes are exercised as they would be against a
bucket; only AWS itself is absent. One test runs a resume upload end to end through the
webapp, the engine and the workers with its files in that bucket.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.server import ThreadedMotoServer

from hireflow.adapters.file_store import (
    FileNotFound,
    FileStore,
    FileStoreUnavailable,
    FileTooLarge,
    LocalFileStore,
    file_store_from_environment,
)
from hireflow.adapters.s3_file_store import S3FileStore, s3_client
from hireflow.engine.embedded import free_port
from hireflow.errors import PermanentFailure
from hireflow.store import Candidate
from tests.engine_helpers import unique_key, wait_until_completed
from tests.offline_webapp import empty_services, offline_app
from tests.resume_samples import pdf_resume
from tests.web_helpers import resume_upload

BUCKET = "hireflow-files"


@pytest.fixture(scope="module")
def s3_endpoint(monkeypatch_module) -> Iterator[str]:
    """moto's S3 server on a free port, with one bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3_client(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """Test credentials for boto3 (moto accepts any), never a developer's own."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "hireflow-test",
            "AWS_SECRET_ACCESS_KEY": "hireflow-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield patch


def s3_store(endpoint: str, prefix: str | None = None) -> S3FileStore:
    """A store under its own prefix, so tests never see each other's objects."""
    return S3FileStore(s3_client(endpoint), BUCKET, prefix or f"test-{uuid.uuid4().hex[:8]}")


def s3_keys(store: S3FileStore) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> FileStore:
    if request.param == "local":
        return LocalFileStore(tmp_path / "files")
    return s3_store(request.getfixturevalue("s3_endpoint"))


def stored_count(store: FileStore) -> int:
    if isinstance(store, S3FileStore):
        return len(s3_keys(store))
    return len([p for p in store.root.rglob("*") if p.is_file()])


# -- the same behaviour from both stores --


def test_bytes_are_kept_once_under_their_content_hash(store):
    data = pdf_resume()
    ref = store.put(io.BytesIO(data), max_bytes=len(data))
    assert ref == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.put(io.BytesIO(data), max_bytes=len(data)) == ref
    assert store.read(ref) == data
    assert store.exists(ref)
    assert stored_count(store) == 1


def test_a_deleted_file_is_gone_and_deleting_again_is_harmless(store):
    data = b"%PDF-1.7 to be erased"
    ref = store.put(io.BytesIO(data), max_bytes=100)
    assert store.delete(ref) is True
    assert not store.exists(ref)
    with pytest.raises(FileNotFound):
        store.read(ref)
    assert store.delete(ref) is False
    assert stored_count(store) == 0


def test_an_oversized_stream_is_refused_and_nothing_kept(store):
    with pytest.raises(FileTooLarge):
        store.put(io.BytesIO(b"x" * 1000), max_bytes=999)
    assert stored_count(store) == 0


def test_a_missing_file_is_named(store):
    ref = "sha256:" + "0" * 64
    with pytest.raises(FileNotFound, match=ref):
        store.read(ref)
    assert not store.exists(ref)


@pytest.mark.parametrize(
    "ref",
    ["../../etc/passwd", "sha256:../../x", "sha256:" + "g" * 64, "md5:abc", "sha256:" + "a" * 64 + "\n"],
)
def test_a_reference_that_is_not_the_stores_own_is_refused(store, ref):
    with pytest.raises(FileNotFound, match="Not a file reference") as refused:
        store.read(ref)
    # No file can ever be found under it: the workers raise the incident at once.
    assert isinstance(refused.value, PermanentFailure)


def test_readiness_names_where_the_files_are(store):
    where = store.check()
    assert where == (
        str(store.root) if isinstance(store, LocalFileStore) else f"s3://{BUCKET}/{store.prefix}"
    )


# -- the S3 store --


def test_the_s3_store_writes_under_its_prefix_only_if_absent_with_its_checksum(s3_endpoint):
    store = s3_store(s3_endpoint, prefix="/tenant-a/resumes/")
    sent = []
    store.client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request))
    data = b"%PDF-1.7 a small file"
    ref = store.put(io.BytesIO(data), max_bytes=100)
    digest = hashlib.sha256(data)
    assert s3_keys(store) == [f"tenant-a/resumes/{digest.hexdigest()[:2]}/{digest.hexdigest()[2:]}"]
    assert store.read(ref) == data
    # S3 itself verifies the checksum (moto does not), and If-None-Match keeps the first copy.
    headers = sent[0].headers
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(digest.digest())
    assert headers["If-None-Match"] == b"*"


def test_the_same_file_stored_at_once_by_many_writers_is_one_object(s3_endpoint):
    store = s3_store(s3_endpoint)
    data = pdf_resume(pages=2)
    with ThreadPoolExecutor(8) as pool:
        refs = set(pool.map(lambda _: store.put(io.BytesIO(data), max_bytes=len(data)), range(8)))
    assert len(refs) == 1
    assert len(s3_keys(store)) == 1
    assert store.read(refs.pop()) == data


def test_a_missing_bucket_is_unavailable_not_a_missing_file(s3_endpoint):
    store = S3FileStore(s3_client(s3_endpoint), "no-such-bucket")
    with pytest.raises(FileStoreUnavailable, match="no-such-bucket"):
        store.check()
    with pytest.raises(FileStoreUnavailable, match="storing sha256:"):
        store.put(io.BytesIO(b"data"), max_bytes=10)


def test_an_unreachable_endpoint_is_unavailable():
    store = S3FileStore(s3_client(f"http://127.0.0.1:{free_port()}"), BUCKET)
    for call in (store.check, lambda: store.read("sha256:" + "1" * 64)):
        with pytest.raises(FileStoreUnavailable, match="Could not connect"):
            call()


# -- the local store --


def test_a_files_folder_that_went_away_is_not_ready(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    store.root.rmdir()
    with pytest.raises(FileStoreUnavailable, match="missing or not writable"):
        store.check()


def test_a_files_folder_that_fails_a_write_is_unavailable_and_keeps_nothing(tmp_path, monkeypatch):
    store = LocalFileStore(tmp_path / "files")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(FileStoreUnavailable, match="failed writing: No space left on device"):
        store.put(io.BytesIO(b"resume"), max_bytes=100)
    assert not list(store.root.iterdir())  # no half-written file left behind
    monkeypatch.undo()
    store.root.rmdir()
    with pytest.raises(FileStoreUnavailable, match="failed writing: No such file or directory"):
        store.put(io.BytesIO(b"resume"), max_bytes=100)


def test_a_senders_dropped_connection_is_not_the_folders_failure(tmp_path):
    class DroppedUpload(io.RawIOBase):
        def read(self, size=-1):
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    store = LocalFileStore(tmp_path / "files")
    with pytest.raises(ConnectionResetError):
        store.put(DroppedUpload(), max_bytes=100)
    assert not list(store.root.iterdir())


def test_an_upload_to_a_folder_that_failed_is_a_503_not_a_500(tmp_path):
    services = empty_services(tmp_path)
    services.files.root.rmdir()
    response = offline_app(services).test_client().post("/api/resumes", **resume_upload(pdf_resume()))
    assert response.status_code == 503
    assert response.json["title"] == "File store unavailable"


# -- chosen by the environment --


def test_the_environment_chooses_the_folder_or_the_bucket(tmp_path, monkeypatch):
    monkeypatch.setenv("HIREFLOW_DATA_DIR", str(tmp_path / "data"))
    assert file_store_from_environment({}).root == tmp_path / "data" / "files"
    assert file_store_from_environment({"HIREFLOW_FILES_DIR": str(tmp_path / "f")}).root == tmp_path / "f"

    store = file_store_from_environment(
        {"HIREFLOW_FILES_URL": "s3://resumes-prod/hireflow/", "HIREFLOW_S3_ENDPOINT_URL": "http://minio:9000"}
    )
    assert isinstance(store, S3FileStore)
    assert (store.bucket, store.prefix) == ("resumes-prod", "hireflow/")
    assert store.client.meta.endpoint_url == "http://minio:9000"


@pytest.mark.parametrize("url", ["resumes-prod", "s3:///prefix", "gs://bucket", "s3://bucket?x=1"])
def test_a_files_url_that_is_not_a_bucket_stops_the_start(url):
    with pytest.raises(ValueError, match="expected s3://<bucket>"):
        file_store_from_environment({"HIREFLOW_FILES_URL": url})


# -- end to end, with the files in a bucket --


@pytest.mark.engine
@pytest.mark.usefixtures("hireflow_worker")
def test_a_resume_upload_completes_with_its_files_in_the_bucket(
    s3_endpoint, local_world, web, process_engine, monkeypatch
):
    """The webapp stores the upload in the bucket; the workers read it and store its text there."""
    store = s3_store(s3_endpoint)
    # The webapp and the workers share this Services object, as they share the bucket in production.
    monkeypatch.setattr(local_world.services, "files", store)
    candidate_id = unique_key("cand")
    data = pdf_resume(pages=1)

    accepted = web.post("/api/resumes", **resume_upload(data, candidate_id=candidate_id))
    assert accepted.status_code == 202, accepted.json
    wait_until_completed(process_engine.client, accepted.json["processInstanceKey"])

    assert web.get(accepted.headers["Location"]).json["status"] == "processed"
    with local_world.services.db.sessions() as session:
        assert session.get(Candidate, candidate_id).skills
    assert len(s3_keys(store)) == 2  # the resume and its extracted text
    assert web.get("/readyz").json["checks"]["files"] == {
        "ok": True,
        "detail": f"s3://{BUCKET}/{store.prefix}",
    }
