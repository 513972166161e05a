"""Interview calendar: free slots for a panel, idempotent booking and cancelling, ICS invitations.

The local default keeps the panel's bookings in the domain store. Time is on a grid of
``cell`` minutes (30 by default). A booking holds every cell it covers for each
interviewer, and a unique constraint on (interviewer, cell) makes a double booking
impossible, even for two workers booking at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import icalendar
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
        return {"start": self.start.isoformat() + "Z", "end": self.end.isoformat() + "Z"}


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
        self, interviewer_ids: list[str], window: Slot, duration: timedelta, limit: int
    ) -> list[Slot]: ...

    def book(self, interview_id: str, interviewer_ids: list[str], slot: Slot) -> Booking: ...

    def booking(self, interview_id: str) -> Booking | None: ...

    def cancel(self, interview_id: str) -> Booking | None: ...


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class StoreCalendar:
    """Bookings in the domain store, offered on weekdays within working hours (UTC)."""

    def __init__(self, db: Database, *, cell_minutes: int = 30, working_hours: tuple[int, int] = (9, 17)):
        self.db = db
        self.cell = timedelta(minutes=cell_minutes)
        self.working_hours = working_hours

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
        self, interviewer_ids: list[str], window: Slot, duration: timedelta, limit: int = 3
    ) -> list[Slot]:
        """Up to ``limit`` slots of ``duration`` when the whole panel is free, earliest first."""
        window = Slot(_naive_utc(window.start), _naive_utc(window.end))
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
            open_day = start.weekday() < 5
            in_hours = self.working_hours[0] <= start.hour and (
                slot.end <= start.replace(hour=self.working_hours[1], minute=0)
            )
            panel_free = not any((who, cell) in busy for who in interviewer_ids for cell in self._cells(slot))
            if open_day and in_hours and panel_free:
                found.append(slot)
                start = slot.end
            else:
                start += self.cell
        return found

    def book(self, interview_id: str, interviewer_ids: list[str], slot: Slot) -> Booking:
        """Book the slot for the interview, once. Raises SlotTaken if the panel is busy then."""
        slot = Slot(_naive_utc(slot.start), _naive_utc(slot.end))
        if not (self._aligned(slot.start) and self._aligned(slot.end) and slot.start < slot.end):
            raise PermanentFailure(f"Slot {slot} is not on the calendar's {self.cell} grid")
        try:
            with self.db.sessions.begin() as session:
                booking = session.get(CalendarBooking, interview_id)
                if booking is not None and booking.status == "booked":
                    if (booking.start, booking.end) == (slot.start, slot.end):
                        return _booking(booking)
                    raise PermanentFailure(
                        f"Interview {interview_id} is booked at another time; cancel it first"
                    )
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


def _booking(row: CalendarBooking) -> Booking:
    return Booking(
        row.interview_id, list(row.interviewer_ids), Slot(row.start, row.end), row.status, row.sequence
    )


def invitation_ics(booking: Booking, *, summary: str, organizer: str, attendees: list[str]) -> bytes:
    """An iCalendar invitation (METHOD:REQUEST), or a cancellation for a cancelled booking.

    The UID stays the same for an interview, and SEQUENCE grows, so calendar apps update
    the event they already have instead of adding a second one.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//hireflow//interview scheduling//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if booking.status == "cancelled" else "REQUEST")
    event = icalendar.Event()
    event.add("uid", f"interview-{booking.interview_id}@hireflow")
    event.add("sequence", booking.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.slot.start.replace(tzinfo=UTC))
    event.add("dtend", booking.slot.end.replace(tzinfo=UTC))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if booking.status == "cancelled" else "CONFIRMED")
    event.add("organizer", f"mailto:{organizer}")
    for attendee in attendees:
        event.add("attendee", f"mailto:{attendee}")
    calendar.add_component(event)
    return calendar.to_ical()
