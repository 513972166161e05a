"""The domain store: SQLite by default, PostgreSQL by URL (``HIREFLOW_DATABASE_URL``).

Unique constraints carry idempotency: a side effect claims its business key in a row
before it happens, so a redelivered job finds the claim and does not repeat it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    func,
    literal_column,
    text,
    true,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
    validates,
)

from hireflow.paths import data_root
from hireflow.settings import SettingError
from hireflow.skills import canonical_skill

T = TypeVar("T")

log = logging.getLogger(__name__)


def default_database_url() -> str:
    """SQLite in the local data folder, unless ``HIREFLOW_DATABASE_URL`` names another database."""
    configured = os.environ.get("HIREFLOW_DATABASE_URL")
    if configured:
        return checked_database_url(configured)
    data_root().mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_root() / 'hireflow.sqlite3'}"


# What hireflow keeps its data in, and a URL for each.
SUPPORTED_DATABASES = ("sqlite", "postgresql")
DATABASE_URL_FORMS = "sqlite:///<file> or postgresql+psycopg://<user>:<password>@<host>:5432/<database>"


def checked_database_url(text: str, setting: str = "HIREFLOW_DATABASE_URL") -> str:
    """``text``, if it is a SQLite or PostgreSQL URL whose driver is installed; else a
    ``SettingError``. The message leaves the URL out: it may hold a password."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        expected = f"expected {DATABASE_URL_FORMS}"
        raise SettingError(f"{setting} is not a database URL ({exc}); {expected}") from None
    if url.get_backend_name() not in SUPPORTED_DATABASES:
        raise SettingError(
            f"{setting} names a {url.get_backend_name()} database; hireflow keeps its data in "
            f"SQLite or PostgreSQL: {DATABASE_URL_FORMS}"
        )
    try:
        url.get_dialect().import_dbapi()
    except ImportError:
        raise SettingError(
            f"{setting} asks for the {url.get_driver_name()} driver, which is not installed; "
            f"hireflow reaches PostgreSQL through psycopg: {DATABASE_URL_FORMS}"
        ) from None
    return text


def utcnow() -> datetime:
    """Now in UTC, without tzinfo: the form every database here stores and compares."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Base of all hireflow tables."""


class EmailOutboxEntry(Base):
    """One email identified by its dedupe key: claimed while sending, then marked sent."""

    __tablename__ = "email_outbox"

    dedupe_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # sending | sent
    claimed_until: Mapped[datetime] = mapped_column(DateTime())
    provider_message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(), default=None)
    # When the first send was tried: a lost attempt is looked up at the provider, whose
    # records lag behind, so a recent one is not yet known to be lost.
    first_tried_at: Mapped[datetime | None] = mapped_column(DateTime(), default=None)


class Candidate(Base):
    """A candidate as search sees them: skills and experience from their latest resume.

    Their contact details (name and email, as given with that resume) are shown only to
    an employer who unlocked them (``ContactAccess``).
    """

    __tablename__ = "candidates"

    candidate_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    resume_id: Mapped[str] = mapped_column(String(100))
    skills: Mapped[list[str]] = mapped_column(JSON)
    years_of_experience: Mapped[int | None] = mapped_column(Integer, default=None)
    indexed_at: Mapped[datetime] = mapped_column(DateTime())
    # Empty for candidates indexed before hireflow kept them (revision 0004).
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    # When ``resume_id`` was uploaded: a resume uploaded before it, indexed late (its
    # instance retried after an incident), leaves the profile alone. Empty before 0019.
    resume_uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(), default=None)
    # The skills again, a row each, so a search by skill is an indexed query on any database.
    skill_rows: Mapped[list[CandidateSkill]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("skills")
    def _index_skills(self, _key: str, skills: list[str]) -> list[str]:
        """Keep ``skill_rows`` in step with ``skills``, whoever sets them."""
        self.skill_rows = [CandidateSkill(skill=skill) for skill in dict.fromkeys(skills)]
        return skills


# Search lists the most experienced candidates first (a resume that gave no years counts as
# none); this index holds them in that order, so a page is read without sorting them all.
# The 0 is written out, not bound: a database matches a query to an expression's index by
# its text, and a parameter is not the index's 0.
CANDIDATE_EXPERIENCE = func.coalesce(Candidate.years_of_experience, literal_column("0"))
Index("ix_candidates_experience", CANDIDATE_EXPERIENCE.desc(), Candidate.candidate_id.desc())


class CandidateSkill(Base):
    """One skill of a candidate (``Candidate.skills``), for search; goes with the candidate."""

    __tablename__ = "candidate_skills"

    candidate_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("candidates.candidate_id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class CreditAccount(Base):
    """An employer's prepaid credits. The balance can never go below zero."""

    __tablename__ = "credit_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="credit_balance_not_negative"),)

    employer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)


class CreditEntry(Base):
    """One movement of credits. One spend and one refund per unlock, at most (unique)."""

    __tablename__ = "credit_entries"
    __table_args__ = (
        UniqueConstraint("reference", "kind", name="one_entry_per_reference_and_kind"),
        # An employer's latest movements, as the admin API lists them.
        Index("ix_credit_entries_employer_latest", "employer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employer_id: Mapped[str] = mapped_column(String(100))
    # The unlock id, or a top-up's purchase as "<employer id>:<purchase>" (hireflow.credits).
    reference: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # spend | refund | top_up
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class CalendarBooking(Base):
    """An interview on the panel's calendars: one per interview, cancelled or booked."""

    __tablename__ = "calendar_bookings"

    interview_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    interviewer_ids: Mapped[list[str]] = mapped_column(JSON)
    start: Mapped[datetime] = mapped_column(DateTime())
    end: Mapped[datetime] = mapped_column(DateTime())
    status: Mapped[str] = mapped_column(String(20))  # booked | cancelled
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # ICS SEQUENCE: bumps on each change


class InterviewerHold(Base):
    """One interviewer busy in one grid cell; unique, so no interviewer is double-booked."""

    __tablename__ = "interviewer_holds"
    __table_args__ = (
        UniqueConstraint("interviewer_id", "cell_start", name="one_hold_per_interviewer_and_cell"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interview_id: Mapped[str] = mapped_column(String(100), index=True)
    interviewer_id: Mapped[str] = mapped_column(String(100))
    cell_start: Mapped[datetime] = mapped_column(DateTime())


class JobPosting(Base):
    """A job posting and what it asks for; matching scores applications against it."""

    __tablename__ = "job_postings"
    # An employer's postings, by id (webapp.domain.listings).
    __table_args__ = (Index("ix_job_postings_employer", "employer_id", "posting_id"),)

    posting_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    employer_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    required_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    nice_to_have_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_years: Mapped[int] = mapped_column(Integer, default=0)
    # The recruiters who screen its applications and get the screening reminders; an
    # application may name others. Empty for postings made before revision 0007.
    recruiter_team_email: Mapped[str | None] = mapped_column(String(254), default=None)
    # A closed posting (filled, or withdrawn by its employer) takes no new applications;
    # those made before it closed go on.
    open: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The skills again, a row each, so postings are found by skill with an indexed query.
    skill_rows: Mapped[list[PostingSkill]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    @validates("required_skills", "nice_to_have_skills")
    def _index_skills(self, key: str, skills: list[str]) -> list[str]:
        """Keep ``skill_rows`` in step with both lists of skills, whoever sets them."""
        required = skills if key == "required_skills" else self.required_skills or []
        nice = skills if key == "nice_to_have_skills" else self.nice_to_have_skills or []
        self.skill_rows = posting_skill_rows(required, nice)
        return skills


def posting_skill_rows(required: list[str], nice_to_have: list[str]) -> list[PostingSkill]:
    """A posting's skills as rows, by the names skills are kept by; a required one is not also nice."""
    required_names = {canonical_skill(skill) for skill in required}
    names = dict.fromkeys(canonical_skill(skill) for skill in [*required, *nice_to_have])
    return [PostingSkill(skill=name, required=name in required_names) for name in names]


class PostingSkill(Base):
    """One skill a posting asks for (``JobPosting``), required or nice to have; goes with the posting."""

    __tablename__ = "posting_skills"

    posting_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("job_postings.posting_id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)
    required: Mapped[bool] = mapped_column(Boolean)


class Employer(Base):
    """An employer who unlocks candidates: who to email, and the card saved with the provider."""

    __tablename__ = "employers"

    employer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    plan: Mapped[str] = mapped_column(String(20), default="standard")  # standard | premium
    payment_method_ref: Mapped[str] = mapped_column(String(120))  # a provider's reference, never a card
    # The employer as the payment provider's customer (Stripe: ``cus_...``), whom saved
    # cards are attached to. Unset, the employer id stands in, as the local sandbox takes any.
    payment_customer_ref: Mapped[str | None] = mapped_column(String(120), default=None)

    def payment_customer(self) -> str:
        """The customer id to give the payment provider for this employer."""
        return self.payment_customer_ref or self.employer_id


def payment_customer_of(db: Database, employer_id: str) -> str:
    """The payment provider's customer for ``employer_id``; the id itself for an employer not on file."""
    with db.sessions() as session:
        employer = session.get(Employer, employer_id)
    return employer.payment_customer() if employer else employer_id


class Interviewer(Base):
    """A person who sits on interview panels; ``username`` is their Tasklist login."""

    __tablename__ = "interviewers"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Where they work (a tz database name): their interview emails give times there. None: UTC.
    timezone: Mapped[str | None] = mapped_column(String(100), default=None)
    # When they work there: {"days": ["mon", ...], "start": "09:00", "end": "17:00"}; interview
    # slots are offered only then. None: weekdays 09:00 to 17:00.
    working_hours: Mapped[dict | None] = mapped_column(JSON, default=None)


# The status of an item whose candidate was erased: its id stays, nothing else.
ERASED = "erased"


class BusinessRecord(Base):
    """The business status of one resume, application, unlock or interview, as people ask for it.

    Written by the processes' "record" steps (an upsert: safe to repeat) and read by the webapp.
    """

    __tablename__ = "business_records"
    # Newest change first, as the UI lists items a page at a time (see webapp.domain.listings).
    # A posting's applications, newest change first, the same way (posting_applications);
    # an employer's unlocks too (employer_unlocks).
    __table_args__ = (
        Index("ix_business_records_newest", "updated_at", "kind", "business_id"),
        Index("ix_business_records_posting", "posting_id", "updated_at", "kind", "business_id"),
        Index("ix_business_records_employer", "employer_id", "updated_at", "kind", "business_id"),
    )

    # resume | application | unlock | interview
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    business_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    # Whose item it is: the candidate of a resume, application or unlock, the application of
    # an interview. Kept from the details on every write (see owner_in); indexed, so a
    # candidate's items and an application's interviews are found without reading them all.
    belongs_to: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    # The job posting of an application, from its details like belongs_to: a posting's
    # applications are found by index, for its employer (webapp.domain.listings).
    posting_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The employer of an unlock, from its details the same way: an employer's unlocks are
    # found by index, for its own pages (webapp.domain.listings).
    employer_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The process instance that runs the item, from its details the same way: the operators'
    # incident list and a person's task page find an instance's item by index, not by
    # reading every record's details (webapp.domain.items.item_of_instance).
    process_instance_key: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


# The detail that names what an item belongs to, by kind (any other kind: the candidate).
OWNER_FIELD = {"interview": "application_id"}


def owner_in(kind: str, details: dict | None) -> str | None:
    """What an item of ``kind`` with these details belongs to (``BusinessRecord.belongs_to``)."""
    owner = (details or {}).get(OWNER_FIELD.get(kind, "candidate_id"))
    return str(owner) if owner else None


def posting_in(kind: str, details: dict | None) -> str | None:
    """The posting an application with these details is to (``BusinessRecord.posting_id``)."""
    posting = (details or {}).get("posting_id") if kind == "application" else None
    return str(posting) if posting else None


def employer_in(kind: str, details: dict | None) -> str | None:
    """The employer an unlock with these details is for (``BusinessRecord.employer_id``)."""
    employer = (details or {}).get("employer_id") if kind == "unlock" else None
    return str(employer) if employer else None


def instance_in(details: dict | None) -> str | None:
    """The process instance of an item with these details (``BusinessRecord.process_instance_key``)."""
    key = (details or {}).get("process_instance_key")
    return str(key) if key else None


@event.listens_for(BusinessRecord, "before_insert")
@event.listens_for(BusinessRecord, "before_update")
def _keep_owner_in_step(mapper, connection, record: BusinessRecord) -> None:
    # Every write through the ORM passes here; an erasure's blanked details clear them too
    # (all but the instance's key, which an erasure keeps).
    record.belongs_to = owner_in(record.kind, record.details)
    record.posting_id = posting_in(record.kind, record.details)
    record.employer_id = employer_in(record.kind, record.details)
    record.process_instance_key = instance_in(record.details)


def locked_record(session: Session, kind: str, business_id: str) -> BusinessRecord | None:
    """A business record read for a change, locked until the session's transaction ends.

    Its details are one JSON value: two writers that each read it, add their part and write
    it back lose one part, unless the second reads after the first commits. A write comes
    first here, which takes the lock before the read: SQLite's write lock (pysqlite starts
    the transaction only at a write, so a read first would see a state another writer is
    about to replace, and FOR UPDATE means nothing there), PostgreSQL's row lock. A record
    not there yet locks nothing on PostgreSQL: two inserts then meet in the primary key.
    """
    return _write_locked(
        session,
        BusinessRecord,
        (kind, business_id),
        (BusinessRecord.kind == kind, BusinessRecord.business_id == business_id),
        BusinessRecord.kind,
    )


def locked_by_id(session: Session, entity: type[T], id_column, row_id: str) -> T | None:
    """A row of ``entity`` (primary key ``id_column``) read for a change, locked until the
    session's transaction ends, as ``locked_record`` locks a record: two writers of one
    candidate's profile, or one posting, write one after the other."""
    return _write_locked(session, entity, row_id, (id_column == row_id,), id_column)


def _write_locked(session: Session, entity: type[T], identity, where, touched) -> T | None:
    """``session.get(entity, identity)`` after a write that changes nothing (``touched`` set
    to itself on the rows ``where`` picks): the write takes the lock that FOR UPDATE does
    not take on SQLite (see ``locked_record``)."""
    session.execute(
        update(entity).where(*where).values({touched: touched}).execution_options(synchronize_session=False)
    )
    return session.get(entity, identity, with_for_update=True)


class ContactAccess(Base):
    """An employer may see a candidate's contact details: granted once per pair (primary key)."""

    __tablename__ = "contact_access"

    employer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    unlock_id: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(DateTime())


class RequestClaim(Base):
    """One request that must take effect once: a process start, a published message, or
    a demo row loaded (``hireflow.seed``).

    ``scope`` says what kind (``start:<process id>``, ``message:<name>``,
    ``seed:demo-data``) and ``key`` which one (the business key, message id or demo row);
    the primary key makes a second request find the first. ``status`` is ``pending`` while
    the engine is being asked and ``done`` after.
    """

    __tablename__ = "request_claims"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request's content
    # SHA-256 of an item's request as its client sent it, before the file filled it in: its
    # repeat after the file changed is still the same request. None for other claims.
    asked_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(20))  # pending | done
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    claimed_at: Mapped[datetime] = mapped_column(DateTime())


def fingerprint(content: object) -> str:
    """SHA-256 of a claim's content (``RequestClaim.fingerprint``), so a reused key with other
    content is caught."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


# What a pending claim's ``result`` holds once a retry took it over: the first request's
# outcome is unknown, and the retry is finding or making the instance (job_workers/twins.py).
TAKEN_OVER = "taken_over"


def start_claim_scope(process_id: str) -> str:
    """The ``RequestClaim.scope`` of the starts of ``process_id``; the claim's key is the item's id."""
    return f"start:{process_id}"


def database_says(error: DBAPIError) -> str:
    """The driver's own first line of a database error ("PostgreSQL text fields cannot
    contain NUL (0x00) bytes"), without sqlalchemy's statement."""
    said = error.orig or error
    lines = str(said).strip().splitlines()
    return lines[0] if lines else type(said).__name__


class DatabaseUnavailable(RuntimeError):
    """The domain database cannot be reached or opened: a server down, refused credentials, a
    file that is not a database. A program starting says so in one line and exits; its
    supervisor (Kubernetes, the pool, ``make run``) decides whether to try again."""


class Database:
    """Engine and sessions for one database URL (``create_schema`` makes the tables)."""

    def __init__(self, url: str | None = None):
        self.url = url or default_database_url()
        # A server restart or an idle timeout on the way (PgBouncer, a cloud proxy) leaves
        # dead connections in the pool; a ping on checkout replaces them instead of
        # failing the next request or job with them.
        pre_ping = not self.url.startswith("sqlite")
        # A database error's text names the statement's values otherwise ("[parameters: ('Ada
        # Lovelace', 'ada@example.com')]"), and it goes to the logs and the incident's message.
        self.engine: Engine = create_engine(
            self.url, future=True, pool_pre_ping=pre_ping, hide_parameters=True
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def check_reachable(self) -> None:
        """Connect once; ``DatabaseUnavailable`` says which database and why, in one line."""
        try:
            with self.engine.connect():
                pass
        except DBAPIError as exc:
            reason = database_says(exc)
            where = self.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailable(f"the domain database {where} cannot be used: {reason}") from exc

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (safe at every start, from many processes at once).

        The webapp's and the pool's processes start together, so one lock per database
        lets one process migrate while the others wait and then find nothing to do: a
        PostgreSQL advisory lock, or a lock file beside a SQLite file. A database made
        before migrations existed is brought to the baseline without losing a row (see
        ``hireflow/migrations/versions/0001_baseline.py``).
        """
        self.check_reachable()
        # Imported here, after the module quieted Alembic's logger: it logs as it loads.
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from alembic.migration import MigrationContext

        # Alembic keeps its running migration in module globals: one at a time per process.
        with _MIGRATING_IN_THIS_PROCESS, _migration_lock(self.engine), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection).get_current_revision()
            if after != before:
                log.info("domain store schema migrated from %s to %s", before or "nothing", after)


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic narrates every start at INFO (its plugins, its SQL dialect): one line of ours
# says when a migration ran, and Alembic's warnings still come through.
logging.getLogger("alembic").setLevel(logging.WARNING)
_MIGRATING_IN_THIS_PROCESS = threading.Lock()
# Any fixed number: PostgreSQL advisory locks are named by integers.
MIGRATION_LOCK_KEY = 7_240_031


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a lock file beside a SQLite database file while migrating it; else nothing."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets the webapp read while workers write; the timeout waits out short write locks.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# How long a connection keeps trying to switch a new file to WAL while others do the same.
WAL_SWITCH_SECONDS = 5.0


def _switch_to_wal(cursor) -> None:
    """Put the database file in WAL mode, waiting out other connections doing it at the same moment.

    SQLite answers "database is locked" at once, without waiting out ``busy_timeout``, when
    several connections switch one new file to WAL together (the pool's and the webapp's
    processes on a fresh machine). The mode is stored in the file, so once one switch wins,
    the others' next try finds WAL and returns at once.
    """
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
