"""Resume upload: a resume file checked at the door, stored by content, and ``resume-upload`` started."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from hireflow.adapters.file_store import FileTooLarge
from hireflow.constants import ProcessId, Var
from hireflow.resume_intake import InvalidResume, detect_type
from hireflow.store import BusinessRecord, utcnow
from job_workers.records import UPLOADED_AT, upload_moment
from webapp.domain.items import Items
from webapp.domain.records import Accepted, records_belonging_to
from webapp.problems import invalid_field
from webapp.schemas import ResumeFields

# The resume types the upload process reads, by extension; the content must agree.
RESUME_EXTENSIONS = {".pdf": "pdf", ".docx": "docx"}
MAX_FILENAME_LENGTH = 200
# A newer resume in these states makes an older file uploaded again a new attempt: it is
# (or will be) the candidate's profile. One refused as a bad file, or ended, never was.
NEWER_RESUME_STATUSES = {"received", "processed"}


class Resumes(Items):
    """Taking a candidate's resume file."""

    def upload_resume(self, fields: ResumeFields, filename: str | None, stream: BinaryIO) -> Accepted:
        """Check the file at the door, store it by content, and start ``resume-upload``."""
        kind = self._check_filename(filename)
        data = stream.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise invalid_field("file", f"the file is larger than {self.max_upload_bytes} bytes", status=413)
        if not data:
            raise invalid_field("file", "the file is empty")
        try:
            detected = detect_type(data)
        except InvalidResume as exc:
            raise invalid_field("file", str(exc), status=415) from exc  # what the re-upload email says
        if detected != kind:
            raise invalid_field("file", f"the name says .{kind} but the content is {detected}", status=415)
        try:
            file_ref = self.services.files.put(io.BytesIO(data), max_bytes=self.max_upload_bytes)
        except FileTooLarge as exc:  # cannot happen after the check above; kept as a guard
            raise invalid_field("file", str(exc), status=413) from exc
        resume_id, attempt = self._current_attempt("resume", fields.candidate_id, file_ref)
        variables = {
            Var.RESUME_ID: resume_id,
            Var.CANDIDATE_ID: fields.candidate_id,
            Var.CANDIDATE_NAME: fields.candidate_name,
            Var.CANDIDATE_EMAIL: fields.candidate_email,
            Var.FILE_REF: file_ref,
        }
        started = self.gateway.start_item(ProcessId.RESUME_UPLOAD, variables)
        # The file's reference stays in the store, so the candidate's erasure can find it.
        details = {
            "candidate_id": fields.candidate_id,
            "file_type": kind,
            "filename": filename,
            "file_ref": file_ref,
            "attempt": attempt,
            # The profile comes from the newest resume, whichever is indexed last.
            UPLOADED_AT: utcnow().isoformat() + "Z",
        }
        return self._accepted("resume", resume_id, started, details)

    def _over_for_good(self, kind: str, business_id: str, record: BusinessRecord) -> bool:
        """A resume is over, too, once the candidate uploaded a newer one: the same file
        uploaded again then means "use this one again", and starts a new attempt, which
        makes it their profile's. Sent again with no newer upload in between, it is a repeat
        of the first, and starts nothing."""
        if kind == "resume" and self._newer_resume_uploaded(business_id, record):
            return True
        return super()._over_for_good(kind, business_id, record)

    def _newer_resume_uploaded(self, resume_id: str, record: BusinessRecord) -> bool:
        """Whether the candidate uploaded another resume after ``resume_id`` that is read, or
        being read (not one refused as a bad file, or ended)."""
        uploaded = upload_moment(record.details or {})
        candidate_id = (record.details or {}).get("candidate_id")
        if uploaded is None or not isinstance(candidate_id, str):
            return False  # taken before uploads were timed: a repeat, as it always was
        with self.services.db.sessions() as session:
            others = records_belonging_to(session, ("resume",), candidate_id)
        return any(
            other.business_id != resume_id
            and other.status in NEWER_RESUME_STATUSES
            and (upload_moment(other.details or {}) or uploaded) > uploaded
            for other in others
        )

    @staticmethod
    def _check_filename(filename: str | None) -> str:
        """The resume type the filename claims; refuses names that try to be paths or hide.

        The name is never used to store the file (files are kept by content hash), but it
        is shown to people and logged, so it must be a plain, printable name.
        """
        if not filename:
            raise invalid_field("file", "send the resume as a file part named 'file', with a filename")
        if (
            len(filename) > MAX_FILENAME_LENGTH
            or not filename.isprintable()
            or any(sep in filename for sep in ("/", "\\", ":"))
            or filename.startswith(".")
            or ".." in filename
        ):
            raise invalid_field(
                "file",
                f"the filename must be a plain name of at most {MAX_FILENAME_LENGTH} printable characters, "
                "without folders, ':' or a leading '.'",
            )
        extension = os.path.splitext(filename)[1].lower()
        if extension not in RESUME_EXTENSIONS:
            raise invalid_field("file", "only .pdf and .docx resumes are accepted", status=415)
        return RESUME_EXTENSIONS[extension]
