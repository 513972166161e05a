"""Demo data for a local hireflow: ``make seed`` (``python -m hireflow.seed``); ``make run`` loads it too.

With it, one person can walk a candidate through all four processes from the webapp and
Tasklist: job postings to apply to, employers to unlock with (one pays with credits, one
by card, one whose card is declined), and interviewers whose usernames are the local
Tasklist logins (``deploy/camunda/config/application.yaml``), so their feedback tasks
reach them. Candidates come from uploading a resume, as in production.

Loading is idempotent: each demo row is added once (a claim in ``request_claims`` remembers
it), one there already is left as it is (an admin's edit of a posting, the card an employer
saved, survive the next ``make run``), one deleted since stays deleted, and each employer's
demo credits are topped up once (the credits ledger's unique reference), however often it
runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from hireflow.cli import command_line
from hireflow.credits import CreditsLedger
from hireflow.settings import SettingError
from hireflow.store import (
    Database,
    DatabaseUnavailable,
    Employer,
    Interviewer,
    JobPosting,
    RequestClaim,
    fingerprint,
    utcnow,
)

# The request_claims scope that remembers each demo row loaded ("interviewer lead").
SEED_SCOPE = "seed:demo-data"

DEMO_POSTINGS = [
    {
        "posting_id": "demo-python-engineer",
        "employer_id": "acme",
        "title": "Python engineer (demo)",
        "required_skills": ["python", "sql"],
        "nice_to_have_skills": ["docker", "kubernetes"],
        "min_years": 2,
        "recruiter_team_email": "recruiters@hireflow.example",
    },
    {
        "posting_id": "demo-data-engineer",
        "employer_id": "globex",
        "title": "Data engineer (demo)",
        "required_skills": ["python", "sql", "spark"],
        "nice_to_have_skills": ["airflow", "kafka"],
        "min_years": 3,
        "recruiter_team_email": "recruiters@hireflow.example",
    },
    {
        "posting_id": "demo-frontend-developer",
        "employer_id": "initech",
        "title": "Frontend developer (demo)",
        "required_skills": ["javascript", "react"],
        "nice_to_have_skills": ["typescript", "css"],
        "min_years": 1,
        "recruiter_team_email": "recruiters@hireflow.example",
    },
]

# An unlock costs 2 to 4 credits (bpmn/unlock-pricing.dmn); the card references are the
# payment sandbox's test cards, saved with the provider's customer of each employer.
DEMO_EMPLOYERS = [
    {
        "employer_id": "acme",
        "name": "Acme Analytics (pays with credits)",
        "email": "hiring@acme.example",
        "plan": "premium",
        "payment_method_ref": "pm_card_visa",
        "payment_customer_ref": "cus_demo_acme",
        "credits": 20,
    },
    {
        "employer_id": "globex",
        "name": "Globex (pays by card)",
        "email": "talent@globex.example",
        "plan": "standard",
        "payment_method_ref": "pm_card_visa",
        "payment_customer_ref": "cus_demo_globex",
        "credits": 0,
    },
    {
        "employer_id": "initech",
        "name": "Initech (card declined)",
        "email": "jobs@initech.example",
        "plan": "standard",
        "payment_method_ref": "pm_card_chargeDeclined",
        "payment_customer_ref": "cus_demo_initech",
        "credits": 0,
    },
    {
        "employer_id": "umbrella",
        "name": "Umbrella (bank asks to approve)",
        "email": "careers@umbrella.example",
        "plan": "standard",
        "payment_method_ref": "pm_card_authenticationRequired",
        "payment_customer_ref": "cus_demo_umbrella",
        "credits": 0,
    },
]

DEMO_INTERVIEWERS = [
    {
        "username": "interviewer",
        "name": "Ivy Interviewer",
        "email": "interviewer@hireflow.example",
        "timezone": "Europe/Berlin",  # her interview emails give Berlin time
    },
    {"username": "lead", "name": "Leo Lead Recruiter", "email": "lead@hireflow.example"},
]


@dataclass
class SeedReport:
    """What a load left in the database: the demo ids there by kind (one deleted since is
    not), the rows it added, and the credits it granted (not those granted before)."""

    postings: list[str] = field(default_factory=list)
    employers: list[str] = field(default_factory=list)
    interviewers: list[str] = field(default_factory=list)
    credits_granted: dict[str, int] = field(default_factory=dict)
    # The demo rows this load added ("posting demo-data-engineer"): the others were there.
    added: list[str] = field(default_factory=list)

    def what_was_added(self) -> str:
        """The rows added, in one line, for the log and ``make seed``."""
        if not self.added:
            return "nothing: every demo row was loaded before, and stays as it was left"
        return ", ".join(self.added)


def load_demo_data(db: Database) -> SeedReport:
    """Add each demo posting, employer and interviewer to ``db`` once (one there stays as
    it is, one deleted since stays deleted), and grant the demo credits once."""
    try:
        report = _add_new_rows(db)
    except IntegrityError:
        # Another process (a second webapp worker) inserted the same rows a moment ago.
        report = _add_new_rows(db)
    ledger = CreditsLedger(db)
    for employer in DEMO_EMPLOYERS:
        if employer["credits"]:
            reference = f"demo-credits-{employer['employer_id']}"
            movement = ledger.top_up(employer["employer_id"], employer["credits"], reference=reference)
            if movement.new:
                report.credits_granted[employer["employer_id"]] = movement.amount
    return report


def _add_new_rows(db: Database) -> SeedReport:
    report = SeedReport()
    with db.sessions.begin() as session:

        def add_once(kind: str, model: type, key: str, fields: dict) -> bool:
            """Add the demo row unless it was loaded before; whether the database has it now."""
            row = f"{kind} {key}"
            if session.get(RequestClaim, (SEED_SCOPE, row)) is not None:
                # Loaded before: there as it was left, or deleted since.
                return session.get(model, key) is not None
            session.add(
                RequestClaim(
                    scope=SEED_SCOPE,
                    key=row,
                    fingerprint=fingerprint(fields),
                    status="done",
                    result={},
                    claimed_at=utcnow(),
                )
            )
            # Never over a row that is there (a database seeded before loads were claimed).
            if session.get(model, key) is None:
                session.add(model(**fields))
                report.added.append(row)
            return True

        for posting in DEMO_POSTINGS:
            if add_once("posting", JobPosting, posting["posting_id"], posting):
                report.postings.append(posting["posting_id"])
        for employer in DEMO_EMPLOYERS:
            fields = {name: value for name, value in employer.items() if name != "credits"}
            if add_once("employer", Employer, employer["employer_id"], fields):
                report.employers.append(employer["employer_id"])
        for interviewer in DEMO_INTERVIEWERS:
            if add_once("interviewer", Interviewer, interviewer["username"], interviewer):
                report.interviewers.append(interviewer["username"])
    return report


def main() -> int:
    command_line("hireflow.seed", __doc__).parse_args()
    try:
        db = Database()
    except SettingError as exc:
        print(f"Demo data not loaded: {exc}", file=sys.stderr)
        return 2
    try:
        db.create_schema()
    except DatabaseUnavailable as exc:
        print(f"Demo data not loaded: {exc}", file=sys.stderr)
        return 1
    report = load_demo_data(db)
    ledger = CreditsLedger(db)
    print(f"Demo data loaded into {db.url}:")
    print(f"  added:         {report.what_was_added()}")
    print(f"  job postings:  {', '.join(report.postings)}")
    with db.sessions() as session:  # as on file now: an employer's card may be a newer one
        for employer in (session.get(Employer, employer_id) for employer_id in report.employers):
            print(
                f"  employer:      {employer.employer_id} ({employer.name}), "
                f"{ledger.balance(employer.employer_id)} credits, card {employer.payment_method_ref} "
                f"of customer {employer.payment_customer()}"
            )
    print(f"  interviewers:  {', '.join(report.interviewers)} (Tasklist logins; password = username)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
