"""``/interviews/reschedule/<token>``: the signed link, from the interview's invitation and
reminder, to ask for another time; the candidate's, and each panelist's of their own.

The token names one interview as booked at one start (and a panelist's, the panelist), and
lives 30 days. Following the link (GET) shows the booked time with a button, since mail
scanners fetch links; asking (POST, CSRF-protected) publishes
``interview-reschedule-requested`` once per booking, as ``POST
/api/interviews/<id>/rescheduling`` does. The model then gives up the time, tells the
panel, and emails the candidate new times.
"""

from __future__ import annotations

import logging

from flask import Blueprint, render_template

from webapp.domain.interviews import CANDIDATE_ASKS, MoveAsker
from webapp.http import hireflow

log = logging.getLogger(__name__)

bp = Blueprint("reschedules", __name__, url_prefix="/interviews/reschedule")


@bp.get("/<token>")
def show(token: str):
    return render_template("reschedule.html", offer=hireflow().reschedule_offer(token), outcome=None)


@bp.post("/<token>")
def ask(token: str):
    offer = hireflow().reschedule_offer(token)
    if offer.asked and offer.booked is None:
        # Asked already, and the new times are out: the page says so, and nothing more is sent.
        return render_template("reschedule.html", offer=offer, outcome="already-asked")
    asker = MoveAsker.of_panelist(offer.panelist) if offer.panelist else CANDIDATE_ASKS
    published = hireflow().reschedule_interview(
        offer.interview_id, asked_by=asker, booked_start=offer.link_start
    )
    if not published:
        # Someone asked for this booking a moment before: the page says who, as kept now.
        offer = hireflow().reschedule_offer(token)
        return render_template("reschedule.html", offer=offer, outcome="already-asked"), 200
    log.info(
        "interview %s: %s asked for another time than %s", offer.interview_id, asker.words, offer.link_start
    )
    return render_template("reschedule.html", offer=offer, outcome="asked"), 202
