"""gunicorn's own refusals as problem details (webapp/gunicorn_worker.py); the real server's
answers are in test_webapp_server.py."""

from __future__ import annotations

import json

from webapp.gunicorn_worker import LONGEST_DETAIL, problem_response


def split(response: bytes) -> tuple[list[str], dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert f"Content-Length: {len(body)}" in lines
    return lines, json.loads(body)


def test_a_refusal_is_a_whole_response_with_a_problem_detail():
    lines, problem = split(problem_response(414, "URI Too Long", "Request Line is too large (5000 > 4094)"))
    assert lines[0] == "HTTP/1.1 414 URI Too Long"
    assert "Content-Type: application/problem+json" in lines
    assert "Connection: close" in lines
    assert problem == {
        "type": "about:blank",
        "title": "URI Too Long",
        "status": 414,
        "detail": "Request Line is too large (5000 > 4094)",
    }


def test_a_quoted_request_line_is_cut_short_and_stays_json():
    hostile = "Invalid Request Line 'GET /\"<script>" + "x" * 5000
    _, problem = split(problem_response(400, "Bad Request", hostile))
    assert len(problem["detail"]) == LONGEST_DETAIL
    assert problem["detail"].startswith(hostile[:40])


def test_an_error_without_a_message_has_no_detail():
    _, problem = split(problem_response(500, "Internal Server Error", ""))
    assert "detail" not in problem
