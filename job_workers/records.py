"""The "record the outcome" steps: write a business status people can ask for.

One job type per process, the status chosen per task by the ``outcome`` header, so an
analyst adds a new outcome in the Modeler without code.
"""

from pyzeebe import Job

from hireflow.constants import Header
from hireflow.errors import PermanentFailure
from hireflow.store import ERASED, BusinessRecord, Database, utcnow


def outcome_header(job: Job) -> str:
    """The status the task records; a task without it is a modelling error an operator must fix."""
    outcome = (job.custom_headers or {}).get(Header.OUTCOME)
    if not outcome:
        raise PermanentFailure(
            f"Task '{job.element_id}' lacks the '{Header.OUTCOME}' header; set it in the Modeler"
        )
    return outcome


def record_status(
    db: Database, kind: str, business_id: str, status: str, details: dict | None = None
) -> None:
    """Upsert the status of one business object (safe to repeat)."""
    with db.sessions.begin() as session:
        row = session.get(BusinessRecord, (kind, business_id)) or BusinessRecord(
            kind=kind, business_id=business_id
        )
        if row.status == ERASED:  # a new request after the candidate's erasure starts clean
            row.details = {}
        row.status = status
        row.details = {**(row.details or {}), **(details or {})}
        row.updated_at = utcnow()
        session.add(row)


def record_details(db: Database, kind: str, business_id: str, first_status: str, **details: str) -> None:
    """Add ``details`` to a business object's record (safe to repeat).

    The webapp writes the record when it accepts the request; a worker can get there
    first, so the record is created with ``first_status`` if it is missing.
    """
    with db.sessions.begin() as session:
        row = session.get(BusinessRecord, (kind, business_id))
        if row is None or row.status == ERASED:  # erased: a new request starts clean
            row = row or BusinessRecord(kind=kind, business_id=business_id)
            row.status, row.details, row.updated_at = first_status, {}, utcnow()
        row.details = {**(row.details or {}), **details}
        session.add(row)
