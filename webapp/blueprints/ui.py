"""The small HTML UI: forms for the four processes, item status, and the captured mail.

Forms post with a CSRF token (Flask-WTF) and call the same domain operations as the API.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import re
import time
from urllib.parse import quote

import requests
from flask import Blueprint, current_app, redirect, render_template, request, send_file, session, url_for
from flask_wtf.csrf import generate_csrf
from pydantic import ValidationError
from werkzeug.http import generate_etag, parse_options_header
from werkzeug.utils import secure_filename

from hireflow.constants import IDENTIFIER_PATTERN
from hireflow.skills import SKILLS
from job_workers.records import SLOT_CHOSEN
from webapp.domain import KIND_OF_PROCESS, KINDS
from webapp.domain.interviews import RECRUITER_ASKS
from webapp.engine import WAITING_ELEMENT_TYPES, ItemAskedForBefore
from webapp.http import hireflow, operate_link, path_id, resume_fields, tasklist_link
from webapp.problems import Problem, from_validation_error
from webapp.schemas import (
    PANEL_MAX,
    ApplicationRequest,
    CandidateSearch,
    InterviewRequest,
    ItemQuery,
    PostingsPageQuery,
    UnlockRequest,
)

bp = Blueprint("ui", __name__)

URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
# The mail page shows the newest mails only: a long-running capture holds thousands.
MAIL_SHOWN = 100
# Attachment types served as themselves; any other is served as bytes to save.
DOWNLOADABLE_TYPES = {"text/calendar", "application/pdf", "text/plain"}


def _item_redirect(accepted):
    return redirect(url_for("ui.item", kind=accepted.kind, business_id=accepted.business_id), code=303)


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip() for name in names if request.form.get(name, "").strip()}


# Each dashboard form's fields, by the form's name: where a refusal's reasons are shown.
FORM_FIELDS = {
    "upload": ("candidate_id", "candidate_name", "candidate_email", "file"),
    "apply": (
        "posting_id",
        "candidate_id",
        "candidate_name",
        "candidate_email",
        "employer_email",
        "recruiter_team_email",
    ),
    "unlock": ("employer_id", "employer_email", "candidate_id", "employer_plan", "payment_method_ref"),
    "interview": (
        "application_id",
        "round",
        "candidate_name",
        "candidate_email",
        "lead_recruiter_email",
        "candidate_timezone",
        "panel",
    ),
}


@bp.get("/")
def dashboard():
    return _dashboard_page()


def _dashboard_page(refused: dict | None = None) -> str:
    def asked_for(form: str, field: str) -> str | None:
        # The id a refused form had, or a link from another page fills in. Only an id can
        # name a posting or an employer; PostgreSQL refuses to look up one with a NUL in it.
        if refused and refused["form"] == form:
            given = refused["typed"].get(field)
        else:
            given = request.args.get(field)
        return given if given and IDENTIFIER_PATTERN.fullmatch(given) else None

    postings, more_postings = hireflow().open_postings(including=asked_for("apply", "posting_id"))
    employers, more_employers = hireflow().employers(including=asked_for("unlock", "employer_id"))
    interviewers, more_interviewers = hireflow().interviewers()
    return render_template(
        "dashboard.html",
        items=hireflow().recent_items(),
        postings=postings,
        more_postings=more_postings,
        employers=employers,
        more_employers=more_employers,
        interviewers=interviewers,
        more_interviewers=more_interviewers,
        panel_max=PANEL_MAX,
        candidates=hireflow().recent_candidates(),
        applications=hireflow().open_applications(),
        tasklist=tasklist_link(),
        embedded=bool(current_app.config.get("ENGINE_CONTROL_URL")),
        refused=refused,
    )


# Each kind of item a dashboard form starts, and when asking for the same again starts another:
# a form's business key (the candidate and the file, posting, employer or round) names one item.
ASKED_BEFORE = {
    "resume": ("This candidate uploaded this file before", "upload another file instead"),
    "application": (
        "This candidate applied to this posting before",
        "another application starts once that one is withdrawn",
    ),
    "unlock": (
        "This employer asked to unlock this candidate before",
        "another unlock starts once that one is cancelled or refunded",
    ),
    "interview": (
        "This round of interviews was asked for before",
        "another starts once that one is cancelled or not scheduled, or ask for the next round",
    ),
}


def _asked_before(form: str, reused: ItemAskedForBefore) -> dict:
    """The refusal of a form whose item was asked for before with other details, with a link to it.

    The API's answer (409, "Key already used") is about business keys, which the forms do
    not show: a person needs the item they asked for before, and how to ask again.
    """
    kind = KIND_OF_PROCESS[reused.process_id]
    what, how_again = ASKED_BEFORE[kind]
    detail = f"{what}, with other details ({reused.key}). The same details again lead to it; {how_again}."
    refused = _refusal(form, Problem(409, "Asked for before", detail))
    refused["earlier"] = url_for("ui.item", kind=kind, business_id=reused.key)
    return refused


def _refusal(form: str, problem: Problem) -> dict:
    """What the dashboard shows in a refused form: what was typed, and what is wrong and where."""
    errors: dict[str, list[str]] = {}
    elsewhere = []  # reasons naming no field of the form (a nested or unknown name)
    for param in problem.extensions.get("invalid_params") or []:
        field, *within = param["name"].split(".")
        if field in FORM_FIELDS[form]:
            # "panel.1.email": the textarea's second line, its email.
            where = ", ".join(f"line {int(part) + 1}" if part.isdigit() else part for part in within)
            errors.setdefault(field, []).append(f"{where}: {param['reason']}" if where else param["reason"])
        else:
            elsewhere.append(f"{param['name']}: {param['reason']}")
    typed = {name: request.form.get(name, "") for name in FORM_FIELDS[form] if name != "file"}
    return {
        "form": form,
        "title": problem.title,
        # A problem with no field (a 409, the engine's refusal) says what is wrong in its detail;
        # one with fields only joins their reasons, shown one by one already.
        "detail": None if problem.extensions.get("invalid_params") else problem.detail,
        "elsewhere": elsewhere,
        "errors": errors,
        "first_field": next((name for name in FORM_FIELDS[form] if name in errors), None),
        "typed": typed,
    }


def refused_form_shown_again(form: str):
    """A form the domain refuses (4xx) comes back filled in as typed, each reason beside its field.

    As Tasklist does with a task's form, and unlike a bare error page, nothing typed is lost.
    Errors that are not the request's (503: the engine or a store is away) stay error pages
    with Retry-After; the browser's Back button keeps the typed values there.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except ValidationError as error:
                problem = from_validation_error(error)
            except Problem as problem_raised:
                if problem_raised.status >= 500:
                    raise
                problem = problem_raised
            except ItemAskedForBefore as reused:
                return _dashboard_page(_asked_before(form, reused)), 409
            return _dashboard_page(_refusal(form, problem)), problem.status, problem.headers

        return wrapper

    return decorate


@bp.post("/resumes")
@refused_form_shown_again("upload")
def upload_resume():
    upload = request.files.get("file")
    no_file = upload is None or not upload.filename
    fields = resume_fields(
        _form("candidate_id", "candidate_name", "candidate_email"),
        [{"name": "file", "reason": "choose a resume file to upload"}] if no_file else [],
    )
    return _item_redirect(hireflow().upload_resume(fields, upload.filename, upload.stream))


@bp.post("/applications")
@refused_form_shown_again("apply")
def apply():
    # The domain fills in what the form leaves empty from the store: the candidate's name
    # and email from their resume, the employer's email from the posting.
    fields = _form(*ApplicationRequest.model_fields)
    return _item_redirect(hireflow().apply(ApplicationRequest.model_validate(fields)))


@bp.post("/unlocks")
@refused_form_shown_again("unlock")
def unlock():
    # A known employer's email, plan and saved card fill what the form leaves empty.
    fields = _form(*UnlockRequest.model_fields)
    return _item_redirect(hireflow().unlock(UnlockRequest.model_validate(fields)))


@bp.post("/interviews")
@refused_form_shown_again("interview")
def schedule_interview():
    # One panel member per line: "username, email, name", or the username alone of an
    # interviewer on file. The request's model checks each, so a wrong one is named by its
    # place ("panel.1.email").
    panel = []
    for line in request.form.get("panel", "").splitlines():
        if line.strip():
            username, _, rest = line.partition(",")
            email, _, name = rest.partition(",")
            panel.append(
                {
                    "username": username.strip(),
                    "email": email.strip() or None,
                    "name": name.strip() or None,
                }
            )
    # The applicant's name and email, when left empty, are the ones their resume gave.
    fields = _form(*(name for name in FORM_FIELDS["interview"] if name != "panel"))
    interview = InterviewRequest.model_validate({**fields, "panel": panel})
    return _item_redirect(hireflow().schedule_interview(interview))


@bp.post("/items/application/<business_id>/withdraw")
def withdraw(business_id: str):
    hireflow().withdraw(business_id)
    return redirect(url_for("ui.item", kind="application", business_id=business_id), code=303)


@bp.post("/items/<kind>/<business_id>/incidents/<incident_key>/retry")
def retry_incident(kind: str, business_id: str, incident_key: str):
    """Retry a step an incident stopped (Operate's retry, for the embedded engine that has no Operate)."""
    if kind not in KINDS:
        raise Problem(404, "Not found", f"there are no items of kind {kind!r}")
    hireflow().retry_incident(kind, business_id, incident_key)
    return redirect(url_for("ui.item", kind=kind, business_id=business_id), code=303)


@bp.post("/items/interview/<business_id>/cancel")
def cancel(business_id: str):
    hireflow().cancel_interview(business_id)
    return redirect(url_for("ui.item", kind="interview", business_id=business_id), code=303)


@bp.post("/items/interview/<business_id>/reschedule")
def reschedule(business_id: str):
    """Give the booked time up and offer the candidate new times, as the API's rescheduling does.

    The form carries the start the page showed: a page left open from before the interview
    was booked again must not move the new time."""
    hireflow().reschedule_interview(
        business_id,
        asked_by=RECRUITER_ASKS,
        booked_start=request.form.get("booked_start") or None,
    )
    return redirect(url_for("ui.item", kind="interview", business_id=business_id), code=303)


@bp.post("/items/interview/<business_id>/other-times")
def other_times(business_id: str):
    """Turn the offer down for the candidate (a recruiter on the phone with them), as the
    candidate's emailed link and the API do: the model emails new times, none of these.

    The form carries the offer's first time: a page left open from before a newer offer
    must not turn that one down."""
    hireflow().ask_for_other_times_by_api(business_id, request.form.get("offer_start") or None)
    return redirect(url_for("ui.item", kind="interview", business_id=business_id), code=303)


ITEM_STATES = {"any": "open or over", "open": "open (still running)", "final": "over"}


@bp.get("/items")
def items():
    """Every item, newest change first, a page at a time: by kind, open or over, or an id.

    The id finds the item itself and what belongs to it: a candidate id their resumes,
    applications and unlocks; an application id its interviews; a posting id its applications;
    an employer id its unlocks.
    """
    # The filter form sends every field, the unused ones empty.
    query = ItemQuery.model_validate({k: v.strip() for k, v in request.args.items() if v.strip()})
    found, next_page = hireflow().list_items(query)
    return render_template(
        "items.html",
        items=found,
        next_page=next_page,
        kind=query.kind,
        state=query.state,
        query=query.q,
        order=query.order,
        kinds=KINDS,
        states=ITEM_STATES,
        paged=query.after is not None,
    )


@bp.get("/postings")
def postings():
    """Every posting (or one employer's), open or closed, with its applications counted by status,
    each leading to its applications and, while open, to the candidates who fit it best."""
    # The filter form sends every field, the unused ones empty.
    query = PostingsPageQuery.model_validate({k: v.strip() for k, v in request.args.items() if v.strip()})
    found, next_page = hireflow().postings_with_applications(query, query.employer_id)
    employers, more_employers = hireflow().employers(including=query.employer_id)
    return render_template(
        "postings.html",
        postings=found,
        next_page=next_page,
        employers=[employer for employer, _ in employers],
        more_employers=more_employers,
        employer_id=query.employer_id,
        state=query.state,
        paged=query.after is not None,
    )


# How many of the best fits for a posting the Candidates page lists.
FITS_SHOWN = 20


@bp.get("/candidates")
def candidates():
    """Candidates with every skill asked for and the experience, a page at a time, each to unlock;
    or, with ``posting_id``, the candidates who fit that posting best."""
    # The forms send every field, the unused ones empty.
    asked = {name: value.strip() for name, value in request.args.items() if value.strip()}
    posting_id = asked.pop("posting_id", "")
    postings, more_postings = hireflow().open_postings(including=posting_id)
    page = functools.partial(
        render_template,
        "candidates.html",
        known_skills=list(SKILLS),
        postings=postings,
        more_postings=more_postings,
        skills=asked.get("skills", ""),
        min_years=asked.get("min_years", ""),
        posting_id=posting_id,
        # Whose unlock a fit's Unlock link fills in: the posting's employer.
        employer_id=next((p.employer_id for p in postings if p.posting_id == posting_id), None),
    )
    # A refusal is shown on the page, with the form as typed: a skill that search does not
    # know, or a posting that is not on file, is a typo to fix.
    try:
        if posting_id:
            return page(fits=hireflow().fitting_candidates(path_id("posting_id", posting_id), FITS_SHOWN))
        query = CandidateSearch.model_validate(asked)
    except ValidationError as error:
        return _refused_search(page, from_validation_error(error))
    except Problem as problem:
        if problem.status >= 500:
            raise  # not the search's fault: the error page says what is down
        return _refused_search(page, problem)
    found, next_page = hireflow().search_candidates(query)
    return page(
        candidates=found,
        next_page=str(next_page) if next_page else None,
        skills=", ".join(query.skill_names()),
        min_years=query.min_years,
        paged=query.after is not None,
    )


def _refused_search(page, problem: Problem) -> tuple[str, int]:
    """The Candidates page saying why its search was refused, with the status of the refusal."""
    reasons = [f"{p['name']}: {p['reason']}" for p in problem.extensions.get("invalid_params") or []]
    return page(candidates=[], refused=reasons or [problem.detail or problem.title]), problem.status


@bp.get("/items/<kind>/<business_id>")
def item(kind: str, business_id: str):
    if kind not in KINDS:
        raise Problem(404, "Not found", f"there are no items of kind {kind!r}")
    status = hireflow().status(kind, business_id)
    # A processed resume, while the candidate's latest: where they could apply next, and
    # where they have applied already.
    fits, applied = [], {}
    if status.get("profile"):
        fits = hireflow().fitting_postings(status["details"]["candidate_id"], 3)
        applied = hireflow().standing_applications(status["details"]["candidate_id"])
    # While the item runs, the page's script asks with this tag whether anything it shows
    # changed, and reloads only when it did (static/item-refresh.js). A browser coming back
    # to the page asks too, and shows its cached copy on a 304: the tag also covers what the
    # page's forms need to be accepted.
    shown = generate_etag(
        json.dumps([status, fits, applied, form_tokens_issue()], sort_keys=True, default=str).encode()
    )
    if request.if_none_match.contains_weak(shown):
        response = current_app.response_class(status=304)
    else:
        response = current_app.make_response(
            render_template(
                "item.html",
                item=status,
                fits=fits,
                applied=applied,
                details=details_shown(status["details"]),
                refresh_seconds=refresh_seconds(status),
                shown=shown,
                operate=operate_link(status["engine"]["processInstanceKey"]),
                tasklist=tasklist_link(),
            )
        )
    # Weak: the same status renders with a new CSRF token each time.
    response.set_etag(shown, weak=True)
    response.headers["Cache-Control"] = "no-cache"
    return response


def form_tokens_issue() -> list:
    """What decides whether a page's CSRF tokens are still accepted: the session's CSRF
    secret, and the half of the tokens' lifetime they were signed in.

    A page whose tag covers this is rendered afresh, with new tokens, once its session is
    gone (a new secret key after a restart) or its tokens are older than half their life:
    a page shown from the cache never carries a form that is refused as expired when sent
    within that half.
    """
    generate_csrf()  # gives a new session its secret now; the page renders this same token
    lifetime = current_app.config["WTF_CSRF_TIME_LIMIT"]
    half_life = int(time.time() // (lifetime / 2)) if lifetime else 0
    return [session[current_app.config["WTF_CSRF_FIELD_NAME"]], half_life]


def details_shown(details: dict) -> dict:
    """An item's details as its page lists them: each fact once.

    A card unlock records its charge when it is made (``card_charged``, so a lost engine's
    sweep can give it back) and again as what paid for the unlock (``paid``); once paid,
    the page shows the charge under ``paid`` only. The slot a candidate chose is shown as
    the booking it becomes, not as the bare times of the choice.
    """
    details = {name: value for name, value in details.items() if name != SLOT_CHOSEN}
    charged, paid = details.get("card_charged"), details.get("paid")
    if not (isinstance(charged, dict) and isinstance(paid, dict)):
        return details
    if charged.get("payment_id") == paid.get("payment_id"):
        return {name: value for name, value in details.items() if name != "card_charged"}
    return details


def refresh_seconds(status: dict) -> int | None:
    """How often the item page asks whether the item changed: never once final, seldom while
    the instance waits on people."""
    if status["final"]:
        return None
    if status["engine"].get("hasIncident"):
        return 15  # stopped until someone acts; a fast reload would get in their way
    waiting_at = status["engine"].get("waitingAt")
    # A step that failed waits out its backoff (seconds to minutes) before the next try.
    if waiting_at and all(e["type"] in WAITING_ELEMENT_TYPES or "failing" in e for e in waiting_at):
        return 15
    return 2


@bp.get("/mail")
def mail():
    """The emails the local mail capture received, newest first, with their links and attachments."""
    to = request.args.get("to") or None
    response = _from_mail_capture("/_capture/messages", {"to": to, "limit": MAIL_SHOWN})
    try:
        messages = response.json()
        total = int(response.headers.get("X-Total-Count", len(messages)))
    except ValueError as exc:
        raise _capture_answered_badly(exc) from exc
    messages.reverse()
    for message in messages:
        message["links"] = URL_IN_TEXT.findall(message.get("text") or "")
        for attachment in message.get("attachments") or []:
            encoded = attachment.get("content") or ""
            attachment["size"] = len(encoded) * 3 // 4 - encoded.count("=")  # base64: 4 chars, 3 bytes
    return render_template("mail.html", messages=messages, to=to, total=total)


@bp.get("/mail/<message_id>/attachments/<int:index>")
def mail_attachment(message_id: str, index: int):
    """One attachment of a captured mail (an interview's invitation.ics), as a download."""
    response = _from_mail_capture(f"/_capture/messages/{quote(message_id, safe='')}", {}, found_or_404=True)
    try:
        attachments = response.json().get("attachments") or []
    except (ValueError, AttributeError) as exc:
        raise _capture_answered_badly(exc) from exc
    if index >= len(attachments):
        raise Problem(404, "No such attachment", f"mail {message_id} has {len(attachments)} attachment(s)")
    attachment = attachments[index]
    try:
        content = base64.b64decode(attachment.get("content") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Problem(502, "Attachment unreadable", f"its content is not base64: {exc}") from exc
    # Always a download, and never as a type a browser would run on this site's origin. An
    # invitation's type carries its method ("text/calendar; method=REQUEST"); the file has it too.
    media_type, _ = parse_options_header(attachment.get("type") or "")
    media_type = media_type if media_type in DOWNLOADABLE_TYPES else None
    return send_file(
        io.BytesIO(content),
        mimetype=media_type or "application/octet-stream",
        as_attachment=True,
        download_name=secure_filename(attachment.get("filename") or "") or f"attachment-{index + 1}",
    )


def _capture_answered_badly(exc: Exception) -> Problem:
    return Problem(
        503,
        "Mail capture unavailable",
        f"its answer is not what it sends: {exc}",
        headers={"Retry-After": "5"},
    )


def _from_mail_capture(path: str, params: dict, *, found_or_404: bool = False) -> requests.Response:
    """GET ``path`` from the local mail capture; 404 where there is none, 503 when it cannot answer."""
    capture_url = current_app.config.get("MAIL_CAPTURE_URL")
    if not capture_url:
        raise Problem(404, "No mail capture", "this deployment sends real email; there is nothing to show")
    try:
        response = requests.get(f"{capture_url.rstrip('/')}{path}", params=params, timeout=5)
        if found_or_404 and response.status_code == 404:
            raise Problem(404, "No such mail", "the mail capture has no mail by that id")
        response.raise_for_status()
    except requests.RequestException as exc:
        raise Problem(
            503, "Mail capture unavailable", f"{capture_url}: {exc}", headers={"Retry-After": "5"}
        ) from exc
    return response
