"""``/interviews/other-times/<token>``: the candidate's signed link, in the email of slot
links and its reminder, to say none of the offered times suits them.

Following the link (GET) lists the offer's times with a button, since mail scanners fetch
links; asking (POST, CSRF-protected) publishes ``interview-other-times-requested`` once per
offer. The model then emails new times, none of these. A candidate may turn down two offers
(``HIREFLOW_MAX_OFFERS_DECLINED``); after that the email has no such link, and the
recruiter's follow-up finds a time with them.
"""

from __future__ import annotations

import logging

from flask import Blueprint, render_template

from webapp.http import hireflow

log = logging.getLogger(__name__)

bp = Blueprint("other_times", __name__, url_prefix="/interviews/other-times")


@bp.get("/<token>")
def show(token: str):
    return render_template("other_times.html", offer=hireflow().other_times_offer(token), outcome=None)


@bp.post("/<token>")
def ask(token: str):
    offer, published = hireflow().ask_for_other_times(token)
    if not published:
        return render_template("other_times.html", offer=offer, outcome="already-asked"), 200
    log.info(
        "interview %s: the candidate asked for other times than those from %s",
        offer.interview_id,
        offer.offer_start,
    )
    return render_template("other_times.html", offer=offer, outcome="asked"), 202
