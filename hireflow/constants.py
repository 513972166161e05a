"""Process ids, job types, message names, error codes and variable names: one place for each.

The BPMN models in ``bpmn/`` use exactly these strings; a test checks the two agree.
Variable names are snake_case, and task function parameters are named the same.
"""

from __future__ import annotations


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
    RECORD_INTERVIEW_OUTCOME = "interview.record-outcome"


class Header:
    """Task headers read by workers (set per task in the Modeler)."""

    EMAIL_TEMPLATE = "template"
    EMAIL_RECIPIENT_VARIABLE = "recipientVariable"
    EMAIL_BUSINESS_ID_VARIABLE = "businessIdVariable"
    OUTCOME = "outcome"  # the status a "record" step writes
    INVITATION_METHOD = "method"  # REQUEST or CANCEL, for calendar invitations
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


class ErrorCode:
    """BPMN error codes thrown by workers and caught by error boundary events."""

    RESUME_INVALID = "RESUME_INVALID"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    SLOT_TAKEN = "SLOT_TAKEN"
    ACCESS_NOT_GRANTABLE = "ACCESS_NOT_GRANTABLE"


class Var:
    RESUME_ID = "resume_id"
    CANDIDATE_ID = "candidate_id"
    FILE_REF = "file_ref"
    TEXT_REF = "text_ref"
    FILE_TYPE = "file_type"
    PAGE_COUNT = "page_count"
    SKILLS = "skills"
    YEARS_OF_EXPERIENCE = "years_of_experience"
    REJECTION_REASON = "rejection_reason"
    SEARCH_FROM = "search_from"
