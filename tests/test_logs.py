"""hireflow's log format (``hireflow.logs``): one line a record, with the job's context."""

from __future__ import annotations

import json
import logging
import sys
import traceback

from hireflow.logs import ContextFormatter, JsonFormatter, one_line


def record(msg: str = "retrying %s", args: tuple = ("charge",), exc_info=None, **context):
    entry = logging.LogRecord("job_workers", logging.WARNING, __file__, 1, msg, args, exc_info)
    entry.__dict__.update(context)
    return entry


def test_logs_carry_the_job_context_in_text_and_json():
    context = {"job_type": "unlock.charge-card", "job_key": 7, "process_instance_key": 9}
    text = ContextFormatter().format(record(**context))
    assert text.endswith("retrying charge job_type=unlock.charge-card job_key=7 process_instance_key=9")
    entry = json.loads(JsonFormatter().format(record(**context)))
    assert (entry["message"], entry["job_key"], entry["process_instance_key"]) == ("retrying charge", 7, 9)


def test_a_line_break_sent_from_outside_cannot_forge_a_line():
    # What a request for /items/x%0A2026-...%20ERROR... put in the access log before.
    forged = "/items/x\n2026-12-06 02:00:00,000 ERROR   webapp: forged\r\x1b[2K"
    text = ContextFormatter().format(record('"GET %s" 404', (forged,), request_id="req-00001"))
    assert text.splitlines() == [text]
    assert '"GET /items/x\\n2026-12-06 02:00:00,000 ERROR   webapp: forged\\r\\x1b[2K" 404' in text
    assert text.endswith(" request_id=req-00001")


def test_every_character_that_breaks_a_line_or_drives_a_terminal_is_escaped():
    breaking = "\x00\x07\n\x0b\x0c\r\x1b\x7f\x85\x9b\u2028\u2029"
    assert one_line(breaking) == "\\x00\\x07\\n\\x0b\\x0c\\r\\x1b\\x7f\\x85\\x9b\\u2028\\u2029"
    assert "\n" not in one_line(breaking) and not any(ch in one_line(breaking) for ch in breaking)
    # Tabs, accents, other scripts and emoji are a name's or a file's, and stay as they are.
    kept = "Zoë Nguyễn\t履歴書 😀 €"
    assert one_line(kept) == kept


def test_a_traceback_follows_its_line_indented_and_the_context_stays_on_it():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        text = ContextFormatter().format(record(exc_info=sys.exc_info(), job_key=7))
    first, *traceback = text.split("\n")
    assert first.endswith("retrying charge job_key=7")
    assert traceback[0] == "  Traceback (most recent call last):"
    assert traceback[1].startswith('    File "')
    # The message's own line break still breaks the line, but indented, as the rest.
    assert traceback[-2:] == ["  ValueError: bad", "  value"]


def test_an_exception_message_sent_from_outside_cannot_forge_a_line():
    # A file's name, say, quoted in an exception that a worker logs with its traceback.
    forged = "cv.pdf\n2026-12-06 02:00:00,000 ERROR   webapp: forged\r\x1b[2K"
    try:
        raise ValueError(f"cannot read {forged}")
    except ValueError:
        exc_info = sys.exc_info()
    for stack_info in (None, f"Stack (most recent call last):\n{forged}"):
        text = ContextFormatter().format(record(exc_info=exc_info, stack_info=stack_info))
        first, *rest = text.split("\n")
        assert first.startswith("20") and rest
        assert all(line.startswith("  ") for line in rest), rest
        assert "  2026-12-06 02:00:00,000 ERROR   webapp: forged\\r\\x1b[2K" in rest


def test_a_traceback_formatted_into_a_message_is_set_out_as_logging_sets_out_its_own():
    # gunicorn logs "Exception during worker exit:\n%s" with traceback.format_exc().
    forged = "x\n2026-12-06 02:00:00,000 ERROR   webapp: forged"
    try:
        raise ValueError(forged)
    except ValueError:
        formatted = traceback.format_exc()
    text = ContextFormatter().format(record("Exception during worker exit:\n%s", (formatted,), worker="w-1"))
    first, *rest = text.split("\n")
    assert first.endswith("Exception during worker exit: worker=w-1")
    assert rest[0] == "  Traceback (most recent call last):"
    assert rest[-2:] == ["  ValueError: x", "  2026-12-06 02:00:00,000 ERROR   webapp: forged"]
    assert all(line.startswith("  ") for line in rest), rest


def test_json_lines_stay_one_line_too():
    line = JsonFormatter().format(record("%s", ("a\nb\u2028c",)))
    assert line.splitlines() == [line] and json.loads(line)["message"] == "a\nb\u2028c"
