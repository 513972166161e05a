"""``/api/skills``: the skills search knows, and the ways resumes write each.

What a marketplace's pages offer when an employer writes a posting's skills or searches
for candidates: a posting may require only these, and search finds only these.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from hireflow.skills import SKILLS

bp = Blueprint("skills", __name__, url_prefix="/api/skills")


@bp.get("")
def known_skills():
    """Every skill by the name it is kept by, with the other ways resumes write it. The same
    for every caller until the next release, so it has an ETag: 304 while it is unchanged."""
    skills = [
        {"name": name, "alsoWritten": [alias for alias in aliases if alias != name]}
        for name, aliases in SKILLS.items()
    ]
    response = jsonify({"skills": skills})
    response.add_etag()
    return response.make_conditional(request)
