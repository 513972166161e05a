"""Schema migrations of the domain store (Alembic); ``hireflow.store.Database.create_schema`` runs them.

To change the schema: change the models in ``hireflow/store.py``, then write the step with
``alembic revision --autogenerate -m "what and why"`` (``alembic.ini`` is at the project
root; it migrates ``HIREFLOW_DATABASE_URL``, by default the local SQLite file), read it,
and commit it with the model change. ``tests/test_migrations.py`` fails while the models
and the migrations disagree.

During a rolling update the old release still runs on the migrated database, so write
each step for both: add a column or table in one release, and drop the old one only in a
later release, once nothing reads it.
"""
