"""``/api/interviews``: schedule an interview, read the status, ask for other times, move it to
another time, cancel it."""

from __future__ import annotations

from flask import Blueprint, request

from hireflow.adapters.calendar import Slot
from webapp.domain.interviews import API_ASKS
from webapp.http import accepted_response, hireflow, json_body, published_response, status_response
from webapp.schemas import InterviewRequest, OtherTimesAsk, RescheduleAsk

bp = Blueprint("interviews", __name__, url_prefix="/api/interviews")


@bp.post("")
def create_interview():
    return accepted_response(hireflow().schedule_interview(json_body(InterviewRequest)))


@bp.get("/<business_id>")
def get_interview(business_id: str):
    return status_response("interview", business_id)


@bp.post("/<business_id>/cancellation")
def cancel_interview(business_id: str):
    """Publish ``interview-cancelled`` (once, however often it is asked)."""
    return published_response(hireflow().cancel_interview(business_id), "interview-cancelled")


@bp.post("/<business_id>/rescheduling")
def reschedule_interview(business_id: str):
    """Publish ``interview-reschedule-requested`` (once per booking, however often it is asked).

    The body is optional: ``booked_start`` names the booking to move, so a late retry never
    moves the time booked after it."""
    asked = json_body(RescheduleAsk) if request.get_data() else RescheduleAsk()
    booked_start = None
    if asked.booked_start is not None:
        booked_start = Slot.utc_text(asked.booked_start)
    published = hireflow().reschedule_interview(business_id, asked_by=API_ASKS, booked_start=booked_start)
    return published_response(published, "interview-reschedule-requested")


@bp.post("/<business_id>/other-times")
def ask_for_other_times(business_id: str):
    """Publish ``interview-other-times-requested`` (once per offer): none of the times offered
    suits the candidate. The body is optional: ``offer_start`` names the offer turned down, so
    a late retry never turns down the newer one."""
    asked = json_body(OtherTimesAsk) if request.get_data() else OtherTimesAsk()
    offer_start = None if asked.offer_start is None else Slot.utc_text(asked.offer_start)
    published = hireflow().ask_for_other_times_by_api(business_id, offer_start)
    return published_response(published, "interview-other-times-requested")
