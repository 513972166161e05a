"""gunicorn's threaded worker, answering the requests it refuses itself as problem details.

gunicorn refuses some requests before the app sees them: a request line longer than
4094 bytes (414), header fields too large (431), a malformed request line, method,
version or header (400), an unsupported transfer coding (501). Its answer is a small HTML
page; every other error of the webapp is ``application/problem+json`` (RFC 9457), and a
client should not need a second parser for these few.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# gunicorn's message may quote the refused request line; a client needs its start only.
LONGEST_DETAIL = 200


def problem_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying a problem detail; the connection closes after it."""
    detail = message if len(message) <= LONGEST_DETAIL else message[: LONGEST_DETAIL - 1] + "…"
    problem = {"type": "about:blank", "title": reason, "status": status}
    if detail:
        problem["detail"] = detail
    body = json.dumps(problem).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """A drop-in for ``gunicorn.util.write_error``, which writes an HTML page."""
    util.write_nonblock(sock, problem_response(status_int, reason, mesg))


class ProblemDetailsWorker(ThreadWorker):
    """``gthread``, with gunicorn's own error answers as problem details."""

    def init_process(self) -> None:
        # The worker's error handler (``Worker.handle_error``) chooses the status, logs
        # the refusal and writes the access line, then calls ``util.write_error``. Only
        # that last step changes, so it is replaced here, in the worker process after the
        # fork, rather than copying the handler.
        util.write_error = write_problem
        super().init_process()
