"""``make seed``: demo data to walk a candidate through the four processes, loaded once (issue 5)."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import delete, func, select

from hireflow.credits import CreditsLedger
from hireflow.paths import PROJECT_ROOT
from hireflow.resume_intake import SKILLS, process_resume
from hireflow.sandboxes.payments import AUTHENTICATION_REQUIRED_METHODS, DECLINED_PAYMENT_METHODS
from hireflow.seed import DEMO_EMPLOYERS, DEMO_INTERVIEWERS, DEMO_POSTINGS, SEED_SCOPE, load_demo_data
from hireflow.store import Database, Employer, Interviewer, JobPosting, RequestClaim
from tests.test_local_identity import LOCAL_CONFIG, initialization

SAMPLES = PROJECT_ROOT / "docs" / "samples"


def count(db: Database, table) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_loading_twice_writes_the_rows_once_and_grants_credits_once(store_url):
    db = Database(store_url)
    db.create_schema()
    first = load_demo_data(db)
    second = load_demo_data(db)
    assert first.credits_granted == {"acme": 20}
    assert second.credits_granted == {}
    assert (count(db, JobPosting), count(db, Employer), count(db, Interviewer)) == (3, 4, 2)
    ledger = CreditsLedger(db)
    assert {e["employer_id"]: ledger.balance(e["employer_id"]) for e in DEMO_EMPLOYERS} == {
        "acme": 20,
        "globex": 0,
        "initech": 0,
        "umbrella": 0,
    }


def test_loading_again_keeps_what_was_edited_or_deleted(store_url):
    # Every `make run` loads the demo data: it once wrote the demo rows over an admin's
    # edit of a posting and over the card an employer had saved for a declined unlock,
    # and put back an interviewer deleted through the admin API.
    db = Database(store_url)
    db.create_schema()
    first = load_demo_data(db)
    assert len(first.added) == len(DEMO_POSTINGS) + len(DEMO_EMPLOYERS) + len(DEMO_INTERVIEWERS)
    assert "posting demo-python-engineer" in first.added and "interviewer lead" in first.added
    with db.sessions.begin() as session:
        session.get(JobPosting, "demo-python-engineer").min_years = 9
        session.get(Employer, "initech").payment_method_ref = "pm_1InitechNewCard"
        session.delete(session.get(Interviewer, "lead"))
    again = load_demo_data(db)
    with db.sessions() as session:
        assert session.get(JobPosting, "demo-python-engineer").min_years == 9
        assert session.get(Employer, "initech").payment_method_ref == "pm_1InitechNewCard"
        assert session.get(Interviewer, "lead") is None
    assert (again.added, again.interviewers) == ([], ["interviewer"])
    assert again.what_was_added().startswith("nothing: every demo row was loaded before")


def test_a_database_seeded_before_loads_were_remembered_gets_only_what_it_lacks(store_url):
    db = Database(store_url)
    db.create_schema()
    load_demo_data(db)
    with db.sessions.begin() as session:  # as a load before 2026-12-07 left it: no claims
        session.execute(delete(RequestClaim).where(RequestClaim.scope == SEED_SCOPE))
        session.get(JobPosting, "demo-python-engineer").min_years = 9
        session.delete(session.get(Interviewer, "lead"))
    assert load_demo_data(db).added == ["interviewer lead"]
    with db.sessions() as session:
        assert session.get(JobPosting, "demo-python-engineer").min_years == 9
    assert load_demo_data(db).added == []


def test_the_demo_data_covers_each_way_to_pay_and_fits_the_local_logins():
    employers = {e["employer_id"]: e for e in DEMO_EMPLOYERS}
    assert {p["employer_id"] for p in DEMO_POSTINGS} <= set(employers)
    # One pays with credits, one by card, one with a card the sandbox declines, one with a
    # card whose bank asks the employer to approve each charge.
    assert employers["acme"]["credits"] > 0
    assert employers["globex"]["credits"] == 0
    assert employers["globex"]["payment_method_ref"] not in DECLINED_PAYMENT_METHODS
    assert employers["initech"]["payment_method_ref"] in DECLINED_PAYMENT_METHODS
    assert employers["umbrella"]["payment_method_ref"] in AUTHENTICATION_REQUIRED_METHODS
    # Interviewers log in to Tasklist with their usernames and get the feedback tasks.
    config = initialization(LOCAL_CONFIG)
    users = {user["username"]: user for user in config["users"]}
    interviewers_group = next(g for g in config["groups"] if g["groupId"] == "interviewers")
    for person in DEMO_INTERVIEWERS:
        assert person["username"] in users
        assert person["email"] == users[person["username"]]["email"]
    assert "interviewer" in interviewers_group["users"]


def test_make_seed_loads_the_database_it_is_pointed_at_and_says_what_it_loaded(tmp_path):
    url = f"sqlite:///{tmp_path / 'seeded.sqlite3'}"
    env = {**os.environ, "HIREFLOW_DATABASE_URL": url}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "hireflow.seed"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert "acme (Acme Analytics (pays with credits)), 20 credits" in done.stdout
    assert "interviewers:  interviewer, lead" in done.stdout
    assert "added:         nothing: every demo row was loaded before" in done.stdout  # the second time
    assert count(Database(url), JobPosting) == 3


def test_make_seed_names_a_database_it_cannot_use_in_one_line(tmp_path):
    not_a_database = tmp_path / "hireflow.sqlite3"
    not_a_database.write_text("garbage, not SQLite")
    done = subprocess.run(
        [sys.executable, "-m", "hireflow.seed"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "HIREFLOW_DATABASE_URL": f"sqlite:///{not_a_database}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Demo data not loaded: the domain database sqlite:///")
    assert "Traceback" not in done.stderr


def test_every_skill_a_demo_posting_asks_for_can_be_found_in_a_resume():
    for posting in DEMO_POSTINGS:
        for skill in posting["required_skills"] + posting["nice_to_have_skills"]:
            assert skill in SKILLS, f"{posting['posting_id']} asks for {skill!r}, which no resume can show"


def test_the_sample_resumes_for_the_walk_through_are_read_with_their_skills():
    ada = process_resume((SAMPLES / "ada-lovelace.pdf").read_bytes())
    assert (ada.kind, ada.profile.years_of_experience) == ("pdf", 8)
    assert {"python", "sql"} <= set(ada.profile.skills)  # fits the Python engineer posting
    grace = process_resume((SAMPLES / "grace-hopper.docx").read_bytes())
    assert (grace.kind, grace.profile.years_of_experience) == ("docx", 5)
    assert {"python", "sql", "spark"} <= set(grace.profile.skills)  # fits the data engineer posting


def test_the_served_webapp_loads_the_demo_data_once_before_its_workers_fork(tmp_path, caplog):
    from webapp.__main__ import load_demo_data_before_forking

    url = f"sqlite:///{tmp_path / 'hireflow.sqlite3'}"
    env = {"HIREFLOW_DATABASE_URL": url, "HIREFLOW_DEMO_DATA": "1"}
    with caplog.at_level("INFO", logger="webapp"):
        load_demo_data_before_forking(env)
    [loaded] = [r.getMessage() for r in caplog.records if r.name == "webapp"]
    assert loaded.startswith("demo data loaded: added posting demo-python-engineer, ")
    assert loaded.endswith(", interviewer interviewer, interviewer lead")
    assert count(Database(url), JobPosting) == 3
    # The workers build their apps after the fork, from this environment: none loads it again.
    assert env["HIREFLOW_DEMO_DATA"] == "0"


def test_the_served_webapp_loads_no_demo_data_unless_asked(tmp_path):
    from webapp.__main__ import load_demo_data_before_forking

    env = {"HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'hireflow.sqlite3'}"}
    load_demo_data_before_forking(env)
    assert not (tmp_path / "hireflow.sqlite3").exists()
