"""Finding candidates: by skill and experience, the best for a posting, and what hireflow
keeps about one."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

import pytest
from sqlalchemy import delete, event, select

from hireflow.skills import SKILLS
from hireflow.store import (
    Candidate,
    CandidateSkill,
    ContactAccess,
    EmailOutboxEntry,
    Employer,
    JobPosting,
    utcnow,
)
from job_workers.records import record_status
from tests.offline_webapp import empty_services, indexed_candidate, offline_app, refused_field
from tests.resume_samples import pdf_resume
from tests.web_helpers import resume_upload
from webapp.schemas import known_skills


def test_only_a_candidates_latest_resume_shows_what_search_read_from_it(tmp_path):
    services = empty_services(tmp_path)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
    for resume_id in ("res_older", "res_ada"):
        record_status(services.db, "resume", resume_id, "processed", {"candidate_id": "ada"})
    record_status(services.db, "resume", "res_new", "received", {"candidate_id": "bob"})
    web = offline_app(services, CONSOLE=True).test_client()

    latest, older, unprocessed = (
        web.get(f"/api/resumes/{r}").json for r in ("res_ada", "res_older", "res_new")
    )

    assert latest["profile"] == {"skills": ["python"], "yearsOfExperience": None}
    assert older["profile"] is None and unprocessed["profile"] is None
    assert "Ada Lovelace" not in str(latest)  # contact details are what an unlock pays for
    page = web.get("/items/resume/res_ada").text
    assert re.search(r'data-testid="profile">skills: python;\s+experience: not found', page)
    assert 'data-testid="profile"' not in web.get("/items/resume/res_older").text


def test_employers_find_candidates_by_skill_and_experience_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the skill rows and their cascade, on both databases
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(54):
            session.add(
                Candidate(
                    candidate_id=f"c{number:02d}",
                    resume_id=f"res_{number}",
                    skills=["python", "sql"] if number % 2 else ["python"],
                    years_of_experience=number % 10,
                    name="Hidden Name",
                    email="hidden@example.com",
                    indexed_at=utcnow(),
                )
            )

    # Most experienced first (9 years: c49, c39, ..., c09; then 8 years), a page of 50 at a
    # time: the 4 left are the last of those with none (c30, c20, c10, c00).
    first = web.get("/api/candidates?skills=python")
    assert first.status_code == 200, first.json
    found_first = [c["candidateId"] for c in first.json["candidates"]]
    assert found_first[:6] == ["c49", "c39", "c29", "c19", "c09", "c48"]
    assert len(found_first) == 50 and first.json["next"] == "0.c40"
    rest = web.get(f"/api/candidates?skills=python&after={first.json['next']}").json
    assert [c["candidateId"] for c in rest["candidates"]] == ["c30", "c20", "c10", "c00"]
    assert rest["next"] is None
    assert sorted(found_first + ["c30", "c20", "c10", "c00"]) == [f"c{n:02d}" for n in range(54)]
    # A cursor this search never gave (a bare id, as pages cut by id once gave) names the field.
    assert refused_field(web.get("/api/candidates?skills=python&after=c49")) == (400, "after")
    assert refused_field(web.get(f"/api/candidates?after={'9' * 30}.c49")) == (400, "after")

    # Every skill asked for (any case), and the experience; never the contact details.
    found = web.get("/api/candidates?skills=SQL,%20Python&min_years=8").json
    assert found == {
        "candidates": [
            {"candidateId": f"c{n:02d}", "skills": ["python", "sql"], "yearsOfExperience": n % 10}
            for n in (49, 39, 29, 19, 9)
        ],
        "next": None,
    }
    assert "Hidden" not in web.get("/api/candidates").text

    # A new resume's skills replace the old; an erased candidate is gone from search.
    with services.db.sessions.begin() as session:
        session.get(Candidate, "c09").skills = ["python"]
        session.execute(delete(Candidate).where(Candidate.candidate_id == "c19"))
    again = web.get("/api/candidates?skills=sql&min_years=8").json["candidates"]
    assert [c["candidateId"] for c in again] == ["c49", "c39", "c29"]
    with services.db.sessions() as session:
        assert session.scalars(select(CandidateSkill).where(CandidateSkill.candidate_id == "c19")).all() == []


def test_a_search_reads_candidates_in_the_order_of_their_index(tmp_path):
    """SQLite walks ix_candidates_experience for the page: no sort of every match."""
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()
    searches = []

    def keep_search(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM candidates" in statement and "ORDER BY" in statement:
            searches.append((statement, parameters))

    event.listen(services.db.engine, "before_cursor_execute", keep_search)
    assert web.get("/api/candidates?skills=python&min_years=2&after=3.c1").status_code == 200
    [(statement, parameters)] = searches
    with services.db.engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("ix_candidates_experience" in step for step in plan), (statement, plan)
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_the_candidates_page_finds_them_and_leads_to_their_unlock(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))

    page = web.get("/candidates?skills=Python&min_years=").text
    [row] = re.findall(r'<table data-testid="candidates">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert '<a href="/items?q=ada">ada</a>' in row and "Ada Lovelace" not in page
    assert '<a href="/?candidate_id=ada#unlock">Unlock</a>' in row
    assert 'value="python"' in page  # the skills as search read them
    assert 'data-testid="no-candidates"' in web.get("/candidates?skills=kafka").text
    refused = web.get("/candidates?skills=python,+cobol")
    assert refused.status_code == 400 and 'value="python, cobol"' in refused.text  # as typed
    assert "skills: search knows no skill &#39;cobol&#39;; GET /api/skills lists the 106" in refused.text

    # The unlock form opens with the candidate filled in.
    dashboard = web.get("/?candidate_id=ada").text
    assert re.search(r'name="candidate_id" required list="known-candidates"\s+value="ada"', dashboard)


def test_the_candidates_page_ranks_the_best_for_a_posting_each_to_unlock_for_its_employer(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),  # python
                JobPosting(
                    posting_id="p-py", employer_id="acme", title="Python engineer", required_skills=["python"]
                ),
                JobPosting(
                    posting_id="p-rust", employer_id="acme", title="Rust engineer", required_skills=["rust"]
                ),
            ]
        )

    page = web.get("/candidates?posting_id=p-py&skills=&min_years=")

    assert page.status_code == 200
    [row] = re.findall(r'<table data-testid="fits">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert " ".join(re.sub(r"<[^>]+>", " ", row).split()) == "ada 100 python nothing not found Unlock"
    assert '<a href="/?candidate_id=ada&amp;employer_id=acme#unlock">Unlock</a>' in row
    assert '<option value="p-py" selected>Python engineer</option>' in page.text
    assert '<a href="/items?q=p-py&amp;kind=application" data-testid="posting-applications">' in page.text
    assert 'data-testid="no-fits"' in web.get("/candidates?posting_id=p-rust").text
    unknown = web.get("/candidates?posting_id=p-gone")
    assert unknown.status_code == 404 and "no job posting p-gone" in unknown.text
    # The unlock form opens with the candidate and the posting's employer chosen.
    with services.db.sessions.begin() as session:
        session.add(
            Employer(
                employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_card_visa"
            )
        )
    dashboard = web.get("/?candidate_id=ada&employer_id=acme").text
    assert '<option value="acme" selected>' in dashboard


def test_a_candidate_search_names_what_is_wrong_with_its_question(tmp_path):
    web = offline_app(empty_services(tmp_path)).test_client()
    unknown = web.get("/api/candidates?skills=python,pyton")
    assert refused_field(unknown) == (400, "skills")
    assert (
        "search knows no skill 'pyton'; did you mean python? GET /api/skills lists" in unknown.json["detail"]
    )
    for url, field in [
        ("/api/candidates?min_years=-1", "min_years"),
        ("/api/candidates?min_years=many", "min_years"),
        ("/api/candidates?after=a%20b", "after"),
        ("/api/candidates?skill=python", "skill"),
        ("/api/candidates?skills=" + ",".join(["python", "java", "sql", "go", "rust", "css"] * 2), None),
    ]:
        answer = web.get(url)
        if field is None:  # repeated names count once
            assert answer.status_code == 200, answer.json
        else:
            assert refused_field(answer) == (400, field), url
    too_many = quote(",".join(list(SKILLS)[:11]))  # c++ and c# among them
    assert "at most 10 skills at once" in web.get(f"/api/candidates?skills={too_many}").json["detail"]
    assert web.get(f"/api/candidates?skills={quote('C++, c#')}").status_code == 200
    # Known skills, but longer than the document's maxLength of 500.
    too_long = web.get("/api/candidates?skills=" + "python," * 72)
    assert refused_field(too_long) == (400, "skills")
    assert "at most 500 characters" in too_long.json["detail"]


def test_a_candidate_search_takes_a_skill_as_resumes_write_it(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        session.add(
            Candidate(
                candidate_id="kim",
                resume_id="res_kim",
                skills=["javascript", "kubernetes", "postgresql"],
                indexed_at=utcnow(),
            )
        )
    found = web.get("/api/candidates?skills=K8s,js,postgres,kubernetes").json["candidates"]
    assert [candidate["candidateId"] for candidate in found] == ["kim"]
    page = web.get("/candidates?skills=k8s,+JS").text
    assert 'value="kubernetes, javascript"' in page  # the names search keeps them by


def test_a_candidate_sees_the_open_postings_that_fit_best_and_why(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services, CONSOLE=True).test_client()

    def posting(posting_id, required, nice=(), min_years=0, is_open=True):
        return JobPosting(
            posting_id=posting_id,
            employer_id="acme",
            title=f"Job {posting_id}",
            required_skills=list(required),
            nice_to_have_skills=list(nice),
            min_years=min_years,
            open=is_open,
        )

    with services.db.sessions.begin() as session:
        session.add_all(
            [
                posting("p-data", ["python", "sql", "spark"], ["kafka"], min_years=3),
                posting("p-web", ["javascript", "react"]),
                posting("p-py", ["python", "sql"], ["docker"], min_years=5),
                posting("p-filled", ["python", "sql"], ["docker"], is_open=False),
                Candidate(
                    candidate_id="ada",
                    resume_id="res_ada",
                    skills=["python", "sql", "docker"],
                    years_of_experience=6,
                    indexed_at=utcnow(),
                ),
            ]
        )
    record_status(services.db, "resume", "res_ada", "processed", {"candidate_id": "ada"})

    fits = web.get("/api/candidates/ada/postings?limit=2")
    assert fits.status_code == 200, fits.json
    assert fits.json == {
        "candidateId": "ada",
        "postings": [
            {
                "postingId": "p-py",
                "title": "Job p-py",
                "employerId": "acme",
                "score": 100,
                "matchedSkills": ["python", "sql"],
                "missingSkills": [],
                "matchedNiceToHave": ["docker"],
                "meetsExperience": True,
            },
            {
                "postingId": "p-data",
                "title": "Job p-data",
                "employerId": "acme",
                "score": 57,  # 70 * 2/3 + 0 + 10
                "matchedSkills": ["python", "sql"],
                "missingSkills": ["spark"],
                "matchedNiceToHave": [],
                "meetsExperience": True,
            },
        ],
    }
    everything = web.get("/api/candidates/ada/postings").json["postings"]
    # Not the filled one, nor p-web, which asks for none of her skills (though it would score 30).
    assert [p["postingId"] for p in everything] == ["p-py", "p-data"]
    assert web.get("/api/candidates/bob/postings").status_code == 404
    assert refused_field(web.get("/api/candidates/ada/postings?limit=0")) == (400, "limit")

    # The resume's page lists the best three, each with an Apply that fills in the form.
    page = web.get("/items/resume/res_ada").text
    fits_shown = re.search(r'data-testid="fits">(.*?)</dd>', page, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", fits_shown).split()) == (
        "Job p-py: scores 100 (has python, sql) Apply "
        "Job p-data: scores 57 (has python, sql; lacks spark) Apply"
    )
    assert '<a href="/?candidate_id=ada&amp;posting_id=p-py#apply">Apply</a>' in fits_shown
    # Once she applied, the posting leads to her application instead.
    applied = {"candidate_id": "ada", "posting_id": "p-py"}
    record_status(services.db, "application", "app_1", "submitted", applied)
    page = web.get("/items/resume/res_ada").text
    fits_shown = re.search(r'data-testid="fits">(.*?)</dd>', page, re.S).group(1)
    assert '<a href="/items/application/app_1">applied (submitted)</a>' in fits_shown
    assert "posting_id=p-py" not in fits_shown and "posting_id=p-data" in fits_shown
    record_status(services.db, "application", "app_1", "withdrawn", applied)  # she may apply again
    assert "posting_id=p-py#apply" in web.get("/items/resume/res_ada").text
    form = web.get("/?candidate_id=ada&posting_id=p-py").text
    assert '<option value="p-py" selected>' in form
    assert re.search(r'name="candidate_id" required list="known-candidates"\s+value="ada"', form)


def test_a_candidate_may_see_everything_hireflow_keeps_about_them(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the outbox's LIKE lookup, on both databases
    web = offline_app(services).test_client()
    sent = datetime(2026, 12, 2, 9, 0)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
        session.add(ContactAccess(employer_id="acme", candidate_id="ada", unlock_id="unl_1", granted_at=sent))
        for dedupe_key, recipient in [
            ("application-shortlisted:app_1:2251", "ada@example.com"),
            ("employer-shortlisted:app_1:2252", "hiring@acme.example"),  # about her, not to her
            ("application-shortlisted:app_9:2253", "ada@example.com"),  # another candidate's item
        ]:
            session.add(
                EmailOutboxEntry(
                    dedupe_key=dedupe_key,
                    recipient=recipient,
                    template=dedupe_key.split(":")[0],
                    status="sent",
                    claimed_until=sent,
                    sent_at=sent,
                    first_tried_at=sent,
                )
            )
    record_status(
        services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada", "posting_id": "p"}
    )
    record_status(services.db, "unlock", "unl_1", "unlocked", {"candidate_id": "ada", "employer_id": "acme"})

    kept = web.get("/api/candidates/ada")

    assert kept.status_code == 200, kept.json
    assert (
        kept.json["profile"]["name"] == "Ada Lovelace" and kept.json["profile"]["email"] == "ada@example.com"
    )
    assert [(i["kind"], i["id"], i["status"]) for i in kept.json["items"]] == [
        ("application", "app_1", "shortlisted"),
        ("unlock", "unl_1", "unlocked"),
    ]
    assert kept.json["contactAccess"] == [
        {"employerId": "acme", "unlockId": "unl_1", "grantedAt": "2026-12-02T09:00:00Z"}
    ]
    assert kept.json["emails"] == [
        {"template": "application-shortlisted", "status": "sent", "sentAt": "2026-12-02T09:00:00Z"}
    ]
    assert web.get("/api/candidates/bob").status_code == 404
    assert refused_field(web.get("/api/candidates/a%20b")) == (400, "candidate_id")


@pytest.mark.parametrize("newer_status", ["received", "processed", "rejected"])
def test_a_file_uploaded_again_after_a_newer_resume_is_taken_anew(recording, newer_status):
    # A candidate who goes back to their earlier resume uploads its file again: a repeat of
    # that upload would start nothing, and search would keep the newer one's profile.
    web, engine, services = recording
    first, second = pdf_resume(pages=1), pdf_resume(["Grace Hopper", "COBOL and SQL"])
    earlier = web.post("/api/resumes", **resume_upload(first))
    repeat = web.post("/api/resumes", **resume_upload(first))
    record_status(services.db, "resume", earlier.json["id"], "processed")
    newer = web.post("/api/resumes", **resume_upload(second))
    record_status(services.db, "resume", newer.json["id"], newer_status)

    again = web.post("/api/resumes", **resume_upload(first))
    again_repeated = web.post("/api/resumes", **resume_upload(first))

    assert (earlier.status_code, repeat.status_code, newer.status_code) == (202, 200, 202)
    assert repeat.json["id"] == earlier.json["id"]
    if newer_status == "rejected":
        # The newer file was refused as a resume, so the earlier one is still the profile's.
        assert (again.status_code, again.json["id"]) == (200, earlier.json["id"])
        return
    assert again.status_code == 202, again.json
    assert again.json["id"] not in (earlier.json["id"], newer.json["id"])
    assert web.get(again.headers["Location"]).json["details"]["attempt"] == 2
    # Sent twice, the new upload is a repeat of itself.
    assert (again_repeated.status_code, again_repeated.json["id"]) == (200, again.json["id"])


def test_the_skills_search_knows_are_listed_with_the_ways_resumes_write_them(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()

    listed = web.get("/api/skills")
    unchanged = web.get("/api/skills", headers={"If-None-Match": listed.headers["ETag"]})

    assert listed.status_code == 200
    skills = {skill["name"]: skill["alsoWritten"] for skill in listed.json["skills"]}
    assert list(skills)[:3] == ["python", "java", "javascript"] and len(skills) > 100
    assert skills["kubernetes"] == ["k8s"] and skills["python"] == []
    assert unchanged.status_code == 304
    # Every way listed is one search takes, for the skill listed.
    for name, aliases in skills.items():
        assert known_skills(",".join([name, *aliases])) == name
    token_needed = offline_app(services, API_TOKEN="a-token-of-some-length").test_client()
    assert token_needed.get("/api/skills").status_code == 401


def test_the_search_page_offers_every_skill_search_knows(tmp_path):
    page = offline_app(empty_services(tmp_path), CONSOLE=True).test_client().get("/candidates").text
    offered = re.findall(r'<option value="([^"]+)">', page.split('<datalist id="known-skills">')[1])
    assert offered[: len(SKILLS)] == list(SKILLS)
    listed = re.search(r'data-testid="known-skills"><summary>The (\d+) skills search knows</summary>', page)
    assert listed and int(listed.group(1)) == len(SKILLS)
