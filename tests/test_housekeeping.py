"""The housekeeping job deletes only once-only records no request can need again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from hireflow import housekeeping
from hireflow.housekeeping import Pruned, prune
from hireflow.store import Database, EmailOutboxEntry, RequestClaim, utcnow

OLD = utcnow() - timedelta(days=120)
RECENT = utcnow() - timedelta(days=2)


@pytest.fixture
def db(store_url) -> Database:
    db = Database(store_url)
    db.create_schema()
    with db.sessions.begin() as session:
        for scope, key, at in [
            ("message:payment-confirmed", "evt_old", OLD),
            ("message:payment-confirmed", "evt_recent", RECENT),
            ("start:resume-upload", "res_old", OLD),  # one instance per business key, for good
        ]:
            session.add(
                RequestClaim(scope=scope, key=key, fingerprint="f", status="done", result={}, claimed_at=at)
            )
        for key, status, sent_at in [
            ("receipt:unl_old", "sent", OLD),
            ("receipt:unl_recent", "sent", RECENT),
            ("receipt:unl_unsent", "sending", None),  # its job may still be retried
        ]:
            session.add(
                EmailOutboxEntry(
                    dedupe_key=key,
                    recipient="hr@acme.example",
                    template="unlock-receipt",
                    status=status,
                    claimed_until=OLD,
                    sent_at=sent_at,
                )
            )
    return db


def remaining(db: Database) -> tuple[list[str], list[str]]:
    with db.sessions() as session:
        claims = sorted(session.scalars(select(RequestClaim.key)))
        emails = sorted(session.scalars(select(EmailOutboxEntry.dedupe_key)))
    return claims, emails


def test_old_message_claims_and_sent_mails_go_and_everything_else_stays(db):
    assert prune(db, timedelta(days=90), dry_run=True) == Pruned(message_claims=1, sent_emails=1)
    assert remaining(db) == (
        ["evt_old", "evt_recent", "res_old"],
        ["receipt:unl_old", "receipt:unl_recent", "receipt:unl_unsent"],
    )

    assert prune(db, timedelta(days=90)) == Pruned(message_claims=1, sent_emails=1)
    assert remaining(db) == (["evt_recent", "res_old"], ["receipt:unl_recent", "receipt:unl_unsent"])
    assert prune(db, timedelta(days=90)) == Pruned(message_claims=0, sent_emails=0)


def test_a_retention_too_short_for_redelivered_webhooks_is_refused(db):
    with pytest.raises(ValueError, match="at least 7 days"):
        prune(db, timedelta(days=3))
    assert len(remaining(db)[0]) == 3


def test_the_command_reads_the_database_from_the_environment(db, monkeypatch, caplog):
    monkeypatch.setenv("HIREFLOW_DATABASE_URL", db.url)
    caplog.set_level("INFO", logger="hireflow.housekeeping")
    assert housekeeping.main(["--older-than-days", "30"]) == 0
    assert "deleted older than 30 days: 1 message claims, 1 sent emails" in caplog.text
    assert housekeeping.main(["--older-than-days", "1"]) == 2


def dry_run_command(db: Database, **env: str) -> subprocess.CompletedProcess:
    """``python -m hireflow.housekeeping --dry-run`` on ``db``, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "hireflow.housekeeping", "--dry-run"],
        env={**os.environ, "HIREFLOW_DATABASE_URL": db.url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_logs_json_lines_where_the_images_ask_for_them(db):
    """The images set HIREFLOW_LOG_FORMAT=json, and the Helm chart runs this as a CronJob."""
    run = dry_run_command(db, HIREFLOW_LOG_FORMAT="json")
    assert run.returncode == 0, run.stderr
    entries = [json.loads(line) for line in run.stderr.splitlines()]
    assert entries[-1]["logger"] == "hireflow.housekeeping"
    assert entries[-1]["message"].startswith("would delete older than")


def test_the_command_refuses_a_log_level_it_does_not_know_in_one_line(db):
    run = dry_run_command(db, HIREFLOW_LOG_LEVEL="LOUD")
    assert run.returncode == 2
    assert run.stderr.startswith("housekeeping not started: HIREFLOW_LOG_LEVEL='LOUD' is not a log level")
    assert "Traceback" not in run.stderr


def test_a_database_that_cannot_be_used_fails_the_run_in_one_line(tmp_path):
    not_a_database = tmp_path / "hireflow.sqlite3"
    not_a_database.write_text("garbage, not SQLite")
    run = dry_run_command(Database(f"sqlite:///{not_a_database}"))
    assert run.returncode == 1  # the CronJob's next run tries again; 2 is for a bad setting
    told = f"the domain database sqlite:///{not_a_database} cannot be used: file is not a database"
    assert told in run.stderr
    assert "Traceback" not in run.stderr
