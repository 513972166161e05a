"""``/api/postings``: the job postings that take applications, for the marketplace's job board;
the candidates who fit one best and the applications it received, for its employer."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow, path_id
from webapp.schemas import FittingQuery, ItemPaging, PostingSearch

bp = Blueprint("postings", __name__, url_prefix="/api/postings")


@bp.get("")
def open_postings():
    """The open postings by id, a page at a time, with what each asks for; ``next``: the cursor after."""
    query = PostingSearch.model_validate(request.args.to_dict())
    found, next_page = hireflow().open_postings_page(query)
    return jsonify({"postings": found, "next": next_page})


@bp.get("/<posting_id>")
def posting(posting_id: str):
    """One posting as the list shows it, open or closed: a job board's page of it."""
    return jsonify(hireflow().posting(path_id("posting_id", posting_id)))


@bp.get("/<posting_id>/candidates")
def fitting_candidates(posting_id: str):
    """The candidates who fit the posting best, each with the score and the skills behind it."""
    posting_id = path_id("posting_id", posting_id)
    asking = FittingQuery.model_validate(request.args.to_dict())
    candidates = hireflow().fitting_candidates(posting_id, asking.limit)
    return jsonify({"postingId": posting_id, "candidates": candidates})


@bp.get("/<posting_id>/applications")
def applications(posting_id: str):
    """The applications to the posting, newest change first, a page at a time; ``next``: the cursor after."""
    posting_id = path_id("posting_id", posting_id)
    paging = ItemPaging.model_validate(request.args.to_dict())
    found, next_page = hireflow().posting_applications(posting_id, paging)
    return jsonify({"postingId": posting_id, "applications": found, "next": next_page})
