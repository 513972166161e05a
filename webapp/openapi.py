"""The OpenAPI 3.1 document of the JSON API, served at ``/openapi.json``.

Request schemas come from the pydantic models that check the requests; response
schemas are written here. A schemathesis run in the tests keeps the two honest.
The HTML pages (UI, signed slot and card links) are not part of the API and not described.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from webapp.blueprints.admin import ADMIN_PAGE
from webapp.schemas import (
    ENGINE_KEY,
    IDENTIFIER,
    REQUEST_MODELS,
    EmployerRequest,
    InterviewerRequest,
    PostingRequest,
)

PROBLEM = "application/problem+json"
NULLABLE_STRING = {"type": ["string", "null"]}
# Every paged list's cursor: the same query with after= it gives the next page.
NEXT_PAGE = {**NULLABLE_STRING, "description": "the next page's cursor, for after=; null on the last page"}
LISTED_POSTING = {
    "postingId": {"type": "string"},
    "employerId": {"type": "string"},
    "title": {"type": "string"},
    "requiredSkills": {"type": "array", "items": {"type": "string"}},
    "niceToHaveSkills": {"type": "array", "items": {"type": "string"}},
    "minYears": {"type": "integer"},
}
OPEN_POSTING = {"type": "boolean", "description": "false: closed to new applications"}
# How well a candidate fits a posting, and why (hireflow.matching), in both directions.
WHY_IT_FITS = {
    "score": {"type": "integer", "description": "0-100, as an application would be scored"},
    "matchedSkills": {"type": "array", "items": {"type": "string"}},
    "missingSkills": {"type": "array", "items": {"type": "string"}},
    "matchedNiceToHave": {"type": "array", "items": {"type": "string"}},
    "meetsExperience": {"type": "boolean"},
}

RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "CandidateList": {
        "type": "object",
        "required": ["candidates", "next"],
        "properties": {
            "candidates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["candidateId", "skills", "yearsOfExperience"],
                    "properties": {
                        "candidateId": {"type": "string"},
                        "skills": {"type": "array", "items": {"type": "string"}},
                        "yearsOfExperience": {"type": ["integer", "null"], "description": "null: not found"},
                    },
                },
            },
            "next": NEXT_PAGE,
        },
    },
    "ContactList": {
        "type": "object",
        "required": ["employerId", "contacts", "next"],
        "properties": {
            "employerId": {"type": "string"},
            "contacts": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}},
            "next": NEXT_PAGE,
        },
    },
    "FittingPostings": {
        "type": "object",
        "required": ["candidateId", "postings"],
        "properties": {
            "candidateId": {"type": "string"},
            "postings": {
                "type": "array",
                "description": "best score first",
                "items": {
                    "type": "object",
                    "required": ["postingId", "title", "employerId", *WHY_IT_FITS],
                    "properties": {
                        "postingId": {"type": "string"},
                        "title": {"type": "string"},
                        "employerId": {"type": "string"},
                        **WHY_IT_FITS,
                    },
                },
            },
        },
    },
    "FittingCandidates": {
        "type": "object",
        "required": ["postingId", "candidates"],
        "properties": {
            "postingId": {"type": "string"},
            "candidates": {
                "type": "array",
                "description": "best score first",
                "items": {
                    "type": "object",
                    "required": ["candidateId", "yearsOfExperience", *WHY_IT_FITS],
                    "properties": {
                        "candidateId": {"type": "string"},
                        "yearsOfExperience": {"type": ["integer", "null"]},
                        **WHY_IT_FITS,
                    },
                },
            },
        },
    },
    "CandidateData": {
        "type": "object",
        "required": ["candidateId", "profile", "items", "contactAccess", "files", "emails", "engine"],
        "properties": {
            "candidateId": {"type": "string"},
            "profile": {
                "type": ["object", "null"],
                "description": "what search reads, from the latest resume; null once erased",
                "required": ["name", "email", "skills", "yearsOfExperience", "resumeId", "indexedAt"],
                "properties": {
                    "name": NULLABLE_STRING,
                    "email": NULLABLE_STRING,
                    "skills": {"type": "array", "items": {"type": "string"}},
                    "yearsOfExperience": {"type": ["integer", "null"]},
                    "resumeId": {"type": "string"},
                    "indexedAt": {"type": "string"},
                },
            },
            "items": {
                "type": "array",
                "description": "resumes, applications, unlocks and interviews, oldest change first",
                "items": {
                    "type": "object",
                    "required": ["kind", "id", "status", "updatedAt", "details"],
                    "properties": {
                        "kind": {"type": "string"},
                        "id": {"type": "string"},
                        "status": {"type": "string"},
                        "updatedAt": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
            },
            "contactAccess": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["employerId", "unlockId", "grantedAt"],
                    "properties": {
                        "employerId": {"type": "string"},
                        "unlockId": {"type": "string"},
                        "grantedAt": {"type": "string"},
                    },
                },
            },
            "files": {
                "type": "array",
                "items": {"type": "string"},
                "description": "references of the resume files and their extracted text in the file store",
            },
            "emails": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["template", "status", "sentAt"],
                    "properties": {
                        "template": {"type": "string"},
                        "status": {"type": "string"},
                        "sentAt": NULLABLE_STRING,
                    },
                },
            },
            "engine": {
                "type": "object",
                "required": ["processInstanceKeys"],
                "properties": {"processInstanceKeys": {"type": "array", "items": {"type": "string"}}},
            },
        },
    },
    "PostingApplications": {
        "type": "object",
        "required": ["postingId", "applications", "next"],
        "properties": {
            "postingId": {"type": "string"},
            "applications": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "applicationId",
                        "candidateId",
                        "status",
                        "updatedAt",
                        "matchScore",
                        "matchedSkills",
                        "contactUnlocked",
                    ],
                    "properties": {
                        "applicationId": {"type": "string"},
                        "candidateId": {"type": "string"},
                        "status": {"type": "string"},
                        "updatedAt": {"type": "string"},
                        "matchScore": {
                            "type": ["integer", "null"],
                            "description": "0-100; null until scored (or withdrawn before)",
                        },
                        "matchedSkills": {"type": "array", "items": {"type": "string"}},
                        "contactUnlocked": {
                            "type": "boolean",
                            "description": "the posting's employer may read the candidate's contact "
                            "details (GET /api/candidates/{candidate_id}/contact)",
                        },
                    },
                },
            },
            "next": NEXT_PAGE,
        },
    },
    "EmployerUnlocks": {
        "type": "object",
        "required": ["employerId", "unlocks", "next"],
        "properties": {
            "employerId": {"type": "string"},
            "unlocks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "unlockId",
                        "candidateId",
                        "status",
                        "updatedAt",
                        "paymentToApprove",
                        "cardDeclined",
                        "paid",
                        "refunded",
                    ],
                    "properties": {
                        "unlockId": {"type": "string"},
                        "candidateId": {"type": ["string", "null"]},
                        "status": {"type": "string"},
                        "updatedAt": {"type": "string"},
                        "paymentToApprove": {
                            "type": ["object", "null"],
                            "description": "open only: a card payment the employer's bank asks them to "
                            "approve (payment_id, amount_cents, currency)",
                        },
                        "cardDeclined": {
                            "type": ["object", "null"],
                            "description": "open only: the card last refused (card, decline_code, and "
                            "charge: the charge refused); the unlock waits for another",
                        },
                        "paid": {
                            "type": ["object", "null"],
                            "description": "once unlocked: with credits, or the card's amount_cents, "
                            "currency and payment_id",
                        },
                        "refunded": {
                            "type": ["object", "null"],
                            "description": "what was given back (credits, or the card's amount_cents and "
                            "refund_id)",
                        },
                    },
                },
            },
            "next": NEXT_PAGE,
        },
    },
    "IncidentCauses": {
        "type": "object",
        "required": ["total", "causes"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "causes": {
                "type": "array",
                "description": "the most incidents first",
                "items": {
                    "type": "object",
                    "required": ["cause", "count", "action", "retriedWithBackoffFirst", "batchRetry"],
                    "properties": {
                        "cause": {"type": "string"},
                        "count": {"type": "integer", "minimum": 1},
                        "action": {"type": "string", "description": "what to mend before retrying"},
                        "retriedWithBackoffFirst": {
                            "type": "boolean",
                            "description": "true: a technical failure that outlasted its retries",
                        },
                        "batchRetry": {
                            "type": "boolean",
                            "description": "true: POST /api/admin/incidents/retry takes this cause",
                        },
                    },
                },
            },
        },
    },
    "IncidentsRetried": {
        "type": "object",
        "required": ["cause", "retried", "refused", "left"],
        "properties": {
            "cause": {"type": "string"},
            "left": {
                "type": "integer",
                "minimum": 0,
                "description": "incidents of the cause beyond the limit, not tried: ask again",
            },
            "retried": {"type": "array", "items": {"type": "string"}, "description": "incident keys"},
            "refused": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["incidentKey", "reason"],
                    "properties": {"incidentKey": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "StalledJobs": {
        "type": "object",
        "required": ["total", "jobs"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "jobs": {
                "type": "array",
                "description": "the longest overdue first",
                "items": {
                    "type": "object",
                    "required": [
                        "jobKey",
                        "type",
                        "processInstanceKey",
                        "elementId",
                        "retries",
                        "dueSince",
                        "errorMessage",
                    ],
                    "properties": {
                        "jobKey": {"type": "string"},
                        "type": {"type": "string", "description": "the job type"},
                        "processInstanceKey": {"type": "string"},
                        "elementId": {"type": "string", "description": "the task that waits"},
                        "retries": {"type": "integer", "minimum": 1},
                        "dueSince": {
                            "type": "string",
                            "format": "date-time",
                            "description": "when its retry backoff ended (on a cluster: the latest it could)",
                        },
                        "errorMessage": {"type": "string", "description": "why it failed last"},
                    },
                },
            },
        },
    },
    "StalledJobsRestarted": {
        "type": "object",
        "required": ["restarted", "refused", "left"],
        "properties": {
            "restarted": {"type": "array", "items": {"type": "string"}, "description": "job keys"},
            "refused": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["jobKey", "reason"],
                    "properties": {"jobKey": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
            "left": {
                "type": "integer",
                "minimum": 0,
                "description": "stalled jobs beyond the limit, not tried: ask again",
            },
        },
    },
    "ListedPosting": {
        "type": "object",
        "description": "A posting as a job board shows it: what it asks for, not who screens it.",
        "required": list(LISTED_POSTING),
        "properties": LISTED_POSTING,
    },
    "PostingOnBoard": {
        "type": "object",
        "required": [*LISTED_POSTING, "open"],
        "properties": {
            **LISTED_POSTING,
            "open": OPEN_POSTING,
        },
    },
    "EmployerPostings": {
        "type": "object",
        "required": ["employerId", "postings", "next"],
        "properties": {
            "employerId": {"type": "string"},
            "postings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [*LISTED_POSTING, "open", "applications"],
                    "properties": {
                        **LISTED_POSTING,
                        "open": OPEN_POSTING,
                        "applications": {
                            "type": "object",
                            "required": ["total", "byStatus"],
                            "properties": {
                                "total": {"type": "integer", "minimum": 0},
                                "byStatus": {
                                    "type": "object",
                                    "description": "status (submitted, shortlisted, declined, ...) to count",
                                    "additionalProperties": {"type": "integer", "minimum": 1},
                                },
                            },
                        },
                    },
                },
            },
            "next": NEXT_PAGE,
        },
    },
    "PostingList": {
        "type": "object",
        "required": ["postings", "next"],
        "properties": {
            "postings": {"type": "array", "items": {"$ref": "#/components/schemas/ListedPosting"}},
            "next": NEXT_PAGE,
        },
    },
    "ItemList": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "id", "status", "updatedAt", "belongsTo"],
                    "properties": {
                        "kind": {"type": "string"},
                        "id": {"type": "string"},
                        "status": {"type": "string", "description": "as the item's own status gives it"},
                        "updatedAt": {"type": "string"},
                        "belongsTo": {
                            **NULLABLE_STRING,
                            "description": "the candidate id of a resume, application or unlock; the "
                            "application id of an interview (q= with it lists what else belongs to it)",
                        },
                    },
                },
            },
            "next": NEXT_PAGE,
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {
                "type": "string",
                "description": "about:blank when the title is the status's own phrase (Not Found); else "
                "https://hireflow.example/problems/ and the title in lower case, its words joined by "
                "'-' (card-declined, unlock-closed, invalid-request), for clients to branch on.",
            },
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "reference": {"type": "string"},
            "invalid_params": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "reason"],
                    "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "CandidateErasure": {
        "type": "object",
        "required": ["candidateId", "erased", "kept", "engine"],
        "properties": {
            "candidateId": {"type": "string"},
            "erased": {
                "type": "object",
                "required": ["profile", "items", "files", "emails", "contactAccess"],
                "properties": {
                    "profile": {"type": "boolean", "description": "the search profile (skills, experience)"},
                    "items": {"type": "array", "items": {"type": "string"}, "description": "kind and id"},
                    "files": {"type": "integer", "description": "resume files and extracted texts removed"},
                    "emails": {"type": "integer", "description": "outbox entries (addresses) removed"},
                    "contactAccess": {"type": "integer", "description": "employers' access removed"},
                },
            },
            "kept": {
                "type": "object",
                "required": ["unlocks"],
                "properties": {"unlocks": {"type": "array", "items": {"type": "string"}}},
            },
            "engine": {
                "type": "object",
                "required": ["processInstanceKeys", "note"],
                "properties": {
                    "processInstanceKeys": {"type": "array", "items": {"type": "string"}},
                    "note": {"type": "string"},
                },
            },
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["kind", "id", "processInstanceKey", "created", "links"],
        "properties": {
            "kind": {"type": "string", "enum": ["resume", "application", "unlock", "interview"]},
            "id": {"type": "string"},
            "processInstanceKey": {"type": "string"},
            "created": {"type": "boolean", "description": "false: the same request was accepted before"},
            "links": {
                "type": "object",
                "required": ["self", "operate"],
                "properties": {"self": {"type": "string"}, "operate": NULLABLE_STRING},
            },
        },
    },
    "ItemStatus": {
        "type": "object",
        "required": ["kind", "id", "status", "final", "updatedAt", "details", "engine", "links"],
        "properties": {
            "kind": {"type": "string"},
            "id": {"type": "string"},
            "status": {"type": "string", "description": "the business status, e.g. processed, shortlisted"},
            "final": {"type": "boolean"},
            "updatedAt": {"type": "string"},
            "details": {
                "type": "object",
                "description": "what the request gave and the processes found, e.g. a rejected resume's "
                "rejection_reason and rejection_message, a read resume's left_unread (its pages "
                "or embedded parts that could not be read, and why), an application's "
                "posting_title (as it read when the candidate applied; an interview's, when it "
                "was asked for), "
                "match_score and matched_skills "
                "(and screening, the recruiter's decision and note, when one screened it), "
                "an unlock's paid (with credits, or the card's amount_cents, currency and payment_id), "
                "card_charged (the card payment made, with its payment_id, amount_cents and currency), "
                "card_declined (the last card refused, the provider's decline_code, and the charge refused: "
                "its attempt or payment id), "
                "card_needs_authentication (a card payment the employer's bank asked them to approve, "
                "with its payment_id, amount_cents and currency; see payment-approval) "
                "and, after a compensation or a payment that succeeded too late, refunded, an "
                "interview's feedback (each panelist's rating, "
                "recommendation and notes) once it is done, its follow_up (the recruiter's last "
                "decision and note on a candidate who chose no slot) and its move_requests (each "
                "request to move it: the time given up, who asked in words as asked_by and as "
                "asker, one of candidate, panelist (with its username), recruiter or api, and when), "
                "and the attempt of an application, unlock or interview asked for again after the "
                "previous one was withdrawn, cancelled or refunded",
            },
            "profile": {
                "type": ["object", "null"],
                "description": "resumes only: what search knows of the candidate from this resume, "
                "the skills and years of experience read from it (applications are scored on them), "
                "while it is their latest processed one; null before it is processed, once a newer "
                "resume replaced it, and after the candidate's erasure",
                "required": ["skills", "yearsOfExperience"],
                "properties": {
                    "skills": {"type": "array", "items": {"type": "string"}},
                    "yearsOfExperience": {"type": ["integer", "null"]},
                },
            },
            "contact": {
                "type": ["object", "null"],
                "description": "unlocks only: the candidate's contact details once the unlock is unlocked "
                "(null before, and after the candidate's erasure); name and email are null for a "
                "candidate indexed before hireflow kept them",
                "required": ["name", "email"],
                "properties": {"name": NULLABLE_STRING, "email": NULLABLE_STRING},
            },
            "interviews": {
                "type": "array",
                "description": "applications only: the interviews scheduled for it, oldest first, each "
                "with its status as the store has it (its own GET adds the engine's view)",
                "items": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
                },
            },
            "booking": {
                "type": ["object", "null"],
                "description": "interviews only: the booked slot (UTC) and the panel's usernames, null "
                "until the candidate chose a slot; status cancelled once the interview was cancelled",
                "required": ["start", "end", "interviewers", "status"],
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "end": {"type": "string", "format": "date-time"},
                    "interviewers": {"type": "array", "items": {"type": "string"}},
                    "status": {"type": "string", "enum": ["booked", "cancelled"]},
                },
            },
            "engine": {
                "type": "object",
                "required": ["processInstanceKey", "state", "reachable"],
                "properties": {
                    "processInstanceKey": NULLABLE_STRING,
                    "state": NULLABLE_STRING,
                    "reachable": {"type": "boolean"},
                    "hasIncident": {"type": "boolean"},
                    "incidents": {
                        "type": "array",
                        "description": "while hasIncident: the unresolved incidents, with the failure "
                        "policy's message (what failed, what to do); absent when the engine cannot say",
                        "items": {
                            "type": "object",
                            "required": ["incidentKey", "elementId", "errorType", "errorMessage", "jobKey"],
                            "properties": {
                                "incidentKey": {"type": "string"},
                                "elementId": {"type": "string"},
                                "errorType": {"type": "string", "description": "e.g. JOB_NO_RETRIES"},
                                "errorMessage": {"type": "string"},
                                "jobKey": {"type": "string"},
                            },
                        },
                    },
                    "waitingAt": {
                        "type": "array",
                        "description": "while the instance is active: the elements it is at now (a task, "
                        "a wait for a message or a timer), with their names in the model; absent when "
                        "the engine cannot say",
                        "items": {
                            "type": "object",
                            "required": ["elementId", "name", "type"],
                            "properties": {
                                "elementId": {"type": "string"},
                                "name": {"type": "string"},
                                "type": {"type": "string", "description": "e.g. SERVICE_TASK, USER_TASK"},
                                "failing": {
                                    "type": "object",
                                    "description": "a step whose job failed and waits out its backoff "
                                    "before the next try (no incident yet)",
                                    "required": ["retriesLeft", "errorMessage"],
                                    "properties": {
                                        "retriesLeft": {
                                            "type": "integer",
                                            "description": "tries left before an incident",
                                        },
                                        "errorMessage": {
                                            "type": "string",
                                            "description": "the failure policy's message of the last failure",
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
            "links": {
                "type": "object",
                "properties": {"operate": NULLABLE_STRING, "tasklist": NULLABLE_STRING},
            },
        },
    },
    "CardSaved": {
        "type": "object",
        "required": ["status", "payment_method_ref", "on_file", "also_for"],
        "properties": {
            "status": {"type": "string", "enum": ["saved"]},
            "payment_method_ref": {"type": "string"},
            "on_file": {
                "type": "boolean",
                "description": "the employer's card on file now, which their next unlocks charge",
            },
            "also_for": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the employer's other unlocks that waited for a new card, charged to it too",
            },
        },
    },
    "PaymentApprovalStarted": {
        "type": "object",
        "required": ["status", "redirect_url"],
        "properties": {
            "status": {"type": "string", "enum": ["redirect", "approved"]},
            "redirect_url": {
                "type": ["string", "null"],
                "description": "The bank's page where the employer approves the payment; null once "
                "nothing more is asked of them.",
            },
        },
    },
    "MessageResult": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["published", "duplicate", "ignored"]},
            "message": {"type": "string"},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "checks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["ok", "detail"],
                    "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}},
                },
            },
        },
    },
    "Deployment": {
        "type": "object",
        "required": ["deploymentKey", "resources"],
        "properties": {
            "deploymentKey": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ProcessList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["processDefinitionId", "latestVersion", "versions"],
                    "properties": {
                        "processDefinitionId": {"type": "string"},
                        "latestVersion": {"type": "integer"},
                        "versions": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            }
        },
    },
    "StartResult": {
        "type": "object",
        "required": ["processDefinitionId", "businessKey", "processInstanceKey", "created", "links"],
        "properties": {
            "processDefinitionId": {"type": "string"},
            "businessKey": {"type": "string"},
            "processInstanceKey": {"type": "string"},
            "created": {"type": "boolean"},
            "links": {"type": "object"},
        },
    },
    "Contact": {
        "type": "object",
        "required": ["candidateId", "employerId", "unlockId", "grantedAt", "name", "email"],
        "properties": {
            "candidateId": {"type": "string"},
            "employerId": {"type": "string"},
            "unlockId": {"type": "string", "description": "the unlock that granted access"},
            "grantedAt": {"type": "string"},
            "name": {
                **NULLABLE_STRING,
                "description": "null for a candidate indexed before hireflow kept it",
            },
            "email": {
                **NULLABLE_STRING,
                "description": "null for a candidate indexed before hireflow kept it",
            },
        },
    },
    "CreditTopUpResult": {
        "type": "object",
        "required": ["employer_id", "reference", "amount", "created", "balance"],
        "properties": {
            "employer_id": {"type": "string"},
            "reference": {"type": "string"},
            "amount": {"type": "integer"},
            "created": {"type": "boolean", "description": "false: this purchase was added before"},
            "balance": {"type": "integer", "description": "the balance after it"},
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _problem(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
    return response


REQUEST_ID_HEADER = {
    "schema": {"type": "string"},
    "description": "This request's id, also on its log lines (the caller's own if it sent a plain one)",
}
UNAVAILABLE = _problem(
    "The engine, the database or the file store is unavailable; nothing was accepted. "
    "Retry after Retry-After.",
    True,
)
INVALID = _problem("The request is invalid; invalid_params names the fields.")
NOT_FOUND = _problem("No such item.")
CONFLICT = _problem("The key was used for a different request, or the same request is in progress.")
UNSUPPORTED = _problem("Wrong content type.")


def _json_body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _id_parameter(description: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "business_id",
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }
    ]


def _start(summary: str, model: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": _json_body(model),
        "responses": {
            "202": _json("Accepted", "Accepted: the process started."),
            "200": _json("Accepted", "The same request was accepted before; nothing new started."),
            "400": INVALID,
            "409": _problem(
                "The key was used for a different request, the same request is in progress, "
                "the application to interview for is closed, or the posting to apply to is closed."
            ),
            "415": UNSUPPORTED,
            "422": _problem("A referenced item (candidate, posting, application) does not exist."),
            "503": UNAVAILABLE,
        },
    }


def _status(summary: str) -> dict[str, Any]:
    status = _json("ItemStatus", "The business status.")
    status["headers"] = {
        "ETag": {
            "schema": {"type": "string"},
            "description": "The status's tag: send it as If-None-Match to learn whether it changed",
        }
    }
    return {
        "summary": summary,
        "description": "To poll, send the ETag of the last answer as If-None-Match: the answer is "
        "304, with no body, until the status changes.",
        "parameters": [
            *_id_parameter("the item's id, as returned when it was accepted"),
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of the last answer: 304 while the status is unchanged",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": status,
            "304": {"description": "Unchanged since the status whose ETag was sent as If-None-Match."},
            "404": NOT_FOUND,
        },
    }


def _message(summary: str, conflict: str | None = None, description: str | None = None) -> dict[str, Any]:
    operation = {
        "summary": summary,
        "parameters": _id_parameter("the item's id"),
        "responses": {
            "202": _json("MessageResult", "Published."),
            "200": _json("MessageResult", "Published before; not published again."),
            "404": NOT_FOUND,
            "409": _problem(
                conflict
                or "The item is over (an application declined or ended, an interview done or ended), "
                "or the same request is in progress."
            ),
            "503": UNAVAILABLE,
        },
    }
    if description:
        operation["description"] = description
    return operation


def _with_optional_body(operation: dict[str, Any], model: str) -> dict[str, Any]:
    """``operation`` taking a JSON body of ``model`` that a request may leave out."""
    operation["requestBody"] = {**_json_body(model), "required": False}
    operation["responses"] |= {"400": INVALID, "415": UNSUPPORTED}
    return operation


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A query model's fields as query parameters: required as the model requires them."""
    parameters = []
    required = set(model_schema.get("required", []))
    for name, field in model_schema["properties"].items():
        # pydantic writes "X or None" as anyOf [X, null]; a query parameter is absent instead.
        schema = next((s for s in field.get("anyOf", []) if s.get("type") != "null"), field)
        schema = {k: v for k, v in schema.items() if k not in ("title", "description")}
        if field.get("default") is not None:
            schema["default"] = field["default"]
        parameters.append(
            {
                "name": name,
                "in": "query",
                # Optional ones have a default (None: left out).
                "required": name in required,
                "description": field["description"],
                "schema": schema,
            }
        )
    return parameters


def _path_id(name: str) -> dict[str, Any]:
    """An id in the URL's path, as the routes check it (``webapp.http.path_id``: 400 otherwise)."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": IDENTIFIER}}


POSTING_ID = _path_id("posting_id")
CANDIDATE_ID = _path_id("candidate_id")
EMPLOYER_ID = _path_id("employer_id")
USERNAME = _path_id("username")

CREDITS = {
    "type": "object",
    "required": ["balance", "movements"],
    "properties": {
        "balance": {"type": "integer", "minimum": 0},
        "movements": {
            "type": "array",
            "description": "the latest 50, newest first",
            "items": {
                "type": "object",
                "required": ["kind", "amount", "reference", "createdAt"],
                "properties": {
                    "kind": {"type": "string", "enum": ["top_up", "spend", "refund"]},
                    "amount": {"type": "integer"},
                    "reference": {
                        "type": "string",
                        "description": "a top-up's purchase; a spend's or refund's unlock id",
                    },
                    "createdAt": {"type": "string"},
                },
            },
        },
    },
}


def _saved(request_model: type[BaseModel], id_field: str, **more: dict[str, Any]) -> dict[str, Any]:
    """The answer about a record an admin PUT saved: its id, every field of the request, and ``more``."""
    properties = {
        id_field: {"type": "string"},
        # Nested models by reference, as the request schemas list them (components/schemas).
        **request_model.model_json_schema(ref_template="#/components/schemas/{model}")["properties"],
        **more,
    }
    return {"type": "object", "required": list(properties), "properties": properties}


RESPONSE_SCHEMAS["Posting"] = _saved(PostingRequest, "posting_id")
RESPONSE_SCHEMAS["Employer"] = _saved(EmployerRequest, "employer_id", credits=CREDITS)
RESPONSE_SCHEMAS["Interviewer"] = _saved(InterviewerRequest, "username")
RESPONSE_SCHEMAS["SkillList"] = {
    "type": "object",
    "required": ["skills"],
    "properties": {
        "skills": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "alsoWritten"],
                "properties": {
                    "name": {"type": "string", "description": "the name it is kept by, as answers give it"},
                    "alsoWritten": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "other ways resumes write it, which requests may use too",
                    },
                },
            },
        }
    },
}


def _page_of(listed: str, schema: str) -> dict[str, Any]:
    """A page of an admin list (``webapp.blueprints.admin._saved_page``): the rows, and the next
    page's cursor."""
    row = {
        "allOf": [
            _ref(schema),
            {
                "type": "object",
                "required": ["etag"],
                "properties": {
                    "etag": {
                        "type": "string",
                        "description": "The row's version, as its GET gives it in the ETag header: "
                        "send it as If-Match to save a change only over the version listed",
                    }
                },
            },
        ]
    }
    return {
        "type": "object",
        "required": [listed, "next"],
        "properties": {listed: {"type": "array", "items": row}, "next": NEXT_PAGE},
    }


def _admin_list(listed: str, every: str, page_after: list[dict[str, Any]], note: str = "") -> dict[str, Any]:
    """The GET of an admin list (``webapp.blueprints.admin._saved_page``)."""
    return {
        "get": {
            "summary": f"{every} on file, a page at a time",
            "description": f"Each as its PUT saved it, by id, {ADMIN_PAGE} to a page, with its "
            "etag (the If-Match of a PUT that changes it): what a back office reads to reconcile "
            f"its records with hireflow's.{note}",
            "security": [{"adminToken": []}],
            "parameters": page_after,
            "responses": {
                "200": _json(LIST_SCHEMAS[listed], f"A page of {listed}."),
                "400": INVALID,
                **ADMIN_ERRORS,
            },
        }
    }


RESPONSE_SCHEMAS["EmployerOnFile"] = _saved(EmployerRequest, "employer_id")
# Each admin list's answer, by what it lists: a page of the rows each GET by id answers with.
LIST_SCHEMAS = {"postings": "PostingPage", "interviewers": "InterviewerPage", "employers": "EmployerPage"}
RESPONSE_SCHEMAS["PostingPage"] = _page_of("postings", "Posting")
RESPONSE_SCHEMAS["InterviewerPage"] = _page_of("interviewers", "Interviewer")
RESPONSE_SCHEMAS["EmployerPage"] = _page_of("employers", "EmployerOnFile")

ADMIN_ERRORS = {
    "401": _problem("Missing or wrong admin token."),
    "403": _problem("The admin API is disabled (no HIREFLOW_ADMIN_TOKEN)."),
}

# The version of an admin record (``webapp.blueprints.admin._version_tag``).
RECORD_ETAG = {
    "ETag": {
        "schema": {"type": "string"},
        "description": "The version of what the record's PUT saved: send it as If-Match to save a "
        "change only over the version read",
    }
}


def _if_match(done: str) -> dict[str, Any]:
    """The If-Match header of a change to an admin record: ``done`` only over the version read."""
    return {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": f"The ETag of the version read: {done} only if it is still the one on file",
        "schema": {"type": "string"},
    }


def _record_get(summary: str, parameter: dict[str, Any], schema: str, missing: str) -> dict[str, Any]:
    """The GET of an admin record: what its PUT saved, with its version as ETag."""
    return {
        "summary": summary,
        "security": [{"adminToken": []}],
        "parameters": [parameter],
        "responses": {
            "200": {**_json(schema, "What is on file."), "headers": RECORD_ETAG},
            "400": INVALID,
            "404": _problem(missing),
            **ADMIN_ERRORS,
        },
    }


def _record_put(
    summary: str,
    parameter: dict[str, Any],
    model: str,
    schema: str,
    description: str = "",
    saved: str = "Saved.",
) -> dict[str, Any]:
    """The PUT of an admin record: create or replace, on a condition if the request sets one.
    ``description`` comes before what the document says of conditions (end it with a space)."""
    return {
        "summary": summary,
        "description": description
        + "Send the ETag of the version read as If-Match to save only over that version (412 if "
        "it changed since), or If-None-Match: * to make the record only if there is none. "
        "Without either, the PUT replaces whatever is on file.",
        "security": [{"adminToken": []}],
        "parameters": [
            parameter,
            _if_match("saved"),
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "*: saved only if no such record is on file",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": _json_body(model),
        "responses": {
            "200": {**_json(schema, saved), "headers": RECORD_ETAG},
            "400": INVALID,
            "412": _problem(
                "If-Match names a version no longer on file (or no record is), or If-None-Match "
                "matches the record on file: nothing saved."
            ),
            "415": UNSUPPORTED,
            **ADMIN_ERRORS,
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API."""
    schemas = dict(RESPONSE_SCHEMAS)
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    fitting_query = schemas.pop("FittingQuery")  # both directions of fit take it
    page_after = _query_parameters(schemas.pop("PageAfter"))  # every list by id takes it
    item_paging = _query_parameters(
        schemas.pop("ItemPaging")
    )  # a posting's applications, an employer's unlocks
    resume_form = {
        "type": "object",
        "required": ["file", "candidate_id", "candidate_name", "candidate_email"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "the resume, .pdf or .docx"},
            **schemas["ResumeFields"]["properties"],
        },
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {"summary": "The process is alive", "responses": {"200": _json("Health", "Alive.")}}
        },
        "/readyz": {
            "get": {
                "summary": "The engine, the database and the file store are reachable",
                "responses": {
                    "200": _json("Readiness", "Ready."),
                    "503": {
                        **_json("Readiness", "Not ready; checks say why."),
                        "headers": UNAVAILABLE["headers"],
                    },
                },
            }
        },
        "/api/resumes": {
            "post": {
                "summary": "Upload a resume and start resume-upload",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": resume_form,
                            "encoding": {
                                "file": {
                                    "contentType": "application/pdf, "
                                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                                }
                            },
                        }
                    },
                },
                "responses": {
                    "202": _json("Accepted", "Stored and started."),
                    "200": _json("Accepted", "The same file for the same candidate was accepted before."),
                    "400": INVALID,
                    "409": CONFLICT,
                    "413": _problem("The file is too large."),
                    "415": _problem("Not a PDF or .docx resume, or not multipart."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/resumes/{business_id}": {"get": _status("A resume's status (received, processed, rejected)")},
        "/api/postings": {
            "get": {
                "summary": "The job postings that take applications",
                "description": "Open postings by id, 50 to a page, with what each asks for (a job "
                "board's list); apply with POST /api/applications. Closed ones are not listed.",
                "parameters": _query_parameters(schemas.pop("PostingSearch")),
                "responses": {"200": _json("PostingList", "A page of open postings."), "400": INVALID},
            }
        },
        "/api/postings/{posting_id}": {
            "get": {
                "summary": "One job posting, open or closed",
                "description": "As the list of postings shows it, and whether it still takes "
                "applications: a job board's page of one posting. 404 for one not on file.",
                "parameters": [POSTING_ID],
                "responses": {
                    "200": _json("PostingOnBoard", "The posting."),
                    "400": INVALID,
                    "404": _problem("No such posting."),
                },
            }
        },
        "/api/postings/{posting_id}/candidates": {
            "get": {
                "summary": "The candidates who fit a posting best",
                "description": "Candidates with a skill the posting requires (any candidate, for one "
                "that requires none), scored as an application of theirs would be (required skills "
                "70, nice-to-have 20, experience 10) on what their latest resume gave; best first, "
                "with the skills that matched and those missing. Without contact details: an unlock "
                "(POST /api/unlocks) pays for those. 404 for a posting not on file.",
                "parameters": [
                    POSTING_ID,
                    *_query_parameters(fitting_query),
                ],
                "responses": {
                    "200": _json("FittingCandidates", "The candidates, best first."),
                    "400": INVALID,
                    "404": _problem("No such posting."),
                },
            }
        },
        "/api/postings/{posting_id}/applications": {
            "get": {
                "summary": "The applications a posting received",
                "description": "Newest change first, 50 to a page, open or over, each with its status, "
                "the match score and skills its routing read, and whether the posting's employer "
                "has unlocked the candidate. Without contact details: an unlock (POST /api/unlocks) "
                "pays for those. 404 for a posting not on file.",
                "parameters": [POSTING_ID, *item_paging],
                "responses": {
                    "200": _json("PostingApplications", "A page of applications."),
                    "400": INVALID,
                    "404": _problem("No such posting."),
                },
            }
        },
        "/api/candidates": {
            "get": {
                "summary": "Find candidates by skill and experience",
                "description": "Candidates whose latest resume gave every skill asked for and at least "
                "the years asked for, most experienced first, 50 to a page. Without contact "
                "details: an unlock (POST /api/unlocks) pays for those. A skill that search does "
                "not know is refused with 400, which names the known ones it looks like (GET "
                "/api/skills lists them all).",
                "parameters": _query_parameters(schemas.pop("CandidateSearch")),
                "responses": {"200": _json("CandidateList", "A page of candidates."), "400": INVALID},
            }
        },
        "/api/candidates/{candidate_id}/postings": {
            "get": {
                "summary": "The open postings that fit a candidate best",
                "description": "The open postings that require a skill the candidate has (or "
                "none), scored as an application to each would be (required skills 70, "
                "nice-to-have 20, experience 10) on what the candidate's latest resume gave; best "
                "first, with the skills that matched and those missing. 404 for a candidate "
                "without a processed resume.",
                "parameters": [
                    CANDIDATE_ID,
                    *_query_parameters(fitting_query),
                ],
                "responses": {
                    "200": _json("FittingPostings", "The postings, best first."),
                    "400": INVALID,
                    "404": _problem("The candidate has no processed resume."),
                },
            }
        },
        "/api/skills": {
            "get": {
                "summary": "The skills search knows",
                "description": "Every skill a posting may require and search finds, by the name it "
                "is kept by, with the other ways resumes write it (k8s for kubernetes), in a fixed "
                "order. It changes only with a release: send the ETag as If-None-Match for 304.",
                "parameters": [
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "description": "The ETag of the last answer: 304 while the list is unchanged",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        **_json("SkillList", "The skills."),
                        "headers": {"ETag": {"schema": {"type": "string"}, "description": "The list's tag"}},
                    },
                    "304": {"description": "Unchanged since the list whose ETag was sent as If-None-Match."},
                },
            }
        },
        "/api/employers/{employer_id}/contacts": {
            "get": {
                "summary": "The contact details an employer's unlocks opened",
                "description": "Every candidate whose contact details the employer's paid unlocks "
                "opened, by candidate id, 50 to a page, each as the single lookup gives it. Erased "
                "candidates are gone from it. An employer with none gets an empty list.",
                "parameters": [EMPLOYER_ID, *page_after],
                "responses": {
                    "200": _json("ContactList", "A page of contacts."),
                    "400": INVALID,
                },
            }
        },
        "/api/employers/{employer_id}/postings": {
            "get": {
                "summary": "An employer's postings, each with its applications counted",
                "description": "The employer's postings by id, open and closed (or either), 50 to a "
                "page, each with its applications counted by status: the employer's own list of its "
                "postings. An erased candidate's applications are not counted; GET "
                "/api/postings/{posting_id}/applications lists them. An employer with none gets an "
                "empty list.",
                "parameters": [EMPLOYER_ID, *_query_parameters(schemas.pop("EmployerPostingsQuery"))],
                "responses": {
                    "200": _json("EmployerPostings", "A page of postings."),
                    "400": INVALID,
                },
            }
        },
        "/api/employers/{employer_id}/unlocks": {
            "get": {
                "summary": "An employer's unlocks, each with what it waits for from the employer",
                "description": "Newest change first, 50 to a page, open or over: each unlock's status; "
                "while open, a payment to approve with the employer's bank (POST "
                "/api/unlocks/{business_id}/payment-approval) or the card refused (POST "
                "/api/unlocks/{business_id}/payment-method saves another); once over, how it was paid "
                "or what was refunded. Without contact details: GET /api/employers/{employer_id}/contacts "
                "lists those. An employer with none gets an empty list.",
                "parameters": [EMPLOYER_ID, *item_paging],
                "responses": {
                    "200": _json("EmployerUnlocks", "A page of unlocks."),
                    "400": INVALID,
                },
            }
        },
        "/api/candidates/{candidate_id}/contact": {
            "get": {
                "summary": "A candidate's contact details, for an employer who unlocked them",
                "description": "What an unlock pays for: the name and email the candidate gave with "
                "their latest resume, once the employer's unlock granted access. 404 before (no "
                "unlock, or not paid yet) and after the candidate's erasure.",
                "parameters": [
                    CANDIDATE_ID,
                    *_query_parameters(schemas.pop("ContactQuery")),
                ],
                "responses": {
                    "200": _json("Contact", "The contact details."),
                    "400": INVALID,
                    "404": _problem("The employer has no access to this candidate's contact details."),
                },
            }
        },
        "/api/candidates/{candidate_id}": {
            "get": {
                "summary": "What hireflow keeps about a candidate (GDPR article 15)",
                "description": "For the candidate's request to see their data: the search profile with "
                "the contact details, every item of theirs with its details, the employers who may see "
                "the contact details, the stored resume files, the emails sent to their address, and "
                "the engine's process instances whose variables hold more (export those from Operate). "
                "All that the erasure below removes is here.",
                "parameters": [CANDIDATE_ID],
                "responses": {
                    "200": _json("CandidateData", "What is kept."),
                    "400": INVALID,
                    "404": _problem("hireflow keeps nothing about this candidate."),
                },
            },
            "delete": {
                "summary": "Erase what hireflow keeps about a candidate (GDPR article 17)",
                "description": "Removes the resume files and their text, the search profile, employers' "
                "access and the addresses of the candidate's emails, once every item of theirs has ended. "
                "Unlocks (employers' purchases) stay. The answer lists the engine's process instances, "
                "whose history (with the name and email) is deleted in Camunda.",
                "parameters": [CANDIDATE_ID],
                "responses": {
                    "200": _json("CandidateErasure", "Erased."),
                    "400": INVALID,
                    "404": _problem("hireflow keeps nothing about this candidate (or erased it already)."),
                    "409": _problem("Some of the candidate's items are in progress; nothing was erased."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/api/applications": {"post": _start("Apply to a job posting", "ApplicationRequest")},
        "/api/applications/{business_id}": {"get": _status("An application's status")},
        "/api/applications/{business_id}/withdrawal": {"post": _message("Withdraw an application")},
        "/api/unlocks": {"post": _start("Unlock a candidate's contact details", "UnlockRequest")},
        "/api/unlocks/{business_id}": {"get": _status("An unlock's status")},
        "/api/unlocks/{business_id}/payment-method": {
            "post": {
                "summary": "Save a new card for an unlock whose card was declined",
                "description": "Once the payment provider takes the card, the unlock charges it "
                "(payment-method-updated). Asked again with the same card, nothing more happens, "
                "unless the card was declined once more in between: then it is charged again. "
                "The card becomes the employer's card on file, which their next unlock charges "
                "(unless this unlock named another of the provider's customers), and the card "
                "of their other unlocks that wait for a new card (also_for).",
                "parameters": _id_parameter("the unlock's id"),
                "requestBody": _json_body("CardUpdate"),
                "responses": {
                    "202": _json("CardSaved", "Saved with the payment provider."),
                    "400": INVALID,
                    "404": NOT_FOUND,
                    "409": _problem("The unlock is closed and needs no card."),
                    "415": UNSUPPORTED,
                    "422": _problem("The payment provider refused the card."),
                    "503": _problem(
                        "The payment provider or the engine is unavailable; retry after Retry-After "
                        "(the card is saved once).",
                        True,
                    ),
                },
            }
        },
        "/api/unlocks/{business_id}/payment-approval": {
            "post": {
                "summary": "Approve, with the employer's bank, a card payment it asked them to approve",
                "description": "For a charge the bank asked the cardholder to approve (3-D Secure; the "
                "unlock's details show card_needs_authentication while it waits, a day at most): "
                "confirms the payment with the provider and answers the bank's page. The bank "
                "sends the employer back to return_url; the provider's webhook continues the unlock "
                "(or, refused, asks for another card). Asked again, the same page, which returns to "
                "the return_url given first (the emailed link's page gives its own).",
                "parameters": _id_parameter("the unlock's id"),
                "requestBody": _json_body("PaymentApproval"),
                "responses": {
                    "200": _json("PaymentApprovalStarted", "Where the employer approves it, if anywhere."),
                    "400": INVALID,
                    "402": _problem("The card was declined; the unlock asks for another card."),
                    "404": NOT_FOUND,
                    "409": _problem("The unlock is over, or no payment of it waits for approval."),
                    "415": UNSUPPORTED,
                    "503": _problem("The payment provider is unavailable; retry after Retry-After.", True),
                },
            }
        },
        "/api/interviews": {"post": _start("Schedule an interview", "InterviewRequest")},
        "/api/interviews/{business_id}": {"get": _status("An interview's status")},
        "/api/interviews/{business_id}/cancellation": {"post": _message("Cancel an interview")},
        "/api/interviews/{business_id}/rescheduling": {
            "post": _with_optional_body(
                _message(
                    "Move a booked interview to another time",
                    "The interview is over, not booked yet (its times are still offered), has begun, "
                    "was moved as often as it may be (HIREFLOW_MAX_RESCHEDULES, 2 by default), or is "
                    "no longer booked at the booked_start given; its "
                    "instance does not wait for a new time now (it started on a model before "
                    "rescheduling, or is still booking); or the same request is in progress.",
                    "Publishes interview-reschedule-requested, once per booking: the booked time is "
                    "given up, the panel and the candidate get the calendar's cancellation of it, and "
                    "the candidate is emailed new times, none of them a time given up before. The body "
                    "is optional; without booked_start, a retry after the interview was booked again "
                    "moves the new time.",
                ),
                "RescheduleAsk",
            )
        },
        "/api/interviews/{business_id}/other-times": {
            "post": _with_optional_body(
                _message(
                    "Ask for other interview times: none of those offered suits the candidate",
                    "The interview is over or booked, a time of the offer is being booked, the "
                    "offer_start given is not the offer made now (a newer one replaced it), the "
                    "candidate turned down as many offers as they may (HIREFLOW_MAX_OFFERS_DECLINED, 2 by "
                    "default), or its instance does "
                    "not wait for the choice now (the new offer is being made, or it started on "
                    "a model before this request existed); or no times are offered yet.",
                    "What the candidate's emailed link does, for a marketplace that shows the "
                    "offer in its own pages: publishes interview-other-times-requested, once per "
                    "offer, and the candidate is emailed new times, none of those turned down. The "
                    "body is optional; without offer_start, the offer made now is turned down.",
                ),
                "OtherTimesAsk",
            )
        },
        "/api/items": {
            "get": {
                "summary": "Every item, newest change first, 50 to a page: by kind, open or over, or an id",
                "parameters": _query_parameters(schemas.pop("ItemQuery")),
                "responses": {"200": _json("ItemList", "A page of items."), "400": INVALID},
            }
        },
        "/webhooks/payments": {
            "post": {
                "summary": "Payment provider events (Stripe-style, signed)",
                "description": "payment_intent.succeeded publishes payment-confirmed, "
                "payment_intent.payment_failed publishes payment-failed, each for a payment "
                "labelled with an unlock (metadata.unlock_id); other events (payment_method.attached "
                "among them: a card saved continues its unlock as the provider takes it) are "
                "acknowledged and ignored.",
                "parameters": [
                    {
                        "name": "Stripe-Signature",
                        "in": "header",
                        "required": True,
                        # Empty is as missing: refused.
                        "schema": {"type": "string", "minLength": 1},
                        "description": "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "202": _json("MessageResult", "Published to the waiting process."),
                    "200": _json("MessageResult", "A repeated delivery, or an event hireflow does not use."),
                    "400": _problem("Bad signature, too old, or not a valid event."),
                    "409": CONFLICT,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/admin/deployments": {
            "post": {
                "summary": "Deploy the uploaded models as one deployment",
                "security": [{"adminToken": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["resources"],
                                "additionalProperties": False,
                                "properties": {
                                    "resources": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"type": "string", "format": "binary"},
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("Deployment", "Deployed."),
                    "400": INVALID,
                    "415": UNSUPPORTED,
                    "422": _problem("The engine refused a model; detail says why."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/deployments/bundled": {
            "post": {
                "summary": "Deploy every model in bpmn/ as one deployment",
                "security": [{"adminToken": []}],
                "responses": {
                    "201": _json("Deployment", "Deployed."),
                    "422": _problem("The engine refused a model; detail says why."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/processes": {
            "get": {
                "summary": "Deployed processes and their versions",
                "security": [{"adminToken": []}],
                "responses": {
                    "200": _json("ProcessList", "The processes."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/incidents": {
            "get": {
                "summary": "Open incidents counted by cause",
                "description": "Every unresolved incident, by the cause its message starts with (the "
                "worker pool names its causes; see deploy/README.md, Repairing incidents), the most "
                "first, each with what to do before retrying. The engine's own incidents are counted "
                "by their error type and are retried one by one.",
                "security": [{"adminToken": []}],
                "responses": {
                    "200": _json("IncidentCauses", "The counts."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/incidents/retry": {
            "post": {
                "summary": "Retry every open incident of one cause",
                "description": "After an outage, once its cause is mended: each incident's job gets one "
                "more try and the incident is resolved, as Operate's batch retry does. A step that "
                "fails again opens a new incident. Safe to repeat: a retried incident is no longer open.",
                "security": [{"adminToken": []}],
                "requestBody": _json_body("IncidentRetry"),
                "responses": {
                    "200": _json("IncidentsRetried", "What was retried, and what the engine refused."),
                    "400": INVALID,
                    "415": UNSUPPORTED,
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/stalled-jobs": {
            "get": {
                "summary": "Jobs the engine never offered again after their retry backoff",
                "description": "Failed with retries left, due again more than two minutes ago, and "
                "still not handed to a worker: the engine lost their backoff (camunda/camunda#16884). "
                "Such an instance has no incident and waits for ever. On a cluster, whose REST API "
                "gives no due time, a job counts once its last update is older than the longest "
                "backoff its task allows.",
                "security": [{"adminToken": []}],
                "responses": {
                    "200": _json("StalledJobs", "The stalled jobs."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/stalled-jobs/restart": {
            "post": {
                "summary": "Enter each stalled job's task again",
                "description": "Modifies each instance as Operate's modification does: the task is "
                "entered afresh (a new job, for a worker at once; timers on the task start over) and "
                "the stalled one ends. The workers are idempotent, so nothing is done twice. Safe to "
                "repeat: a restarted job is no longer stalled.",
                "security": [{"adminToken": []}],
                "requestBody": _json_body("StalledJobRestart"),
                "responses": {
                    "200": _json("StalledJobsRestarted", "What was restarted, and what the engine refused."),
                    "400": INVALID,
                    "415": UNSUPPORTED,
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/stalled-jobs/{job_key}/restart": {
            "post": {
                "summary": "Enter one stalled job's task again",
                "description": "As the batch does, for one job listed by GET /api/admin/stalled-jobs.",
                "security": [{"adminToken": []}],
                "parameters": [
                    {
                        "name": "job_key",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": ENGINE_KEY},
                        "description": "the stalled job's key",
                    }
                ],
                "responses": {
                    "200": _json("StalledJobsRestarted", "Restarted."),
                    "400": INVALID,
                    "404": _problem("Not a stalled job (any more): restarted, retried or ended meanwhile."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/process-instances": {
            "post": {
                "summary": "Start any process with JSON variables, once per business key",
                "security": [{"adminToken": []}],
                "requestBody": _json_body("StartRequest"),
                "responses": {
                    "201": _json("StartResult", "Started."),
                    "200": _json(
                        "StartResult", "Started before with this business key; nothing new started."
                    ),
                    "400": INVALID,
                    "409": CONFLICT,
                    "415": UNSUPPORTED,
                    "422": _problem("The engine refused the variables."),
                    "503": UNAVAILABLE,
                    **ADMIN_ERRORS,
                },
            }
        },
        "/api/admin/postings": _admin_list("postings", "Every job posting, open or closed,", page_after),
        "/api/admin/interviewers": _admin_list("interviewers", "Every interviewer", page_after),
        "/api/admin/employers": _admin_list(
            "employers", "Every employer", page_after, " Credits: GET /api/admin/employers/{employer_id}."
        ),
        "/api/admin/postings/{posting_id}": {
            "put": _record_put("Create or replace a job posting", POSTING_ID, "PostingRequest", "Posting"),
            "get": _record_get("A job posting on file", POSTING_ID, "Posting", "No such posting."),
        },
        "/api/admin/interviewers/{username}": {
            "put": _record_put(
                "Create or replace an interviewer",
                USERNAME,
                "InterviewerRequest",
                "Interviewer",
                description="Whom interview panels name by username; their time zone gives the "
                "times in their interview emails when a panel's request names none. ",
            ),
            "get": _record_get("An interviewer on file", USERNAME, "Interviewer", "No such interviewer."),
            "delete": {
                "summary": "Remove an interviewer from the file",
                "description": "One who left: panels no longer find them by username alone. Interviews "
                "they are on keep them as their requests gave them. With If-Match, only the version "
                "read is removed.",
                "security": [{"adminToken": []}],
                "parameters": [USERNAME, _if_match("removed")],
                "responses": {
                    "204": {"description": "Removed."},
                    "400": INVALID,
                    "404": _problem("No such interviewer."),
                    "412": _problem("If-Match names a version no longer on file: nothing removed."),
                    **ADMIN_ERRORS,
                },
            },
        },
        "/api/admin/employers/{employer_id}": {
            "put": _record_put(
                "Create or replace an employer",
                EMPLOYER_ID,
                "EmployerRequest",
                "Employer",
                saved="Saved; with its credits.",
                description="Credits are not part of what a PUT replaces, nor of its ETag: "
                "credits bought or spent since it was read do not refuse it. ",
            ),
            "get": _record_get(
                "An employer, with its credit balance and latest credit movements",
                EMPLOYER_ID,
                "Employer",
                "No such employer.",
            ),
        },
        "/api/admin/employers/{employer_id}/credits": {
            "post": {
                "summary": "Add credits the employer bought, once per purchase",
                "security": [{"adminToken": []}],
                "parameters": [EMPLOYER_ID],
                "requestBody": _json_body("CreditTopUp"),
                "responses": {
                    "201": _json("CreditTopUpResult", "Added."),
                    "200": _json("CreditTopUpResult", "This purchase was added before; nothing added now."),
                    "400": INVALID,
                    "404": _problem("No such employer."),
                    "409": _problem("The purchase's reference was used before with another amount."),
                    "415": UNSUPPORTED,
                    **ADMIN_ERRORS,
                },
            }
        },
    }
    for path, item in paths.items():
        for operation in item.values():
            if path.startswith("/api/") and not path.startswith("/api/admin/"):
                # Open where the deployment sets no HIREFLOW_API_TOKEN (local use), else required.
                operation["security"] = [{"apiToken": []}, {}]
                operation["responses"]["401"] = _problem(
                    "Missing or wrong API token (the deployment sets HIREFLOW_API_TOKEN)."
                )
            if path.startswith("/api/"):
                # Every API operation reads or writes the domain store (SQLite busy past its
                # timeout, PostgreSQL gone): that is a 503 with Retry-After, too.
                operation["responses"].setdefault("503", UNAVAILABLE)
            operation["responses"].setdefault(
                "500", _problem("Unexpected error, with a reference to the log.")
            )
            for status, response in operation["responses"].items():
                # Copied: the shared responses (INVALID, UNAVAILABLE, ...) stay as they are.
                headers = {**response.get("headers", {}), "X-Request-ID": REQUEST_ID_HEADER}
                operation["responses"][status] = {**response, "headers": headers}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hireflow",
            "version": "1",
            "description": "Start and follow hireflow's recruiting processes on Camunda 8. "
            "Errors are RFC 9457 problem details. Every answer carries X-Request-ID: the "
            "caller's own when it sends a plain one (8 to 128 letters, digits or ._:-), "
            "else a new one; a 500 quotes it as its reference.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer"},
                "apiToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
