"""A SendGrid-compatible mail capture for local use and tests (``python -m hireflow.sandboxes.mail_capture``).

Accepts ``POST /v3/mail/send`` as SendGrid does (bearer API key, v3 JSON body, 202 with
``X-Message-Id``), stores each mail instead of delivering it, and can answer 429 or 5xx
on request. ``GET /v3/messages?query=unique_args['key']="value"`` searches the stored
mails as SendGrid's Email Activity API does (only ``unique_args`` and ``to_email`` queries);
like SendGrid's, it can list a mail only ``activity_lag_seconds`` after it was accepted
(0 by default, so a local run waits for nothing).
The webapp lists the captured mails; the chaos checker counts duplicates.

Capture controls (no API key, local only): ``GET /_capture/messages``,
``GET /_capture/messages/<id>``, ``GET/POST /_capture/faults``, ``GET /healthz``.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, jsonify, request

from hireflow.flask_json import use_bounded_json
from hireflow.lifetime import end_with_parent
from hireflow.sandboxes.faults import FaultInjector
from hireflow.serving import bearer_matches, run_sandbox_cli

FAULT_KINDS = {"too_many_requests", "server_error"}
BAD_KEY = "The provided authorization grant is invalid, expired, or revoked"  # SendGrid's words

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, received_at REAL NOT NULL, sender TEXT NOT NULL,
    recipients TEXT NOT NULL, subject TEXT NOT NULL, text TEXT, html TEXT,
    custom_args TEXT NOT NULL, attachments TEXT NOT NULL);
"""
# Each mail's recipients, one row each, indexed: a recipient's inbox is a lookup. Searching
# the messages' JSON lists read every mail (18.5 ms an inbox at 13,200 mails, after a soak
# of 6,000 instances), under the capture's one lock, while flows polled their inboxes.
RECIPIENTS_SCHEMA = """
CREATE TABLE recipients (message_id TEXT NOT NULL, address TEXT NOT NULL);
CREATE INDEX recipients_by_address ON recipients (address, message_id);
INSERT INTO recipients SELECT messages.id, each.value FROM messages, json_each(messages.recipients) AS each;
"""


# Email Activity queries the capture understands: unique_args['name']="value" and to_email="value".
ACTIVITY_QUERY = re.compile(
    r"""^\s*(?:unique_args\['(?P<arg>[^']+)'\]|to_email)\s*=\s*"(?P<value>[^"]*)"\s*$"""
)
ACTIVITY_QUERY_FORMS = 'unique_args[\'name\']="value" or to_email="value"'

# SendGrid refuses an attachment type with a ';' or a line break in it, but for a calendar
# invitation's method (iMIP asks for it there); even a charset beside it is refused.
ATTACHMENT_TYPE = re.compile(r"[^;\r\n]*|text/calendar; ?method=[A-Za-z]+")
BAD_ATTACHMENT_TYPE = "The attachment type cannot contain ';', or CRLF characters."  # SendGrid's words


def _errors(*messages: tuple[str, str]) -> dict:
    """SendGrid's error body: ``{"errors": [{"message", "field", "help"}]}``."""
    return {"errors": [{"message": m, "field": f, "help": None} for f, m in messages]}


def validate_mail(body: object) -> list[tuple[str, str]]:
    """The problems SendGrid would report for this v3 mail body, as (field, message) pairs.

    Types are checked as well as presence: a mail the capture keeps has strings where
    SendGrid wants strings, so reading it back never fails.
    """
    if not isinstance(body, dict):
        return [("", "The request body must be a JSON object.")]
    problems = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(
            ("personalizations", "The personalizations field is required and must have at least one.")
        )
    else:
        for i, p in enumerate(personalizations):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to or not all(_is_address(t) for t in to):
                problems.append(
                    (f"personalizations.{i}.to", "Each personalization needs 'to' with valid emails.")
                )
            if isinstance(p, dict):
                problems += _custom_args_problems(f"personalizations.{i}.custom_args", p.get("custom_args"))
    if not _is_address(body.get("from")):
        problems.append(("from.email", "The from object must be provided with a valid email."))
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        problems.append(("subject", _invalid_type("string", subject)))
    elif not subject and not body.get("template_id"):
        problems.append(("subject", "The subject is required."))
    content = body.get("content")
    if content is not None and (
        not isinstance(content, list)
        or not all(isinstance(c, dict) and isinstance(c.get("type"), str) for c in content)
        or not all(isinstance(c.get("value"), str) for c in content)
    ):
        problems.append(("content", "Each content needs a 'type' and a 'value', both strings."))
    elif not body.get("template_id") and not any(c.get("value") for c in content or []):
        problems.append(("content", "Content with at least one non-empty value is required."))
    attachments = body.get("attachments")
    if attachments is not None and (
        not isinstance(attachments, list) or not all(_is_attachment(a) for a in attachments)
    ):
        problems.append(("attachments", "Each attachment needs a 'content' and a 'filename', both strings."))
    else:
        problems += [
            (f"attachments.{i}.type", BAD_ATTACHMENT_TYPE)
            for i, attachment in enumerate(attachments or [])
            if not ATTACHMENT_TYPE.fullmatch(attachment.get("type", ""))
        ]
    problems += _custom_args_problems("custom_args", body.get("custom_args"))
    return problems


def _is_address(value: object) -> bool:
    """An email object: ``{"email": "...@...", "name": optional string}``."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("email"), str)
        and "@" in value["email"]
        and isinstance(value.get("name", ""), str)
    )


def _is_attachment(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("content"), str)
        and isinstance(value.get("filename"), str)
        and bool(value["content"] and value["filename"])
        and isinstance(value.get("type", ""), str)
    )


def _custom_args_problems(field: str, custom_args: object) -> list[tuple[str, str]]:
    """SendGrid takes custom arguments as an object of strings only, and refuses anything else."""
    if custom_args is None:
        return []
    if not isinstance(custom_args, dict):
        return [(field, _invalid_type("object", custom_args))]
    return [
        (f"{field}.{name}", _invalid_type("string", value))
        for name, value in custom_args.items()
        if not isinstance(value, str)
    ]


def _invalid_type(expected: str, given: object) -> str:
    """SendGrid's words for a value of the wrong JSON type."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return f"Invalid type. Expected: {expected}, given: {names.get(type(given), 'null')}."


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction on a connection in autocommit mode (``isolation_level=None``)."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def create_mail_capture(
    db_path: Path | str,
    api_key: str,
    *,
    seed: int | None = None,
    activity_api: bool = True,
    activity_lag_seconds: float = 0.0,
) -> Flask:
    """Build the capture app. ``api_key`` is the only key it accepts.

    ``activity_api=False`` answers activity searches 403, as SendGrid does for an account
    without the Email Activity add-on.
    """
    app = Flask("mail_capture")
    use_bounded_json(app)
    db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(SCHEMA)
    listed = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recipients'"
    if db.execute(listed).fetchone() is None:
        # A capture file from before the table: it gets the table, with its mails' recipients.
        db.executescript(f"BEGIN; {RECIPIENTS_SCHEMA} COMMIT;")
    lock = threading.Lock()
    faults = FaultInjector(FAULT_KINDS, seed=seed)
    app.extensions["mail_faults"] = faults

    def message_json(row: sqlite3.Row) -> dict:
        custom_args = json.loads(row["custom_args"])
        return {
            "id": row["id"],
            "received_at": row["received_at"],
            "from": row["sender"],
            "to": json.loads(row["recipients"]),
            "subject": row["subject"],
            "text": row["text"],
            "html": row["html"],
            "custom_args": custom_args,
            "dedupe_key": custom_args.get("dedupe_key"),
            "attachments": json.loads(row["attachments"]),
        }

    def authorized() -> bool:
        return bearer_matches(api_key)

    @app.post("/v3/mail/send")
    def send():
        if not authorized():
            return jsonify(_errors(("", BAD_KEY))), 401
        if faults.should("too_many_requests"):
            return jsonify(_errors(("", "too many requests"))), 429, {"Retry-After": "1"}
        if faults.should("server_error"):
            return jsonify(_errors(("", "Injected server error: the mail was not accepted"))), 500
        body = request.get_json(silent=True)
        problems = validate_mail(body)
        if problems:
            return jsonify(_errors(*problems)), 400
        content = {c.get("type"): c.get("value") for c in body.get("content") or [] if isinstance(c, dict)}
        recipients = [t["email"] for p in body["personalizations"] for t in p["to"]]
        custom_args = {**(body.get("custom_args") or {})}
        for p in body["personalizations"]:
            custom_args.update(p.get("custom_args") or {})
        message_id = secrets.token_urlsafe(16)
        attachments = [
            {"filename": a.get("filename"), "type": a.get("type"), "content": a.get("content")}
            for a in body.get("attachments") or []
            if isinstance(a, dict)
        ]
        with lock, _transaction(db):  # the mail and its recipients together, or neither
            db.execute(
                "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    message_id,
                    time.time(),
                    body["from"]["email"],
                    json.dumps(recipients),
                    body.get("subject") or "",
                    content.get("text/plain"),
                    content.get("text/html"),
                    json.dumps(custom_args),
                    json.dumps(attachments),
                ),
            )
            db.executemany(
                "INSERT INTO recipients VALUES (?, ?)", [(message_id, address) for address in recipients]
            )
        return "", 202, {"X-Message-Id": message_id}

    @app.get("/v3/messages")
    def search_activity():
        if not authorized():
            return jsonify(_errors(("", BAD_KEY))), 401
        if not activity_api:
            return jsonify(_errors(("", "access forbidden: the Email Activity add-on is not enabled"))), 403
        match = ACTIVITY_QUERY.match(request.args.get("query", ""))
        if match is None:
            return jsonify(_errors(("query", f"expected {ACTIVITY_QUERY_FORMS}"))), 400
        try:
            limit = max(1, min(1000, int(request.args.get("limit", "10"))))
        except ValueError:
            return jsonify(_errors(("limit", "must be a number from 1 to 1000"))), 400
        with lock:
            rows = db.execute(
                "SELECT * FROM messages WHERE received_at <= ? ORDER BY received_at",
                (time.time() - activity_lag_seconds,),
            ).fetchall()
        found = []
        for row in rows:
            mail = message_json(row)
            if match["arg"]:
                hit = mail["custom_args"].get(match["arg"]) == match["value"]
            else:
                hit = match["value"] in mail["to"]
            if hit:
                found.append(
                    {
                        "msg_id": mail["id"],
                        "from_email": mail["from"],
                        "to_email": mail["to"][0],
                        "subject": mail["subject"],
                        "status": "delivered",
                        "last_event_time": time.strftime(
                            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(mail["received_at"])
                        ),
                    }
                )
        return jsonify({"messages": found[:limit]})

    @app.get("/_capture/messages")
    def list_messages():
        """The captured mails, oldest first: all of them, or the newest ``limit``.

        ``X-Total-Count`` says how many there are (to ``to``, if given), for a page that
        shows the newest only.
        """
        raw_limit = request.args.get("limit")
        # ASCII digits only (int() also reads "1_0" and other scripts' digits), and no more
        # than SQLite's integers hold: a limit beyond any count of mails is no limit.
        if raw_limit is not None and (not re.fullmatch(r"[0-9]+", raw_limit) or not raw_limit.strip("0")):
            return jsonify(_errors(("limit", "must be a whole number, 1 or more"))), 400
        limit = int(raw_limit) if raw_limit is not None and len(raw_limit) <= 18 else None
        # Filtered and cut in SQL: a recipient's inbox in the webapp reads a handful of
        # mails, not every mail ever captured decoded in Python (56 ms at 6,600 mails).
        where, params = "", ()
        if "to" in request.args:
            where = "WHERE id IN (SELECT message_id FROM recipients WHERE address = ?)"
            params = (request.args["to"],)
        with lock:
            total = db.execute(f"SELECT COUNT(*) FROM messages {where}", params).fetchone()[0]
            newest_first = db.execute(
                f"SELECT * FROM messages {where} ORDER BY received_at DESC, rowid DESC LIMIT ?",
                (*params, limit or -1),  # SQLite: a negative limit is none
            ).fetchall()
        shown = [message_json(row) for row in reversed(newest_first)]
        return jsonify(shown), 200, {"X-Total-Count": str(total)}

    @app.get("/_capture/messages/<message_id>")
    def get_message(message_id: str):
        with lock:
            row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return jsonify(_errors(("id", f"No captured message {message_id}"))), 404
        return jsonify(message_json(row))

    @app.get("/_capture/faults")
    def get_faults():
        return jsonify(faults.plan)

    @app.post("/_capture/faults")
    def set_faults():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(_errors(("", "send a JSON object: {rates, next_count}"))), 400
        try:
            faults.configure(body.get("rates"), body.get("next_count"), body.get("delay_seconds"))
        except (TypeError, ValueError) as exc:
            return jsonify(_errors(("", str(exc)))), 400
        return get_faults()

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def main() -> None:
    end_with_parent("mail capture")
    run_sandbox_cli(
        create_mail_capture,
        module="hireflow.sandboxes.mail_capture",
        doc=__doc__,
        port=8102,
        db_file="mail-capture.sqlite3",
        api_key="SG.hireflow-local",
        api_key_variable="SENDGRID_API_KEY",
    )


if __name__ == "__main__":
    main()
