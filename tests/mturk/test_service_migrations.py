"""The MTurk service's schema comes from its own migrations: they match its models on SQLite
and PostgreSQL, a database from before migrations is adopted, and drift is caught."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Column, Integer, create_engine, inspect, text

from app.cli import main
from mturk.service import schema
from mturk.service.store import HIT, Base, Store

BEFORE_MIGRATIONS = (
    Path(__file__).parent.parent / "helpers" / "service_schema_before_migrations.sql"
)


def diff_after_migrating(url: str) -> list:
    engine = create_engine(url)
    try:
        schema.migrate(engine)  # the scripts themselves, from nothing
        with engine.connect() as connection:
            assert schema.current_of(connection) == schema.head()
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": schema.VERSION_TABLE}
            )
            diff = compare_metadata(context, Base.metadata)
        schema.migrate(engine, "base", down=True)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {schema.VERSION_TABLE}
        return diff
    finally:
        engine.dispose()


def test_sqlite_migrations_match_the_models(tmp_path):
    assert diff_after_migrating(f"sqlite:///{tmp_path / 's.sqlite3'}") == []


@pytest.mark.postgres
def test_postgres_migrations_match_the_models(postgres_schema_url):
    assert diff_after_migrating(postgres_schema_url) == []


def test_a_model_change_without_migration_is_detected(tmp_path):
    column = Column("surprise", Integer, nullable=True)
    HIT.__table__.append_column(column)
    try:
        diff = diff_after_migrating(f"sqlite:///{tmp_path / 's.sqlite3'}")
    finally:
        HIT.__table__._columns.remove(column)
    assert any(change[0] == "add_column" and change[3].name == "surprise" for change in diff)


def test_a_database_from_before_migrations_is_adopted_and_upgraded(tmp_path):
    """Tables but no version (create_all, unnamed constraints): stamped at the baseline, then
    upgraded; what was there belongs to Hitblocks' own requester, with the old balance."""
    engine = create_engine(f"sqlite:///{tmp_path / 's.sqlite3'}")
    with engine.begin() as connection:
        ddl = "".join(
            line for line in BEFORE_MIGRATIONS.read_text().splitlines(True) if line[:2] != "--"
        )
        for statement in filter(str.strip, ddl.split(";")):
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql("INSERT INTO account VALUES (1, 4200)")
        connection.exec_driver_sql(
            "INSERT INTO hit_types (id, title, description, keywords, reward_cents,"
            " assignment_duration, auto_approval_delay, qualification_requirements,"
            " fingerprint, notification_active, created_at)"
            " VALUES ('T1', 't', 'd', '', 5, 60, 0, '[]', 'f', 0, 0)"
        )
        connection.exec_driver_sql(
            "INSERT INTO hits (id, hit_type_id, question, max_assignments, created_at,"
            " expiration, status, review_status, unique_request_token)"
            " VALUES ('H1', 'T1', 'q', 1, 0, 0, 'Assignable', 'NotReviewed', 'tok')"
        )
        connection.exec_driver_sql("INSERT INTO worker_blocks VALUES (1, 'AWORKER', 'r')")
    schema.upgrade(engine, Base.metadata)
    assert schema.current(engine) == schema.head()
    with engine.connect() as connection:
        owner, balance = connection.execute(
            text("SELECT id, balance_cents FROM requesters WHERE name = 'hitblocks'")
        ).one()
        assert balance == 4200
        opening = connection.execute(text("SELECT kind, amount_cents FROM ledger")).one()
        assert tuple(opening) == ("funding", 4200)  # the ledger explains the balance
        for table in ("hit_types", "hits", "worker_blocks"):
            owners = connection.execute(text(f"SELECT requester_id FROM {table}")).scalars()
            assert set(owners) == {owner}
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": schema.VERSION_TABLE}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_a_fresh_database_gets_the_models_tables_and_the_newest_version(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 's.sqlite3'}")
    schema.upgrade(engine, Base.metadata)
    assert schema.current(engine) == schema.head()
    with engine.connect() as connection:
        assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
    engine.dispose()


def test_hitblocks_db_upgrade_also_upgrades_the_service_database(tmp_path):
    service_url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    env = {
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": service_url,
    }
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"MTurk service database: at {schema.head()}." in result.output
    engine = create_engine(service_url)
    assert schema.current(engine) == schema.head()
    engine.dispose()


def test_the_service_database_file_is_readable_by_its_owner_only(tmp_path):
    """It holds requesters' secrets (SigV4 needs them as they are) and workers' hashes."""
    path = tmp_path / "s.sqlite3"
    Store(f"sqlite:///{path}").dispose()
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name


# ---- s0004 with data, up and down (revB) ------------------------------------------------------


def s0004_up_and_down_with_data(url: str) -> None:
    """s0003 -> s0004 with HITs and an assignment in the database, rows in s0004's tables,
    then back to s0003 and up again: the data of s0003 survives both ways; a HIT still live
    when upgrading will have its expiry told (HITExpired), one already expired will not."""
    import time

    engine = create_engine(url)
    live, gone = time.time() + 3600, time.time() - 3600
    try:
        schema.migrate(engine, "s0003")
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO requesters (id, name, balance_cents, created_at) "
                "VALUES (1, 'alice', 100, 0)",
                "INSERT INTO hit_types (id, title, description, keywords, reward_cents, "
                "assignment_duration, auto_approval_delay, qualification_requirements, "
                "fingerprint, notification_active, created_at, requester_id) "
                "VALUES ('T1', 't', 'd', '', 5, 60, 0, '[]', 'f', false, 0, 1)",
                "INSERT INTO hits (seq, id, hit_type_id, question, max_assignments, created_at, "
                "expiration, status, review_status, requester_id) VALUES "
                f"(1, 'LIVE', 'T1', 'q', 1, 0, {live}, 'Assignable', 'NotReviewed', 1), "
                f"(2, 'GONE', 'T1', 'q', 1, 0, {gone}, 'Reviewable', 'NotReviewed', 1)",
                "INSERT INTO assignments (seq, id, hit_id, worker_id, status, accept_time, "
                "deadline) VALUES (1, 'A1', 'LIVE', 'AWORKER', 'Accepted', 0, 9e9)",
            ):
                connection.exec_driver_sql(statement)
        schema.migrate(engine)
        with engine.begin() as connection:
            told = connection.execute(text("SELECT id, expiry_told FROM hits")).all()
            assert {hit_id: bool(value) for hit_id, value in told} == {"LIVE": False, "GONE": True}
            connection.execute(
                text(
                    "INSERT INTO outbound_notifications (requester_id, transport, destination, "
                    "message, attempts, next_attempt_at, created_at) "
                    "VALUES (1, 'SQS', 'q', '{}', 0, 0, 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO hit_layouts (id, requester_id, name, html, parameters, "
                    "created_at) VALUES ('L1', 1, 'n', 'h', '[]', 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO uploaded_files (assignment_id, question_identifier, filename, "
                    "content_type, size, data, created_at) "
                    "VALUES ('A1', 'q', 'f', 'text/plain', 1, :data, 0)"
                ),
                {"data": b"x"},
            )
        schema.migrate(engine, "s0003", down=True)
        with engine.connect() as connection:
            assert schema.current_of(connection) == "s0003"
            hits = connection.execute(text("SELECT id, status FROM hits ORDER BY seq")).all()
            assert [tuple(row) for row in hits] == [("LIVE", "Assignable"), ("GONE", "Reviewable")]
            assert connection.execute(text("SELECT id FROM assignments")).scalars().all() == ["A1"]
            assert "outbound_notifications" not in inspect(connection).get_table_names()
            assert "expiry_told" not in {c["name"] for c in inspect(connection).get_columns("hits")}
        schema.migrate(engine)
        with engine.connect() as connection:
            assert schema.current_of(connection) == schema.head()
    finally:
        engine.dispose()


def test_s0004_up_and_down_with_data_on_sqlite(tmp_path):
    s0004_up_and_down_with_data(f"sqlite:///{tmp_path / 's.sqlite3'}")


@pytest.mark.postgres
def test_s0004_up_and_down_with_data_on_postgres(postgres_schema_url):
    s0004_up_and_down_with_data(postgres_schema_url)
