"""``/api/candidates``: search by skill, postings that fit one, contact details once unlocked, and
what hireflow keeps about a candidate: to see it, and to erase it."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow, path_id
from webapp.schemas import CandidateSearch, ContactQuery, FittingQuery

bp = Blueprint("candidates", __name__, url_prefix="/api/candidates")


@bp.get("")
def search():
    """Candidates with the skills and experience asked for, most experienced first, without
    contact details; a page at a time."""
    query = CandidateSearch.model_validate(request.args.to_dict())
    found, next_page = hireflow().search_candidates(query)
    return jsonify({"candidates": found, "next": str(next_page) if next_page else None})


@bp.get("/<candidate_id>/postings")
def fitting_postings(candidate_id: str):
    """The open postings that fit the candidate best, each with its score and the skills behind it."""
    candidate_id = path_id("candidate_id", candidate_id)
    asking = FittingQuery.model_validate(request.args.to_dict())
    postings = hireflow().fitting_postings(candidate_id, asking.limit)
    return jsonify({"candidateId": candidate_id, "postings": postings})


@bp.get("/<candidate_id>/contact")
def contact(candidate_id: str):
    """The candidate's name and email for an employer whose unlock granted access (404 otherwise)."""
    asking = ContactQuery.model_validate(request.args.to_dict())
    return jsonify(hireflow().contact_for(path_id("candidate_id", candidate_id), asking.employer_id))


@bp.get("/<candidate_id>")
def candidate_data(candidate_id: str):
    """Everything hireflow keeps about the candidate, for their request to see it (GDPR art. 15)."""
    return jsonify(hireflow().candidate_data(path_id("candidate_id", candidate_id)))


@bp.delete("/<candidate_id>")
def erase_candidate(candidate_id: str):
    """Erase the candidate's files, profile and addresses once their items have ended (GDPR art. 17)."""
    return jsonify(hireflow().erase_candidate(path_id("candidate_id", candidate_id)))
