"""Process ids, job types, message names, error codes, variable names, and the form of business
ids, names and email addresses: one place for each.

The BPMN models in ``bpmn/`` use exactly these strings; a test checks the two agree.
Variable names are snake_case, and task function parameters are named the same.
"""

from __future__ import annotations

import re

# What every business id looks like (a candidate's, a posting's, an employer's, and the ids
# of resumes, applications, unlocks and interviews): the webapp refuses others at the door,
# and a worker's job for an instance started some other way fails with an incident.
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
IDENTIFIER_IN_WORDS = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
IDENTIFIER_PATTERN = re.compile(IDENTIFIER)

# What a person's name and email address look like where hireflow keeps them: the webapp
# refuses others at the door, and a worker that would store one fails its job, so SQLite
# keeps no value that PostgreSQL would refuse (its columns are 200 and 320 characters).
# Printable text without control characters (PostgreSQL refuses NUL; logs stay readable).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
PRINTABLE_IN_WORDS = "text without control characters (no tabs or line breaks)"
NAME_MAX_LENGTH = 200
SKILL_MAX_LENGTH = 50
EMAIL = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}$"
EMAIL_IN_WORDS = "an email address, like name@example.com"
EMAIL_MAX_LENGTH = 254  # what SMTP carries in a path (RFC 5321)
# How often one interview may be moved to another time, unless HIREFLOW_MAX_RESCHEDULES says.
DEFAULT_MAX_RESCHEDULES = 2
# How many offers of times a candidate may turn down before a recruiter arranges the time
# with them (the wait's follow-up task), unless HIREFLOW_MAX_OFFERS_DECLINED says: after
# that, an offer has no link to ask for others.
DEFAULT_MAX_OFFERS_DECLINED = 2


class ProcessId:
    RESUME_UPLOAD = "resume-upload"
    RESUME_SUBMISSION = "resume-submission"
    RESUME_UNLOCK = "resume-unlock"
    INTERVIEW_SCHEDULING = "interview-scheduling"


class JobType:
    """Service task types, named ``<domain>.<action>``; each has one worker function."""

    VALIDATE_RESUME_FILE = "resume.validate-file"
    EXTRACT_RESUME_TEXT = "resume.extract-text"
    EXTRACT_RESUME_SKILLS = "resume.extract-skills"
    INDEX_CANDIDATE = "resume.index-candidate"
    RECORD_RESUME_OUTCOME = "resume.record-outcome"
    SEND_EMAIL = "notifications.send-email"

    SCORE_MATCH = "submission.score-match"
    RECORD_APPLICATION_OUTCOME = "submission.record-outcome"

    SPEND_CREDITS = "unlock.spend-credits"
    REFUND_CREDITS = "unlock.refund-credits"
    GRANT_ACCESS = "unlock.grant-access"
    RECORD_UNLOCK_OUTCOME = "unlock.record-outcome"
    CHARGE_PAYMENT = "payment.charge"
    REFUND_PAYMENT = "payment.refund"
    CANCEL_PAYMENT = "payment.cancel"

    FIND_INTERVIEW_SLOTS = "interview.find-slots"
    EMAIL_SLOT_LINKS = "interview.email-slot-links"
    BOOK_INTERVIEW_SLOT = "interview.book-slot"
    SEND_INTERVIEW_INVITATION = "interview.send-invitation"
    CANCEL_INTERVIEW_BOOKING = "interview.cancel-booking"
    RELEASE_FOR_RESCHEDULE = "interview.release-for-reschedule"
    RECORD_INTERVIEW_OUTCOME = "interview.record-outcome"


class Header:
    """Task headers read by workers (set per task in the Modeler)."""

    EMAIL_TEMPLATE = "template"
    EMAIL_RECIPIENT_VARIABLE = "recipientVariable"
    EMAIL_BUSINESS_ID_VARIABLE = "businessIdVariable"
    OUTCOME = "outcome"  # the status a "record" step writes
    INVITATION_METHOD = "method"  # REQUEST or CANCEL, for calendar invitations
    # "true" on a task that emails slot links where the model lets the candidate ask for
    # other times (a model before it has no such wait, so its emails offer no such link).
    OTHER_TIMES_LINK = "otherTimesLink"
    RETRY_BACKOFF_BASE_SECONDS = "retryBackoffBaseSeconds"
    RETRY_BACKOFF_CAP_SECONDS = "retryBackoffCapSeconds"
    RETRY_ATTEMPTS = "retryAttempts"


class Message:
    APPLICATION_WITHDRAWN = "application-withdrawn"
    PAYMENT_CONFIRMED = "payment-confirmed"
    PAYMENT_FAILED = "payment-failed"
    PAYMENT_METHOD_UPDATED = "payment-method-updated"
    INTERVIEW_SLOT_SELECTED = "interview-slot-selected"
    INTERVIEW_CANCELLED = "interview-cancelled"
    INTERVIEW_RESCHEDULE_REQUESTED = "interview-reschedule-requested"
    INTERVIEW_OTHER_TIMES_REQUESTED = "interview-other-times-requested"


class ErrorCode:
    """BPMN error codes thrown by workers and caught by error boundary events."""

    RESUME_INVALID = "RESUME_INVALID"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    SLOT_TAKEN = "SLOT_TAKEN"
    ACCESS_NOT_GRANTABLE = "ACCESS_NOT_GRANTABLE"


class OfferReason:
    """Why interview-scheduling offers the candidate times again: ``new_offer_reason``, set
    by an output mapping of each event that loops back to *Offer slots*."""

    SLOT_TAKEN = "slot-taken"  # the time they chose was no longer free to book
    OTHER_TIMES_ASKED = "other-times-asked"  # none of the times offered suited them
    MOVED = "moved"  # the booked time was given up (interview-reschedule-requested)
    FOLLOW_UP = "follow-up"  # a recruiter followed up on their silence and offers new ones


class Var:
    """The process variables hireflow's parts name, in one place so that all spell them alike.

    The parts are the diagrams, decisions and forms in ``bpmn/``, the email templates, the
    task functions' parameters (pyzeebe fetches the variables named like them) and the
    webapp's start variables. A test checks this list against all of them, both ways. A
    worker output that only Operate shows (``resume_status``, ``access_granted``...) is not
    listed.
    """

    # Shared by several processes
    CANDIDATE_ID = "candidate_id"
    CANDIDATE_NAME = "candidate_name"
    CANDIDATE_EMAIL = "candidate_email"
    YEARS_OF_EXPERIENCE = "years_of_experience"

    # resume-upload
    RESUME_ID = "resume_id"
    FILE_REF = "file_ref"
    TEXT_REF = "text_ref"
    SKILLS = "skills"
    REJECTION_REASON = "rejection_reason"
    REJECTION_MESSAGE = "rejection_message"

    # resume-submission
    APPLICATION_ID = "application_id"
    APPLICATION_URL = "application_url"
    POSTING_ID = "posting_id"
    POSTING_TITLE = "posting_title"
    EMPLOYER_EMAIL = "employer_email"
    RECRUITER_TEAM_EMAIL = "recruiter_team_email"
    MATCH_SCORE = "match_score"
    MATCHED_SKILLS = "matched_skills"
    MISSING_SKILLS = "missing_skills"
    ROUTE = "route"
    SCREENING_DECISION = "screening_decision"
    SCREENING_NOTE = "screening_note"

    # resume-unlock
    UNLOCK_ID = "unlock_id"
    EMPLOYER_ID = "employer_id"
    EMPLOYER_PLAN = "employer_plan"
    UNLOCK_PRICE = "unlock_price"
    CREDIT_BALANCE = "credit_balance"
    CREDITS_SPENT = "credits_spent"
    CREDITS_REFUNDED = "credits_refunded"
    PAID_WITH = "paid_with"
    PAYMENT_METHOD_REF = "payment_method_ref"
    PAYMENT_CUSTOMER_REF = "payment_customer_ref"
    PAYMENT_ID = "payment_id"
    PAYMENT_STATUS = "payment_status"
    DECLINE_CODE = "decline_code"
    REFUND_ID = "refund_id"
    # When the wait for a payment's confirmation ends (set as it begins): its timers and the
    # reminder's "time left?" read it.
    PAYMENT_WAIT_ENDS = "payment_wait_ends"
    # The card charges an unlock made so far: charge n+1's idempotency key is built from it,
    # so a second instance for the same unlock, or a step entered again, charges no more.
    CHARGE_ATTEMPTS = "charge_attempts"

    # interview-scheduling
    INTERVIEW_ID = "interview_id"
    # Where the candidate lives (a tz database name): their emails give times there.
    CANDIDATE_TIMEZONE = "candidate_timezone"
    LEAD_RECRUITER_EMAIL = "lead_recruiter_email"
    PANEL = "panel"
    PANELIST = "panelist"
    ATTENDEE_EMAIL = "attendee_email"
    SEARCH_FROM = "search_from"
    PROPOSED_SLOTS = "proposed_slots"
    SELECTED_SLOT = "selected_slot"
    INTERVIEW_START = "interview_start"
    INTERVIEW_END = "interview_end"
    # The start as each panelist reads it (their zone), and one panelist's, on their feedback form.
    INTERVIEW_START_BY_PANELIST = "interview_start_by_panelist"
    INTERVIEW_START_FOR_PANELIST = "interview_start_for_panelist"
    # The times the interview was booked at and moved from, at the candidate's request or a
    # recruiter's: no new offer gives them again.
    RESCHEDULED_FROM = "rescheduled_from"
    # Who asked for the latest move, as interview-reschedule-requested carries it: {time (the
    # booked start given up), asker (candidate, panelist, recruiter, api)[, panelist]}.
    MOVE_REQUEST = "move_request"
    # The offers the candidate said none of whose times suit them, each a list of slots (the
    # model appends proposed_slots when interview-other-times-requested arrives): no new
    # offer gives those times again.
    OFFERS_DECLINED = "offers_declined"
    # How many, for the recruiter's follow-up form (an input mapping of its task).
    OFFERS_TURNED_DOWN = "offers_turned_down"
    # Why the model offers times again (an OfferReason, set by the event that loops back to
    # the offer); null for the first offer. The email of new times says why.
    NEW_OFFER_REASON = "new_offer_reason"
    FOLLOW_UP_DECISION = "follow_up_decision"
    FOLLOW_UP_NOTE = "follow_up_note"
    INTERVIEW_RATING = "interview_rating"
    INTERVIEW_RECOMMENDATION = "interview_recommendation"
    INTERVIEW_NOTES = "interview_notes"
    INTERVIEW_FEEDBACK = "interview_feedback"
    FEEDBACK = "feedback"


# The variables the webapp publishes each message with (the others carry none). A catch
# event of the message with output mappings must map these as well: the engine then merges
# only what its mappings name into the instance (hireflow.model_checks checks this).
MESSAGE_VARIABLES: dict[str, tuple[str, ...]] = {
    Message.INTERVIEW_SLOT_SELECTED: (Var.SELECTED_SLOT,),
    Message.INTERVIEW_RESCHEDULE_REQUESTED: (Var.MOVE_REQUEST,),
    Message.PAYMENT_METHOD_UPDATED: (Var.PAYMENT_METHOD_REF,),
    Message.PAYMENT_FAILED: (Var.DECLINE_CODE,),
}

# The variable that names the item each process is about. The webapp starts one instance per
# item (its start claim records which), and the workers cancel an older instance of the same
# item that the engine processed late (job_workers/twins.py).
ITEM_KEY_VARIABLE: dict[str, str] = {
    ProcessId.RESUME_UPLOAD: Var.RESUME_ID,
    ProcessId.RESUME_SUBMISSION: Var.APPLICATION_ID,
    ProcessId.RESUME_UNLOCK: Var.UNLOCK_ID,
    ProcessId.INTERVIEW_SCHEDULING: Var.INTERVIEW_ID,
}
