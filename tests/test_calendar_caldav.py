"""The CalDAV calendar adapter against a real CalDAV server (Radicale) over HTTP (issue 3).

The panel's own meetings block slots (an all-day or "floating" one on its owner's clock,
a declined or cancelled one not at all), a booking lands in every panel member's calendar
once however often it is retried, a clash with an outside meeting is SLOT_TAKEN, and a
cancel takes the events out again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import caldav
import pytest
import requests
from flask import Flask

from hireflow.adapters.calendar import (
    CalDavCalendar,
    CalendarOwner,
    CalendarUnavailable,
    Slot,
    SlotTaken,
    StoreCalendar,
    WorkingHours,
)
from hireflow.engine.embedded import free_port
from hireflow.errors import PermanentFailure
from hireflow.store import Database
from job_workers.interview import InterviewSchedulingTasks
from job_workers.services import Services, calendar_from_environment
from tests.engine_helpers import unique_key

MONDAY = datetime(2030, 1, 7)  # a Monday, far from any other test's bookings
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def caldav_server(tmp_path_factory) -> str:
    """Radicale on a free port, no authentication, its collections in a temporary folder."""
    root = tmp_path_factory.mktemp("radicale")
    port = free_port()
    config = root / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\n"
        f"[storage]\nfilesystem_folder = {root / 'collections'}\n[logging]\nlevel = warning\n"
    )
    log = (root / "radicale.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"Radicale did not start: {(root / 'radicale.log').read_text()}") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(10)


def make_calendar(server: str, who: str):
    """The interviewer's calendar, as their calendar provider would have it."""
    return (
        caldav.DAVClient(url=server, username=who, password="any")
        .principal()
        .make_calendar(name=who, cal_id="calendar")
    )


def add_meeting(
    calendar, uid: str, start: datetime, end: datetime, *, transparent: bool = False, status: str = ""
) -> None:
    transp = "TRANSP:TRANSPARENT\n" if transparent else ""
    status = f"STATUS:{status}\n" if status else ""
    calendar.save_event(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//tests//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:{start:%Y%m%dT%H%M%S}Z\nDTEND:{end:%Y%m%dT%H%M%S}Z\n"
        f"{transp}{status}SUMMARY:Busy\nEND:VEVENT\nEND:VCALENDAR\n"
    )


@pytest.fixture
def panel(caldav_server):
    """Two interviewers with empty calendars of their own."""
    people = [unique_key("ivy"), unique_key("leo")]
    return people, {who: make_calendar(caldav_server, who) for who in people}


@pytest.fixture
def calendar(caldav_server, tmp_path) -> CalDavCalendar:
    db = Database(f"sqlite:///{tmp_path / 'domain.sqlite3'}")
    db.create_schema()
    return calendar_from_environment(
        db, {"HIREFLOW_CALDAV_CALENDAR_URL": caldav_server + "{interviewer}/calendar/"}
    )


def events(calendar_collection) -> list[str]:
    return sorted(str(e.icalendar_component["uid"]) for e in calendar_collection.events())


def test_the_environment_chooses_caldav_or_the_store(calendar, tmp_path):
    assert isinstance(calendar, CalDavCalendar)
    db = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert isinstance(calendar_from_environment(db, {}), StoreCalendar)


def test_an_interviewers_own_meeting_blocks_its_slots(calendar, panel):
    people, calendars = panel
    add_meeting(calendars[people[1]], "dentist", MONDAY.replace(hour=9), MONDAY.replace(hour=11))
    add_meeting(
        calendars[people[0]],
        "lunch-maybe",
        MONDAY.replace(hour=11),
        MONDAY.replace(hour=12),
        transparent=True,
    )

    add_meeting(
        calendars[people[0]],
        "called-off",
        MONDAY.replace(hour=12),
        MONDAY.replace(hour=13),
        status="CANCELLED",
    )
    add_meeting(
        calendars[people[1]], "maybe", MONDAY.replace(hour=13), MONDAY.replace(hour=14), status="TENTATIVE"
    )

    slots = calendar.free_slots(people, Slot(MONDAY, MONDAY + timedelta(days=1)), HOUR, limit=3)

    # 9-11 is taken by the dentist; a meeting marked free, or cancelled, does not count; a
    # tentative one does.
    assert [s.start.hour for s in slots] == [11, 12, 14]


def add_event(calendar, uid: str, times: str) -> None:
    """An event with ``times`` as written: DTSTART and DTEND lines, with or without a zone."""
    calendar.save_event(
        f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//tests//EN\nBEGIN:VEVENT\nUID:{uid}\n"
        f"DTSTAMP:20260101T000000Z\n{times}SUMMARY:Busy\nEND:VEVENT\nEND:VCALENDAR\n"
    )


LOS_ANGELES = "America/Los_Angeles"


def test_an_all_day_event_blocks_the_day_where_its_owner_works(calendar, panel):
    # Out of office on Tuesday 8 January in Los Angeles: from 08:00 UTC that day to 08:00
    # UTC the next. Read as a UTC day, it blocked Monday's last hour there and offered
    # Tuesday's (00:00 UTC on the 9th).
    people, calendars = panel
    who = people[0]
    add_event(calendars[who], "ooo", "DTSTART;VALUE=DATE:20300108\nDTEND;VALUE=DATE:20300109\n")
    hours = [WorkingHours(zone=LOS_ANGELES)]
    window = Slot(MONDAY, MONDAY + timedelta(days=3))
    slots = calendar.free_slots(
        [who], window, HOUR, 30, working_hours=hours, owners={who: CalendarOwner(zone=LOS_ANGELES)}
    )
    in_la = [s.start.replace(tzinfo=UTC).astimezone(ZoneInfo(LOS_ANGELES)) for s in slots]
    assert sorted({start.day for start in in_la}) == [7, 9]
    assert [start.hour for start in in_la if start.day == 7] == list(range(9, 17))
    # Booking Tuesday 16:00 there asks the server beyond the slot's UTC day, and finds it.
    with pytest.raises(SlotTaken):
        calendar.book(
            unique_key("int"),
            [who],
            Slot(datetime(2030, 1, 9, 0), datetime(2030, 1, 9, 1)),
            owners={who: CalendarOwner(zone=LOS_ANGELES)},
        )


def test_a_meeting_at_a_time_without_a_zone_is_on_its_owners_clock(calendar, panel, tmp_path):
    # 10:00 to 12:00 "floating", in a Berlin interviewer's calendar: 09:00 to 11:00 UTC in
    # January. Read as UTC, 10:00 Berlin was offered, over the meeting.
    people, calendars = panel
    who = people[1]
    add_event(calendars[who], "standup", "DTSTART:20300107T100000\nDTEND:20300107T120000\n")
    db = Database(f"sqlite:///{tmp_path / 'worker.sqlite3'}")
    db.create_schema()
    tasks = InterviewSchedulingTasks(
        Services(files=None, db=db, calendar=calendar),
        now=lambda: (MONDAY - timedelta(days=1)).replace(tzinfo=UTC),
    )
    member = {"username": who, "email": "ivy@example.com", "name": "Ivy", "timezone": "Europe/Berlin"}
    interview_id = unique_key("int")
    slots = tasks.find_slots(interview_id, [member])["proposed_slots"]
    assert slots[0]["start"] == "2030-01-07T08:00:00Z"  # 09:00 in Berlin, before the meeting
    monday = calendar.free_slots(
        [who],
        Slot(MONDAY, MONDAY + timedelta(days=1)),
        HOUR,
        3,
        working_hours=[WorkingHours(zone="Europe/Berlin")],
        owners={who: CalendarOwner(zone="Europe/Berlin", email=member["email"])},
    )
    assert [slot.start.hour for slot in monday] == [8, 11, 12]  # 09:00 in Berlin, then 12:00, after it
    # Nor is 10:00 Berlin booked, should a link to it have been sent before.
    with pytest.raises(SlotTaken):
        tasks.book_slot(
            interview_id, [member], {"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"}
        )


def test_a_meeting_its_owner_declined_leaves_them_free(calendar, panel):
    # Google Calendar keeps the meetings one declined, their ATTENDEE marked DECLINED.
    people, calendars = panel
    who = people[0]
    email = f"{who}@example.com"

    def meeting(uid: str, hour: int, attendees: str) -> None:
        times = f"DTSTART:20300107T{hour:02}0000Z\nDTEND:20300107T{hour + 1:02}0000Z\n"
        add_event(calendars[who], uid, times + "ORGANIZER:mailto:boss@example.com\n" + attendees)

    meeting("declined", 9, f"ATTENDEE;PARTSTAT=DECLINED:MAILTO:{email.upper()}\n")
    meeting("accepted", 10, f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{email}\n")
    meeting(
        "others-declined",
        11,
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{email}\nATTENDEE;PARTSTAT=DECLINED:mailto:someone@example.com\n",
    )
    owners = {who: CalendarOwner(email=email)}
    slots = calendar.free_slots([who], Slot(MONDAY, MONDAY + timedelta(days=1)), HOUR, 3, owners=owners)
    assert [s.start.hour for s in slots] == [9, 12, 13]


def test_a_booking_lands_in_every_calendar_once_however_often_it_is_retried(calendar, panel):
    people, calendars = panel
    interview_id = unique_key("int")
    slot = Slot(MONDAY.replace(hour=14), MONDAY.replace(hour=15))

    first = calendar.book(interview_id, people, slot)
    again = calendar.book(interview_id, people, slot)  # a redelivered job

    assert first == again and first.status == "booked"
    for who in people:
        assert events(calendars[who]) == [f"interview-{interview_id}@hireflow"]
    [event] = calendars[people[0]].events()
    assert event.icalendar_component["dtstart"].dt == slot.start.replace(tzinfo=UTC)
    # The booked hour is no longer offered, from the store's holds.
    offered = calendar.free_slots(people, Slot(slot.start, slot.end + HOUR), HOUR, limit=3)
    assert [s.start.hour for s in offered] == [15]


def test_a_clash_with_an_outside_meeting_is_slot_taken_and_books_nothing(calendar, panel):
    people, calendars = panel
    interview_id = unique_key("int")
    add_meeting(calendars[people[0]], "all-hands", MONDAY.replace(hour=10), MONDAY.replace(hour=11))

    with pytest.raises(SlotTaken, match="own calendar"):
        calendar.book(
            interview_id, people, Slot(MONDAY.replace(hour=10, minute=30), MONDAY.replace(hour=11, minute=30))
        )

    assert calendar.booking(interview_id) is None
    assert events(calendars[people[1]]) == []


def test_a_cancel_takes_the_events_out_and_may_be_repeated(calendar, panel):
    people, calendars = panel
    interview_id = unique_key("int")
    calendar.book(interview_id, people, Slot(MONDAY.replace(hour=16), MONDAY.replace(hour=17)))

    cancelled = calendar.cancel(interview_id)
    repeated = calendar.cancel(interview_id)

    assert cancelled.status == repeated.status == "cancelled"
    assert all(events(calendars[who]) == [] for who in people)


def test_an_interviewer_without_a_calendar_is_bad_data_and_says_so(calendar, panel):
    people, _ = panel
    with pytest.raises(PermanentFailure, match="No calendar at .*nobody"):
        calendar.free_slots([*people, "nobody"], Slot(MONDAY, MONDAY + timedelta(days=1)), HOUR)


def test_an_unreachable_server_is_worth_a_retry(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'domain.sqlite3'}")
    db.create_schema()
    url = f"http://127.0.0.1:{free_port()}/" + "{interviewer}/calendar/"
    calendar = calendar_from_environment(db, {"HIREFLOW_CALDAV_CALENDAR_URL": url})
    with pytest.raises(CalendarUnavailable, match="CalDAV server failed reading the calendar of ivy"):
        calendar.free_slots(["ivy"], Slot(MONDAY, MONDAY + timedelta(days=1)), HOUR)


def test_a_url_that_names_a_web_page_not_calendars_is_the_servers_fault_not_a_bug(tmp_path: Path, serve):
    # A web page answers the calendar search with 200 and HTML; the caldav library then
    # failed with a TypeError, and the incident read "Unexpected error (probably a bug)".
    web_page = Flask("web_page")
    web_page.add_url_rule(
        "/<path:anything>",
        "any",
        lambda anything: ("<html>Sign in</html>", 200),
        methods=["REPORT", "PROPFIND"],
    )
    db = Database(f"sqlite:///{tmp_path / 'domain.sqlite3'}")
    db.create_schema()
    url = serve(web_page).url + "/{interviewer}/calendar/"
    calendar = calendar_from_environment(db, {"HIREFLOW_CALDAV_CALENDAR_URL": url})
    with pytest.raises(
        CalendarUnavailable, match="failed reading the calendar of ivy.*could not be read.*check that"
    ):
        calendar.free_slots(["ivy"], Slot(MONDAY, MONDAY + timedelta(days=1)), HOUR)
