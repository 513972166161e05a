"""Resume submission: a candidate applies to a posting (``resume-submission``), or withdraws."""

from __future__ import annotations

from hireflow.constants import Message, ProcessId, Var
from hireflow.store import Candidate, Employer, JobPosting
from webapp.domain.interviews import Interviews
from webapp.domain.items import filled_from_file, must_give, read_signed_link
from webapp.domain.records import FIRST_STATUS, Accepted, records_belonging_to
from webapp.problems import Problem, invalid_field
from webapp.schemas import ApplicationRequest


class Applications(Interviews):
    """Applying to a posting and withdrawing the application.

    Built on ``Interviews``: withdrawing an application cancels its interviews.
    """

    def apply(self, request: ApplicationRequest) -> Accepted:
        """Start ``resume-submission`` for a candidate with a processed resume and a real posting.

        The candidate's name and email, when left out, are those their latest resume gave,
        the employer's email that of the posting's employer on file, and the recruiters'
        email the posting's.
        """
        with self.services.db.sessions() as session:
            posting = session.get(JobPosting, request.posting_id)
            if posting is None:
                raise invalid_field("posting_id", f"no job posting {request.posting_id}", status=422)
            employer = session.get(Employer, posting.employer_id)
        self._require_candidate(request.candidate_id)
        asked = request.model_dump()
        no_contact = must_give(f"candidate {request.candidate_id} gave none with their resume")
        employer_email = employer.email if employer is not None else None
        request = filled_from_file(
            request,
            {
                **self._contact_on_file(request.candidate_id),
                "employer_email": employer_email,
                "recruiter_team_email": posting.recruiter_team_email,
            },
            {
                "candidate_name": no_contact,
                "candidate_email": no_contact,
                "employer_email": must_give(f"employer {posting.employer_id} of the posting is not on file"),
                "recruiter_team_email": must_give(f"posting {posting.posting_id} names no recruiters"),
            },
        )
        application_id, attempt = self._current_attempt(
            "application", request.candidate_id, request.posting_id
        )
        if not posting.open and self._record("application", application_id) is None:
            # Only a new application is refused: a repeated request still finds its own.
            closed = f"job posting {posting.posting_id} is closed and takes no applications"
            raise invalid_field("posting_id", closed, status=409, title="Posting closed")
        variables = {
            Var.APPLICATION_ID: application_id,
            **request.model_dump(),
            # The screening forms link to the application's page, from Tasklist on another host.
            Var.APPLICATION_URL: f"{self.services.public_url}/items/application/{application_id}",
        }
        started = self.gateway.start_item(ProcessId.RESUME_SUBMISSION, variables, asked=asked)
        details = {
            "candidate_id": request.candidate_id,
            "posting_id": request.posting_id,
            # As it read when the candidate applied: an id alone says little on the page.
            "posting_title": posting.title,
            "attempt": attempt,
        }
        return self._accepted("application", application_id, started, details)

    def _require_candidate(self, candidate_id: str) -> None:
        """Refuse (422) a candidate without a processed resume: there is nothing to apply with."""
        with self.services.db.sessions() as session:
            if session.get(Candidate, candidate_id) is None:
                raise invalid_field(
                    "candidate_id", "this candidate has no processed resume yet; upload one first", status=422
                )

    def withdraw(self, application_id: str) -> bool:
        """Withdraw an application, once; False when it was withdrawn before.

        Its interviews still open are cancelled first (``interview-cancelled``, once each:
        the booking is released and the panel told). While resume-submission runs,
        ``application-withdrawn`` then ends it, and the model records the withdrawal. Once
        the candidate is shortlisted that process has ended, so the withdrawal is recorded
        here. A declined or ended application is refused with 409: a message would wait
        for a process that no longer listens.
        """
        status = self.status("application", application_id)["status"]
        if status == "withdrawn":
            return False
        if status not in (FIRST_STATUS["application"], "shortlisted"):
            raise Problem(409, "Application closed", f"this application is {status}; it cannot be withdrawn")
        # Safe to repeat after a failure half-way: each cancellation is published once.
        for interview_id in self._open_interviews(application_id):
            self.cancel_interview(interview_id)
        if status == "shortlisted":
            # Only one of two withdrawals at once records it: the other is told it came second.
            return self._change_status("application", application_id, "shortlisted", "withdrawn")
        published = self.gateway.publish_once(
            Message.APPLICATION_WITHDRAWN, application_id, f"withdrawn-{application_id}"
        )
        return published.published

    def _open_interviews(self, application_id: str) -> list[str]:
        """The application's interviews that have not ended."""
        with self.services.db.sessions() as session:
            interviews = records_belonging_to(session, ("interview",), application_id)
        return [r.business_id for r in interviews if not self.status("interview", r.business_id)["final"]]

    def withdrawal_link_application(self, token: str) -> str:
        """The application a candidate's signed withdrawal link names (404 or 410 for a bad or old link)."""
        return read_signed_link(self.services.withdrawal_links, token)
