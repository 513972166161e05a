"""One blueprint per feature; ``register`` adds them all to the app."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from webapp.blueprints import (
        admin,
        applications,
        candidates,
        cards,
        contacts,
        docs,
        employers,
        health,
        interviews,
        items,
        other_times,
        payments,
        postings,
        reschedules,
        resumes,
        skills,
        slots,
        tasks,
        ui,
        unlock_offers,
        unlocks,
        webhooks,
        withdrawals,
    )

    for module in (
        health,
        docs,
        admin,
        resumes,
        applications,
        unlocks,
        interviews,
        items,
        candidates,
        postings,
        employers,
        skills,
        webhooks,
        slots,
        other_times,
        reschedules,
        cards,
        payments,
        contacts,
        withdrawals,
        unlock_offers,
        ui,
        tasks,
    ):
        app.register_blueprint(module.bp)
