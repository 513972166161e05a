"""Small helpers the blueprints share: the domain object, strict JSON bodies, answers."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, jsonify, request, url_for
from pydantic import BaseModel, ValidationError

from hireflow.constants import IDENTIFIER_PATTERN
from webapp.domain import Accepted, Hireflow
from webapp.incidents import Incidents
from webapp.problems import Problem, invalid_field, invalid_fields, invalid_request, validation_params
from webapp.schemas import IDENTIFIER, PATTERN_IN_WORDS, ResumeFields
from webapp.stalled_jobs import StalledJobs

Model = TypeVar("Model", bound=BaseModel)

ITEM_ENDPOINTS = {
    "resume": "resumes.get_resume",
    "application": "applications.get_application",
    "unlock": "unlocks.get_unlock",
    "interview": "interviews.get_interview",
}


def hireflow() -> Hireflow:
    """The app's domain object (built once in ``create_app``)."""
    return current_app.extensions["hireflow"]


def incidents() -> Incidents:
    """The app's view of the engine's open incidents, for those who repair them."""
    return current_app.extensions["incidents"]


def stalled_jobs() -> StalledJobs:
    """The app's finder of jobs the engine lost after their retry backoff."""
    return current_app.extensions["stalled_jobs"]


# The name invalid_params gives a multipart part that has none.
UNNAMED_PART = "body"


def unnamed_parts() -> list[dict[str, str]]:
    """What is wrong with a multipart body's parts that have no name, as ``invalid_params`` entries.

    werkzeug keeps a part whose Content-Disposition gives no name (or a name broken by a
    line break) under the key None; it is named here in words, not as ``null``.
    """
    count = len(request.form.getlist(None)) + len(request.files.getlist(None))  # type: ignore[arg-type]
    if not count:
        return []
    reason = (
        f"{count} multipart part(s) without a name; give each part a Content-Disposition of"
        ' form-data; name="..." (a name cannot hold a line break)'
    )
    return [{"name": UNNAMED_PART, "reason": reason}]


def json_body(model: type[Model]) -> Model:
    """The request's JSON object, validated by ``model``; 415 or 400 with the reason otherwise."""
    if not request.is_json:
        raise Problem(415, "Unsupported media type", "send the body as application/json")
    try:
        body = current_app.json.loads(request.get_data())
    except ValueError as error:  # bytes that are no UTF-8 too
        raise invalid_request(f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    # Strict, as the OpenAPI document promises: true is no integer, nor is "5". Parsed
    # as JSON, so dates and enums still come as the strings JSON has for them.
    return model.model_validate_json(request.get_data(), strict=True)


def resume_fields(form: dict[str, str], parts_wrong: list[dict[str, str]]) -> ResumeFields:
    """The candidate fields sent with a resume file, or one 400 naming everything wrong.

    ``parts_wrong`` holds what is wrong with the file parts and unnamed parts (``name``
    and ``reason`` each), so a form with a bad field and no file names both at once, not
    one per try.
    """
    try:
        fields = ResumeFields.model_validate(form)
    except ValidationError as error:
        raise invalid_fields(validation_params(error) + parts_wrong) from None
    if parts_wrong:
        raise invalid_fields(parts_wrong)
    return fields


def path_id(field: str, value: str) -> str:
    """An id from the URL's path, refused (400, naming ``field``) unless plain, as ids are everywhere."""
    if not IDENTIFIER_PATTERN.fullmatch(value):
        raise invalid_field(field, f"should be {PATTERN_IN_WORDS[IDENTIFIER]}")
    return value


def operate_link(process_instance_key: str | None) -> str | None:
    """Operate's page for the instance, when this engine has an Operate."""
    if not process_instance_key or current_app.config.get("ENGINE_CONTROL_URL"):
        return None
    return f"{current_app.config['OPERATE_URL'].rstrip('/')}/processes/{process_instance_key}"


def tasklist_link() -> str | None:
    if current_app.config.get("ENGINE_CONTROL_URL"):
        return None
    return current_app.config["TASKLIST_URL"]


def accepted_response(accepted: Accepted):
    """202 with the new item, or 200 with the existing one when the request was a repeat."""
    location = url_for(ITEM_ENDPOINTS[accepted.kind], business_id=accepted.business_id)
    body: dict[str, Any] = {
        "kind": accepted.kind,
        "id": accepted.business_id,
        "processInstanceKey": accepted.process_instance_key,
        "created": accepted.created,
        "links": {"self": location, "operate": operate_link(accepted.process_instance_key)},
    }
    response = jsonify(body)
    response.status_code = 202 if accepted.created else 200
    response.headers["Location"] = location
    return response


def status_response(kind: str, business_id: str):
    """An item's status, with an ETag: a caller that polls sends it back as If-None-Match
    and gets 304, with no body, until the status changes."""
    status = hireflow().status(kind, business_id)
    status["links"] = {
        "operate": operate_link(status["engine"]["processInstanceKey"]),
        "tasklist": tasklist_link(),
    }
    response = jsonify(status)
    response.add_etag()
    return response.make_conditional(request)


def published_response(published: bool, what: str):
    """202 when the message was published now, 200 when this was a repeat."""
    response = jsonify({"status": "published" if published else "duplicate", "message": what})
    response.status_code = 202 if published else 200
    return response
