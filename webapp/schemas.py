"""Request bodies, checked with pydantic: strict types, bounded sizes, no unknown fields.

The same models produce the request schemas of ``/openapi.json``, so the document and
the checks cannot drift apart.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from hireflow.constants import (
    EMAIL,
    EMAIL_IN_WORDS,
    EMAIL_MAX_LENGTH,
    IDENTIFIER,
    IDENTIFIER_IN_WORDS,
    NAME_MAX_LENGTH,
    PRINTABLE,
    PRINTABLE_IN_WORDS,
    SKILL_MAX_LENGTH,
)
from hireflow.skills import SKILL_BY_ALIAS, SKILLS, canonical_skill
from job_workers.incidents import EVERY_CAUSE


def _whole_number(value: Any) -> Any:
    """619.0 as 619: JSON Schema counts it an integer, and some JSON writers send it so."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer of a JSON body. Strict still: true, "5" and 5.5 are refused.
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]

# Ids travel into process variables, correlation keys and URLs, so they are kept plain
# (hireflow.constants.IDENTIFIER), as are names and emails.
PAYMENT_METHOD = r"^pm_[A-Za-z0-9_]{1,100}$"
PROCESS_DEFINITION_ID = r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$"
# An IANA time zone name, such as Europe/Berlin or America/Argentina/Buenos_Aires.
TIMEZONE = r"^[A-Za-z][A-Za-z0-9_+-]{0,29}(/[A-Za-z0-9_+-]{1,30}){0,2}$"
# A time of day on the calendar's half-hour grid, such as 09:00 or 17:30.
HALF_HOUR = r"^([01][0-9]|2[0-3]):(00|30)$"
# Where the payment provider sends a person back: an http(s) address, nothing that runs.
RETURN_URL = r"^https?://[^\s<>\"]{1,2000}$"
# A key the engine gives (a job's, an instance's): ASCII digits, no more than a 64-bit key has.
ENGINE_KEY = r"^[0-9]{1,19}$"
ENGINE_KEY_PATTERN = re.compile(ENGINE_KEY)
# A purchase of credits: kept as "<employer id>:<purchase>" in the ledger's 200 characters.
PURCHASE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,98}$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH, pattern=EMAIL)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=PRINTABLE)]
PaymentMethodRef = Annotated[str, StringConstraints(pattern=PAYMENT_METHOD)]
ProcessDefinitionId = Annotated[str, StringConstraints(pattern=PROCESS_DEFINITION_ID)]
Purchase = Annotated[str, StringConstraints(pattern=PURCHASE)]


def known_time_zone(name: str) -> str:
    """The name, if the time zone database knows it (the tzdata package ships one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name} is not a time zone the tz database knows, like Europe/Berlin") from None
    return name


TimeZone = Annotated[str, StringConstraints(pattern=TIMEZONE), AfterValidator(known_time_zone)]
BusinessKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=SKILL_MAX_LENGTH, pattern=PRINTABLE)]

# What each pattern asks for, in words: a refusal says this, not the regular expression.
PATTERN_IN_WORDS = {
    IDENTIFIER: IDENTIFIER_IN_WORDS,
    EMAIL: EMAIL_IN_WORDS,
    PRINTABLE: PRINTABLE_IN_WORDS,
    PAYMENT_METHOD: "a saved card's payment method id, like pm_card_visa",
    TIMEZONE: "a time zone name of the tz database, like Europe/Berlin",
    HALF_HOUR: "a time of day on the half hour, like 09:00 or 17:30",
    PURCHASE: "1 to 99 letters, digits, '.', '_' or '-', starting with a letter or digit",
    PROCESS_DEFINITION_ID: "a BPMN process id: 1 to 100 letters, digits, '_', '.' or '-', "
    "starting with a letter or '_'",
    RETURN_URL: "a web address starting with https:// or http://, without spaces",
    ENGINE_KEY: "1 to 19 digits, as the engine gives a key",
}


def is_engine_key(text: str) -> bool:
    """Whether ``text`` can be a key the engine gave. Not ``str.isdigit``: that takes "²" too."""
    return ENGINE_KEY_PATTERN.fullmatch(text) is not None


def reason_in_words(error: dict[str, Any]) -> str:
    """A pydantic error's message, with a pattern mismatch said as what the field needs."""
    if error.get("type") == "string_pattern_mismatch":
        wanted = PATTERN_IN_WORDS.get((error.get("ctx") or {}).get("pattern"))
        if wanted:
            return f"should be {wanted}"
    # A validator's own ValueError reads as a sentence already; pydantic prefixes it.
    return error["msg"].removeprefix("Value error, ")


class Strict(BaseModel):
    """Unknown fields are an error, named in the 400, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResumeFields(Strict):
    """The form fields sent with a resume file (multipart)."""

    candidate_id: Identifier
    candidate_name: Name
    candidate_email: Email


# What a candidate's resume gave stands in for a name or email a request leaves out.
FROM_RESUME = "Absent: as the candidate gave it with their latest resume."


class ApplicationRequest(Strict):
    """A candidate applies to a job posting (starts ``resume-submission``)."""

    candidate_id: Identifier
    candidate_name: Name | None = Field(None, description=FROM_RESUME)
    candidate_email: Email | None = Field(None, description=FROM_RESUME)
    posting_id: Identifier
    employer_email: Email | None = Field(
        None, description="Where a shortlist is announced. Absent: the posting's employer's email on file."
    )
    recruiter_team_email: Email | None = Field(
        None,
        description="The recruiters who screen the application and get its reminders. "
        "Absent: the posting's recruiters on file.",
    )


class UnlockRequest(Strict):
    """An employer pays to see a candidate's contact details (starts ``resume-unlock``).

    An employer on file (the ``employers`` table; ``make seed`` adds some) needs only its
    id: what the request leaves out comes from the file. Another employer must give its
    email and card.
    """

    employer_id: Identifier
    employer_email: Email | None = Field(
        None, description="Where the receipt and payment emails go. Absent: the employer's email on file."
    )
    candidate_id: Identifier
    employer_plan: Literal["standard", "premium"] | None = Field(
        None, description="The plan the price depends on. Absent: the employer's plan on file, else standard."
    )
    # References at the payment provider only: card data never comes here.
    payment_method_ref: PaymentMethodRef | None = Field(
        None,
        description="The employer's card saved with the payment provider (Stripe: pm_...). "
        "Absent: the employer's card on file.",
    )
    payment_customer_ref: Identifier | None = Field(
        None,
        description="The employer as the payment provider's customer (Stripe: cus_...), whom the card is "
        "attached to. Absent: the employer's customer on file, or else the employer id.",
    )


class CardUpdate(Strict):
    """A new saved card for an unlock whose card was declined."""

    payment_method_ref: PaymentMethodRef


class PaymentApproval(Strict):
    """The start of an employer's approval, with their bank, of an unlock's card payment."""

    return_url: Annotated[str, StringConstraints(max_length=2000, pattern=RETURN_URL)] = Field(
        description="Where the bank sends the employer back once they approved or refused: a page "
        "of the marketplace's own, which then shows the unlock's status."
    )


class WorkingWeek(Strict):
    """When an interviewer works, on their own clock: slots are offered only then."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        min_length=1, max_length=7, description='The days they work, like ["mon", "tue"].'
    )
    start: Annotated[str, StringConstraints(pattern=HALF_HOUR)] = Field(
        description="When their working day starts, like 09:00."
    )
    end: Annotated[str, StringConstraints(pattern=HALF_HOUR)] = Field(
        description="When it ends, like 17:00: after the start, the same day."
    )

    @model_validator(mode="after")
    def _a_day_within_one_day(self) -> WorkingWeek:
        if len(set(self.days)) != len(self.days):
            raise ValueError("days: each day once")
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must come after start {self.start}, the same day")
        return self


FROM_INTERVIEWER = "Absent: as the interviewer on file by username has it."
PANEL_MAX = 6  # interviewers on one panel


class PanelMember(Strict):
    """One interviewer on the panel; one on file can be named by username alone."""

    username: Identifier
    email: Email | None = Field(None, description=FROM_INTERVIEWER)
    name: Name | None = Field(None, description=FROM_INTERVIEWER)
    timezone: TimeZone | None = Field(
        None,
        description="Where the panelist works: slots are offered in working hours there, and their "
        "emails give times in this zone. Absent: the zone of the interviewer on file by username, "
        "else UTC.",
    )
    working_hours: WorkingWeek | None = Field(
        None,
        description="When the panelist works, in their time zone. Absent: the hours of the "
        "interviewer on file by username, else weekdays 09:00 to 17:00.",
    )


class InterviewRequest(Strict):
    """Schedule an interview for an application (starts ``interview-scheduling``)."""

    application_id: Identifier
    candidate_name: Name | None = Field(None, description=FROM_RESUME)
    candidate_email: Email | None = Field(None, description=FROM_RESUME)
    lead_recruiter_email: Email | None = Field(
        None,
        description="Who hears when the panel's feedback is overdue. Absent: the recruiters of the "
        "application's posting.",
    )
    panel: list[PanelMember] = Field(min_length=1, max_length=PANEL_MAX)
    round: WholeNumber = Field(default=1, ge=1, le=20)
    candidate_timezone: TimeZone | None = Field(
        None,
        description="Where the candidate lives: slots are offered between 8:00 and 20:00 there, and "
        "their emails and slot page give times in this zone. Absent: UTC, and slots at any hour of "
        "the panel's. Calendar invitations are in UTC, as calendars take them.",
    )


class RescheduleAsk(Strict):
    """Which booking to move (``POST /api/interviews/<id>/rescheduling``); the body is optional."""

    booked_start: AwareDatetime | None = Field(
        None,
        description="The start of the booked time to move, as GET /api/interviews/{business_id} "
        "gives it (booking.start). Given, the request moves that booking only: repeated after "
        "the interview was booked again at another time, it is refused with 409 instead of "
        "moving the new time. A client that may retry late should send it.",
    )


class OtherTimesAsk(Strict):
    """Which offer of times to turn down (``POST /api/interviews/<id>/other-times``); the body
    is optional."""

    offer_start: AwareDatetime | None = Field(
        None,
        description="The first time of the offer none of whose times suits the candidate, as "
        "GET /api/interviews/{business_id} gives it (details.offered_slots[0].start). Given, a "
        "request that arrives after a newer offer is refused with 409 instead of turning the "
        "new one down. A client that may retry late should send it.",
    )


class StartRequest(Strict):
    """Admin: start any process with JSON variables, once per business key."""

    processDefinitionId: ProcessDefinitionId
    businessKey: BusinessKey
    variables: dict[str, Any] = Field(default_factory=dict)


def skills_resumes_show(listed: list[str]) -> list[str]:
    """A posting's skills by the names they are kept by, each once, or a ValueError.

    A skill resume reading never finds is refused: no applicant could ever show it, so a
    posting requiring it would decline everyone.
    """
    names = list(dict.fromkeys(canonical_skill(name) for name in listed))
    unknown = [name for name in names if name not in SKILLS]
    if unknown:
        raise ValueError(
            f"resume reading knows no skill {unknown[0]!r}, so no applicant could show it; "
            f"{_skills_like(unknown[0])}"
        )
    return names


def _skills_like(unknown: str) -> str:
    """What to say of a skill no one knows: the known ones it is closest to, if any look alike
    (a typo: "pyton"), and where every one is listed."""
    close = difflib.get_close_matches(unknown, SKILL_BY_ALIAS, n=3, cutoff=0.75)
    suggested = list(dict.fromkeys(SKILL_BY_ALIAS[alias] for alias in close))
    did_you_mean = f"did you mean {' or '.join(suggested)}? " if suggested else ""
    return f"{did_you_mean}GET /api/skills lists the {len(SKILLS)} it knows"


# Skills as an admin writes them ("K8s", "postgres"), kept by their names ("kubernetes").
PostingSkills = Annotated[list[Skill], Field(max_length=50), AfterValidator(skills_resumes_show)]


class PostingRequest(Strict):
    """Admin: create or replace a job posting."""

    employer_id: Identifier
    title: Name
    required_skills: PostingSkills = Field(
        default_factory=list,
        description="Skills an applicant must show, as resumes write them (k8s is kubernetes); "
        "a skill resume reading does not know is refused.",
    )
    nice_to_have_skills: PostingSkills = Field(
        default_factory=list, description="Skills that raise an applicant's score."
    )
    min_years: WholeNumber = Field(default=0, ge=0, le=50)
    recruiter_team_email: Email | None = Field(
        None,
        description="The recruiters who screen its applications, for applications that name none.",
    )
    open: bool = Field(
        True,
        description="Whether it takes applications. False closes it (filled, or withdrawn): new "
        "applications are refused with 409; those made before go on.",
    )


class InterviewerRequest(Strict):
    """Admin: create or replace an interviewer, whom interview panels name by username."""

    name: Name
    email: Email
    timezone: TimeZone | None = Field(
        None,
        description="Where the interviewer works: interview slots are offered in working hours "
        "there, and their interview emails give times in this zone (a panel's request may name "
        "another). Absent: UTC.",
    )
    working_hours: WorkingWeek | None = Field(
        None,
        description="When the interviewer works, in their time zone: interview slots are offered "
        "only then (a panel's request may give others). Absent: weekdays 09:00 to 17:00.",
    )


class EmployerRequest(Strict):
    """Admin: create or replace an employer who unlocks candidates."""

    name: Name
    email: Email = Field(description="Where receipts and payment emails go.")
    plan: Literal["standard", "premium"] = Field("standard", description="The plan unlock prices depend on.")
    # References at the payment provider only: card data never comes here.
    payment_method_ref: PaymentMethodRef = Field(
        description="The employer's card saved with the payment provider (Stripe: pm_...), charged "
        "when its credits do not cover an unlock."
    )
    payment_customer_ref: Identifier | None = Field(
        None,
        description="The employer as the payment provider's customer (Stripe: cus_...), whom the card "
        "is attached to. Absent: the employer id, which only the local payment sandbox accepts.",
    )


class CreditTopUp(Strict):
    """Admin: add credits an employer bought, once per purchase."""

    amount: WholeNumber = Field(ge=1, le=100_000, description="How many credits were bought.")
    reference: Purchase = Field(
        description="The purchase (an order or invoice id), unique per employer: a top-up repeated "
        "with the same reference adds nothing."
    )


class ContactQuery(Strict):
    """Whose view of a candidate's contact details (``GET /api/candidates/<id>/contact``)."""

    employer_id: Identifier = Field(
        description="The employer asking: it sees them once its unlock granted access."
    )


MAX_SKILLS_SEARCHED = 10


def known_skills(listed: str) -> str:
    """Comma-separated skill names as search knows them (lower case, each once), or a ValueError.

    A skill may be asked for as resumes write it: "k8s" is kubernetes, "js" javascript.
    """
    asked = [name.strip().lower() for name in listed.split(",") if name.strip()]
    unknown = [name for name in asked if name not in SKILL_BY_ALIAS]
    if unknown:
        raise ValueError(f"search knows no skill {unknown[0]!r}; {_skills_like(unknown[0])}")
    names = list(dict.fromkeys(SKILL_BY_ALIAS[name] for name in asked))
    if len(names) > MAX_SKILLS_SEARCHED:
        raise ValueError(f"at most {MAX_SKILLS_SEARCHED} skills at once")
    return ",".join(names)


# The length limit sits inside the type, before the validator: on `Annotated[str,
# AfterValidator(...)] | None`, pydantic puts a Field's max_length in the schema but never
# checks it (a 1,400-character list of known skills went through).
SkillsAskedFor = Annotated[str, Field(max_length=500), AfterValidator(known_skills)]


class CandidateSearch(Strict):
    """Which candidates to find (``GET /api/candidates``): by skill and experience, never by contact."""

    skills: SkillsAskedFor | None = Field(
        None,
        description="Comma-separated skills a candidate must all have, by name or as resumes write them "
        "(python, sql, machine learning, k8s, ...; any case). Absent: any skills.",
    )
    min_years: int = Field(0, ge=0, le=50, description="At least this many years of experience.")
    after: Identifier | None = Field(
        None, description="The page after another: that page's next cursor, as given."
    )

    def skill_names(self) -> list[str]:
        """The skills asked for, each once."""
        return self.skills.split(",") if self.skills else []


class PageAfter(Strict):
    """Which page of a list by id: an employer's unlocked contacts, the admin API's lists."""

    after: Identifier | None = Field(
        None, description="The page after another: that page's next cursor, as given."
    )


class EmployerPostingsQuery(Strict):
    """Which page of an employer's postings (``GET /api/employers/<id>/postings``)."""

    state: Literal["any", "open", "closed"] = Field(
        "any", description="open: taking applications; closed: no longer taking them."
    )
    after: Identifier | None = Field(
        None, description="The page after another: that page's next cursor, as given."
    )


class PostingsPageQuery(EmployerPostingsQuery):
    """Which page of postings the console's Postings page lists: of one employer, or of all."""

    employer_id: Identifier | None = Field(None, description="Only this employer's postings.")


class FittingQuery(Strict):
    """How many of the best fits: the postings that fit a candidate (``GET /api/candidates/<id>/
    postings``), the candidates who fit a posting (``GET /api/postings/<id>/candidates``)."""

    limit: int = Field(10, ge=1, le=50, description="How many, best first.")


class PostingSearch(Strict):
    """Which page of the open postings to list (``GET /api/postings``)."""

    skills: SkillsAskedFor | None = Field(
        None,
        description="Comma-separated skills a posting must all ask for, required or nice to have, "
        "by name or as resumes write them (python, sql, k8s, ...; any case). Absent: any skills.",
    )
    after: Identifier | None = Field(
        None, description="The page after another: that page's next cursor, as given."
    )

    def skill_names(self) -> list[str]:
        """The skills asked for, each once."""
        return self.skills.split(",") if self.skills else []


# The kinds of item (webapp.domain.KINDS, where each is tied to its process).
ItemKind = Literal["resume", "application", "unlock", "interview"]


class ItemPaging(Strict):
    """Which page of items, open or over, in which order (a posting's applications, and ``ItemQuery``)."""

    state: Literal["any", "open", "final"] = Field(
        "any", description="open: still running (the recorded status is not final); final: over."
    )
    order: Literal["newest", "oldest"] = Field(
        "newest",
        description="newest: the latest change first; oldest: the longest unchanged first "
        "(with state=open: what has waited longest).",
    )
    after: str | None = Field(
        None,
        max_length=200,
        description="The page after another: that page's next cursor, as given (with the same order).",
    )


class ItemQuery(ItemPaging):
    """Which items to list (``GET /api/items``, and the console's Items page)."""

    kind: ItemKind | None = Field(None, description="Only items of this kind.")
    q: Identifier | None = Field(
        None,
        description="An id: the item with it, and the items that belong to it (a candidate's "
        "resumes, applications and unlocks; an application's interviews; a posting's applications; "
        "an employer's unlocks).",
    )


# How many items one admin batch request (a retry, a restart) handles at the most.
BatchLimit = Annotated[
    int,
    Field(
        ge=1,
        le=1000,
        description="At most this many in one request, so it answers before a proxy gives up; "
        "left in the answer says how many remain for the next.",
    ),
    BeforeValidator(_whole_number),
]

# The causes an incident message of the worker pool can start with (job_workers.incidents).
IncidentCause = Literal[tuple(cause.what for cause in EVERY_CAUSE)]


class IncidentRetry(Strict):
    """Which incidents to retry at once (``POST /api/admin/incidents/retry``)."""

    cause: IncidentCause = Field(
        description="Every open incident whose message starts with this cause, as GET "
        "/api/admin/incidents counts them (mend the cause first: a retry that fails again "
        "opens a new incident)."
    )
    limit: BatchLimit = 500


class StalledJobRestart(Strict):
    """How many stalled jobs to restart at once (``POST /api/admin/stalled-jobs/restart``)."""

    limit: BatchLimit = 500


REQUEST_MODELS: list[type[BaseModel]] = [
    ResumeFields,
    ApplicationRequest,
    UnlockRequest,
    CardUpdate,
    PaymentApproval,
    InterviewRequest,
    RescheduleAsk,
    OtherTimesAsk,
    StartRequest,
    PostingRequest,
    EmployerRequest,
    InterviewerRequest,
    CreditTopUp,
    ItemPaging,
    ItemQuery,
    IncidentRetry,
    StalledJobRestart,
    ContactQuery,
    CandidateSearch,
    PostingSearch,
    FittingQuery,
    PageAfter,
    EmployerPostingsQuery,
]
