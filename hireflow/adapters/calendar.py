"""Interview calendar: free slots for a panel, idempotent booking and cancelling, ICS invitations.

``CalDavCalendar`` works with the interviewers' own calendars over CalDAV
(``HIREFLOW_CALDAV_CALENDAR_URL``); the local default, ``StoreCalendar``, keeps the panel's
bookings in the domain store only. Time is on a grid of
``cell`` minutes (30 by default). A booking holds every cell it covers for each
interviewer, and a unique constraint on (interviewer, cell) makes a double booking
impossible, even for two workers booking at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from caldav.lib.error import DAVError, NotFoundError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hireflow.constants import ErrorCode
from hireflow.errors import BusinessOutcome, PermanentFailure
from hireflow.store import CalendarBooking, Database, InterviewerHold


class SlotTaken(BusinessOutcome):
    """Someone on the panel got booked in that slot meanwhile; the process offers new slots."""

    error_code = ErrorCode.SLOT_TAKEN


@dataclass(frozen=True)
class Slot:
    """A time span in UTC (naive datetimes are taken as UTC)."""

    start: datetime
    end: datetime

    def as_variable(self) -> dict[str, str]:
        return {"start": self.utc_text(self.start), "end": self.utc_text(self.end)}

    @staticmethod
    def utc_text(moment: datetime) -> str:
        """A moment as slot variables write it ("2026-12-08T09:00:00Z"); naive is taken as UTC."""
        return _naive_utc(moment).isoformat() + "Z"

    def overlaps(self, other: Slot) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Booking:
    interview_id: str
    interviewer_ids: list[str]
    slot: Slot
    status: str
    sequence: int


class InterviewCalendar(Protocol):
    """What interview scheduling needs from a calendar."""

    def free_slots(
        self,
        interviewer_ids: list[str],
        window: Slot,
        duration: timedelta,
        limit: int,
        *,
        working_hours: Collection[WorkingHours] = (),
        candidate_zone: str | None = None,
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> list[Slot]: ...

    def book(
        self,
        interview_id: str,
        interviewer_ids: list[str],
        slot: Slot,
        *,
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> Booking: ...

    def booking(self, interview_id: str) -> Booking | None: ...

    def cancel(self, interview_id: str) -> Booking | None: ...


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def zone_named(name: str | None) -> tzinfo:
    """The time zone of a tz database name; UTC for none, or for one the tz database does not
    know (an odd zone must not stop the search)."""
    try:
        return ZoneInfo(name) if name and name != "UTC" else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def spread_over_days(slots: Sequence[Slot], count: int, zone: str | None = None) -> list[Slot]:
    """Up to ``count`` of the free ``slots``, chosen to give a real choice, earliest first.

    The earliest slot, then the earliest on each next day that has one, each at a time of day
    not chosen yet where that day has such a slot; only when the days run out, more from the
    days already chosen. Three back-to-back hours of one morning are no choice for someone
    busy that morning. Days and times of day are on the clock of ``zone`` (the candidate's;
    UTC for none).
    """
    clock = zone_named(zone)

    def local_start(slot: Slot) -> datetime:
        return _naive_utc(slot.start).replace(tzinfo=UTC).astimezone(clock)

    by_day: dict[date, list[Slot]] = {}
    for slot in sorted(slots, key=lambda each: each.start):
        by_day.setdefault(local_start(slot).date(), []).append(slot)
    chosen: list[Slot] = []
    times_chosen: set[time] = set()
    while len(chosen) < count and any(by_day.values()):
        for day in by_day.values():
            if not day or len(chosen) == count:
                continue
            pick = next((slot for slot in day if local_start(slot).time() not in times_chosen), day[0])
            day.remove(pick)
            chosen.append(pick)
            times_chosen.add(local_start(pick).time())
    return sorted(chosen, key=lambda each: each.start)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CalendarOwner:
    """What reading a panel member's own calendar needs: the zone of their clock, for the
    events it gives without one (all day, or at a "floating" time; None: UTC), and their
    email, to tell the meetings they declined."""

    zone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class WorkingHours:
    """When someone works, where they work: days of the week (0 is Monday) and the hours of
    each, on their own clock in ``zone`` (a tz database name; None: UTC)."""

    zone: str | None = None
    days: frozenset[int] = frozenset(range(5))
    start: time = time(9)
    end: time = time(17)

    @classmethod
    def of_panelist(cls, member: dict) -> WorkingHours:
        """A panel member's, from the interview's ``panel`` variable: their ``timezone`` and
        ``working_hours`` (``{"days": ["mon", ...], "start": "09:00", "end": "17:00"}``);
        weekdays from 09:00 to 17:00 for one without."""
        given = member.get("working_hours")
        if not given:
            return cls(zone=member.get("timezone"))
        return cls(
            zone=member.get("timezone"),
            days=frozenset(WEEKDAYS.index(day) for day in given["days"]),
            start=time.fromisoformat(given["start"]),
            end=time.fromisoformat(given["end"]),
        )

    def __str__(self) -> str:
        """``Europe/Berlin mon-fri 09:00-17:00``, as an operator reads it in an incident."""
        return f"{self.zone or 'UTC'} {_days_named(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"

    def cover(self, slot: Slot) -> bool:
        """Whether ``slot`` lies within one working day of these, on their clock."""
        zone = zone_named(self.zone)
        start, end = (moment.replace(tzinfo=UTC).astimezone(zone) for moment in (slot.start, slot.end))
        day_end = datetime.combine(start.date(), self.end, start.tzinfo)
        return start.weekday() in self.days and self.start <= start.time() and end <= day_end


def _days_named(days: frozenset[int]) -> str:
    """``mon-fri``, ``sun-thu`` (a run of three days or more, across the week's end too),
    ``mon,wed``, ``every day``."""
    if len(days) == len(WEEKDAYS):
        return "every day"
    for first in range(len(WEEKDAYS)):
        run = [(first + offset) % len(WEEKDAYS) for offset in range(len(days))]
        if len(days) > 2 and set(run) == days:
            return f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}"
    return ",".join(WEEKDAYS[day] for day in sorted(days))


# When a candidate may be asked to an interview where they live: waking hours, any day.
CANDIDATE_HOURS = WorkingHours(days=frozenset(range(7)), start=time(8), end=time(20))


class StoreCalendar:
    """Bookings in the domain store, offered within each panel member's working hours where
    they work (weekdays 9 to 17 in UTC for one who gave none); and, for a candidate whose
    zone is known, at waking hours there (8 to 20, any day)."""

    def __init__(self, db: Database, *, cell_minutes: int = 30):
        self.db = db
        self.cell = timedelta(minutes=cell_minutes)

    def _cells(self, slot: Slot) -> list[datetime]:
        cells, moment = [], slot.start
        while moment < slot.end:
            cells.append(moment)
            moment += self.cell
        return cells

    def _aligned(self, moment: datetime) -> bool:
        since_midnight = moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return since_midnight % self.cell == timedelta(0)

    def free_slots(
        self,
        interviewer_ids: list[str],
        window: Slot,
        duration: timedelta,
        limit: int = 3,
        *,
        working_hours: Collection[WorkingHours] = (),
        candidate_zone: str | None = None,
        busy_elsewhere: list[Slot] = (),
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> list[Slot]:
        """Up to ``limit`` slots of ``duration`` when the whole panel is free, earliest first.

        ``working_hours``: when and where each panel member works; a slot lies within
        every one of them (none given: weekdays 9 to 17 in UTC).
        ``candidate_zone``: where the candidate lives, if known; a slot lies in the
        candidate's waking hours there too.
        ``busy_elsewhere``: times when someone on the panel is busy outside hireflow (their
        own calendar's meetings); no slot overlaps them.
        ``owners``: unused; the store keeps every time in UTC, and no one's meetings.
        """
        everyones_hours = set(working_hours) or {WorkingHours()}
        if candidate_zone:
            everyones_hours.add(replace(CANDIDATE_HOURS, zone=candidate_zone))
        window = Slot(_naive_utc(window.start), _naive_utc(window.end))
        elsewhere = [Slot(_naive_utc(b.start), _naive_utc(b.end)) for b in busy_elsewhere]
        with self.db.sessions() as session:
            busy = set(
                session.execute(
                    select(InterviewerHold.interviewer_id, InterviewerHold.cell_start).where(
                        InterviewerHold.interviewer_id.in_(interviewer_ids),
                        InterviewerHold.cell_start >= window.start - duration,
                        InterviewerHold.cell_start < window.end,
                    )
                ).all()
            )
        start = window.start
        while not self._aligned(start):
            start = (start + timedelta(minutes=1)).replace(second=0, microsecond=0)
        found: list[Slot] = []
        while start + duration <= window.end and len(found) < limit:
            slot = Slot(start, start + duration)
            in_hours = all(hours.cover(slot) for hours in everyones_hours)
            panel_free = not any((who, cell) in busy for who in interviewer_ids for cell in self._cells(slot))
            panel_free = panel_free and not any(slot.overlaps(other) for other in elsewhere)
            if in_hours and panel_free:
                found.append(slot)
                start = slot.end
            else:
                start += self.cell
        return found

    def book(
        self,
        interview_id: str,
        interviewer_ids: list[str],
        slot: Slot,
        *,
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> Booking:
        """Book the slot for the interview, once. Raises SlotTaken if the panel is busy then.

        ``owners`` is unused; the store keeps every time in UTC, and no one's meetings."""
        slot = Slot(_naive_utc(slot.start), _naive_utc(slot.end))
        if not (self._aligned(slot.start) and self._aligned(slot.end) and slot.start < slot.end):
            raise PermanentFailure(f"Slot {slot} is not on the calendar's {self.cell} grid")
        try:
            with self.db.sessions.begin() as session:
                booking = session.get(CalendarBooking, interview_id)
                if booking is not None and booking.status == "booked":
                    return _same_booking(booking, slot)
                if booking is None:
                    booking = CalendarBooking(interview_id=interview_id, sequence=0)
                    session.add(booking)
                else:
                    booking.sequence += 1
                booking.interviewer_ids, booking.start, booking.end = (
                    list(interviewer_ids),
                    slot.start,
                    slot.end,
                )
                booking.status = "booked"
                session.add_all(
                    InterviewerHold(interview_id=interview_id, interviewer_id=who, cell_start=cell)
                    for who in interviewer_ids
                    for cell in self._cells(slot)
                )
                session.flush()
                return _booking(booking)
        except IntegrityError as exc:
            # Either another interview holds the panel then, or a worker given the same job
            # again booked this one first: the second is this booking, not a taken slot.
            with self.db.sessions() as session:
                booking = session.get(CalendarBooking, interview_id)
                if booking is not None and booking.status == "booked":
                    return _same_booking(booking, slot)
            raise SlotTaken(
                f"The panel of interview {interview_id} is no longer free at {slot.start:%Y-%m-%d %H:%M} UTC"
            ) from exc

    def booking(self, interview_id: str) -> Booking | None:
        """The interview's booking, booked or cancelled; None if it was never booked."""
        with self.db.sessions() as session:
            row = session.get(CalendarBooking, interview_id)
            return _booking(row) if row else None

    def cancel(self, interview_id: str) -> Booking | None:
        """Free the panel's time, once. None if the interview was never booked."""
        with self.db.sessions.begin() as session:
            booking = session.get(CalendarBooking, interview_id)
            if booking is None:
                return None
            if booking.status == "booked":
                session.execute(delete(InterviewerHold).where(InterviewerHold.interview_id == interview_id))
                booking.status = "cancelled"
                booking.sequence += 1
            return _booking(booking)


def _same_booking(row: CalendarBooking, slot: Slot) -> Booking:
    """The interview's booking, asked for again: the same time is the same booking."""
    if (row.start, row.end) != (slot.start, slot.end):
        raise PermanentFailure(f"Interview {row.interview_id} is booked at another time; cancel it first")
    return _booking(row)


def _booking(row: CalendarBooking) -> Booking:
    return Booking(
        row.interview_id, list(row.interviewer_ids), Slot(row.start, row.end), row.status, row.sequence
    )


def invitation_ics(
    booking: Booking,
    *,
    summary: str,
    organizer: str,
    attendees: list[str],
    names: Mapping[str, str | None] | None = None,
) -> bytes:
    """An iCalendar invitation (METHOD:REQUEST), or a cancellation for a cancelled booking.

    The UID stays the same for an interview, and SEQUENCE grows, so calendar apps update
    the event they already have instead of adding a second one. ``names`` gives attendees'
    names by address: calendar apps list the guests by them (CN), not by bare addresses.
    """
    calendar, event = _calendar_event(booking, summary)
    calendar.add("method", _method(booking))
    event.add("status", "CANCELLED" if booking.status == "cancelled" else "CONFIRMED")
    event.add("organizer", f"mailto:{organizer}")
    for attendee in attendees:
        address = icalendar.vCalAddress(f"mailto:{attendee}")
        address.params["ROLE"] = "REQ-PARTICIPANT"
        name = (names or {}).get(attendee)
        if name:
            address.params["CN"] = name  # quotes and line breaks escaped as RFC 6868 says
        event.add("attendee", address)
    calendar.add_component(event)
    return calendar.to_ical()


def invitation_media_type(booking: Booking) -> str:
    """The MIME type of ``invitation_ics(booking)`` as an email attachment.

    iMIP (RFC 6047, section 2.4) requires the METHOD as a parameter too, and a mail server
    that books invitations may pass over a text/calendar part without it (Kolab's does).
    SendGrid refuses any other parameter in an attachment's type; it adds the charset itself.
    """
    return f"text/calendar; method={_method(booking)}"


def _method(booking: Booking) -> str:
    return "CANCEL" if booking.status == "cancelled" else "REQUEST"


class CalendarUnavailable(Exception):
    """The CalDAV server did not answer as it should; retry the job later."""


class CalDavCalendar:
    """The panel's own calendars over CalDAV (Google, iCloud, Nextcloud, Radicale, ...).

    - Busy time comes from each interviewer's calendar, so no slot clashes with a meeting
      made outside hireflow (events marked free, TRANSP:TRANSPARENT, do not count).
    - Bookings stay in the domain store (``store``): its unique holds keep two workers
      from booking the same time, which CalDAV alone cannot promise.
    - Each booking is written to every panel member's calendar as one event with the
      invitation's UID, so a retried booking overwrites its event instead of adding one,
      and a calendar app that also gets the emailed invitation sees the same event.

    ``calendar_url`` is a template naming each interviewer's calendar collection, for
    example ``https://dav.example.com/{interviewer}/calendar/``.
    """

    def __init__(self, store: StoreCalendar, client, calendar_url: str):
        self.store = store
        self.client = client  # a caldav.DAVClient
        self.calendar_url = calendar_url

    def _calendar(self, interviewer_id: str):
        return self.client.calendar(url=self.calendar_url.format(interviewer=quote(interviewer_id, safe="")))

    def _busy(
        self, interviewer_ids: list[str], window: Slot, owners: Mapping[str, CalendarOwner] | None
    ) -> list[Slot]:
        """Everyone's busy times in ``window`` from their calendars, except hireflow's own events.

        An all-day event, or one at a time with no zone (a "floating" time), is on its
        owner's clock: in their zone from ``owners`` (their working zone), else UTC. A
        meeting its owner declined leaves them free.
        """
        busy: list[Slot] = []
        for who in interviewer_ids:
            owner = (owners or {}).get(who) or CalendarOwner()
            zone = zone_named(owner.zone)
            calendar = self._calendar(who)
            # The server places such events on its own clock, up to a day away from theirs.
            events = _dav(
                f"reading the calendar of {who}",
                calendar,
                lambda calendar=calendar: calendar.search(
                    start=window.start.replace(tzinfo=UTC) - ZONELESS_MARGIN,
                    end=window.end.replace(tzinfo=UTC) + ZONELESS_MARGIN,
                    event=True,
                    expand=True,
                ),
            )
            for event in events:
                component = event.icalendar_component
                uid = str(component.get("uid", ""))
                if uid.endswith(HIREFLOW_UID_SUFFIX) or not _takes_time(component, owner.email):
                    continue  # hireflow's bookings are in the store
                busy.append(
                    Slot(_moment(component.get("dtstart").dt, zone), _moment(_end_of(component), zone))
                )
        return busy

    def free_slots(
        self,
        interviewer_ids: list[str],
        window: Slot,
        duration: timedelta,
        limit: int = 3,
        *,
        working_hours: Collection[WorkingHours] = (),
        candidate_zone: str | None = None,
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> list[Slot]:
        """Slots in everyone's hours when the whole panel is free both in hireflow and in
        their own calendars (``owners``: each member's zone and email, to read them right)."""
        window = Slot(_naive_utc(window.start), _naive_utc(window.end))
        busy = self._busy(interviewer_ids, window, owners)
        return self.store.free_slots(
            interviewer_ids,
            window,
            duration,
            limit,
            working_hours=working_hours,
            candidate_zone=candidate_zone,
            busy_elsewhere=busy,
        )

    def book(
        self,
        interview_id: str,
        interviewer_ids: list[str],
        slot: Slot,
        *,
        owners: Mapping[str, CalendarOwner] | None = None,
    ) -> Booking:
        """Book once, in the store and in every panel member's calendar. SlotTaken on a clash
        (``owners``: each member's zone and email, to read their calendar right)."""
        slot = Slot(_naive_utc(slot.start), _naive_utc(slot.end))
        booked = self.store.booking(interview_id)
        retry = booked is not None and booked.status == "booked" and booked.slot == slot
        # A retry only writes the events again: a meeting added since must not undo the booking.
        clashes = [] if retry else [b for b in self._busy(interviewer_ids, slot, owners) if b.overlaps(slot)]
        if clashes:
            raise SlotTaken(
                f"The panel of interview {interview_id} has another meeting at "
                f"{slot.start:%Y-%m-%d %H:%M} UTC in their own calendar"
            )
        booking = self.store.book(interview_id, interviewer_ids, slot)
        event = _event_ics(booking)
        for who in booking.interviewer_ids:
            calendar = self._calendar(who)
            _dav(
                f"writing the interview to the calendar of {who}",
                calendar,
                lambda c=calendar: c.save_event(event),
            )
        return booking

    def booking(self, interview_id: str) -> Booking | None:
        return self.store.booking(interview_id)

    def cancel(self, interview_id: str) -> Booking | None:
        """Free the time in the store and take the event out of every panel member's calendar."""
        booking = self.store.cancel(interview_id)
        if booking is None:
            return None
        for who in booking.interviewer_ids:
            calendar = self._calendar(who)
            event = _dav(
                f"finding the interview in the calendar of {who}",
                calendar,
                lambda c=calendar: c.event_by_uid(_uid(interview_id)),
                missing_ok=True,
            )
            if event is not None:  # else already gone: a retried cancel, or the person deleted it
                _dav(f"deleting the interview from the calendar of {who}", calendar, event.delete)
        return booking


HIREFLOW_UID_SUFFIX = "@hireflow"
# How far a time without a zone may lie from UTC, and a bit more: the search for busy times
# looks this much further on each side, for the server reads such times in its own zone.
ZONELESS_MARGIN = timedelta(days=1)


def _uid(interview_id: str) -> str:
    """The event's UID: the same as the emailed invitation's (see ``invitation_ics``)."""
    return f"interview-{interview_id}{HIREFLOW_UID_SUFFIX}"


def _event_ics(booking: Booking) -> str:
    """The interview as an event in a panel member's own calendar."""
    calendar, event = _calendar_event(booking, f"Interview {booking.interview_id} (hireflow)")
    calendar.add_component(event)
    return calendar.to_ical().decode()


def _calendar_event(booking: Booking, summary: str) -> tuple[icalendar.Calendar, icalendar.Event]:
    """A calendar and the interview's event (not yet added), with the UID every copy shares."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//hireflow//interview scheduling//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", _uid(booking.interview_id))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.slot.start.replace(tzinfo=UTC))
    event.add("dtend", booking.slot.end.replace(tzinfo=UTC))
    event.add("summary", summary)
    return calendar, event


def _takes_time(component, owner_email: str | None) -> bool:
    """Whether an event makes its owner busy: not when marked free (TRANSP:TRANSPARENT), nor
    when cancelled (STATUS:CANCELLED, which a calendar may keep, or a cancelled occurrence of a
    series), as CalDAV's own free-busy report reads them (RFC 4791, 7.10); nor when the
    owner, one of its attendees, declined it (a calendar such as Google's keeps those)."""
    transparent = str(component.get("transp", "")).upper() == "TRANSPARENT"
    cancelled = str(component.get("status", "")).upper() == "CANCELLED"
    return not (transparent or cancelled or _declined_by(component, owner_email))


def _declined_by(component, email: str | None) -> bool:
    """Whether ``email`` is among the event's attendees with PARTSTAT=DECLINED."""
    if not email:
        return False
    attendees = component.get("attendee") or []
    attendees = attendees if isinstance(attendees, list) else [attendees]
    me = f"mailto:{email}".lower()
    return any(
        str(attendee).lower() == me and str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED"
        for attendee in attendees
    )


def _moment(value, zone: tzinfo) -> datetime:
    """A naive UTC datetime from an event's date or datetime. A date (an all-day event's)
    starts at 00:00 in ``zone``, and a datetime without a zone (floating) is read in it."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return _naive_utc(value if value.tzinfo else value.replace(tzinfo=zone))


def _end_of(component):
    if component.get("dtend") is not None:
        return component.get("dtend").dt
    start = component.get("dtstart").dt
    duration = component.get("duration")
    if duration is not None:
        return start + duration.dt
    return start + (timedelta(days=1) if not isinstance(start, datetime) else timedelta(0))


def _dav(what: str, calendar, call, *, missing_ok: bool = False):
    """Run one CalDAV call: a missing calendar is bad data, anything else is worth a retry.

    With ``missing_ok``, a missing item answers None instead.
    """
    try:
        return call()
    except NotFoundError as exc:
        if missing_ok:
            return None
        raise PermanentFailure(f"No calendar at {calendar.url} ({what}); create it or fix the panel") from exc
    except (DAVError, OSError) as exc:
        raise CalendarUnavailable(f"CalDAV server failed {what} ({calendar.url}): {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - only the CalDAV library runs in here
        # The library fails in its own ways on an answer that is no CalDAV (a web page at a
        # mistaken URL answers a REPORT with 200 and HTML: a TypeError deep in caldav).
        raise CalendarUnavailable(
            f"CalDAV server failed {what} ({calendar.url}): its answer could not be read"
            f" ({type(exc).__name__}: {exc}); check that the calendar URL names the interviewers' calendars"
        ) from exc
