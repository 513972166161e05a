"""``/api/applications``: apply to a posting, read the status, withdraw."""

from __future__ import annotations

from flask import Blueprint

from webapp.http import accepted_response, hireflow, json_body, published_response, status_response
from webapp.schemas import ApplicationRequest

bp = Blueprint("applications", __name__, url_prefix="/api/applications")


@bp.post("")
def create_application():
    return accepted_response(hireflow().apply(json_body(ApplicationRequest)))


@bp.get("/<business_id>")
def get_application(business_id: str):
    return status_response("application", business_id)


@bp.post("/<business_id>/withdrawal")
def withdraw_application(business_id: str):
    """Publish ``application-withdrawn`` (once, however often it is asked)."""
    return published_response(hireflow().withdraw(business_id), "application-withdrawn")
