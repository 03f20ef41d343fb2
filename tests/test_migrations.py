"""The schema comes only from migrations; they must match the models on SQLite and PostgreSQL."""

from __future__ import annotations

import json

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
    "users",  # console users (0012)
    "worker_blocks",  # quality (0011)
    "worker_exclusions",
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
    "notification_messages",  # EventDocIds of MTurk notifications handled (0015)
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


def test_answers_stored_before_the_one_shape_rule_are_read_again(tmp_path):
    """Revision 0009 rewrites old responses' data (every value a list) in the new shape."""
    from sqlalchemy import text

    from mturk.questions import answers_xml

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}", "TESTING": True})
    template = (
        '<input name="note"><input type="checkbox" name="t" value="a">'
        '<input type="checkbox" name="t" value="b">'
    )
    xml = answers_xml([("note", "hi|there"), ("t", "a"), ("t", "b")])
    with app.app_context():
        flask_migrate.upgrade(revision="0008")
        with db.engine.begin() as connection:
            for statement, values in (
                ("INSERT INTO accounts (id, name, created) VALUES (1, 'a', '2026-01-01')", {}),
                (
                    "INSERT INTO hitblocks (id, account_id, type, title, description, status,"
                    " cost_per_item, workers_per_item, currency, template, lifetime_in_seconds,"
                    " assignment_duration_in_seconds, auto_approval_delay_in_seconds, keywords,"
                    " qualification_requirements, total_spent, created) VALUES (1, 1, 'html',"
                    " 't', '', 'in_progress', 10, 1, 'usd', :template, 60, 60, 0, '', '[]', 0,"
                    " '2026-01-01')",
                    {"template": template},
                ),
                (
                    "INSERT INTO items (id, hitblock_id, type, params, status, cost, created)"
                    " VALUES (1, 1, 'html', '{}', 'completed', 0, '2026-01-01')",
                    {},
                ),
                (
                    "INSERT INTO responses (id, item_id, assignment_id, worker_id, status, data,"
                    " answer_xml, submitted, created) VALUES (1, 1, 'A1', 'W1', 'submitted',"
                    " :data, :xml, '2026-01-01', '2026-01-01')",
                    {"data": '{"note": ["hi|there"], "t": ["a|b"]}', "xml": xml},
                ),
            ):
                connection.execute(text(statement), values)
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            data = connection.execute(text("SELECT data FROM responses")).scalar_one()
        db.engine.dispose()
    assert json.loads(data) == {"note": "hi|there", "t": ["a", "b"]}
