"""Workers of the resume-upload process: validate, extract text, extract skills, index, record.

No ``from __future__ import annotations`` here: pyzeebe compares parameter annotations
with the real ``Job`` class, and string annotations would break that.
"""

import io
import logging
from datetime import datetime

from pyzeebe import Job
from sqlalchemy.exc import IntegrityError

from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.resume_intake import check_file, extract_skills, extract_years_of_experience, read_text
from hireflow.store import Candidate, locked_by_id, utcnow
from job_workers.records import (
    UPLOADED_AT,
    check_as_recorded,
    outcome_header,
    record_details,
    record_status,
    recorded_details,
    upload_moment,
)
from job_workers.services import Services
from job_workers.task_router import SKILL_FORM, BusinessId, EmailAddress, PersonName, TaskRouter

log = logging.getLogger(__name__)

# Parsing a 5 MB PDF takes well under a second; 60 s leaves a wide margin over the p99.
PARSE_TIMEOUT_MS = 60_000


class ResumeUploadTasks:
    """Task functions for resume-upload, with their adapters injected."""

    def __init__(self, services: Services):
        self.services = services

    def validate_file(self, resume_id: BusinessId, file_ref: str) -> dict:
        """Check the stored file is a resume we accept; raises InvalidResume (BPMN error) if not."""
        check_as_recorded(self.services.db, "resume", resume_id, file_ref=file_ref)
        checked = check_file(self.services.files.read(file_ref), self.services.intake_limits)
        return {"file_type": checked.kind, "page_count": checked.pages}

    def extract_text(self, resume_id: BusinessId, file_ref: str) -> dict:
        """Extract the text and store it by reference: resume text never goes into variables."""
        # Another candidate's file would be read into this candidate's profile.
        check_as_recorded(self.services.db, "resume", resume_id, file_ref=file_ref)
        limits = self.services.intake_limits
        # A text over the limit was refused as the candidate's file (RESUME_INVALID), so the
        # store's limit here is never met.
        checked, text = read_text(self.services.files.read(file_ref), limits)
        if checked.unread_pages:
            # The profile comes from the other pages; a skill only on these is not found.
            log.warning(
                "resume %s: %d of %d pages could not be read and were left out (%s)",
                resume_id,
                len(checked.unread_pages),
                checked.pages,
                "; ".join(checked.unread_pages),
            )
        if checked.unread_parts:
            # A PDF form's fields, or HTML a Word file embeds, may hold most of a resume's text.
            log.warning(
                "resume %s: left out what could not be read: %s", resume_id, "; ".join(checked.unread_parts)
            )
        text_ref = self.services.files.put(io.BytesIO(text.encode("utf-8")), max_bytes=limits.max_text_bytes)
        # Kept with the resume too, so the candidate's erasure removes the text with the file;
        # and what was left out, so a recruiter who misses a skill on its page sees why.
        left_unread = [*checked.unread_pages, *checked.unread_parts]
        if left_unread:
            record_details(
                self.services.db, "resume", resume_id, "received", text_ref=text_ref, left_unread=left_unread
            )
        else:
            record_details(
                self.services.db, "resume", resume_id, "received", forget=("left_unread",), text_ref=text_ref
            )
        return {"text_ref": text_ref}

    def extract_skills(self, resume_id: BusinessId, text_ref: str) -> dict:
        """Skills and years of experience found in the resume text."""
        text = self.services.files.read(text_ref).decode("utf-8")
        return {"skills": extract_skills(text), "years_of_experience": extract_years_of_experience(text)}

    def index_candidate(
        self,
        resume_id: BusinessId,
        candidate_id: BusinessId,
        skills: list,
        years_of_experience: int | None,
        candidate_name: PersonName | None = None,
        candidate_email: EmailAddress | None = None,
    ) -> dict:
        """Make the candidate findable with this resume's profile (an upsert: safe to repeat).

        The name and email given with the resume are kept too: they are what an employer's
        unlock pays to see. A resume uploaded before the one the profile has now (its
        instance retried late) leaves the profile alone: ``{"indexed": False}``. The upload
        time is the record's (``UPLOADED_AT``, written by the webapp); a resume whose record
        has none (taken before uploads were timed, or started by an admin) counts as
        uploaded now.
        """
        if not all(isinstance(skill, str) for skill in skills):
            raise PermanentFailure(f"Resume {resume_id}: skills must be a list of texts, not {skills!r}")
        if not all(SKILL_FORM.fits(skill) for skill in skills):
            # Search keeps each in 50 characters, which PostgreSQL enforces and SQLite does not.
            raise PermanentFailure(
                f"Resume {resume_id}: each of the skills must be {SKILL_FORM.in_words}; set the skills"
                " variable right"
            )
        uploaded = _uploaded_at(resume_id, recorded_details(self.services.db, "resume", resume_id))
        # Another candidate's profile, name and email would be overwritten with this resume's.
        check_as_recorded(self.services.db, "resume", resume_id, candidate_id=candidate_id)
        profile = Candidate(
            candidate_id=candidate_id,
            resume_id=resume_id,
            resume_uploaded_at=uploaded,
            skills=list(skills),
            years_of_experience=years_of_experience,
            name=candidate_name,
            email=candidate_email,
        )
        try:
            return self._keep_newest(profile)
        except IntegrityError:
            # The candidate's first resumes indexed at once: the other insert won, and there
            # is a row to lock now.
            return self._keep_newest(profile)

    def _keep_newest(self, profile: Candidate) -> dict:
        """Write ``profile`` over the candidate's, unless theirs is from a newer resume."""
        with self.services.db.sessions.begin() as session:
            candidate = locked_by_id(session, Candidate, Candidate.candidate_id, profile.candidate_id)
            if candidate is None:
                session.add(profile)
                profile.indexed_at = utcnow()
                return {"indexed": True}
            newer = candidate.resume_uploaded_at
            if (
                candidate.resume_id != profile.resume_id
                and newer is not None
                and newer > profile.resume_uploaded_at
            ):
                log.info(
                    "resume %s of candidate %s was uploaded before %s, which the profile has: left out",
                    profile.resume_id,
                    profile.candidate_id,
                    candidate.resume_id,
                )
                return {"indexed": False}
            candidate.resume_id = profile.resume_id
            candidate.resume_uploaded_at = profile.resume_uploaded_at
            candidate.skills = list(profile.skills)
            candidate.years_of_experience = profile.years_of_experience
            candidate.name = profile.name or candidate.name
            candidate.email = profile.email or candidate.email
            candidate.indexed_at = utcnow()
        return {"indexed": True}

    def record_outcome(
        self,
        job: Job,
        resume_id: BusinessId,
        rejection_reason: str | None = None,
        rejection_message: str | None = None,
    ) -> dict:
        """Record processed or rejected, as the task's header says; the webapp shows it.

        A rejection keeps its reason and the words the candidate's email gave, so whoever
        asks for the resume's status learns why without reading the mail.
        """
        status = outcome_header(job)
        details = {}
        if rejection_reason:
            details = {"rejection_reason": rejection_reason, "rejection_message": rejection_message or ""}
        record_status(self.services.db, "resume", resume_id, status, details)
        return {"resume_status": status}


def _uploaded_at(resume_id: str, recorded: dict) -> datetime:
    """When the resume was uploaded, as its record says (naive UTC); now if it does not say."""
    moment = upload_moment(recorded)
    if moment is None:
        value = recorded.get(UPLOADED_AT)
        if value is not None:
            log.warning(
                "resume %s: its record's %s %r is no moment; taken as now", resume_id, UPLOADED_AT, value
            )
        return utcnow()
    return moment


def build_router(services: Services) -> TaskRouter:
    """The resume-upload router, its tasks bound to ``services``."""
    tasks = ResumeUploadTasks(services)
    router = TaskRouter()
    router.task(JobType.VALIDATE_RESUME_FILE, timeout_ms=PARSE_TIMEOUT_MS)(tasks.validate_file)
    router.task(JobType.EXTRACT_RESUME_TEXT, timeout_ms=PARSE_TIMEOUT_MS)(tasks.extract_text)
    router.task(JobType.EXTRACT_RESUME_SKILLS, timeout_ms=30_000)(tasks.extract_skills)
    router.task(JobType.INDEX_CANDIDATE, timeout_ms=30_000)(tasks.index_candidate)
    router.task(JobType.RECORD_RESUME_OUTCOME, timeout_ms=30_000)(tasks.record_outcome)
    return router
