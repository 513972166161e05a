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

from webapp.request_log import without_tokens

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
    """``gthread``, with gunicorn's own error answers as problem details.

    And no second answer to one request: when the app answered without reading the whole
    body (a 415 before the upload was read), gunicorn reads the rest before the next
    request, and a malformed rest (a bad chunk size) made it write a 400 after the app's
    answer. A client reads that as the answer to its next request on the connection. The
    connection now just closes, with a warning.
    """

    def handle_request(self, req, conn):
        keepalive = super().handle_request(req, conn)
        # Only once it returned: a request that raised before its answer still gets a 500.
        req.hireflow_answered = True  # read by handle_error
        return keepalive

    def handle_error(self, req, client, addr, exc) -> None:
        if getattr(req, "hireflow_answered", False):
            self.log.warning(
                "The rest of a request already answered (%s %s) cannot be read: %s; closing the connection",
                req.method,
                without_tokens(req.path),
                exc,
            )
            return
        super().handle_error(req, client, addr, exc)

    def init_process(self) -> None:
        # The worker's error handler (``Worker.handle_error``) chooses the status, logs
        # the refusal and writes the access line, then calls ``util.write_error``. Only
        # that last step changes, so it is replaced here, in the worker process after the
        # fork, rather than copying the handler.
        util.write_error = write_problem
        super().init_process()
