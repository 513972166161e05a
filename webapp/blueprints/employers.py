"""``/api/employers``: an employer's postings, its unlocks and what they gave it, for its own pages."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow, path_id
from webapp.schemas import EmployerPostingsQuery, ItemPaging, PageAfter

bp = Blueprint("employers", __name__, url_prefix="/api/employers")


@bp.get("/<employer_id>/contacts")
def contacts(employer_id: str):
    """The candidates whose contact details the employer's paid unlocks opened, by candidate id."""
    employer_id = path_id("employer_id", employer_id)
    query = PageAfter.model_validate(request.args.to_dict())
    found, next_page = hireflow().contacts_of(employer_id, query)
    return jsonify({"employerId": employer_id, "contacts": found, "next": next_page})


@bp.get("/<employer_id>/postings")
def postings(employer_id: str):
    """The employer's postings, open and closed, each with its applications counted by status."""
    employer_id = path_id("employer_id", employer_id)
    query = EmployerPostingsQuery.model_validate(request.args.to_dict())
    found, next_page = hireflow().postings_with_applications(query, employer_id)
    return jsonify({"employerId": employer_id, "postings": found, "next": next_page})


@bp.get("/<employer_id>/unlocks")
def unlocks(employer_id: str):
    """The employer's unlocks, newest change first, each with what it waits for from them."""
    employer_id = path_id("employer_id", employer_id)
    paging = ItemPaging.model_validate(request.args.to_dict())
    found, next_page = hireflow().employer_unlocks(employer_id, paging)
    return jsonify({"employerId": employer_id, "unlocks": found, "next": next_page})
