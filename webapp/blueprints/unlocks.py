"""``/api/unlocks``: an employer unlocks a candidate's contact details; read the status."""

from __future__ import annotations

from flask import Blueprint

from webapp.http import accepted_response, hireflow, json_body, status_response
from webapp.schemas import UnlockRequest

bp = Blueprint("unlocks", __name__, url_prefix="/api/unlocks")


@bp.post("")
def create_unlock():
    return accepted_response(hireflow().unlock(json_body(UnlockRequest)))


@bp.get("/<business_id>")
def get_unlock(business_id: str):
    return status_response("unlock", business_id)
