"""``python -m hireflow.housekeeping``: delete the once-only records no request can need again.

Two tables grow with every request and job, and each row is needed only for a while:

- ``request_claims`` of published messages (webhook events, slot choices, withdrawals):
  they turn a redelivery into a harmless duplicate. Stripe stops redelivering an event
  after 3 days, slot links expire after 7, and a withdrawal or cancellation asked again
  finds its item already over. Process-start claims stay: they keep one instance per
  business key for as long as the item exists.
- ``email_outbox`` entries of mails sent: they keep a retried job from sending twice, and
  a job is retried within minutes of its send. They also hold the recipient's address,
  which is personal data hireflow should not keep longer than it needs.

Run it daily (the Kubernetes CronJob in ``deploy/helm/hireflow`` does). Rows younger than
``--older-than-days`` (``HIREFLOW_RETENTION_DAYS``, 90; at least 7) stay. Exit codes: 0
done, 2 bad settings.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from hireflow.cli import command_line
from hireflow.logs import configure_command_logging
from hireflow.settings import SettingError, whole_number
from hireflow.store import Database, DatabaseUnavailable, EmailOutboxEntry, RequestClaim, utcnow

log = logging.getLogger("hireflow.housekeeping")

DEFAULT_RETENTION_DAYS = 90
# Below this a redelivered webhook (Stripe retries for 3 days) or a slot link (7 days)
# could find its claim gone and act twice.
MINIMUM_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Pruned:
    """How many rows went (or would go, on a dry run), by table."""

    message_claims: int
    sent_emails: int


def prune(
    db: Database, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None
) -> Pruned:
    """Delete message claims and sent-mail entries older than ``older_than``; returns the counts."""
    if older_than < timedelta(days=MINIMUM_RETENTION_DAYS):
        raise ValueError(
            f"keep at least {MINIMUM_RETENTION_DAYS} days (webhooks are redelivered for 3, "
            f"slot links live 7), not {older_than.total_seconds() / 86400:g}"
        )
    cutoff = (now or utcnow()) - older_than
    claims = RequestClaim.scope.like("message:%") & (RequestClaim.claimed_at < cutoff)
    emails = (EmailOutboxEntry.status == "sent") & (EmailOutboxEntry.sent_at < cutoff)
    with db.sessions.begin() as session:
        if dry_run:
            return Pruned(
                message_claims=session.scalar(select(func.count()).select_from(RequestClaim).where(claims)),
                sent_emails=session.scalar(select(func.count()).select_from(EmailOutboxEntry).where(emails)),
            )
        return Pruned(
            message_claims=session.execute(delete(RequestClaim).where(claims)).rowcount,
            sent_emails=session.execute(delete(EmailOutboxEntry).where(emails)).rowcount,
        )


def main(argv: list[str] | None = None) -> int:
    parser = command_line("hireflow.housekeeping", __doc__)
    try:
        retention_days = whole_number(os.environ, "HIREFLOW_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
    except SettingError as exc:
        log.error("%s", exc)
        return 2
    parser.add_argument(
        "--older-than-days",
        type=int,
        default=retention_days,
        help=f"keep rows younger than this (default HIREFLOW_RETENTION_DAYS or {DEFAULT_RETENTION_DAYS})",
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    args = parser.parse_args(argv)
    try:
        db = Database()  # HIREFLOW_DATABASE_URL, as the webapp and workers read it
    except SettingError as exc:
        log.error("%s", exc)
        return 2
    try:
        db.check_reachable()
        pruned = prune(db, timedelta(days=args.older_than_days), dry_run=args.dry_run)
    except DatabaseUnavailable as exc:
        log.error("%s", exc)  # the CronJob's next run tries again
        return 1
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    verb = "would delete" if args.dry_run else "deleted"
    counts = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in asdict(pruned).items())
    log.info("%s older than %d days: %s", verb, args.older_than_days, counts)
    return 0


if __name__ == "__main__":
    # Here, not in main(): a caller of main() in its own process keeps its own logging.
    configure_command_logging("housekeeping")
    sys.exit(main())
