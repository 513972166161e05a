"""``/api/resumes``: upload a resume (multipart) and read its status."""

from __future__ import annotations

from flask import Blueprint, request

from webapp.http import accepted_response, hireflow, resume_fields, status_response, unnamed_parts
from webapp.problems import invalid_field

bp = Blueprint("resumes", __name__, url_prefix="/api/resumes")


@bp.post("")
def upload_resume():
    """Store the file by reference and start ``resume-upload``."""
    if not request.mimetype == "multipart/form-data":
        raise invalid_field(
            "file", "send multipart/form-data with a 'file' part and the candidate fields", 415
        )
    if "file" in request.form:  # a part named file without a (parsable) filename
        raise invalid_field("file", "the 'file' part must be a file upload with a plain filename")
    parts_wrong = unnamed_parts() + [
        {"name": name, "reason": "unexpected file part; send the resume as 'file'"}
        for name in request.files
        if name not in ("file", None)
    ]
    # A field sent twice is ambiguous: which of its values the sender meant is not ours to pick.
    parts_wrong += [
        {"name": name, "reason": "given more than once; send one value"}
        for name in request.form
        if name is not None and len(request.form.getlist(name)) > 1
    ]
    upload = request.files.get("file")
    if upload is None:
        parts_wrong.append({"name": "file", "reason": "the resume file is missing"})
    elif len(request.files.getlist("file")) > 1:
        parts_wrong.append({"name": "file", "reason": "send one resume file per upload"})
    named_fields = {name: value for name, value in request.form.items() if name is not None}
    fields = resume_fields(named_fields, parts_wrong)
    accepted = hireflow().upload_resume(fields, upload.filename, upload.stream)
    return accepted_response(accepted)


@bp.get("/<business_id>")
def get_resume(business_id: str):
    return status_response("resume", business_id)
