"""``/applications/withdrawal/<token>``: the candidate's signed link, from the shortlisted email
and the interview slot offers, to withdraw their application.

The token names one application and lives 30 days. Application ids derive from business
keys and can be guessed, so the page is reached by the signed link only. Following the
link (GET) asks the candidate to confirm; confirming (POST, CSRF-protected) withdraws the
application as ``POST /api/applications/<id>/withdrawal`` does: its open interviews are
cancelled, and the panel told.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.http import hireflow
from webapp.problems import Problem

bp = Blueprint("withdrawals", __name__, url_prefix="/applications/withdrawal")


@bp.get("/<token>")
def confirm(token: str):
    application_id = hireflow().withdrawal_link_application(token)
    return render_template("withdrawal.html", item=hireflow().status("application", application_id))


@bp.post("/<token>")
def withdraw(token: str):
    application_id = hireflow().withdrawal_link_application(token)
    try:
        hireflow().withdraw(application_id)
    except Problem as problem:
        if problem.status != 409:
            raise
        # Over already (declined, or withdrawn by a recruiter meanwhile): the page says so.
        item = hireflow().status("application", application_id)
        return render_template("withdrawal.html", item=item), problem.status
    return render_template("withdrawal.html", item=hireflow().status("application", application_id))
