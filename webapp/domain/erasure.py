"""A candidate's data: what hireflow keeps of them, and its erasure on request."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, or_, select

from hireflow.store import (
    ERASED,
    BusinessRecord,
    Candidate,
    ContactAccess,
    EmailOutboxEntry,
    RequestClaim,
    start_claim_scope,
    utcnow,
)
from webapp.domain.items import Items
from webapp.domain.records import (
    CANDIDATE_KINDS,
    business_status,
    literal_like,
    records_belonging_to,
    records_mentioning,
)
from webapp.problems import Problem, engine_unavailable

log = logging.getLogger(__name__)


def _emails_of(business_ids: list[str]):
    """The condition on outbox entries of these items' emails (a dedupe key reads template:
    business id:element instance)."""
    return or_(
        *(EmailOutboxEntry.dedupe_key.like(f"%:{literal_like(i)}:%", escape="\\") for i in business_ids)
    )


def _delete_outbox_entries(session, business_ids: list[str]) -> int:
    """Remove the outbox entries (recipient addresses) of these items' emails; how many."""
    if not business_ids:
        return 0
    return session.execute(delete(EmailOutboxEntry).where(_emails_of(business_ids))).rowcount


def _outbox_entries(session, business_ids: list[str], recipient: str | None) -> list[EmailOutboxEntry]:
    """The outbox entries of these items' emails to ``recipient``, oldest first (none without one)."""
    if not business_ids or not recipient:
        return []
    found = select(EmailOutboxEntry).where(_emails_of(business_ids), EmailOutboxEntry.recipient == recipient)
    return list(session.scalars(found.order_by(EmailOutboxEntry.first_tried_at, EmailOutboxEntry.dedupe_key)))


def _file_refs(details: dict | None) -> list[str]:
    return [ref for ref in ((details or {}).get("file_ref"), (details or {}).get("text_ref")) if ref]


class Erasure(Items):
    """A candidate's data, given to them or erased."""

    def candidate_data(self, candidate_id: str) -> dict[str, Any]:
        """Everything hireflow keeps about one candidate, for their request to see it (GDPR art. 15).

        The search profile (with the contact details their latest resume gave), every item
        of theirs with its status and details (their interviews too), which employers may see
        their contact details, the stored files of their resumes, the emails sent to their
        address, and the engine's process instances that hold more (their variables, in
        Operate). What ``erase_candidate`` would remove is all here. Raises 404 for a
        candidate hireflow keeps nothing about.
        """
        items = self._candidate_items(candidate_id)
        with self.services.db.sessions() as session:
            profile = session.get(Candidate, candidate_id)
            access = session.scalars(
                select(ContactAccess)
                .where(ContactAccess.candidate_id == candidate_id)
                .order_by(ContactAccess.granted_at)
            ).all()
            emails = _outbox_entries(
                session, [r.business_id for r in items], profile.email if profile else None
            )
        if not items and profile is None:
            raise Problem(404, "No such candidate", f"hireflow keeps nothing about candidate {candidate_id}")
        return {
            "candidateId": candidate_id,
            "profile": None
            if profile is None
            else {
                "name": profile.name,
                "email": profile.email,
                "skills": list(profile.skills),
                "yearsOfExperience": profile.years_of_experience,
                "resumeId": profile.resume_id,
                "indexedAt": profile.indexed_at.isoformat() + "Z",
            },
            "items": [
                {
                    "kind": record.kind,
                    "id": record.business_id,
                    "status": self._business_status(record.kind, record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "details": record.details or {},
                }
                for record in sorted(items, key=lambda r: (r.updated_at, r.kind, r.business_id))
            ],
            "contactAccess": [
                {
                    "employerId": a.employer_id,
                    "unlockId": a.unlock_id,
                    "grantedAt": a.granted_at.isoformat() + "Z",
                }
                for a in access
            ],
            "files": sorted({ref for r in items if r.kind == "resume" for ref in _file_refs(r.details)}),
            "emails": [
                {
                    "template": entry.template,
                    "status": entry.status,
                    "sentAt": entry.sent_at.isoformat() + "Z" if entry.sent_at else None,
                }
                for entry in emails
            ],
            "engine": {
                "processInstanceKeys": sorted(
                    {str(key) for r in items if (key := (r.details or {}).get("process_instance_key"))}
                )
            },
        }

    def erase_candidate(self, candidate_id: str) -> dict[str, Any]:
        """Erase what hireflow keeps about one candidate, once all their items have ended.

        Removes the resume files and their extracted text, the search profile, employers'
        access to the contact details and the outbox entries of the candidate's emails (their
        address), and blanks the details of their resumes, applications and interviews.
        Unlocks stay: they are employers' purchases, and name the candidate by id only. The
        engine's history of the candidate's instances is listed for deletion there.

        Raises 404 for a candidate hireflow keeps nothing about (so also after a complete
        erasure), 409 while any of their items is in progress, and a store's failure before
        anything changed; a repeat then finishes the job.
        """
        items = self._candidate_items(candidate_id)
        with self.services.db.sessions() as session:
            profile = session.get(Candidate, candidate_id) is not None
        if not items and not profile:
            raise Problem(404, "No such candidate", f"hireflow keeps nothing about candidate {candidate_id}")
        running = []
        for record in items:
            status = self.status(record.kind, record.business_id)
            if status["final"]:
                continue
            if not status["engine"]["reachable"]:  # it may have ended: the engine must say
                raise engine_unavailable(f"reading the state of {record.kind} {record.business_id}")
            running.append(f"{record.kind} {record.business_id}")
        if running:
            raise Problem(
                409,
                "Candidate has items in progress",
                f"{', '.join(running)} still running; withdraw or cancel them, or wait until they end",
            )
        erasable = [r for r in items if r.kind != "unlock" and r.status != ERASED]
        erased_ids = {r.business_id for r in erasable}
        # Files first: if the store fails, nothing else has changed and a repeat finds the
        # same files again. A file another candidate's resume also holds (the same bytes) stays.
        removed_files = 0
        for ref in sorted({ref for r in erasable if r.kind == "resume" for ref in _file_refs(r.details)}):
            if not self._file_held_by_others(ref, erased_ids) and self.services.files.delete(ref):
                removed_files += 1
        with self.services.db.sessions.begin() as session:
            profile_rows = session.execute(delete(Candidate).where(Candidate.candidate_id == candidate_id))
            # An unlock granted by a release before the grant recorded its status reads as
            # unlocked from its access row, which goes with the candidate; the purchase
            # stands, so record the status it reads as before the row goes.
            for record in [r for r in items if r.kind == "unlock"]:
                row = session.get(BusinessRecord, ("unlock", record.business_id))
                status = business_status(session, "unlock", record.business_id, row.status)
                if status != row.status:
                    row.status, row.updated_at = status, utcnow()
            access = delete(ContactAccess).where(ContactAccess.candidate_id == candidate_id)
            access_rows = session.execute(access).rowcount
            email_rows = _delete_outbox_entries(session, sorted(erased_ids))
            # The start claims hold what was asked (the candidate's request): a new request
            # after the erasure is a new start.
            claims = delete(RequestClaim).where(
                RequestClaim.scope.like(start_claim_scope("%")), RequestClaim.key.in_(erased_ids)
            )
            session.execute(claims)
            for record in erasable:
                row = session.get(BusinessRecord, (record.kind, record.business_id))
                key = (row.details or {}).get("process_instance_key")
                row.status = ERASED
                row.details = {"erased_at": utcnow().isoformat() + "Z", "process_instance_key": key}
                row.updated_at = utcnow()
        instance_keys = sorted(
            {str(key) for r in items if (key := (r.details or {}).get("process_instance_key"))}
        )
        log.info("candidate %s erased: %d item(s), %d file(s)", candidate_id, len(erasable), removed_files)
        return {
            "candidateId": candidate_id,
            "erased": {
                "profile": profile_rows.rowcount > 0,
                "items": [f"{r.kind} {r.business_id}" for r in erasable],
                "files": removed_files,
                "emails": email_rows,
                "contactAccess": access_rows,
            },
            "kept": {"unlocks": [r.business_id for r in items if r.kind == "unlock"]},
            "engine": {
                "processInstanceKeys": instance_keys,
                "note": "the engine keeps these instances' variables (name, email) in its history: "
                "delete them in Operate, or with POST /v2/process-instances/{key}/deletion (Camunda 8.9+)",
            },
        }

    def _candidate_items(self, candidate_id: str) -> list[BusinessRecord]:
        """The candidate's resumes, applications and unlocks, and the interviews of those applications."""
        with self.services.db.sessions() as session:
            items = records_belonging_to(session, CANDIDATE_KINDS, candidate_id)
            for application in [r for r in items if r.kind == "application"]:
                application_id = application.business_id
                items += records_belonging_to(session, ("interview",), application_id)
        return items

    def _file_held_by_others(self, ref: str, erased_ids: set[str]) -> bool:
        """Whether a resume outside ``erased_ids`` holds the file ``ref``."""
        with self.services.db.sessions() as session:
            holders = records_mentioning(session, ("resume",), "file_ref", ref)
            holders += records_mentioning(session, ("resume",), "text_ref", ref)
        return any(r.business_id not in erased_ids for r in holders)
