"""The domain store's set-up, as many processes start on one fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import inspect

from hireflow.store import Base, Database


def test_many_starts_at_once_create_the_schema_without_an_error(store_url):
    url = store_url
    starting = 8
    barrier = threading.Barrier(starting)
    errors: list[BaseException] = []

    def start() -> None:
        db = Database(url)
        barrier.wait()
        try:
            db.create_schema()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starting)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    tables = set(inspect(Database(url).engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
