"""The interview calendar: free slots, bookings once and never double, ICS invitations (issue 3)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import icalendar
import pytest

from hireflow.adapters.calendar import (
    Slot,
    SlotTaken,
    StoreCalendar,
    WorkingHours,
    invitation_ics,
    spread_over_days,
)
from hireflow.errors import PermanentFailure
from hireflow.store import Database
from tests.concurrency import errors_all_at_once, race

MONDAY = datetime(2026, 11, 23)
HOUR = timedelta(hours=1)


@pytest.fixture
def calendar(store_url) -> StoreCalendar:
    # On SQLite and on PostgreSQL: a double booking is refused by a unique constraint, and
    # PostgreSQL's concurrent inserts meet it differently (one waits for the other's commit).
    db = Database(store_url)
    db.create_schema()
    return StoreCalendar(db)


def at(hour: int, minute: int = 0, day: datetime = MONDAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


def test_free_slots_fall_in_working_hours_when_the_whole_panel_is_free(calendar):
    calendar.book("i-busy", ["bob"], Slot(at(10), at(11)))
    slots = calendar.free_slots(["ann", "bob"], Slot(at(8), at(13)), HOUR, limit=5)
    assert [s.start.hour for s in slots] == [9, 11, 12]


def test_slots_fall_in_working_hours_where_each_panel_member_works(calendar):
    # Monday 23 November 2026: Tokyo is UTC+9, New York UTC-5, Berlin UTC+1.
    day = Slot(at(0), at(0) + timedelta(days=1))

    def hours(*zones) -> list[int]:
        working = [WorkingHours(zone=zone) for zone in zones]
        return [
            s.start.hour for s in calendar.free_slots(["ann"], day, HOUR, limit=24, working_hours=working)
        ]

    assert hours() == hours(None) == hours("UTC") == [9, 10, 11, 12, 13, 14, 15, 16]
    assert hours("Asia/Tokyo") == [0, 1, 2, 3, 4, 5, 6, 7]  # 09:00 to 17:00 in Tokyo
    assert hours("Europe/Berlin", None) == [9, 10, 11, 12, 13, 14, 15]  # both: 09:00 to 16:00 UTC
    assert hours("Asia/Tokyo", "America/New_York") == []  # their working days never meet
    assert hours("Mars/Olympus") == hours()  # an odd zone stops no search: UTC
    # The weekdays are Auckland's (UTC+13): its Monday begins on Sunday in UTC, its Saturday on Friday.
    sunday, friday = at(0) - timedelta(days=1), at(0) + timedelta(days=4)
    for day, auckland_hours in [(sunday, [20, 21, 22, 23]), (friday, [0, 1, 2, 3])]:
        auckland = [WorkingHours(zone="Pacific/Auckland")]
        slots = calendar.free_slots(
            ["ann"], Slot(day, day + timedelta(days=1)), HOUR, limit=24, working_hours=auckland
        )
        assert [s.start.hour for s in slots] == auckland_hours


def test_slots_fall_in_each_panel_members_own_working_days_and_hours(calendar):
    week = Slot(at(0), at(0) + timedelta(days=7))  # Monday 23 to Sunday 29 November 2026

    def days_and_hours(*working: WorkingHours) -> list[tuple[str, int]]:
        slots = calendar.free_slots(["ann", "bob"], week, HOUR, limit=100, working_hours=working)
        return [(f"{s.start:%a}", s.start.hour) for s in slots]

    mornings = WorkingHours(days=frozenset({0, 2}), start=time(9), end=time(12, 30))
    assert days_and_hours(mornings) == [
        ("Mon", 9),
        ("Mon", 10),
        ("Mon", 11),
        ("Wed", 9),
        ("Wed", 10),
        ("Wed", 11),
    ]
    # A week from Sunday to Thursday in Jerusalem (UTC+2) beside a Monday to Friday one in UTC.
    sunday_to_thursday = WorkingHours(zone="Asia/Jerusalem", days=frozenset({6, 0, 1, 2, 3}))
    together = days_and_hours(sunday_to_thursday, WorkingHours())
    assert {day for day, _ in together} == {"Mon", "Tue", "Wed", "Thu"}
    assert {hour for _, hour in together} == {9, 10, 11, 12, 13, 14}  # 11:00 to 17:00 in Jerusalem
    assert ("Sun", 7) in days_and_hours(sunday_to_thursday)
    assert str(sunday_to_thursday) == "Asia/Jerusalem sun-thu 09:00-17:00"
    assert str(mornings) == "UTC mon,wed 09:00-12:30"
    assert str(WorkingHours(zone="Europe/Berlin")) == "Europe/Berlin mon-fri 09:00-17:00"


def test_slots_fall_at_the_candidates_waking_hours_where_they_live(calendar):
    day = Slot(at(0), at(0) + timedelta(days=1))  # Monday 23 November 2026

    def hours(candidate_zone) -> list[int]:
        slots = calendar.free_slots(["ann"], day, HOUR, limit=24, candidate_zone=candidate_zone)
        return [s.start.hour for s in slots]

    assert hours(None) == [9, 10, 11, 12, 13, 14, 15, 16]  # a zone not given limits nothing
    assert hours("Asia/Tokyo") == [9, 10]  # 18:00 and 19:00 in Tokyo; 20:00 is too late
    assert hours("America/Los_Angeles") == [16]  # 08:00 in Los Angeles; 07:00 is too early
    assert hours("Pacific/Kiritimati") == []  # UTC+14: 09:00 to 17:00 UTC is 23:00 to 07:00 there


def test_no_slots_are_offered_at_the_weekend(calendar):
    saturday = MONDAY - timedelta(days=2)
    assert calendar.free_slots(["ann"], Slot(at(8, day=saturday), at(18, day=saturday)), HOUR) == []


def every_hour(*days: datetime, first: int = 9, last: int = 16) -> list[Slot]:
    return [Slot(at(hour, day=day), at(hour + 1, day=day)) for day in days for hour in range(first, last + 1)]


def test_the_slots_offered_fall_on_different_days_at_different_times_of_day():
    # Three back-to-back hours of one morning are no choice for someone busy that morning.
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    chosen = spread_over_days(every_hour(MONDAY, tuesday, wednesday), 3)
    assert [(s.start.day, s.start.hour) for s in chosen] == [(23, 9), (24, 10), (25, 11)]
    # The earliest is always offered; a day with no other time gives its earliest.
    only_nine = [Slot(at(9, day=day), at(10, day=day)) for day in (MONDAY, tuesday)]
    assert spread_over_days(only_nine, 3) == only_nine


def test_with_fewer_days_than_slots_a_day_gives_more_than_one():
    chosen = spread_over_days(every_hour(MONDAY, MONDAY + timedelta(days=1)), 3)
    assert [(s.start.day, s.start.hour) for s in chosen] == [(23, 9), (23, 11), (24, 10)]
    assert spread_over_days(every_hour(MONDAY, first=14), 5) == every_hour(MONDAY, first=14)
    assert spread_over_days([], 3) == []


def test_days_are_the_candidates_days_where_they_live():
    # 22:00 UTC on Monday and 00:00 UTC on Tuesday are both Monday evening in New York.
    tuesday = MONDAY + timedelta(days=1)
    monday_evening = Slot(at(22), at(23))
    later_that_evening = Slot(at(0, day=tuesday), at(1, day=tuesday))
    tuesday_morning = Slot(at(14, day=tuesday), at(15, day=tuesday))
    free = [monday_evening, later_that_evening, tuesday_morning]
    assert spread_over_days(free, 2, "America/New_York") == [monday_evening, tuesday_morning]
    assert spread_over_days(free, 2) == [monday_evening, later_that_evening]


def test_booking_twice_is_one_booking(calendar):
    first = calendar.book("i-1", ["ann", "bob"], Slot(at(9), at(10)))
    second = calendar.book("i-1", ["ann", "bob"], Slot(at(9), at(10)))
    assert first == second
    assert calendar.free_slots(["ann"], Slot(at(9), at(10)), HOUR) == []


def test_a_panel_member_is_never_double_booked(calendar):
    calendar.book("i-1", ["ann", "bob"], Slot(at(9), at(10)))
    with pytest.raises(SlotTaken) as raised:
        calendar.book("i-2", ["bob", "cy"], Slot(at(9, 30), at(10, 30)))
    assert raised.value.error_code == "SLOT_TAKEN"
    assert calendar.book("i-3", ["cy"], Slot(at(9, 30), at(10, 30))).status == "booked"


def test_concurrent_bookings_of_one_slot_give_it_to_one_interview(calendar):
    def book(interview_id: str) -> str:
        try:
            calendar.book(interview_id, ["ann"], Slot(at(14), at(15)))
            return "booked"
        except SlotTaken:
            return "taken"

    outcomes = race(book, [f"i-{n}" for n in range(6)])
    assert sorted(outcomes) == ["booked"] + ["taken"] * 5


def test_one_interview_booked_by_many_workers_at_once_is_one_booking(calendar):
    # The same job delivered again while its first delivery still runs: a SlotTaken here
    # would send the process to offer other times while the panel stays held for this one.
    booked: list[object] = []
    errors = errors_all_at_once(
        6, lambda: calendar, lambda same: booked.append(same.book("i-1", ["ann"], Slot(at(14), at(15))))
    )

    assert errors == []
    assert len(booked) == 6 and all(each == booked[0] for each in booked), booked
    assert calendar.booking("i-1").sequence == 0


def test_cancelling_frees_the_time_once(calendar):
    calendar.book("i-1", ["ann"], Slot(at(9), at(10)))
    first = calendar.cancel("i-1")
    second = calendar.cancel("i-1")
    assert (first.status, first.sequence) == ("cancelled", 1)
    assert second == first
    assert calendar.cancel("never-booked") is None
    assert [s.start.hour for s in calendar.free_slots(["ann"], Slot(at(9), at(10)), HOUR)] == [9]


def test_a_slot_off_the_grid_is_refused(calendar):
    with pytest.raises(PermanentFailure, match="grid"):
        calendar.book("i-1", ["ann"], Slot(at(9, 10), at(10, 10)))


def test_the_invitation_and_its_cancellation_are_the_same_event(calendar):
    booking = calendar.book("i-1", ["ann"], Slot(at(9), at(10)))
    invite = icalendar.Calendar.from_ical(
        invitation_ics(
            booking,
            summary="Interview",
            organizer="recruiting@hireflow.example",
            attendees=["ada@example.com"],
        )
    )
    cancel = icalendar.Calendar.from_ical(
        invitation_ics(
            calendar.cancel("i-1"), summary="Interview", organizer="recruiting@hireflow.example", attendees=[]
        )
    )
    [event] = invite.walk("VEVENT")
    [cancelled] = cancel.walk("VEVENT")
    assert (str(invite["METHOD"]), str(cancel["METHOD"])) == ("REQUEST", "CANCEL")
    assert str(event["UID"]) == str(cancelled["UID"]) == "interview-i-1@hireflow"
    assert (int(event["SEQUENCE"]), int(cancelled["SEQUENCE"])) == (0, 1)
    assert event.decoded("DTSTART").isoformat() == "2026-11-23T09:00:00+00:00"
    assert str(event["ATTENDEE"]) == "mailto:ada@example.com"
