"""``/api/candidates``: a candidate's contact details for an employer who unlocked them, and erasure."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow
from webapp.problems import invalid_field
from webapp.schemas import IDENTIFIER_PATTERN, ContactQuery

bp = Blueprint("candidates", __name__, url_prefix="/api/candidates")


def _candidate_id(candidate_id: str) -> str:
    if not IDENTIFIER_PATTERN.fullmatch(candidate_id):
        raise invalid_field("candidate_id", "letters, digits, '.', '_' or '-', at most 100")
    return candidate_id


@bp.get("/<candidate_id>/contact")
def contact(candidate_id: str):
    """The candidate's name and email for an employer whose unlock granted access (404 otherwise)."""
    asking = ContactQuery.model_validate(request.args.to_dict())
    return jsonify(hireflow().contact_for(_candidate_id(candidate_id), asking.employer_id))


@bp.delete("/<candidate_id>")
def erase_candidate(candidate_id: str):
    """Erase the candidate's files, profile and addresses once their items have ended (GDPR art. 17)."""
    return jsonify(hireflow().erase_candidate(_candidate_id(candidate_id)))
