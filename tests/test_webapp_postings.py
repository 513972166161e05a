"""Postings: the job board, the candidates who fit, an employer's postings and their
applications, and the admin API's records."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hireflow.credits import CreditsLedger
from hireflow.store import (
    BusinessRecord,
    Candidate,
    ContactAccess,
    Employer,
    Interviewer,
    JobPosting,
    PostingSkill,
    utcnow,
)
from tests.concurrency import errors_all_at_once
from tests.offline_webapp import (
    RecordsVariables,
    empty_services,
    indexed_candidate,
    listed,
    offline_app,
    refused_field,
)
from tests.web_helpers import ADMIN, ADMIN_TOKEN
from webapp import create_app


def test_an_admin_posting_keeps_its_recruiters(tmp_path):
    services = empty_services(tmp_path)
    admin = offline_app(services).test_client()
    posting = {"employer_id": "acme", "title": "Engineer", "recruiter_team_email": "team@acme.example"}

    saved = admin.put("/api/admin/postings/p-1", json=posting, headers=ADMIN)

    assert saved.status_code == 200, saved.json
    assert saved.json["recruiter_team_email"] == "team@acme.example"
    with services.db.sessions() as session:
        assert session.get(JobPosting, "p-1").recruiter_team_email == "team@acme.example"
    # What is on file reads back as it was saved.
    assert admin.get("/api/admin/postings/p-1", headers=ADMIN).json == saved.json
    assert admin.get("/api/admin/postings/p-2", headers=ADMIN).status_code == 404


SIX_SKILLS = ["python", "go", "rust", "java", "docker", "kubernetes"]


def test_the_same_new_posting_put_by_several_clients_at_once_is_saved_for_each(tmp_path, store_url):
    # A PUT replaces: the one that loses the race to insert replaces the winner's row,
    # rather than answering 500 for a unique key the client cannot see.
    services = empty_services(tmp_path, store_url)
    app = offline_app(services)
    # The first six make the posting, the next six replace it, each with a skill of its own.
    titles = iter(f"{skill.capitalize()} engineer" for skill in ["sql"] * 6 + SIX_SKILLS)
    answers: list[int] = []

    def put(title: str) -> None:
        posting = {"employer_id": "acme", "title": title, "required_skills": [title.split()[0].lower()]}
        answers.append(
            app.test_client().put("/api/admin/postings/p-1", json=posting, headers=ADMIN).status_code
        )

    errors = errors_all_at_once(6, lambda: next(titles), put)
    # Replacing it at once: each PUT deletes the skill rows the one before it wrote.
    errors += errors_all_at_once(6, lambda: next(titles), put)

    assert (errors, answers) == ([], [200] * 12)
    with services.db.sessions() as session:
        posting = session.get(JobPosting, "p-1")
        assert posting.required_skills == [posting.title.split()[0].lower()]
        assert posting.required_skills[0] in SIX_SKILLS


# Each record an admin PUT keeps: where it lives, and a valid body and a changed one for it.
ADMIN_RECORDS = {
    "posting": (
        "/api/admin/postings/p-1",
        {"employer_id": "acme", "title": "Engineer", "required_skills": ["python"]},
        {"title": "Senior engineer"},
    ),
    "interviewer": (
        "/api/admin/interviewers/ivy",
        {"name": "Ivy", "email": "ivy@acme.example"},
        {"name": "Ivy B"},
    ),
    "employer": (
        "/api/admin/employers/acme",
        {"name": "Acme", "email": "hr@acme.example", "payment_method_ref": "pm_1Acme"},
        {"plan": "premium"},
    ),
}


@pytest.mark.parametrize("record", ADMIN_RECORDS)
def test_an_admin_put_with_the_etag_it_read_replaces_only_the_version_it_read(tmp_path, record):
    # Two back-office users who read one record and each saved their change: the second undid
    # the first's unseen. A PUT that sends the ETag it read as If-Match now saves only over
    # that version; If-None-Match: * only makes a record that is not there.
    admin = offline_app(empty_services(tmp_path)).test_client()
    url, body, change = ADMIN_RECORDS[record]

    never_made = admin.put(url, json=body, headers={**ADMIN, "If-Match": '"abc"'})
    made = admin.put(url, json=body, headers={**ADMIN, "If-None-Match": "*"})
    read = admin.get(url, headers=ADMIN)
    changed = admin.put(url, json={**body, **change}, headers={**ADMIN, "If-Match": read.headers["ETag"]})
    late = admin.put(url, json=body, headers={**ADMIN, "If-Match": read.headers["ETag"]})
    made_again = admin.put(url, json=body, headers={**ADMIN, "If-None-Match": "*"})

    assert never_made.status_code == 412 and "to make it, PUT without If-Match" in never_made.json["detail"]
    assert made.status_code == 200 and made.headers["ETag"] == read.headers["ETag"]
    assert changed.status_code == 200 and changed.headers["ETag"] != read.headers["ETag"]
    assert late.status_code == 412, late.json
    assert f"it is now {changed.headers['ETag']}" in late.json["detail"]
    assert made_again.status_code == 412 and "on file already" in made_again.json["detail"]
    now = admin.get(url, headers=ADMIN)
    assert now.headers["ETag"] == changed.headers["ETag"] and now.json == changed.json
    assert all(now.json[name] == value for name, value in change.items())
    # A PUT without either header replaces whatever is there, as before.
    assert admin.put(url, json=body, headers=ADMIN).headers["ETag"] == read.headers["ETag"]


def test_an_employers_etag_stays_while_its_credits_move(tmp_path):
    # The ETag is the version of what a PUT replaces: a top-up between reading the employer
    # and saving its new email must not refuse the save.
    services = empty_services(tmp_path)
    admin = offline_app(services).test_client()
    url, body, _ = ADMIN_RECORDS["employer"]
    tag = admin.put(url, json=body, headers=ADMIN).headers["ETag"]

    admin.post(f"{url}/credits", json={"amount": 5, "reference": "inv-1"}, headers=ADMIN)
    CreditsLedger(services.db).spend("acme", "unl_1", 2)
    saved = admin.put(url, json={**body, "email": "jobs@acme.example"}, headers={**ADMIN, "If-Match": tag})

    assert saved.status_code == 200, saved.json
    assert saved.json["credits"]["balance"] == 3 and saved.json["email"] == "jobs@acme.example"


def test_of_puts_at_once_that_read_the_same_version_one_saves(tmp_path, store_url):
    # The precondition is judged under the row's lock: of six editors who read the same
    # version and save at once, one saves and five learn that it changed.
    services = empty_services(tmp_path, store_url)
    app = offline_app(services)
    url, body, _ = ADMIN_RECORDS["posting"]
    tag = app.test_client().put(url, json=body, headers=ADMIN).headers["ETag"]
    titles = iter(f"Engineer {n}" for n in range(6))
    answers: list[int] = []

    def put(title: str) -> None:
        edited = {**body, "title": title}
        answers.append(
            app.test_client().put(url, json=edited, headers={**ADMIN, "If-Match": tag}).status_code
        )

    errors = errors_all_at_once(6, lambda: next(titles), put)

    assert (errors, sorted(answers)) == ([], [200] + [412] * 5)
    assert app.test_client().get(url, headers=ADMIN).json["title"].startswith("Engineer ")


def test_an_admin_posting_keeps_its_skills_by_the_names_resumes_show(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    admin = offline_app(services).test_client()
    posting = {"employer_id": "acme", "title": "Platform engineer"}

    saved = admin.put(
        "/api/admin/postings/p-1",
        json={
            **posting,
            "required_skills": ["K8s", " Python", "kubernetes"],
            "nice_to_have_skills": ["postgres"],
        },
        headers=ADMIN,
    )

    assert saved.status_code == 200, saved.json
    assert (saved.json["required_skills"], saved.json["nice_to_have_skills"]) == (
        ["kubernetes", "python"],
        ["postgresql"],
    )
    assert [p["postingId"] for p in admin.get("/api/postings?skills=postgresql").json["postings"]] == ["p-1"]
    # A skill no resume can show would decline every applicant: refused, naming the field.
    refused = admin.put(
        "/api/admin/postings/p-1", json={**posting, "required_skills": ["COBOL"]}, headers=ADMIN
    )
    assert refused_field(refused) == (400, "required_skills")
    assert "knows no skill 'cobol'" in refused.json["invalid_params"][0]["reason"]
    # Replaced, the posting is found by its new skills only.
    admin.put("/api/admin/postings/p-1", json={**posting, "required_skills": ["sql"]}, headers=ADMIN)
    assert admin.get("/api/postings?skills=python").json["postings"] == []
    assert len(admin.get("/api/postings?skills=sql").json["postings"]) == 1
    with services.db.sessions() as session:
        rows = session.execute(select(PostingSkill.skill, PostingSkill.required)).all()
    assert rows == [("sql", True)]


def test_a_closed_posting_refuses_new_applications_and_keeps_those_made(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the column's default, on both databases
    engine = RecordsVariables()
    config = {"TESTING": True, "CONSOLE": True, "ADMIN_TOKEN": ADMIN_TOKEN}
    web = create_app(config, engine_client=engine, services=services).test_client()
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
                indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
                indexed_candidate("bob", name="Bob", email="bob@example.com"),
            ]
        )
    posting = {"employer_id": "acme", "title": "Engineer", "recruiter_team_email": "team@acme.example"}
    assert web.put("/api/admin/postings/p-1", json=posting, headers=ADMIN).json["open"] is True
    first = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-1"})
    assert first.status_code == 202, first.json

    # Filled: the employer closes it.
    closed = web.put("/api/admin/postings/p-1", json={**posting, "open": False}, headers=ADMIN)
    assert closed.status_code == 200 and closed.json["open"] is False
    assert web.get("/api/admin/postings/p-1", headers=ADMIN).json["open"] is False
    late = web.post("/api/applications", json={"candidate_id": "bob", "posting_id": "p-1"})
    assert refused_field(late) == (409, "posting_id")
    assert late.json["title"] == "Posting closed"
    assert "job posting p-1 is closed and takes no applications" in late.json["detail"]
    # The application made before goes on, and asking for it again still finds it.
    again = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-1"})
    assert (again.status_code, again.json["id"], again.json["created"]) == (200, first.json["id"], False)
    assert len(engine.variables) == 1
    assert 'value="p-1"' not in web.get("/").text  # the Apply form offers open postings only

    web.put("/api/admin/postings/p-1", json=posting, headers=ADMIN)  # open again
    assert web.post("/api/applications", json={"candidate_id": "bob", "posting_id": "p-1"}).status_code == 202
    assert 'value="p-1"' in web.get("/").text


def test_a_job_board_lists_the_open_postings_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(52):
            session.add(
                JobPosting(
                    posting_id=f"p{number:02d}",
                    employer_id="acme",
                    title=f"Engineer {number}",
                    required_skills=["python"],
                    nice_to_have_skills=["sql"],
                    min_years=2,
                    recruiter_team_email="team@acme.example",
                    open=number != 50,  # p50 is filled
                )
            )

    first = web.get("/api/postings")
    assert first.status_code == 200, first.json
    assert len(first.json["postings"]) == 50 and first.json["next"] == "p49"
    assert first.json["postings"][0] == {
        "postingId": "p00",
        "employerId": "acme",
        "title": "Engineer 0",
        "requiredSkills": ["python"],
        "niceToHaveSkills": ["sql"],
        "minYears": 2,
    }
    rest = web.get("/api/postings?after=p49").json
    assert (rest["postings"][0]["postingId"], len(rest["postings"]), rest["next"]) == ("p51", 1, None)
    assert "team@acme.example" not in first.text  # who screens stays inside
    # One posting's page, open or closed; who screens stays inside there too.
    assert web.get("/api/postings/p00").json == {**first.json["postings"][0], "open": True}
    filled = web.get("/api/postings/p50")
    assert filled.json["open"] is False and "team@acme.example" not in filled.text
    assert web.get("/api/postings/p99").status_code == 404
    assert refused_field(web.get("/api/postings?after=a%20b")) == (400, "after")
    assert refused_field(web.get("/api/postings?state=closed")) == (400, "state")


def test_a_job_board_finds_the_postings_that_ask_for_skills(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for posting_id, required, nice, is_open in [
            ("p-data", ["python", "sql"], ["spark"], True),
            ("p-ops", ["kubernetes"], ["python"], True),
            ("p-web", ["javascript"], [], True),
            ("p-filled", ["python", "spark"], [], False),
        ]:
            session.add(
                JobPosting(
                    posting_id=posting_id,
                    employer_id="acme",
                    title=posting_id,
                    required_skills=required,
                    nice_to_have_skills=nice,
                    open=is_open,
                )
            )

    def found(skills: str) -> list[str]:
        answer = web.get(f"/api/postings?skills={skills}")
        assert answer.status_code == 200, answer.json
        return [posting["postingId"] for posting in answer.json["postings"]]

    # Asked for, required or nice to have; every skill given; as resumes write them.
    assert found("python") == ["p-data", "p-ops"]
    assert found("Python,SPARK") == ["p-data"]
    assert found("k8s") == ["p-ops"]
    assert found("rust") == []
    refused = web.get("/api/postings?skills=cobol")
    assert refused_field(refused) == (400, "skills")
    assert refused.json["invalid_params"][0]["reason"].endswith("; GET /api/skills lists the 106 it knows")
    # Known skills, but longer than the document's maxLength of 500.
    too_long = web.get("/api/postings?skills=" + "python," * 72)
    assert refused_field(too_long) == (400, "skills")
    assert "at most 500 characters" in too_long.json["detail"]


def test_an_employer_sees_the_candidates_who_fit_a_posting_best_and_why(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the counting query, on both databases
    web = offline_app(services).test_client()

    def candidate(candidate_id, skills, years):
        return Candidate(
            candidate_id=candidate_id,
            resume_id=f"res_{candidate_id}",
            skills=skills,
            years_of_experience=years,
            name="Hidden Name",
            email="hidden@example.com",
            indexed_at=utcnow(),
        )

    with services.db.sessions.begin() as session:
        session.add_all(
            [
                JobPosting(
                    posting_id="p-data",
                    employer_id="acme",
                    title="Data engineer",
                    required_skills=["python", "sql", "spark"],
                    nice_to_have_skills=["kafka", "python"],
                    min_years=3,
                ),
                JobPosting(
                    posting_id="p-any", employer_id="acme", title="Any", nice_to_have_skills=["docker"]
                ),
                candidate("ada", ["python", "sql", "spark", "kafka"], 6),
                candidate("bob", ["python"], 1),
                candidate("cas", ["javascript", "docker"], None),
                candidate("dan", ["sql", "spark"], None),
            ]
        )

    fits = web.get("/api/postings/p-data/candidates?limit=2")

    assert fits.status_code == 200, fits.json
    assert fits.json == {
        "postingId": "p-data",
        "candidates": [
            {
                "candidateId": "ada",
                "yearsOfExperience": 6,
                "score": 100,
                "matchedSkills": ["python", "sql", "spark"],
                "missingSkills": [],
                "matchedNiceToHave": ["kafka", "python"],
                "meetsExperience": True,
            },
            {
                "candidateId": "dan",
                "yearsOfExperience": None,
                "score": 47,  # 70 * 2/3, no nice-to-have, no experience read
                "matchedSkills": ["sql", "spark"],
                "missingSkills": ["python"],
                "matchedNiceToHave": [],
                "meetsExperience": False,
            },
        ],
    }
    assert "Hidden Name" not in fits.text  # contact details are what an unlock pays for
    everyone = web.get("/api/postings/p-data/candidates").json["candidates"]
    # Not cas, who has none of the skills it requires; bob: 70 * 1/3 + 20 * 1/2.
    assert [(c["candidateId"], c["score"]) for c in everyone] == [("ada", 100), ("dan", 47), ("bob", 33)]
    # A posting that requires nothing fits everyone; the nice-to-have decides.
    anyone = web.get("/api/postings/p-any/candidates").json["candidates"]
    assert [(c["candidateId"], c["score"]) for c in anyone] == [
        ("cas", 100),
        ("ada", 80),
        ("bob", 80),
        ("dan", 80),
    ]
    assert web.get("/api/postings/p-none/candidates").status_code == 404
    assert refused_field(web.get("/api/postings/p-data/candidates?limit=51")) == (400, "limit")


def test_an_employer_lists_the_applications_to_its_posting_a_page_at_a_time(tmp_path, store_url):
    # An employer learned of applications only from the shortlisted emails: it had no list
    # of who applied, how each scored and where each stands.
    services = empty_services(tmp_path, store_url)  # the posting's index, on both databases
    web = offline_app(services, CONSOLE=True).test_client()
    start = datetime(2026, 12, 2, 9, 0)
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                JobPosting(posting_id="p-data", employer_id="acme", title="Data engineer"),
                JobPosting(posting_id="p-web", employer_id="acme", title="Web developer"),
            ]
        )
        for number in range(52):
            session.add(
                BusinessRecord(
                    kind="application",
                    business_id=f"app_{number:02d}",
                    status="shortlisted" if number % 2 else "screening",
                    details={
                        "candidate_id": f"c{number:02d}",
                        "posting_id": "p-data",
                        "match_score": number,
                        "matched_skills": ["python"],
                    },
                    updated_at=start + timedelta(minutes=number),
                )
            )
        session.add(
            BusinessRecord(
                kind="application",
                business_id="app_web",
                status="requested",  # not scored yet
                details={"candidate_id": "c51", "posting_id": "p-web"},
                updated_at=start,
            )
        )
        for employer_id, candidate_id in [("acme", "c51"), ("acme", "c50"), ("globex", "c49")]:
            session.add(
                ContactAccess(
                    employer_id=employer_id, candidate_id=candidate_id, unlock_id="unl_x", granted_at=start
                )
            )

    first = web.get("/api/postings/p-data/applications")

    assert first.status_code == 200, first.json
    assert (len(first.json["applications"]), first.json["postingId"]) == (50, "p-data")
    assert first.json["applications"][:2] == [
        {
            "applicationId": "app_51",
            "candidateId": "c51",
            "status": "shortlisted",
            "updatedAt": "2026-12-02T09:51:00Z",
            "matchScore": 51,
            "matchedSkills": ["python"],
            "contactUnlocked": True,
        },
        {
            "applicationId": "app_50",
            "candidateId": "c50",
            "status": "screening",
            "updatedAt": "2026-12-02T09:50:00Z",
            "matchScore": 50,
            "matchedSkills": ["python"],
            "contactUnlocked": True,
        },
    ]
    # Another employer's unlock opens nothing for this one.
    assert first.json["applications"][2]["contactUnlocked"] is False
    rest = web.get("/api/postings/p-data/applications", query_string={"after": first.json["next"]}).json
    assert ([a["applicationId"] for a in rest["applications"]], rest["next"]) == (["app_01", "app_00"], None)
    waiting = web.get("/api/postings/p-data/applications?state=open&order=oldest").json["applications"]
    assert [a["applicationId"] for a in waiting][:3] == ["app_00", "app_02", "app_04"]
    assert len(waiting) == 26
    assert web.get("/api/postings/p-web/applications").json["applications"] == [
        {
            "applicationId": "app_web",
            "candidateId": "c51",
            "status": "requested",
            "updatedAt": "2026-12-02T09:00:00Z",
            "matchScore": None,
            "matchedSkills": [],
            "contactUnlocked": True,
        }
    ]
    # The console's Items page finds a posting's applications by its id.
    assert listed(web.get("/items?q=p-web").text) == ["app_web"]
    assert web.get("/api/postings/p-none/applications").status_code == 404
    assert refused_field(web.get("/api/postings/p-data/applications?state=maybe")) == (400, "state")
    assert refused_field(web.get("/api/postings/p-data/applications?after=yesterday")) == (400, "after")
    assert refused_field(web.get("/api/postings/a%20b/applications")) == (400, "posting_id")


def test_an_employer_lists_its_postings_with_their_applications_counted(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the counting query, on both databases
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(51):
            session.add(
                JobPosting(
                    posting_id=f"acme-{number:02d}",
                    employer_id="acme",
                    title=f"Role {number}",
                    required_skills=["python"],
                    open=number != 1,
                )
            )
        session.add(JobPosting(posting_id="globex-1", employer_id="globex", title="Other"))
        for number, (posting_id, status) in enumerate(
            [
                ("acme-00", "submitted"),
                ("acme-00", "submitted"),
                ("acme-00", "shortlisted"),
                ("acme-01", "declined"),
                ("globex-1", "submitted"),
            ]
        ):
            session.add(
                BusinessRecord(
                    kind="application",
                    business_id=f"app_{number}",
                    status=status,
                    details={"candidate_id": f"c{number}", "posting_id": posting_id},
                    updated_at=utcnow(),
                )
            )

    first = web.get("/api/employers/acme/postings")

    assert first.status_code == 200, first.json
    assert (len(first.json["postings"]), first.json["next"]) == (50, "acme-49")
    assert first.json["postings"][0] == {
        "postingId": "acme-00",
        "employerId": "acme",
        "title": "Role 0",
        "requiredSkills": ["python"],
        "niceToHaveSkills": [],
        "minYears": 0,
        "open": True,
        "applications": {"total": 3, "byStatus": {"shortlisted": 1, "submitted": 2}},
    }
    assert first.json["postings"][2]["applications"] == {"total": 0, "byStatus": {}}
    rest = web.get("/api/employers/acme/postings?after=acme-49").json
    assert ([p["postingId"] for p in rest["postings"]], rest["next"]) == (["acme-50"], None)
    closed = web.get("/api/employers/acme/postings?state=closed").json["postings"]
    assert [(p["postingId"], p["open"], p["applications"]["total"]) for p in closed] == [
        ("acme-01", False, 1)
    ]
    assert len(web.get("/api/employers/acme/postings?state=open").json["postings"]) == 50
    assert web.get("/api/employers/initech/postings").json == {
        "employerId": "initech",
        "postings": [],
        "next": None,
    }
    assert refused_field(web.get("/api/employers/acme/postings?state=draft")) == (400, "state")
    assert refused_field(web.get("/api/employers/a%20b/postings")) == (400, "employer_id")


def test_the_admin_api_lists_what_is_on_file_a_page_at_a_time(tmp_path, store_url):
    # A back office reconciling its records with hireflow's could ask only by id.
    services = empty_services(tmp_path, store_url)
    admin = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(101):
            session.add(
                JobPosting(posting_id=f"p{number:03d}", employer_id="acme", title="T", open=number != 5)
            )
        session.add(Interviewer(username="ivy", name="Ivy", email="ivy@example.com", timezone="Asia/Tokyo"))
        session.add(
            Employer(
                employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_card_visa"
            )
        )

    first = admin.get("/api/admin/postings", headers=ADMIN)

    assert first.status_code == 200, first.json
    assert (len(first.json["postings"]), first.json["next"]) == (100, "p099")
    # Each as the GET by id answers, closed ones too, with the ETag it answers with.
    p005 = admin.get("/api/admin/postings/p005", headers=ADMIN)
    assert first.json["postings"][5] == {**p005.json, "etag": p005.headers["ETag"]}
    assert first.json["postings"][5]["open"] is False
    rest = admin.get("/api/admin/postings?after=p099", headers=ADMIN).json
    assert ([p["posting_id"] for p in rest["postings"]], rest["next"]) == (["p100"], None)
    interviewers = admin.get("/api/admin/interviewers", headers=ADMIN).json
    ivy = admin.get("/api/admin/interviewers/ivy", headers=ADMIN)
    assert interviewers == {"interviewers": [{**ivy.json, "etag": ivy.headers["ETag"]}], "next": None}
    [acme] = admin.get("/api/admin/employers", headers=ADMIN).json["employers"]
    on_file = admin.get("/api/admin/employers/acme", headers=ADMIN)
    assert acme == {
        **{key: value for key, value in on_file.json.items() if key != "credits"},
        "etag": on_file.headers["ETag"],
    }
    # A back office saves a change only over the version it listed: a second is refused.
    change = {key: value for key, value in acme.items() if key not in ("employer_id", "etag")}
    change["email"] = "jobs@acme.example"
    listed = {**ADMIN, "If-Match": acme["etag"]}
    assert admin.put("/api/admin/employers/acme", json=change, headers=listed).status_code == 200
    assert admin.put("/api/admin/employers/acme", json=change, headers=listed).status_code == 412
    assert refused_field(admin.get("/api/admin/postings?after=a%20b", headers=ADMIN)) == (400, "after")
    assert admin.get("/api/admin/employers").status_code == 401


def test_the_admin_api_keeps_employers_and_adds_their_credits_once_per_purchase(tmp_path, store_url):
    # Employers and their credits came only from make seed's demo data: a real marketplace
    # had no way to add an employer or the credits it bought.
    services = empty_services(tmp_path, store_url)  # the ledger's unique keys, on both databases
    admin = offline_app(services).test_client()
    acme = {"name": "Acme", "email": "hr@acme.example", "plan": "premium", "payment_method_ref": "pm_1Acme"}

    saved = admin.put("/api/admin/employers/acme", json=acme, headers=ADMIN)
    bought = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 10, "reference": "inv-1"}, headers=ADMIN
    )
    again = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 10, "reference": "inv-1"}, headers=ADMIN
    )
    other_amount = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 99, "reference": "inv-1"}, headers=ADMIN
    )
    CreditsLedger(services.db).spend("acme", "unl_1", 3)

    assert saved.status_code == 200, saved.json
    assert saved.json["payment_customer_ref"] is None and saved.json["credits"] == {
        "balance": 0,
        "movements": [],
    }
    assert (bought.status_code, bought.json["created"], bought.json["balance"]) == (201, True, 10)
    assert (again.status_code, again.json["created"], again.json["balance"]) == (200, False, 10)
    assert other_amount.status_code == 409
    assert "purchase inv-1 added 10 credits before" in other_amount.json["detail"]
    shown = admin.get("/api/admin/employers/acme", headers=ADMIN).json
    assert shown["plan"] == "premium" and shown["credits"]["balance"] == 7
    assert [(m["kind"], m["amount"], m["reference"]) for m in shown["credits"]["movements"]] == [
        ("spend", 3, "unl_1"),
        ("top_up", 10, "inv-1"),
    ]
    # The unlock form and the API take the employer from the file from now on.
    with services.db.sessions() as session:
        assert session.get(Employer, "acme").payment_method_ref == "pm_1Acme"

    # A purchase reference is the employer's own: another employer's inv-1 is another top-up.
    admin.put("/api/admin/employers/globex", json={**acme, "name": "Globex"}, headers=ADMIN)
    globex = admin.post(
        "/api/admin/employers/globex/credits", json={"amount": 2, "reference": "inv-1"}, headers=ADMIN
    )
    assert (globex.status_code, globex.json["balance"]) == (201, 2)

    unknown = admin.post(
        "/api/admin/employers/nobody/credits", json={"amount": 1, "reference": "x"}, headers=ADMIN
    )
    assert unknown.status_code == 404 and "PUT /api/admin/employers/nobody" in unknown.json["detail"]
    assert admin.get("/api/admin/employers/nobody", headers=ADMIN).status_code == 404
    for body, field in [
        ({**acme, "payment_method_ref": "4242424242424242"}, "payment_method_ref"),  # never a card number
        ({**acme, "email": "hr"}, "email"),
        ({**acme, "plan": "gold"}, "plan"),
    ]:
        assert refused_field(admin.put("/api/admin/employers/acme", json=body, headers=ADMIN)) == (400, field)
    for body, field in [({"amount": 0, "reference": "inv-2"}, "amount"), ({"amount": 1}, "reference")]:
        refused = admin.post("/api/admin/employers/acme/credits", json=body, headers=ADMIN)
        assert refused_field(refused) == (400, field)
    assert admin.get("/api/admin/employers/acme").status_code == 401
    assert CreditsLedger(services.db).balance("acme") == 7
    # The longest ids fit the ledger's reference (PostgreSQL enforces its length).
    longest, purchase = "e" * 100, "p" * 99
    admin.put(f"/api/admin/employers/{longest}", json=acme, headers=ADMIN)
    top_up = admin.post(
        f"/api/admin/employers/{longest}/credits", json={"amount": 1, "reference": purchase}, headers=ADMIN
    )
    assert top_up.status_code == 201, top_up.json
    assert (
        admin.get(f"/api/admin/employers/{longest}", headers=ADMIN).json["credits"]["movements"][0][
            "reference"
        ]
        == purchase
    )
