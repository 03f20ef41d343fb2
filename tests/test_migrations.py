"""The schema comes only from migrations; they must match the models on SQLite and PostgreSQL."""

from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import create_app
from app.extensions import db

TABLES = {
    "accounts",
    "api_keys",
    "hitblocks",
    "items",
    "responses",
    "bonuses",
    "job_leases",
    "idempotency_keys",
    "events",
    "webhook_endpoints",
    "deliveries",
    "delivery_attempts",
    "alembic_version",
}


def migrate_and_diff(url: str) -> list:
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(context, db.metadata)
        flask_migrate.downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        flask_migrate.upgrade()
        db.engine.dispose()
    return diff


def test_sqlite_migrations_match_the_models(tmp_path):
    assert migrate_and_diff(f"sqlite:///{tmp_path / 'm.sqlite3'}") == []


@pytest.mark.postgres
def test_postgres_migrations_match_the_models(postgres_schema_url):
    assert migrate_and_diff(postgres_schema_url) == []


def test_a_model_change_without_migration_is_detected(tmp_path):
    """The drift check above can fail: an extra model column shows up as a difference."""
    from sqlalchemy import Column, Integer

    from app.models import Item

    column = Column("surprise", Integer, nullable=True)
    Item.__table__.append_column(column)
    try:
        diff = migrate_and_diff(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    finally:
        Item.__table__._columns.remove(column)
    assert any(change[0] == "add_column" and change[3].name == "surprise" for change in diff)
