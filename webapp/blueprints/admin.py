"""``/api/admin``: deploy models, list processes, start any process, manage postings and employers,
and retry the incidents of one cause at once.

Every call needs ``Authorization: Bearer <HIREFLOW_ADMIN_TOKEN>``; with no token set,
the admin API is off.

A posting, interviewer or employer read by GET carries an ETag, the version of what its PUT
saved. A PUT sent with that tag as ``If-Match`` replaces the record only if nobody changed it
since (412 otherwise), and one sent with ``If-None-Match: *`` only creates (RFC 9110, 13.1):
two back-office users editing one record no longer undo each other's change unseen.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.http import quote_etag

from hireflow.credits import CreditsLedger, purchase_of, purchase_reference
from hireflow.run import MODEL_SUFFIXES, MODELS_DIR, model_files
from hireflow.store import Employer, Interviewer, JobPosting, locked_by_id
from webapp.engine import EngineRejected, call_engine
from webapp.http import hireflow, incidents, json_body, operate_link, path_id, stalled_jobs, unnamed_parts
from webapp.problems import Problem, invalid_field, invalid_fields
from webapp.schemas import (
    ENGINE_KEY,
    PATTERN_IN_WORDS,
    CreditTopUp,
    EmployerRequest,
    IncidentRetry,
    InterviewerRequest,
    PageAfter,
    PostingRequest,
    StalledJobRestart,
    StartRequest,
    is_engine_key,
)
from webapp.security import require_bearer

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/api/admin")

MAX_MODEL_FILES = 50


@bp.before_request
def require_admin_token():
    token = current_app.config.get("ADMIN_TOKEN")
    if not token:
        raise Problem(403, "Admin API disabled", "set HIREFLOW_ADMIN_TOKEN to enable the admin API")
    require_bearer(token, "hireflow-admin", "admin token")


def _models_folder() -> Path:
    return Path(current_app.config.get("MODELS_DIR") or MODELS_DIR)


@bp.post("/deployments")
def deploy_uploaded():
    """Deploy the uploaded ``resources`` files (.bpmn, .dmn, .form) as one deployment."""
    if request.mimetype != "multipart/form-data":
        raise Problem(
            415, "Unsupported media type", "send the models as multipart/form-data 'resources' files"
        )
    return _deploy(_uploaded_models())


@bp.post("/deployments/bundled")
def deploy_bundled():
    """Deploy every model in the app's ``bpmn/`` folder as one deployment (what ``make run`` does)."""
    return _deploy([(p.name, p.read_bytes()) for p in model_files(_models_folder())])


def _deploy(resources: list[tuple[str, bytes]]):
    try:
        result = call_engine("deploying", hireflow().gateway.client.deploy_resources, resources)
    except EngineRejected as exc:  # an invalid model: the engine says what is wrong
        raise Problem(422, "Deployment refused", exc.reason) from exc
    body = {"deploymentKey": str(result.get("deploymentKey")), "resources": [name for name, _ in resources]}
    return jsonify(body), 201


def _uploaded_models() -> list[tuple[str, bytes]]:
    """The multipart ``resources`` files: model files only, nothing else in the form."""
    if unnamed := unnamed_parts():
        raise invalid_fields(unnamed)
    extra = [name for name in list(request.form) + list(request.files) if name != "resources"]
    if extra:
        raise invalid_field(extra[0], "unexpected part; send the models as 'resources' files")
    uploads = request.files.getlist("resources")
    if not uploads:
        raise invalid_field("resources", "no model files; send one or more .bpmn, .dmn or .form files")
    if len(uploads) > MAX_MODEL_FILES:
        raise invalid_field("resources", f"at most {MAX_MODEL_FILES} files per deployment")
    resources = []
    for upload in uploads:
        name = upload.filename or ""
        if not name.endswith(MODEL_SUFFIXES) or "/" in name or "\\" in name:
            raise invalid_field("resources", f"{name!r}: only .bpmn, .dmn and .form files can be deployed")
        resources.append((name, upload.read()))
    return resources


@bp.get("/processes")
def processes():
    """Every deployed process with its versions, latest first."""
    definitions = call_engine("listing processes", hireflow().gateway.client.search_process_definitions)
    grouped: dict[str, list[int]] = {}
    for definition in definitions:
        grouped.setdefault(definition["processDefinitionId"], []).append(int(definition["version"]))
    items = [
        {
            "processDefinitionId": pid,
            "latestVersion": max(versions),
            "versions": sorted(versions, reverse=True),
        }
        for pid, versions in sorted(grouped.items())
    ]
    return jsonify({"items": items})


@bp.post("/process-instances")
def start_instance():
    """Start a process with JSON variables; the same business key never starts two."""
    start = json_body(StartRequest)
    variables = {**start.variables, "business_key": start.businessKey}
    try:
        started = hireflow().gateway.start_once(start.processDefinitionId, "business_key", variables)
    except EngineRejected as exc:
        if exc.status == 404:  # the engine knows no such process
            raise invalid_field(
                "processDefinitionId",
                f"no process {start.processDefinitionId!r} is deployed (GET /api/admin/processes lists them)",
            ) from exc
        raise
    body = {
        "processDefinitionId": start.processDefinitionId,
        "businessKey": start.businessKey,
        "processInstanceKey": started.process_instance_key,
        "created": started.created,
        "links": {"operate": operate_link(started.process_instance_key)},
    }
    return jsonify(body), 201 if started.created else 200


def _create_or_replace(row_type: type, id_field: str, row_id: str, given: BaseModel, what: str) -> str:
    """Save the request's fields as the row ``row_id`` (made if missing): what an admin PUT does.
    Returns the saved row's version tag (its ETag).

    Under the row's lock, so PUTs of one row at once replace it one after the other, each
    judging its If-Match or If-None-Match against the row as the one before left it. Of two
    that both find it missing, the one whose insert loses replaces the winner's row (or,
    sent to create only, is refused).
    """
    try:
        return _save_row(row_type, id_field, row_id, given, what)
    except IntegrityError:  # another PUT made the row between this one's look and its insert
        return _save_row(row_type, id_field, row_id, given, what)


def _save_row(row_type: type, id_field: str, row_id: str, given: BaseModel, what: str) -> str:
    with hireflow().services.db.sessions.begin() as session:
        row = locked_by_id(session, row_type, getattr(row_type, id_field), row_id)
        current_tag = None if row is None else _version_tag(row, id_field, type(given))
        _check_preconditions(current_tag, f"{what} {row_id}")
        row = row or row_type(**{id_field: row_id})
        for name, value in given.model_dump().items():
            setattr(row, name, value)
        session.add(row)
        session.flush()
        # Read back as stored, so the tag is the one a GET of the row gives.
        session.refresh(row)
        return _version_tag(row, id_field, type(given))


def _version_tag(row: Any, id_field: str, model: type[BaseModel]) -> str:
    """The version of what a PUT of ``model`` saved in ``row``: any change to it gives another."""
    saved = json.dumps(_saved_fields(row, id_field, model), sort_keys=True, default=str)
    return hashlib.sha256(saved.encode()).hexdigest()[:32]


def _check_preconditions(current_tag: str | None, record: str) -> None:
    """Refuse (412) a PUT or DELETE whose If-Match or If-None-Match does not hold for the record
    as it is now (``current_tag``; None when there is none yet). Without either, it goes ahead."""
    if request.if_match:
        if current_tag is None:
            raise Problem(
                412,
                "Precondition failed",
                f"If-Match names a version of {record}, but there is no {record}: it was never "
                f"made, or its id is mistyped; to make it, PUT without If-Match",
            )
        if not request.if_match.contains(current_tag):
            raise Problem(
                412,
                "Precondition failed",
                f"{record} changed since the version If-Match names was read (it is now "
                f'"{current_tag}"); GET it, and send your change to what it holds now with its '
                f"new ETag",
            )
    elif current_tag is not None and request.if_none_match.contains_weak(current_tag):
        # "*" matches any version: the PUT was sent to make the record only if there is none.
        raise Problem(
            412,
            "Precondition failed",
            f"{record} is on file already (If-None-Match only makes it where the version it "
            f"names is not on file; * names any); to replace it, GET it and PUT with its ETag as If-Match",
        )


def _tagged(body: dict, tag: str) -> Response:
    """``body`` as JSON, with ``tag`` as its ETag."""
    response = jsonify(body)
    response.set_etag(tag)
    return response


def _put_record(row_type: type, id_field: str, row_id: str, model: type[BaseModel], what: str) -> Response:
    """An admin PUT: the request's fields saved as the row ``row_id``, answered as saved with
    its new ETag."""
    given = json_body(model)
    tag = _create_or_replace(row_type, id_field, row_id, given, what)
    return _tagged({id_field: row_id, **given.model_dump()}, tag)


@bp.put("/postings/<posting_id>")
def put_posting(posting_id: str):
    """Create or replace a job posting (applications are scored against it)."""
    posting_id = path_id("posting_id", posting_id)
    return _put_record(JobPosting, "posting_id", posting_id, PostingRequest, "job posting")


@bp.get("/postings/<posting_id>")
def get_posting(posting_id: str):
    """The job posting on file, as its PUT saved it."""
    posting_id = path_id("posting_id", posting_id)
    return _as_saved(JobPosting, "posting_id", posting_id, PostingRequest, "job posting")


@bp.put("/interviewers/<username>")
def put_interviewer(username: str):
    """Create or replace an interviewer: whom panels name by username, and their time zone."""
    username = path_id("username", username)
    return _put_record(Interviewer, "username", username, InterviewerRequest, "interviewer")


@bp.get("/interviewers/<username>")
def get_interviewer(username: str):
    """The interviewer on file, as their PUT saved them."""
    username = path_id("username", username)
    return _as_saved(Interviewer, "username", username, InterviewerRequest, "interviewer")


@bp.delete("/interviewers/<username>")
def delete_interviewer(username: str):
    """Remove an interviewer from the file (one who left): panels no longer find them by
    username alone. Interviews they are on keep them as their requests gave them; their
    tasks stay theirs. With If-Match, only the version read is removed (412 otherwise)."""
    username = path_id("username", username)
    with hireflow().services.db.sessions.begin() as session:
        interviewer = locked_by_id(session, Interviewer, Interviewer.username, username)
        if interviewer is None:
            raise Problem(404, "Not found", f"no interviewer {username}")
        current_tag = _version_tag(interviewer, "username", InterviewerRequest)
        _check_preconditions(current_tag, f"interviewer {username}")
        session.delete(interviewer)
    log.info("interviewer %s removed from the file", username)
    return "", 204


def _as_saved(row_type: type, id_field: str, row_id: str, model: type[BaseModel], what: str) -> Response:
    """The row ``row_id`` as an admin PUT of ``model`` saved it, with its ETag (a 404 naming
    ``what`` if missing)."""
    with hireflow().services.db.sessions() as session:
        row = session.get(row_type, row_id)
    if row is None:
        raise Problem(404, "Not found", f"no {what} {row_id}")
    return _tagged(_saved_fields(row, id_field, model), _version_tag(row, id_field, model))


def _saved_fields(row: Any, id_field: str, model: type[BaseModel]) -> dict:
    """A row as an admin PUT of ``model`` saved it: its id and every field of the request."""
    return {id_field: getattr(row, id_field), **{name: getattr(row, name) for name in model.model_fields}}


# How many rows a page of an admin list holds.
ADMIN_PAGE = 100


def _saved_page(row_type: type, id_field: str, model: type[BaseModel], listed_as: str) -> dict:
    """Every row of ``row_type`` as its PUT saved it, by id, a page at a time: what a back office
    reads to reconcile its records with hireflow's (``after``: the page's ``next``). Each row
    has its ``etag``, as the row's GET gives it in the header: the If-Match of its next PUT."""
    query = PageAfter.model_validate(request.args.to_dict())
    by_id = getattr(row_type, id_field)
    found = select(row_type).order_by(by_id).limit(ADMIN_PAGE + 1)
    if query.after:
        found = found.where(by_id > query.after)
    with hireflow().services.db.sessions() as session:
        rows = list(session.scalars(found))
    page = rows[:ADMIN_PAGE]
    more = len(rows) > ADMIN_PAGE
    return {
        listed_as: [
            {**_saved_fields(row, id_field, model), "etag": quote_etag(_version_tag(row, id_field, model))}
            for row in page
        ],
        "next": getattr(page[-1], id_field) if more else None,
    }


@bp.get("/postings")
def list_postings():
    """Every job posting, open and closed, as its PUT saved it, by id, a page at a time."""
    return jsonify(_saved_page(JobPosting, "posting_id", PostingRequest, "postings"))


@bp.get("/interviewers")
def list_interviewers():
    """Every interviewer on file, as their PUT saved them, by username, a page at a time."""
    return jsonify(_saved_page(Interviewer, "username", InterviewerRequest, "interviewers"))


@bp.get("/employers")
def list_employers():
    """Every employer on file, as its PUT saved it (without its credits), by id, a page at a time."""
    return jsonify(_saved_page(Employer, "employer_id", EmployerRequest, "employers"))


# The latest credit movements an employer's answer lists.
MOVEMENTS_SHOWN = 50


def _employer_answer(employer: Employer) -> dict:
    """The employer as the admin API shows it: what is on file, its balance, its latest movements."""
    ledger = CreditsLedger(hireflow().services.db)
    movements = [
        {
            "kind": entry.kind,
            "amount": entry.amount,
            # A spend's or refund's reference is its unlock; a top-up's, the purchase.
            "reference": purchase_of(employer.employer_id, entry.reference)
            if entry.kind == "top_up"
            else entry.reference,
            "createdAt": entry.created_at.isoformat() + "Z",
        }
        for entry in ledger.movements(employer.employer_id, MOVEMENTS_SHOWN)
    ]
    return {
        "employer_id": employer.employer_id,
        **{name: getattr(employer, name) for name in EmployerRequest.model_fields},
        "credits": {"balance": ledger.balance(employer.employer_id), "movements": movements},
    }


def _employer_on_file(employer_id: str) -> Employer:
    with hireflow().services.db.sessions() as session:
        employer = session.get(Employer, employer_id)
    if employer is None:
        raise Problem(
            404,
            "Not found",
            f"no employer {employer_id}; create it with PUT /api/admin/employers/{employer_id}",
        )
    return employer


@bp.put("/employers/<employer_id>")
def put_employer(employer_id: str):
    """Create or replace an employer: whom to email, its plan and its saved card's references."""
    employer_id = path_id("employer_id", employer_id)
    _create_or_replace(Employer, "employer_id", employer_id, json_body(EmployerRequest), "employer")
    return _employer_response(employer_id)


@bp.get("/employers/<employer_id>")
def get_employer(employer_id: str):
    """The employer on file, with its credit balance and latest credit movements."""
    return _employer_response(path_id("employer_id", employer_id))


def _employer_response(employer_id: str) -> Response:
    """The employer's answer, with its ETag: the version of what its PUT saved, which credits
    bought or spent leave as it is (a PUT replaces no credits)."""
    employer = _employer_on_file(employer_id)
    return _tagged(_employer_answer(employer), _version_tag(employer, "employer_id", EmployerRequest))


@bp.post("/employers/<employer_id>/credits")
def top_up_credits(employer_id: str):
    """Add credits the employer bought, once per purchase reference (201; a repeat 200)."""
    employer = _employer_on_file(path_id("employer_id", employer_id))
    purchase = json_body(CreditTopUp)
    ledger = CreditsLedger(hireflow().services.db)
    movement = ledger.top_up(
        employer.employer_id, purchase.amount, purchase_reference(employer.employer_id, purchase.reference)
    )
    if movement.amount != purchase.amount:
        raise Problem(
            409,
            "Conflict",
            f"purchase {purchase.reference} added {movement.amount} credits before; "
            f"a different purchase needs its own reference",
        )
    answer = {
        "employer_id": employer.employer_id,
        "reference": purchase.reference,
        "amount": movement.amount,
        "created": movement.new,
        "balance": ledger.balance(employer.employer_id),
    }
    return jsonify(answer), 201 if movement.new else 200


@bp.get("/incidents")
def incidents_by_cause():
    """The open incidents counted by cause, the most first, each with what to do about it."""
    causes = incidents().by_cause()
    return jsonify({"total": sum(c.count for c in causes), "causes": [c.as_json() for c in causes]})


@bp.post("/incidents/retry")
def retry_incidents():
    """Retry every open incident of one cause, once it is mended, as Operate's batch retry does."""
    asked = json_body(IncidentRetry)
    return jsonify(incidents().retry_every(asked.cause, asked.limit))


@bp.get("/stalled-jobs")
def list_stalled_jobs():
    """Jobs failed with retries left whose backoff ended long ago, never offered again by the engine."""
    found = stalled_jobs().find()
    return jsonify({"total": len(found), "jobs": [job.as_json() for job in found]})


@bp.post("/stalled-jobs/restart")
def restart_stalled_jobs():
    """Enter each stalled job's task again (Operate's modification), the longest overdue first."""
    asked = json_body(StalledJobRestart)
    return jsonify(stalled_jobs().restart_every(asked.limit))


@bp.post("/stalled-jobs/<job_key>/restart")
def restart_stalled_job(job_key: str):
    """Enter one stalled job's task again, as listed by GET /api/admin/stalled-jobs."""
    if not is_engine_key(job_key):
        raise invalid_field("job_key", f"should be {PATTERN_IN_WORDS[ENGINE_KEY]}")
    restarted = stalled_jobs().restart_one(job_key)
    if restarted is None:
        raise Problem(404, "Not stalled", f"job {job_key} is not a stalled job (any more); list them again")
    return jsonify({"restarted": [restarted.job_key], "refused": [], "left": 0})
