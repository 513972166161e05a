"""Interviews through the webapp: panels, time zones and working hours, and slot choices."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from chaos.flows import SLOT_ALREADY_CHOSEN
from hireflow.constants import Message
from hireflow.store import CalendarBooking, Interviewer, JobPosting
from job_workers.records import OTHER_TIMES_ASKED, SLOT_CHOSEN, record_details, record_status
from tests.concurrency import errors_all_at_once
from tests.offline_webapp import (
    RecordsMessages,
    RecordsVariables,
    empty_services,
    indexed_candidate,
    offline_app,
    recording_app_with,
    refused_field,
)
from tests.web_helpers import ADMIN, csrf_token
from webapp import create_app


def test_a_second_time_chosen_while_the_first_is_being_booked_is_refused(recording):
    # Both links of one offer, followed one after the other before the booking: only the
    # first choice is booked, so the second page must not say it is being booked too.
    web, engine, services = recording
    record_status(services.db, "interview", "int_1", "requested", {"application_id": "app_1"})
    monday, tuesday = (
        {"start": f"2026-12-{day}T09:00:00Z", "end": f"2026-12-{day}T10:00:00Z"} for day in (14, 15)
    )
    first, second = (services.slot_links.token_for("int_1", slot) for slot in (monday, tuesday))
    form = {"csrf_token": csrf_token(web.get(f"/interviews/slot/{first}").text)}

    chosen = web.post(f"/interviews/slot/{first}", data=form)
    again = web.post(f"/interviews/slot/{first}", data=form)
    other = web.post(f"/interviews/slot/{second}", data=form)

    assert (chosen.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert "you chose Monday 14 December 2026, 09:00 UTC already" in other.text
    assert engine.published == [(Message.INTERVIEW_SLOT_SELECTED, "int_1")]
    other_page = web.get(f"/interviews/slot/{second}").text
    assert "You chose Monday 14 December 2026, 09:00 UTC already" in other_page
    assert "Confirm this slot" not in other_page
    chosen_page = web.get(f"/interviews/slot/{first}").text
    assert "You chose this slot; we are booking it" in chosen_page and "Confirm this slot" not in chosen_page
    assert SLOT_ALREADY_CHOSEN.search(chosen_page)  # as the chaos flows read it
    assert "slot chosen" not in web.get("/items/interview/int_1").text  # the booking says it
    # A new offer (after a conflict, or the recruiter's follow-up) forgets the choice; the
    # first link followed again then publishes nothing and holds nothing up.
    record_details(services.db, "interview", "int_1", "requested", forget=(SLOT_CHOSEN,))
    assert web.post(f"/interviews/slot/{first}", data=form).status_code == 200
    assert web.post(f"/interviews/slot/{second}", data=form).status_code == 202


def test_of_times_of_one_offer_chosen_at_once_one_reaches_the_engine(recording):
    # Two tabs, or two taps: both read no choice yet. Every message published would wait in
    # the engine's buffer for an hour, and the next offer (a move) would book it unasked.
    web, engine, services = recording
    record_status(services.db, "interview", "int_1", "requested", {"application_id": "app_1"})
    days = iter(range(14, 22))
    domain = web.application.extensions["hireflow"]

    def choose(day: int) -> None:
        slot = {"start": f"2026-12-{day}T09:00:00Z", "end": f"2026-12-{day}T10:00:00Z"}
        with web.application.app_context():
            domain.select_slot(services.slot_links.token_for("int_1", slot))

    errors = errors_all_at_once(8, lambda: next(days), choose)

    assert engine.published == [(Message.INTERVIEW_SLOT_SELECTED, "int_1")]
    assert sorted(getattr(error, "title", repr(error)) for error in errors) == ["Another time chosen"] * 7


def test_a_time_chosen_while_the_engine_is_down_holds_up_no_other(tmp_path):
    # The engine certainly has no message: the candidate may try another time, not be told
    # the first is being booked.
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()
    record_status(services.db, "interview", "int_1", "requested", {"application_id": "app_1"})
    monday, tuesday = (
        {"start": f"2026-12-{day}T09:00:00Z", "end": f"2026-12-{day}T10:00:00Z"} for day in (14, 15)
    )
    first, second = (services.slot_links.token_for("int_1", slot) for slot in (monday, tuesday))
    form = {"csrf_token": csrf_token(web.get(f"/interviews/slot/{first}").text)}

    answers = [web.post(f"/interviews/slot/{token}", data=form) for token in (first, second)]

    assert [answer.status_code for answer in answers] == [503, 503]
    assert "Retry-After" in answers[1].headers


def test_a_link_of_an_earlier_offer_is_refused_before_it_reaches_the_engine(recording):
    # After a slot was taken, or the interview moved, the candidate has two emails of
    # times; a time from the first would fail to book and only bring yet more times.
    web, engine, services = recording
    monday, tuesday = (
        {"start": f"2030-03-{day}T09:00:00Z", "end": f"2030-03-{day}T10:00:00Z"} for day in ("04", "05")
    )
    record_status(services.db, "interview", "int_1", "requested", {"offered_slots": [tuesday]})
    earlier, latest = (services.slot_links.token_for("int_1", slot) for slot in (monday, tuesday))
    page = web.get(f"/interviews/slot/{earlier}").text
    assert "This time is from an earlier email" in page and "Confirm this slot" not in page
    latest_page = web.get(f"/interviews/slot/{latest}").text
    assert "Confirm this slot" in latest_page
    form = {"csrf_token": csrf_token(latest_page)}
    refused = web.post(f"/interviews/slot/{earlier}", data=form)
    assert refused.status_code == 409 and "choose one of the times in the latest" in refused.text
    assert engine.published == []
    chosen = web.post(f"/interviews/slot/{latest}", data=form)
    assert chosen.status_code == 202 and engine.published == [(Message.INTERVIEW_SLOT_SELECTED, "int_1")]


def test_an_interview_in_the_candidates_time_zone_shows_its_slots_there(tmp_path):
    services = empty_services(tmp_path)
    web, engine = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    request = {
        "application_id": "app_1",
        "lead_recruiter_email": "lead@example.com",
        "panel": [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}],
    }

    unknown = web.post("/api/interviews", json={**request, "candidate_timezone": "Europe/Atlantis"})
    started = web.post("/api/interviews", json={**request, "candidate_timezone": "Europe/Berlin"})

    assert refused_field(unknown) == (400, "candidate_timezone")
    assert unknown.json["invalid_params"][0]["reason"] == (
        "Europe/Atlantis is not a time zone the tz database knows, like Europe/Berlin"
    )
    assert started.status_code == 202, started.json
    assert engine.variables[-1]["candidate_timezone"] == "Europe/Berlin"
    slot = {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}
    page = web.get(f"/interviews/slot/{services.slot_links.token_for(started.json['id'], slot)}").text
    assert "Monday 14 December 2026, 10:00 to 11:00 (Europe/Berlin)" in page


def test_each_panelist_works_in_their_zone_and_hours_given_or_on_file(tmp_path):
    services = empty_services(tmp_path)
    web, engine = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    admin = offline_app(services).test_client()
    part_time = {"days": ["mon", "tue"], "start": "10:00", "end": "14:30"}
    saved = admin.put(
        "/api/admin/interviewers/ivy",
        json={
            "name": "Ivy",
            "email": "ivy@example.com",
            "timezone": "Asia/Tokyo",
            "working_hours": part_time,
        },
        headers=ADMIN,
    )
    assert saved.status_code == 200, saved.json
    assert admin.get("/api/admin/interviewers/ivy", headers=ADMIN).json == saved.json
    assert admin.get("/api/admin/interviewers/max", headers=ADMIN).status_code == 404
    for wrong, field in [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"working_hours": {**part_time, "end": "09:00"}}, "working_hours"),  # before it starts
        ({"working_hours": {**part_time, "start": "10:15"}}, "working_hours.start"),  # off the grid
        ({"working_hours": {**part_time, "days": ["mon", "mon"]}}, "working_hours"),
        ({"working_hours": {**part_time, "days": []}}, "working_hours.days"),
    ]:
        refused = admin.put("/api/admin/interviewers/ivy", json={**saved.json, **wrong}, headers=ADMIN)
        assert refused_field(refused) == (400, field), wrong
    sunday_to_thursday = {"days": ["sun", "mon", "tue", "wed", "thu"], "start": "08:00", "end": "16:00"}
    panel = [
        {"username": "ivy", "email": "ivy@example.com", "name": "Ivy"},  # on file: Tokyo, part time
        {"username": "max", "email": "max@example.com", "name": "Max", "timezone": "Asia/Jerusalem"}
        | {"working_hours": sunday_to_thursday},
        {"username": "ola", "email": "ola@example.com", "name": "Ola"},  # neither: UTC, weekdays 9 to 17
    ]
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com", "panel": panel}

    started = web.post("/api/interviews", json=request)

    assert started.status_code == 202, started.json
    given = [(member["timezone"], member["working_hours"]) for member in engine.variables[-1]["panel"]]
    assert given == [("Asia/Tokyo", part_time), ("Asia/Jerusalem", sunday_to_thursday), (None, None)]
    panel[0]["timezone"] = "Mars/Olympus"
    assert refused_field(web.post("/api/interviews", json=request)) == (400, "panel.0.timezone")
    panel[0].pop("timezone")
    panel[1]["working_hours"] = {**sunday_to_thursday, "end": "07:00"}
    assert refused_field(web.post("/api/interviews", json=request)) == (400, "panel.1.working_hours")
    # The interview form says when and where each interviewer on file works.
    dashboard = offline_app(services, CONSOLE=True).test_client().get("/").text
    zones = re.search(r'data-testid="panel-zones">(.*?)</p>', dashboard, re.S).group(1)
    assert " ".join(zones.split()).endswith("where they work: ivy, Asia/Tokyo mon,tue 10:00-14:30.")


def test_an_interviewer_who_left_is_removed_from_the_file(tmp_path):
    services = empty_services(tmp_path)
    web, _ = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    admin = offline_app(services).test_client()
    ivy = "/api/admin/interviewers/ivy"
    read = admin.put(ivy, json={"name": "Ivy", "email": "ivy@example.com"}, headers=ADMIN)
    admin.put(ivy, json={"name": "Ivy B", "email": "ivy@example.com"}, headers=ADMIN)  # changed since

    stale = admin.delete(ivy, headers={**ADMIN, "If-Match": read.headers["ETag"]})
    assert stale.status_code == 412 and admin.get(ivy, headers=ADMIN).json["name"] == "Ivy B"
    removed = admin.delete(ivy, headers={**ADMIN, "If-Match": admin.get(ivy, headers=ADMIN).headers["ETag"]})
    again = admin.delete(ivy, headers=ADMIN)

    assert (removed.status_code, removed.data) == (204, b"")
    assert (again.status_code, admin.get(ivy, headers=ADMIN).status_code) == (404, 404)
    # A panel names them by username alone no more; given in full, they still can be on one.
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com"}
    by_username = web.post("/api/interviews", json={**request, "panel": [{"username": "ivy"}]})
    assert refused_field(by_username) == (400, "panel.0.email")
    assert admin.delete(ivy).status_code == 401


def test_an_interviewer_on_file_joins_a_panel_by_username_alone(tmp_path):
    services = empty_services(tmp_path)
    engine = RecordsVariables()
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    web = app.test_client()
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada", email="ada@example.com"))
        session.add(Interviewer(username="ivy", name="Ivy Interviewer", email="ivy@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com"}
    max_in_full = {"username": "max", "email": "max@example.com", "name": "Max"}

    by_username = [{"username": "ivy"}, {"username": "max"}]
    unknown = web.post("/api/interviews", json={**request, "panel": by_username})
    started = web.post("/api/interviews", json={**request, "panel": [{"username": "ivy"}, max_in_full]})

    assert refused_field(unknown) == (400, "panel.1.email")
    assert unknown.json["invalid_params"][0]["reason"] == (
        "no interviewer 'max' is on file, so the request must give this"
    )
    assert started.status_code == 202, started.json
    named = [(m["username"], m["email"], m["name"]) for m in engine.variables[-1]["panel"]]
    assert named == [("ivy", "ivy@example.com", "Ivy Interviewer"), ("max", "max@example.com", "Max")]
    # Asked again with what the file gave written out, it is the same request: one instance.
    ivy_in_full = {"username": "ivy", "email": "ivy@example.com", "name": "Ivy Interviewer"}
    repeated = web.post("/api/interviews", json={**request, "panel": [ivy_in_full, max_in_full]})
    assert (repeated.status_code, repeated.json["id"]) == (200, started.json["id"])
    # The console's panel takes the username alone too, and starts as the interviewers on
    # file, while they fit on one panel.
    dashboard = web.get("/").text
    assert prefilled_panel(dashboard) == "ivy\n"
    form = {"csrf_token": csrf_token(dashboard), **request, "round": "2", "panel": prefilled_panel(dashboard)}
    scheduled = web.post("/interviews", data=form)
    assert scheduled.status_code == 303, scheduled.text
    assert [member["name"] for member in engine.variables[-1]["panel"]] == ["Ivy Interviewer"]
    with services.db.sessions.begin() as session:
        session.add_all(Interviewer(username=n, name=n, email=f"{n}@example.com") for n in "abcdef")
    assert prefilled_panel(web.get("/").text) == ""  # seven: a panel takes six at most


def shortlisted_for(tmp_path, title: str):
    """Services, a webapp that records its starts, and the engine double: Ada's application
    app_1 is shortlisted for posting p-1, ``title``, whose recruiters are on file."""
    services = empty_services(tmp_path)
    posting = JobPosting(posting_id="p-1", title=title, employer_id="acme")
    posting.recruiter_team_email = "team@acme.example"
    web, engine = recording_app_with(
        services, indexed_candidate("ada", name="Ada", email="ada@example.com"), posting
    )
    record_status(
        services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada", "posting_id": "p-1"}
    )
    return services, web, engine


def test_an_interview_escalates_to_the_postings_recruiters_unless_it_names_a_lead(tmp_path):
    services, web, engine = shortlisted_for(tmp_path, "Engineer")
    # An application whose record names no posting (as an old one may) has no recruiters to fall back on.
    record_status(services.db, "application", "app_2", "shortlisted", {"candidate_id": "ada"})
    ivy = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]

    by_posting = web.post("/api/interviews", json={"application_id": "app_1", "panel": ivy})
    lead = {"lead_recruiter_email": "lead@acme.example"}
    named = web.post("/api/interviews", json={"application_id": "app_1", "round": 2, "panel": ivy, **lead})
    unknown = web.post("/api/interviews", json={"application_id": "app_2", "panel": ivy})

    assert (by_posting.status_code, named.status_code) == (202, 202), (by_posting.json, named.json)
    given = [variables["lead_recruiter_email"] for variables in engine.variables]
    assert given == ["team@acme.example", "lead@acme.example"]
    # The emails say which job the interview is for.
    assert [variables["posting_title"] for variables in engine.variables] == ["Engineer", "Engineer"]
    assert refused_field(unknown) == (400, "lead_recruiter_email")
    assert "the posting of application app_2 names no recruiters" in unknown.json["detail"]


def test_the_slot_page_says_which_job_the_interview_is_for(tmp_path):
    services, web, _ = shortlisted_for(tmp_path, "Welder")
    ivy = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]
    started = web.post("/api/interviews", json={"application_id": "app_1", "panel": ivy})
    slot = {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}
    page = web.get(f"/interviews/slot/{services.slot_links.token_for(started.json['id'], slot)}").text
    assert 'For the job "Welder"' in page
    assert web.get(started.headers["Location"]).json["details"]["posting_title"] == "Welder"


def prefilled_panel(dashboard: str) -> str:
    return re.search(r'<textarea name="panel"[^>]*>(.*?)</textarea>', dashboard, re.S).group(1)


def booked(services, interview_id: str, start: datetime, sequence: int = 0) -> str:
    """Book ``interview_id`` in the store for an hour from ``start``, as the booking step
    does (``sequence``: the calendar's count of changes); its start as the variable gives it."""
    with services.db.sessions.begin() as session:
        session.merge(
            CalendarBooking(
                interview_id=interview_id,
                interviewer_ids=["ivy"],
                start=start,
                end=start + timedelta(hours=1),
                status="booked",
                sequence=sequence,
            )
        )
    return start.isoformat() + "Z"


def given_up(services, interview_id: str, *starts: str) -> None:
    """What the release step leaves: the booking cancelled, the times it gave up recorded."""
    with services.db.sessions.begin() as session:
        session.get(CalendarBooking, interview_id).status = "cancelled"
    moved = [{"start": start, "end": start} for start in starts]
    record_details(services.db, "interview", interview_id, "requested", rescheduled_from=moved)


# Where an instance waits from the booking until the interview is over.
IN_THE_BOOKED_PART = [{"elementId": "InterviewBooked", "type": "SUB_PROCESS", "state": "ACTIVE"}]


def test_a_booked_interview_is_moved_once_per_booking_and_only_while_it_can_be(recording):
    web, engine, services = recording
    started = {"application_id": "app_1", "process_instance_key": "1001"}
    record_status(services.db, "interview", "int_1", "requested", started)
    move = "/api/interviews/int_1/rescheduling"
    not_booked = web.post(move)
    assert (not_booked.status_code, not_booked.json["title"]) == (409, "Interview not booked")

    tomorrow = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(days=1)
    first = booked(services, "int_1", tomorrow)
    # Booked in the store, but the instance is not (yet, or on an older model) where a new
    # time is heard: the message would be lost, so nothing is published.
    not_waiting = web.post(move)
    assert (not_waiting.status_code, not_waiting.json["title"]) == (409, "Interview cannot be moved now")
    engine.active = IN_THE_BOOKED_PART
    assert [web.post(move).status_code, web.post(move).status_code] == [202, 200]
    assert engine.published == [(Message.INTERVIEW_RESCHEDULE_REQUESTED, "int_1")]
    [asked] = web.get("/api/interviews/int_1").json["details"]["move_requests"]  # the repeat adds none
    assert (asked["time"], asked["asked_by"], asked["asker"]) == (first, "the API", "api")
    # A client's retry, its first answer lost, meets the instance gone on to give the time
    # up, then the time given up: each is answered as the repeat it is.
    engine.active = []
    assert web.post(move).status_code == 200
    given_up(services, "int_1", first)
    assert web.post(move).status_code == 200
    engine.active = IN_THE_BOOKED_PART

    # Booked again at another time: a second move is one more request.
    second = booked(services, "int_1", tomorrow + timedelta(days=1), sequence=2)
    assert web.post(move).status_code == 202
    given_up(services, "int_1", first, second)
    booked(services, "int_1", tomorrow + timedelta(days=2), sequence=4)
    too_often = web.post(move)
    assert (too_often.status_code, too_often.json["title"]) == (409, "Moved too often")
    assert "ask the recruiter" in too_often.json["detail"]

    record_status(services.db, "interview", "int_2", "requested", {**started, "application_id": "app_2"})
    booked(services, "int_2", tomorrow - timedelta(days=2))
    begun = web.post("/api/interviews/int_2/rescheduling")
    assert (begun.status_code, begun.json["title"]) == (409, "Interview begun")
    record_status(services.db, "interview", "int_2", "done")
    assert web.post("/api/interviews/int_2/rescheduling").json["title"] == "Interview over"
    assert web.post("/api/interviews/int_nobody/rescheduling").status_code == 404
    assert len(engine.published) == 2


def test_a_request_naming_the_booked_start_never_moves_a_later_booking(recording):
    # A client's retry that comes after the interview was booked again (its queue held it
    # for hours) must not move the new time: naming the start it saw makes it a repeat.
    web, engine, services = recording
    record_status(services.db, "interview", "int_1", "requested", {"process_instance_key": "1001"})
    engine.active = IN_THE_BOOKED_PART
    tomorrow = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(days=1)
    first = booked(services, "int_1", tomorrow)
    move = "/api/interviews/int_1/rescheduling"
    assert web.get("/api/interviews/int_1").json["booking"]["start"] == first
    # The same moment written in another zone, as a client may send it, is the same start.
    in_berlin = (tomorrow + timedelta(hours=1)).isoformat() + "+01:00"
    assert web.post(move, json={"booked_start": in_berlin}).status_code == 202
    given_up(services, "int_1", first)
    booked(services, "int_1", tomorrow + timedelta(days=1), sequence=2)

    late_retry = web.post(move, json={"booked_start": first})
    assert (late_retry.status_code, late_retry.json["title"]) == (409, "Interview moved")
    assert engine.published == [(Message.INTERVIEW_RESCHEDULE_REQUESTED, "int_1")]
    for body, field in [({"booked_start": "tomorrow"}, "booked_start"), ({"start": first}, "start")]:
        wrong = web.post(move, json=body)
        assert wrong.status_code == 400 and wrong.json["invalid_params"][0]["name"] == field, wrong.json
    naive = web.post(move, json={"booked_start": first.removesuffix("Z")})
    assert naive.status_code == 400 and "timezone" in naive.json["invalid_params"][0]["reason"]
    assert len(engine.published) == 1


def test_how_often_an_interview_may_move_is_a_setting(tmp_path):
    services = empty_services(tmp_path)
    engine = RecordsMessages()
    engine.active = IN_THE_BOOKED_PART
    tomorrow = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for limit in (1, 0):
        web = create_app({"TESTING": True, "MAX_RESCHEDULES": limit}, engine_client=engine, services=services)
        interview_id = f"int_{limit}"
        record_status(services.db, "interview", interview_id, "requested", {"process_instance_key": "1001"})
        first = booked(services, interview_id, tomorrow)
        move = web.test_client().post(f"/api/interviews/{interview_id}/rescheduling")
        if limit:
            assert move.status_code == 202
            given_up(services, interview_id, first)
            booked(services, interview_id, tomorrow + timedelta(days=1), sequence=2)
            move = web.test_client().post(f"/api/interviews/{interview_id}/rescheduling")
            assert "was moved once already" in move.json["detail"]
        else:
            assert "this interview cannot be moved here" in move.json["detail"]
        assert (move.status_code, move.json["title"]) == (409, "Moved too often")
    assert len(engine.published) == 1


def test_a_panelists_link_asks_for_another_time_in_their_words_and_zone(tmp_path):
    # A panelist who cannot make it asked the recruiter, who moved it by hand; their
    # invitation now has a link of their own, and its page speaks to them where they are.
    services = empty_services(tmp_path)
    web, engine = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    with services.db.sessions.begin() as session:
        session.add(Interviewer(username="ola", name="Ola", email="ola@example.com", timezone="Asia/Tokyo"))
    panel = [
        {"username": "max", "email": "max@example.com", "name": "Max", "timezone": "America/New_York"},
        {"username": "ola"},  # on file: Tokyo
        {"username": "kim", "email": "kim@example.com", "name": "Kim"},  # no zone anywhere: UTC
    ]
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com", "panel": panel}
    interview_id = web.post("/api/interviews", json=request).json["id"]
    assert "panel_timezones" not in web.get(f"/api/interviews/{interview_id}").json["details"]
    record_details(services.db, "interview", interview_id, "requested", process_instance_key="1001")
    engine.active = IN_THE_BOOKED_PART
    start = booked(services, interview_id, datetime(2030, 3, 4, 9, 0))

    def link(panelist: str) -> str:
        return f"/interviews/reschedule/{services.reschedule_links.token_for(interview_id, start, panelist)}"

    pages = {name: web.get(link(name)).text for name in ("max", "ola", "kim")}
    assert (
        "The interview is booked for Monday 4 March 2030, 04:00 to 05:00 (America/New_York)" in pages["max"]
    )
    assert "Monday 4 March 2030, 18:00 to 19:00 (Asia/Tokyo)" in pages["ola"]
    assert "Monday 4 March 2030, 09:00 to 10:00 UTC" in pages["kim"]
    assert "the candidate chooses a new time from those the panel is free at" in " ".join(
        pages["max"].split()
    )
    form = {"csrf_token": csrf_token(pages["max"])}

    asked = web.post(link("max"), data=form)
    after_another = web.post(link("ola"), data=form)  # another panelist, a moment later

    assert asked.status_code == 202, asked.text
    assert "the candidate and the other interviewers are told" in " ".join(asked.text.split())
    assert after_another.status_code == 200 and "This time is given up already" in after_another.text
    assert engine.published == [(Message.INTERVIEW_RESCHEDULE_REQUESTED, interview_id)]
    [asked] = web.get(f"/api/interviews/{interview_id}").json["details"]["move_requests"]
    assert (asked["time"], asked["asked_by"]) == (start, "panelist max")
    # Kept so that the notice of the move can say who asked: the panel by name.
    assert (asked["asker"], asked["panelist"]) == ("panelist", "max")
    given_up(services, interview_id, start)
    assert "This time is given up already" in web.get(link("kim")).text
    assert "You asked for another time already" in web.get(link("max")).text
    assert len(engine.published) == 1
    # The candidate did not ask: their page says an interviewer cannot make it, not "you asked".
    candidates = web.get(f"/interviews/reschedule/{services.reschedule_links.token_for(interview_id, start)}")
    assert "One of your interviewers cannot make this time, so it is given up." in candidates.text
    assert "You asked" not in candidates.text


def test_the_candidates_link_asks_for_another_time_for_the_booking_it_was_sent_for(recording):
    web, engine, services = recording
    record_status(
        services.db,
        "interview",
        "int_1",
        "requested",
        {
            "application_id": "app_1",
            "candidate_timezone": "Europe/Berlin",
            "posting_title": "Flight engineer",
            "process_instance_key": "1001",
        },
    )
    engine.active = IN_THE_BOOKED_PART
    start = datetime(2030, 3, 4, 9, 0)
    first = booked(services, "int_1", start)
    link = f"/interviews/reschedule/{services.reschedule_links.token_for('int_1', first)}"
    page = web.get(link)
    assert "Your interview is booked for Monday 4 March 2030, 10:00 to 11:00 (Europe/Berlin)" in page.text
    assert 'For the job "Flight engineer"' in page.text and "Ask for another time" in page.text
    form = {"csrf_token": csrf_token(page.text)}

    asked, again = web.post(link, data=form), web.post(link, data=form)
    assert (asked.status_code, again.status_code) == (202, 200)
    assert "the time on Monday 4 March 2030, 10:00 (Europe/Berlin) is given up" in asked.text
    assert "You asked for another time already" in again.text
    assert engine.published == [(Message.INTERVIEW_RESCHEDULE_REQUESTED, "int_1")]
    [asked] = web.get("/api/interviews/int_1").json["details"]["move_requests"]
    assert (asked["time"], asked["asked_by"]) == (first, "the candidate") and asked["asked_at"].endswith("Z")
    assert asked["asker"] == "candidate" and "panelist" not in asked

    given_up(services, "int_1", first)
    assert "You asked for another time already" in web.get(link).text
    ivys_link = services.reschedule_links.token_for("int_1", first, "ivy")
    panelists = web.get(f"/interviews/reschedule/{ivys_link}")
    assert "The candidate asked for another time, so this one is given up." in panelists.text
    # The new time's invitation has a link of its own; the old link moves nothing now.
    booked(services, "int_1", start + timedelta(days=1), sequence=2)
    old_page = web.get(link).text
    assert (
        "This link is for a time given up before" in old_page
        and "Ask for another time</button>" not in old_page
    )
    assert "now on\n    Tuesday 5 March 2030, 10:00 (Europe/Berlin)" in old_page
    refused = web.post(link, data=form)
    assert refused.status_code == 409 and "it is now on Tuesday 5 March 2030" in refused.text
    assert len(engine.published) == 1

    # Moved twice: the new time's link says to write to the recruiter, and moves nothing.
    given_up(services, "int_1", first, "2030-03-05T09:00:00Z")
    third = booked(services, "int_1", start + timedelta(days=2), sequence=4)
    latest = f"/interviews/reschedule/{services.reschedule_links.token_for('int_1', third)}"
    assert "It was moved 2 times already" in web.get(latest).text
    assert web.post(latest, data=form).status_code == 409
    record_status(services.db, "interview", "int_1", "cancelled")
    assert "This interview is cancelled; there is no time to move" in web.get(link).text
    assert len(engine.published) == 1

    bad = web.get("/interviews/reschedule/not-a-token")
    assert bad.status_code == 404 and "Reschedule link not valid" in bad.text


WAITING_FOR_THE_CHOICE = [{"elementId": "AwaitSlotChoice", "type": "RECEIVE_TASK", "state": "ACTIVE"}]


def offered(services, interview_id: str, *days: int, **details) -> list[dict]:
    """An interview whose latest offer is 09:00 UTC on each of ``days`` of March 2030."""
    times = [{"start": f"2030-03-{day:02}T09:00:00Z", "end": f"2030-03-{day:02}T10:00:00Z"} for day in days]
    started = {"process_instance_key": "1001", "offered_slots": times, **details}
    record_status(services.db, "interview", interview_id, "requested", started)
    return times


def test_a_candidate_asks_once_for_other_times_than_those_offered(recording):
    web, engine, services = recording
    times = offered(services, "int_1", 4, 5, 6)
    token = services.other_times_links.token_for("int_1", times[0]["start"])
    page = web.get(f"/interviews/other-times/{token}").text
    assert "Monday 4 March 2030, 09:00" in page and "Send me other times" in page
    form = {"csrf_token": csrf_token(page)}
    # Not yet where the model hears it (the offer is being emailed): nothing is published.
    not_waiting = web.post(f"/interviews/other-times/{token}", data=form)
    assert not_waiting.status_code == 409 and "try again in a minute" in not_waiting.text
    assert not_waiting.content_type.startswith("text/html")  # a page, for the candidate to read
    engine.active = WAITING_FOR_THE_CHOICE
    asked = web.post(f"/interviews/other-times/{token}", data=form)
    again = web.post(f"/interviews/other-times/{token}", data=form)
    assert (asked.status_code, again.status_code) == (202, 200)
    assert "we are emailing you new times" in asked.text and "You asked for other times already" in again.text
    assert engine.published == [(Message.INTERVIEW_OTHER_TIMES_REQUESTED, "int_1")]
    # A time of the offer turned down is not chosen meanwhile.
    slot_token = services.slot_links.token_for("int_1", times[1])
    chosen = web.post(f"/interviews/slot/{slot_token}", data=form)
    assert chosen.status_code == 409 and "you asked for other times than these" in chosen.text
    slot_page = web.get(f"/interviews/slot/{slot_token}").text
    assert "You asked for other times than these" in slot_page and "Confirm this slot" not in slot_page
    # The new offer (the worker forgets the request): the old link asks for nothing more.
    newer = offered(services, "int_1", 11, 12, 13, offers_turned_down=1)
    record_details(services.db, "interview", "int_1", "requested", forget=(OTHER_TIMES_ASKED,))
    assert web.post(f"/interviews/other-times/{token}", data=form).status_code == 200
    assert len(engine.published) == 1
    assert (
        web.post(
            f"/interviews/slot/{services.slot_links.token_for('int_1', newer[0])}", data=form
        ).status_code
        == 202
    )


def test_other_times_are_refused_when_they_could_not_be_given(recording):
    web, engine, services = recording
    engine.active = WAITING_FOR_THE_CHOICE
    form = {"csrf_token": csrf_token(web.get("/").text)}

    def ask(interview_id: str, start: str):
        return web.post(
            f"/interviews/other-times/{services.other_times_links.token_for(interview_id, start)}", data=form
        )

    times = offered(services, "int_2", 4, 5, 6, offers_turned_down=2)
    too_often = ask("int_2", times[0]["start"])
    assert too_often.status_code == 409 and "a recruiter will contact you" in too_often.text
    times = offered(services, "int_3", 4, 5, 6)
    earlier = ask("int_3", "2030-03-01T09:00:00Z")
    assert earlier.status_code == 409 and "from an earlier email" in earlier.text
    web.post(f"/interviews/slot/{services.slot_links.token_for('int_3', times[1])}", data=form)
    being_booked = ask("int_3", times[0]["start"])
    assert being_booked.status_code == 409 and "already; we are booking it" in being_booked.text
    times = offered(services, "int_4", 4, 5, 6)
    booked(services, "int_4", datetime(2030, 3, 5, 9))
    assert "is booked for" in ask("int_4", times[0]["start"]).text
    record_status(services.db, "interview", "int_4", "cancelled")
    assert ask("int_4", times[0]["start"]).status_code == 409
    assert (
        web.get(f"/interviews/other-times/{services.other_times_links.token_for('int_4', 'x')}").status_code
        == 200
    )
    assert web.get("/interviews/other-times/not-a-token").status_code == 404
    assert engine.published == [(Message.INTERVIEW_SLOT_SELECTED, "int_3")]


def test_the_api_asks_for_other_times_once_per_offer(recording):
    # A marketplace that shows the offer in its own pages asks as the emailed link does.
    web, engine, services = recording
    times = offered(services, "int_1", 4, 5, 6)
    ask = "/api/interviews/int_1/other-times"
    not_waiting = web.post(ask)
    assert not_waiting.status_code == 409 and not_waiting.json["title"] == "Times not offered now"
    engine.active = WAITING_FOR_THE_CHOICE
    asked = web.post(ask, json={"offer_start": times[0]["start"]})
    again = web.post(ask)  # the offer made now is the same one: a repeat
    assert (asked.status_code, again.status_code) == (202, 200)
    assert asked.json == {"status": "published", "message": "interview-other-times-requested"}
    assert engine.published == [(Message.INTERVIEW_OTHER_TIMES_REQUESTED, "int_1")]
    # A retry that arrives after the new offer names the old one: the new one stays offered.
    offered(services, "int_1", 11, 12, 13, offers_turned_down=1)
    record_details(services.db, "interview", "int_1", "requested", forget=(OTHER_TIMES_ASKED,))
    assert web.post(ask, json={"offer_start": "2030-03-04T10:00:00+01:00"}).status_code == 200
    late = web.post(ask, json={"offer_start": "2030-03-05T09:00:00Z"})  # no offer began then
    assert late.status_code == 409 and late.json["title"] == "Times no longer offered"
    assert len(engine.published) == 1


def test_the_api_refuses_other_times_that_could_not_be_given(recording):
    web, engine, services = recording
    engine.active = WAITING_FOR_THE_CHOICE
    assert web.post("/api/interviews/int_nobody/other-times").status_code == 404
    bad = web.post("/api/interviews/int_1/other-times", json={"offer_start": "monday"})
    assert bad.status_code == 400 and bad.json["invalid_params"][0]["name"] == "offer_start"
    record_status(services.db, "interview", "int_1", "requested", {"process_instance_key": "1001"})
    none_yet = web.post("/api/interviews/int_1/other-times")
    assert none_yet.status_code == 409 and none_yet.json["title"] == "No times offered"
    offered(services, "int_2", 4, 5, 6)
    booked(services, "int_2", datetime(2030, 3, 5, 9))
    assert web.post("/api/interviews/int_2/other-times").json["title"] == "Interview already booked"
    record_status(services.db, "interview", "int_3", "cancelled")
    assert web.post("/api/interviews/int_3/other-times").json["title"] == "Interview closed"
    offered(services, "int_4", 4, 5, 6, offers_turned_down=2)
    too_often = web.post("/api/interviews/int_4/other-times", json={"offer_start": "2030-03-04T09:00:00Z"})
    assert too_often.json["title"] == "Other times asked for often"
    assert engine.published == []


def test_how_many_offers_a_candidate_may_turn_down_is_a_setting(tmp_path):
    services = empty_services(tmp_path)
    engine = RecordsMessages()
    engine.active = WAITING_FOR_THE_CHOICE
    for limit in (1, 0):
        config = {"TESTING": True, "MAX_OFFERS_DECLINED": limit}
        web = create_app(config, engine_client=engine, services=services)
        interview_id = f"int_{limit}"
        offered(services, interview_id, 4, 5, 6, offers_turned_down=limit)
        ask = web.test_client().post(f"/api/interviews/{interview_id}/other-times")
        refused = "Other times asked for often" if limit else "Other times not offered"
        assert ask.status_code == 409 and ask.json["title"] == refused
    web = create_app({"TESTING": True, "MAX_OFFERS_DECLINED": 3}, engine_client=engine, services=services)
    offered(services, "int_3", 4, 5, 6, offers_turned_down=2)
    assert web.test_client().post("/api/interviews/int_3/other-times").status_code == 202


def test_a_slot_link_whose_time_was_taken_meanwhile_says_so(recording):
    # "From an earlier email" was wrong: the candidate chose it from the latest, and lost it.
    web, engine, services = recording
    lost = {"start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}
    offered(services, "int_1", 11, 12, 13, slot_lost=lost)
    token = services.slot_links.token_for("int_1", lost)
    page = web.get(f"/interviews/slot/{token}").text
    assert "This time was taken just before we could book it for you" in page
    assert "earlier email" not in page and "Confirm this slot" not in page
    form = {"csrf_token": csrf_token(web.get("/").text)}
    refused = web.post(f"/interviews/slot/{token}", data=form)
    assert refused.status_code == 409 and "taken just before we could book it" in refused.text
    earlier = services.slot_links.token_for("int_1", {**lost, "start": "2030-03-05T09:00:00Z"})
    assert "from an earlier email" in web.get(f"/interviews/slot/{earlier}").text
    assert engine.published == []
