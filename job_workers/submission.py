"""Workers of the resume-submission process: score the match, record the outcome.

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

from pyzeebe import Job

from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.matching import Requirements, score_match
from hireflow.store import Candidate, JobPosting
from job_workers.records import (
    a_persons_decision,
    check_as_recorded,
    outcome_header,
    record_details,
    record_status,
)
from job_workers.services import Services
from job_workers.task_router import BusinessId, TaskRouter

# Both are a few indexed reads and writes; 30 s is far above their p99.
STORE_TIMEOUT_MS = 30_000


class ResumeSubmissionTasks:
    """Task functions for resume-submission, with their adapters injected."""

    def __init__(self, services: Services):
        self.services = services

    def score_match(
        self, application_id: BusinessId, candidate_id: BusinessId, posting_id: BusinessId
    ) -> dict:
        """Score the candidate's indexed profile against the posting's requirements, and record the score."""
        check_as_recorded(
            self.services.db, "application", application_id, candidate_id=candidate_id, posting_id=posting_id
        )
        with self.services.db.sessions() as session:
            posting = session.get(JobPosting, posting_id)
            candidate = session.get(Candidate, candidate_id)
        if posting is None:
            raise PermanentFailure(
                f"Application {application_id}: posting {posting_id} does not exist; "
                "fix the posting id or cancel the application"
            )
        if candidate is None:
            raise PermanentFailure(
                f"Application {application_id}: candidate {candidate_id} has no processed resume; "
                "ask the candidate to upload one, then retry"
            )
        requirements = Requirements(posting.required_skills, posting.nice_to_have_skills, posting.min_years)
        result = score_match(candidate.skills, candidate.years_of_experience, requirements)
        # On file at once, not only with the outcome: while a recruiter screens it (for days,
        # maybe), the status and the posting's list of applications show how it scored. With
        # whose and for which posting it is, for an instance started without the webapp.
        record_details(
            self.services.db,
            "application",
            application_id,
            "submitted",
            candidate_id=candidate_id,
            posting_id=posting_id,
            match_score=result.score,
            matched_skills=list(result.matched_skills),
        )
        return {**result.as_variables(), "posting_title": posting.title}

    def record_outcome(
        self,
        job: Job,
        application_id: BusinessId,
        match_score: int | None = None,
        matched_skills: list | None = None,
        screening_decision: str | None = None,
        screening_note: str | None = None,
    ) -> dict:
        """Record shortlisted, declined or withdrawn, as the task's header says, with the match
        and, when a recruiter screened it, their decision and note.

        The score and the matched skills explain the routing to whoever asks for the
        status; an application withdrawn before it was scored has neither. The screening
        form calls its note "for the file": this is the file.
        """
        status = outcome_header(job)
        details: dict = {}
        if match_score is not None:
            details = {"match_score": match_score, "matched_skills": list(matched_skills or [])}
        screening = a_persons_decision(screening_decision, screening_note)
        if screening:
            details["screening"] = screening
        record_status(self.services.db, "application", application_id, status, details)
        return {"application_status": status}


def build_router(services: Services) -> TaskRouter:
    """The resume-submission router, its tasks bound to ``services``."""
    tasks = ResumeSubmissionTasks(services)
    router = TaskRouter()
    router.task(JobType.SCORE_MATCH, timeout_ms=STORE_TIMEOUT_MS)(tasks.score_match)
    router.task(JobType.RECORD_APPLICATION_OUTCOME, timeout_ms=STORE_TIMEOUT_MS)(tasks.record_outcome)
    return router
