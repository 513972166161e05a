"""The lists people read: items, postings, candidates, employers and interviewers, a page at a time."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from hireflow.matching import MatchResult, Requirements, asked_skills, score_match, weighted_score
from hireflow.store import (
    CANDIDATE_EXPERIENCE,
    BusinessRecord,
    Candidate,
    CandidateSkill,
    ContactAccess,
    CreditAccount,
    Employer,
    Interviewer,
    JobPosting,
    PostingSkill,
)
from webapp.domain.items import Items
from webapp.domain.records import (
    FINAL_STATUSES,
    KINDS,
    OVER_FOR_GOOD,
    Row,
    business_status,
    one_page,
    records_belonging_to,
)
from webapp.problems import Problem, invalid_field
from webapp.schemas import CandidateSearch, EmployerPostingsQuery, ItemPaging, ItemQuery, PostingSearch


@dataclass(frozen=True)
class ItemSummary:
    """One line of a list of items (the dashboard, the Items page, ``GET /api/items``).

    Its status is the one the item's own page gives.
    """

    kind: str
    business_id: str
    status: str
    updated_at: datetime
    # The candidate (of a resume, application or unlock) or application (of an interview).
    belongs_to: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """As ``GET /api/items`` lists it (``updatedAt`` as the item's status gives it)."""
        return {
            "kind": self.kind,
            "id": self.business_id,
            "status": self.status,
            "updatedAt": self.updated_at.isoformat() + "Z",
            "belongsTo": self.belongs_to,
        }


ITEMS_PER_PAGE = 50
CANDIDATES_PAGE = 50
POSTINGS_PAGE = 50
# Postings, employers and interviewers a console form's list offers: the rest are found on
# the Postings and Candidates pages, whose links fill the form in.
CHOICES_SHOWN = 100


@dataclass(frozen=True)
class ItemCursor:
    """Where a page of items ends: its last line's change time, kind and id.

    In a URL as ``2026-12-02T05:12:39.123456~unlock~unl_1`` (ids never hold ``~``).
    """

    updated_at: datetime
    kind: str
    business_id: str

    def __str__(self) -> str:
        return f"{self.updated_at.isoformat()}~{self.kind}~{self.business_id}"

    @classmethod
    def parse(cls, text: str) -> ItemCursor:
        """The cursor a page link carries; ValueError for anything else."""
        when, kind, business_id = text.split("~")
        updated_at = datetime.fromisoformat(when)
        if kind not in KINDS or not business_id or updated_at.tzinfo is not None:
            raise ValueError("not a cursor of the items list")
        return cls(updated_at, kind, business_id)


@dataclass(frozen=True)
class CandidateCursor:
    """Where a page of found candidates ends: its last candidate's years of experience and id.

    In a URL as ``7.cand_42`` (years first: ids may hold dots, years never do).
    """

    years: int
    candidate_id: str

    def __str__(self) -> str:
        return f"{self.years}.{self.candidate_id}"

    @classmethod
    def parse(cls, text: str) -> CandidateCursor:
        """The cursor a page of candidates gave; ValueError for anything else."""
        years, candidate_id = text.split(".", 1)
        # A few digits: a database's integer cannot hold any number of them.
        if not (years.isdigit() and len(years) <= 4) or not candidate_id:
            raise ValueError("not a cursor of the candidates' search")
        return cls(int(years), candidate_id)


@dataclass(frozen=True)
class ApplicationSummary:
    """An application the UI offers when scheduling an interview."""

    id: str
    candidate_id: str
    status: str


def _best_scored_candidates(session: Session, asks: Requirements, limit: int) -> list[str]:
    """The ids of the ``limit`` candidates who score best against ``asks``, best first, ties by
    id; only candidates with a required skill (any, when none is required).

    Scored from counts of matching skill rows, as ``score_match`` would score them: reading
    every candidate's skills took 1.0 to 1.5 s at 50,000 candidates, this 0.15 to 0.25 s.
    """
    required, nice = asked_skills(asks)
    had = (
        select(
            CandidateSkill.candidate_id,
            func.sum(case((CandidateSkill.skill.in_(required), 1), else_=0)).label("required"),
            func.sum(case((CandidateSkill.skill.in_(nice), 1), else_=0)).label("nice"),
        )
        .where(CandidateSkill.skill.in_(required + nice))
        .group_by(CandidateSkill.candidate_id)
        .subquery()
    )
    counted = select(
        Candidate.candidate_id,
        Candidate.years_of_experience,
        func.coalesce(had.c.required, 0),
        func.coalesce(had.c.nice, 0),
    ).outerjoin(had, had.c.candidate_id == Candidate.candidate_id)
    if required:
        counted = counted.where(had.c.required > 0)

    def best_first(row) -> tuple[int, str]:
        candidate_id, years, required_had, nice_had = row
        meets = (years or 0) >= asks.min_years
        return -weighted_score(required_had, len(required), nice_had, len(nice), meets), candidate_id

    return [
        candidate_id for _, candidate_id in heapq.nsmallest(limit, map(best_first, session.execute(counted)))
    ]


def _posting_on_file(session: Session, posting_id: str) -> JobPosting:
    """The posting ``posting_id``, or a 404 naming it."""
    posting = session.get(JobPosting, posting_id)
    if posting is None:
        raise Problem(404, "Not found", f"no job posting {posting_id}")
    return posting


def _as_listed(posting: JobPosting) -> dict[str, Any]:
    """A posting as a job board shows it: what it asks for, not who screens it (the recruiters'
    email stays inside)."""
    return {
        "postingId": posting.posting_id,
        "employerId": posting.employer_id,
        "title": posting.title,
        "requiredSkills": list(posting.required_skills or []),
        "niceToHaveSkills": list(posting.nice_to_have_skills or []),
        "minYears": posting.min_years,
    }


def _why_it_fits(result: MatchResult) -> dict[str, Any]:
    """A match's score and the facts behind it, as the API gives them."""
    return {
        "score": result.score,
        "matchedSkills": result.matched_skills,
        "missingSkills": result.missing_skills,
        "matchedNiceToHave": result.matched_nice_to_have,
        "meetsExperience": result.meets_experience,
    }


def _items_cursor(after: str | None) -> ItemCursor | None:
    """The cursor a page of items gave as ``after``; a 400 for anything else."""
    try:
        return ItemCursor.parse(after) if after else None
    except ValueError as exc:
        raise invalid_field("after", "a next cursor as a page of items gave it") from exc


def _candidates_cursor(after: str | None) -> CandidateCursor | None:
    """The cursor a page of found candidates gave as ``after``; a 400 for anything else."""
    try:
        return CandidateCursor.parse(after) if after else None
    except ValueError as exc:
        raise invalid_field("after", "a next cursor as a page of candidates gave it") from exc


def _choices(rows: list[Row], limit: int, wanted: Row | None, key) -> tuple[list[Row], bool]:
    """The first ``limit`` of ``rows`` (read with a limit of ``limit + 1``), with ``wanted``
    added in its place by ``key`` when it is not among them, and whether rows were left out."""
    shown = rows[:limit]
    if wanted and all(key(row) != key(wanted) for row in shown):
        shown = sorted([*shown, wanted], key=key)
    return shown, len(rows) > limit


class Listings(Items):
    """Reading items, postings and people for the UI and the API's lists."""

    def recent_items(self, limit: int = 30) -> list[ItemSummary]:
        """The most recently changed items, for the UI, with the status ``status()`` gives.

        Without the engine's view (one call per line would be too slow), so an item whose
        instance ended on a path that records no outcome shows its first status here.
        """
        return self.find_items(limit=limit)[0]

    def list_items(self, query: ItemQuery) -> tuple[list[ItemSummary], ItemCursor | None]:
        """``find_items`` for a checked query; a 400 for an ``after`` no page gave."""
        return self.find_items(
            kind=query.kind,
            state=query.state,
            query=query.q,
            oldest_first=query.order == "oldest",
            after=_items_cursor(query.after),
        )

    def find_items(
        self,
        *,
        kind: str | None = None,
        state: str = "any",
        query: str | None = None,
        oldest_first: bool = False,
        after: ItemCursor | None = None,
        limit: int = ITEMS_PER_PAGE,
    ) -> tuple[list[ItemSummary], ItemCursor | None]:
        """A page of items, newest change first, and the cursor of the next page (None: last page).

        ``kind`` keeps one kind; ``state`` keeps the ``open`` ones (their recorded status is
        not final) or the ``final`` ones; ``query`` keeps the item with that id and the
        items that belong to it (a candidate's resumes, applications and unlocks, an
        application's interviews, found through the indexed ``belongs_to``; a posting's
        applications, through ``posting_id``; an employer's unlocks, through ``employer_id``);
        ``oldest_first`` turns the order round.
        """
        statement = select(BusinessRecord)
        if query:
            # The kinds spelled out, so the id is looked up through the primary key (kind, id).
            by_id = BusinessRecord.kind.in_(sorted(KINDS)) & (BusinessRecord.business_id == query)
            statement = statement.where(
                or_(
                    by_id,
                    BusinessRecord.belongs_to == query,
                    BusinessRecord.posting_id == query,
                    BusinessRecord.employer_id == query,
                )
            )
        rows, next_page = self._record_page(statement, kind, state, oldest_first, after, limit)
        page = [
            ItemSummary(
                r.kind,
                r.business_id,
                self._business_status(r.kind, r.business_id, r.status),
                r.updated_at,
                r.belongs_to,
            )
            for r in rows
        ]
        return page, next_page

    def posting_applications(
        self, posting_id: str, paging: ItemPaging
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The applications to a posting, newest change first, a page at a time, for its employer.

        Each with its status, the score and skills its routing read (once scored), and whether
        the posting's employer may see the candidate's contact details (which an unlock pays
        for, and which are never given here). An erased candidate's applications are gone
        from the list. Also the next page's cursor; a 404 for a posting not on file.
        """
        with self.services.db.sessions() as session:
            employer_id = _posting_on_file(session, posting_id).employer_id
        statement = select(BusinessRecord).where(BusinessRecord.posting_id == posting_id)
        rows, next_page = self._record_page(
            statement, "application", paging.state, paging.order == "oldest", _items_cursor(paging.after)
        )
        candidates = {(r.details or {}).get("candidate_id") for r in rows}
        with self.services.db.sessions() as session:
            unlocked = set(
                session.scalars(
                    select(ContactAccess.candidate_id).where(
                        ContactAccess.employer_id == employer_id, ContactAccess.candidate_id.in_(candidates)
                    )
                )
            )
        applications = []
        for record in rows:
            details = record.details or {}
            applications.append(
                {
                    "applicationId": record.business_id,
                    "candidateId": details.get("candidate_id"),
                    "status": self._business_status("application", record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "matchScore": details.get("match_score"),
                    "matchedSkills": list(details.get("matched_skills") or []),
                    "contactUnlocked": details.get("candidate_id") in unlocked,
                }
            )
        return applications, str(next_page) if next_page else None

    def employer_unlocks(
        self, employer_id: str, paging: ItemPaging
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The employer's unlocks, newest change first, a page at a time, for its own pages.

        Each with its status and what an open one waits for from the employer: a payment
        to approve with their bank (``paymentToApprove``: see ``approve_payment``), or a
        new card after ``cardDeclined``; and how an unlocked one was paid, or what was
        refunded. Never the candidate's contact details (see ``contacts_of``). Also the
        next page's cursor; an employer with no unlocks has an empty list.
        """
        statement = select(BusinessRecord).where(BusinessRecord.employer_id == employer_id)
        rows, next_page = self._record_page(
            statement, "unlock", paging.state, paging.order == "oldest", _items_cursor(paging.after)
        )
        unlocks = []
        for record in rows:
            details = record.details or {}
            still_open = record.status not in FINAL_STATUSES["unlock"]
            unlocks.append(
                {
                    "unlockId": record.business_id,
                    "candidateId": details.get("candidate_id"),
                    "status": self._business_status("unlock", record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "paymentToApprove": details.get("card_needs_authentication") if still_open else None,
                    "cardDeclined": details.get("card_declined") if still_open else None,
                    "paid": details.get("paid"),
                    "refunded": details.get("refunded"),
                }
            )
        return unlocks, str(next_page) if next_page else None

    def _record_page(
        self,
        statement: Select,
        kind: str | None,
        state: str,
        oldest_first: bool,
        after: ItemCursor | None,
        limit: int = ITEMS_PER_PAGE,
    ) -> tuple[list[BusinessRecord], ItemCursor | None]:
        """A page of the records ``statement`` selects, with the filters and order of a list of items.

        ``kind`` keeps one kind; ``state`` keeps the ``open`` ones (their recorded status is
        not final) or the ``final`` ones. Pages are cut after the last line's (updated_at,
        kind, id), so a page stays right while items change.
        """
        if kind is not None:
            statement = statement.where(BusinessRecord.kind == kind)
        if state in ("open", "final"):
            final = or_(
                *(
                    (BusinessRecord.kind == each) & BusinessRecord.status.in_(sorted(FINAL_STATUSES[each]))
                    for each in ([kind] if kind else KINDS)
                )
            )
            statement = statement.where(final if state == "final" else ~final)
        line = (BusinessRecord.updated_at, BusinessRecord.kind, BusinessRecord.business_id)
        if after is not None:
            cut = tuple_(after.updated_at, after.kind, after.business_id)
            statement = statement.where(tuple_(*line) > cut if oldest_first else tuple_(*line) < cut)
        order = [column.asc() if oldest_first else column.desc() for column in line]
        with self.services.db.sessions() as session:
            rows = list(session.scalars(statement.order_by(*order).limit(limit + 1)))
        kept, last = one_page(rows, limit)
        return kept, (ItemCursor(last.updated_at, last.kind, last.business_id) if last else None)

    def open_postings(
        self, limit: int = CHOICES_SHOWN, including: str | None = None
    ) -> tuple[list[JobPosting], bool]:
        """The first ``limit`` postings that take applications, by title, as a form's list
        offers them, and whether more were left out.

        ``including`` (the posting a link or a refused form names) is among them when it is
        open, wherever its title falls.
        """
        open_ones = select(JobPosting).where(JobPosting.open.is_(True))
        by_title = (JobPosting.title, JobPosting.posting_id)
        with self.services.db.sessions() as session:
            rows = list(session.scalars(open_ones.order_by(*by_title).limit(limit + 1)))
            wanted = None
            if including:
                wanted = session.scalars(open_ones.where(JobPosting.posting_id == including)).first()
        return _choices(rows, limit, wanted, key=lambda posting: (posting.title, posting.posting_id))

    def fitting_postings(self, candidate_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The open postings that fit the candidate best, with why: best score first.

        A posting fits when it requires a skill the candidate has, or requires none. Each is
        scored as resume-submission scores an application (``hireflow.matching``), on the
        skills and years read from the candidate's latest resume; ties by posting id. A 404
        for a candidate without a processed resume: there is nothing to score.
        """
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None:
                raise Problem(
                    404,
                    "Not found",
                    f"candidate {candidate_id} has no processed resume to match postings with",
                )
            skills, years = list(candidate.skills), candidate.years_of_experience
            # Requires a skill the candidate has, or requires none: any other is no fit,
            # whatever its score.
            required = PostingSkill.posting_id == JobPosting.posting_id, PostingSkill.required.is_(True)
            fits = or_(
                exists().where(*required, PostingSkill.skill.in_(skills)),
                ~exists().where(*required),
            )
            # Plain rows, not ORM objects: at 10,000 open postings that took 0.6 s, this 0.2 s.
            postings = session.execute(
                select(
                    JobPosting.posting_id,
                    JobPosting.title,
                    JobPosting.employer_id,
                    JobPosting.required_skills,
                    JobPosting.nice_to_have_skills,
                    JobPosting.min_years,
                ).where(JobPosting.open.is_(True), fits)
            ).all()
        scored = []
        for posting in postings:
            asks = Requirements(
                list(posting.required_skills or []),
                list(posting.nice_to_have_skills or []),
                posting.min_years,
            )
            scored.append((posting, score_match(skills, years, asks)))
        scored.sort(key=lambda pair: (-pair[1].score, pair[0].posting_id))
        return [
            {
                "postingId": posting.posting_id,
                "title": posting.title,
                "employerId": posting.employer_id,
                **_why_it_fits(result),
            }
            for posting, result in scored[:limit]
        ]

    def fitting_candidates(self, posting_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The candidates who fit a posting best, with why: best score first.

        A candidate fits when they have a skill the posting requires (any candidate, for a
        posting that requires none). Each is scored as an application of theirs to it would
        be (``hireflow.matching``), on the skills and years read from their latest resume;
        ties by candidate id. Never with contact details: those are what an unlock pays for.
        A 404 for a posting not on file.
        """
        with self.services.db.sessions() as session:
            posting = _posting_on_file(session, posting_id)
            asks = Requirements(
                list(posting.required_skills or []),
                list(posting.nice_to_have_skills or []),
                posting.min_years,
            )
            best = _best_scored_candidates(session, asks, limit)
            profiles = session.scalars(select(Candidate).where(Candidate.candidate_id.in_(best)))
            why = {
                candidate.candidate_id: {
                    "candidateId": candidate.candidate_id,
                    "yearsOfExperience": candidate.years_of_experience,
                    **_why_it_fits(score_match(list(candidate.skills), candidate.years_of_experience, asks)),
                }
                for candidate in profiles
            }
        return [why[candidate_id] for candidate_id in best]

    def standing_applications(self, candidate_id: str) -> dict[str, dict[str, str]]:
        """The candidate's applications not over for good, by posting id: each one's id and status.

        What a new application to the posting would answer with instead of starting one.
        """
        standing: dict[str, dict[str, str]] = {}
        with self.services.db.sessions() as session:
            records = records_belonging_to(session, ("application",), candidate_id)
            for record in sorted(records, key=lambda r: r.updated_at):  # the latest attempt wins
                posting_id = (record.details or {}).get("posting_id")
                status = business_status(session, "application", record.business_id, record.status)
                if posting_id and status not in OVER_FOR_GOOD["application"]:
                    standing[posting_id] = {"id": record.business_id, "status": status}
                elif posting_id:
                    standing.pop(posting_id, None)
        return standing

    def open_postings_page(
        self, query: PostingSearch, page_size: int = POSTINGS_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The open postings by id, a page at a time, as a job board shows them (``_as_listed``).

        Also the id of the page's last posting when more follow: the next page's cursor.
        """
        found = select(JobPosting).where(JobPosting.open.is_(True)).order_by(JobPosting.posting_id)
        for skill in query.skill_names():
            of_posting = PostingSkill.posting_id == JobPosting.posting_id
            found = found.where(exists().where(of_posting, PostingSkill.skill == skill))
        if query.after:
            found = found.where(JobPosting.posting_id > query.after)
        with self.services.db.sessions() as session:
            rows = list(session.scalars(found.limit(page_size + 1)))
        page, last = one_page(rows, page_size)
        return [_as_listed(posting) for posting in page], last.posting_id if last else None

    def postings_with_applications(
        self, query: EmployerPostingsQuery, employer_id: str | None = None, page_size: int = POSTINGS_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The postings by id (the employer's, if given), open or closed, a page at a time, each
        with its applications counted by status (as recorded; an erased candidate's are not
        counted).

        Also the id of the page's last posting when more follow: the next page's cursor.
        """
        found = select(JobPosting).order_by(JobPosting.posting_id)
        if employer_id is not None:
            found = found.where(JobPosting.employer_id == employer_id)
        if query.state != "any":
            found = found.where(JobPosting.open.is_(query.state == "open"))
        if query.after:
            found = found.where(JobPosting.posting_id > query.after)
        with self.services.db.sessions() as session:
            page, last = one_page(list(session.scalars(found.limit(page_size + 1))), page_size)
            counted = session.execute(
                select(BusinessRecord.posting_id, BusinessRecord.status, func.count())
                .where(
                    BusinessRecord.posting_id.in_([posting.posting_id for posting in page]),
                    BusinessRecord.kind == "application",
                )
                .group_by(BusinessRecord.posting_id, BusinessRecord.status)
            ).all()
        by_status: dict[str, dict[str, int]] = {posting.posting_id: {} for posting in page}
        for posting_id, status, count in counted:
            by_status[posting_id][status] = count
        postings = [
            {
                **_as_listed(posting),
                "open": posting.open,
                "applications": {
                    "total": sum(by_status[posting.posting_id].values()),
                    "byStatus": dict(sorted(by_status[posting.posting_id].items())),
                },
            }
            for posting in page
        ]
        return postings, last.posting_id if last else None

    def posting(self, posting_id: str) -> dict[str, Any]:
        """One posting as a job board shows it, open or closed (``open`` says which); a 404 for
        one not on file."""
        with self.services.db.sessions() as session:
            posting = _posting_on_file(session, posting_id)
        return {**_as_listed(posting), "open": posting.open}

    def employers(
        self, limit: int = CHOICES_SHOWN, including: str | None = None
    ) -> tuple[list[tuple[Employer, int]], bool]:
        """The first ``limit`` employers by id, each with their credit balance, as a form's
        list offers them, and whether more were left out; ``including`` (the employer a link
        or a refused form names) is among them when on file."""
        with_balance = select(Employer, CreditAccount.balance).outerjoin(
            CreditAccount, CreditAccount.employer_id == Employer.employer_id
        )
        with self.services.db.sessions() as session:
            rows = session.execute(with_balance.order_by(Employer.employer_id).limit(limit + 1))
            wanted = None
            if including:
                wanted = session.execute(with_balance.where(Employer.employer_id == including)).first()
            employers, more = _choices(
                [tuple(row) for row in rows],
                limit,
                tuple(wanted) if wanted else None,
                key=lambda row: row[0].employer_id,
            )
        return [(employer, balance or 0) for employer, balance in employers], more

    def interviewers(self, limit: int = CHOICES_SHOWN) -> tuple[list[Interviewer], bool]:
        """The first ``limit`` interviewers on file by username, and whether more were left out."""
        with self.services.db.sessions() as session:
            rows = list(session.scalars(select(Interviewer).order_by(Interviewer.username).limit(limit + 1)))
        return rows[:limit], len(rows) > limit

    def search_candidates(
        self, query: CandidateSearch, page_size: int = CANDIDATES_PAGE
    ) -> tuple[list[dict[str, Any]], CandidateCursor | None]:
        """Candidates with every skill asked for and the experience, most experienced first.

        Each as search knows them (skills, years of experience from their latest resume),
        never with contact details: those are what an unlock pays for. A page at a time,
        cut after the last candidate's (years, id): the next page's cursor when more follow.
        A resume that gave no years counts as none.
        """
        line = (CANDIDATE_EXPERIENCE, Candidate.candidate_id)  # ix_candidates_experience
        found = select(Candidate).order_by(*(column.desc() for column in line)).limit(page_size + 1)
        for skill in query.skill_names():
            of_candidate = CandidateSkill.candidate_id == Candidate.candidate_id
            found = found.where(exists().where(of_candidate, CandidateSkill.skill == skill))
        if query.min_years:
            found = found.where(Candidate.years_of_experience >= query.min_years)
        after = _candidates_cursor(query.after)
        if after is not None:
            found = found.where(tuple_(*line) < tuple_(after.years, after.candidate_id))
        with self.services.db.sessions() as session:
            rows = list(session.scalars(found))
        page, last = one_page(rows, page_size)
        answers = [
            {
                "candidateId": candidate.candidate_id,
                "skills": list(candidate.skills),
                "yearsOfExperience": candidate.years_of_experience,
            }
            for candidate in page
        ]
        return answers, (CandidateCursor(last.years_of_experience or 0, last.candidate_id) if last else None)

    def recent_candidates(self, limit: int = 20) -> list[Candidate]:
        """The most recently indexed candidates: the ones an employer can unlock."""
        with self.services.db.sessions() as session:
            return list(session.scalars(select(Candidate).order_by(Candidate.indexed_at.desc()).limit(limit)))

    def open_applications(self, limit: int = 20) -> list[ApplicationSummary]:
        """The most recent applications an interview can be scheduled for (shortlisted or in screening)."""
        with self.services.db.sessions() as session:
            rows = session.scalars(
                select(BusinessRecord)
                .where(
                    BusinessRecord.kind == "application",
                    BusinessRecord.status.in_(("shortlisted", "submitted")),
                )
                .order_by(BusinessRecord.updated_at.desc())
                .limit(limit)
            )
            return [
                ApplicationSummary(r.business_id, (r.details or {}).get("candidate_id", ""), r.status)
                for r in rows
            ]
