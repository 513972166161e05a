"""``/api/candidates``: erase what hireflow keeps about one candidate."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.http import hireflow
from webapp.problems import invalid_field
from webapp.schemas import IDENTIFIER_PATTERN

bp = Blueprint("candidates", __name__, url_prefix="/api/candidates")


@bp.delete("/<candidate_id>")
def erase_candidate(candidate_id: str):
    """Erase the candidate's files, profile and addresses once their items have ended (GDPR art. 17)."""
    if not IDENTIFIER_PATTERN.fullmatch(candidate_id):
        raise invalid_field("candidate_id", "letters, digits, '.', '_' or '-', at most 100")
    return jsonify(hireflow().erase_candidate(candidate_id))
