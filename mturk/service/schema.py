"""The service database's schema comes from its own migrations (``migrations/service``).

- A new, empty database gets the tables of the models and is stamped at the newest
  revision (Alembic's recipe for a fresh database; the drift test proves the two equal).
- A database with a version is upgraded to the newest revision.
- A database made before the service had migrations (tables, no version) is the baseline
  revision's schema: it is stamped at that revision, then upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations" / "service"
VERSION_TABLE = "mturk_service_version"
BASELINE = "s0001"


class SchemaBehind(RuntimeError):
    """The database is behind the service's migrations and may not be upgraded here."""


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head() or ""


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_of(connection)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for migrations. On SQLite, foreign keys are off meanwhile
    (set outside the transaction, as SQLite requires): batch mode rebuilds a table by copying
    it, which a table referenced by others would otherwise refuse."""
    with engine.connect() as connection:
        # The DBAPI connection itself: a statement through SQLAlchemy would begin a transaction.
        raw: Any = connection.connection.driver_connection
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, metadata: MetaData) -> None:
    """Bring the database to the newest revision (see the module's docstring); ``metadata``
    is the models' (the store's), for a new database."""
    with _migrating(engine) as connection:
        tables = set(inspect(connection).get_table_names())
        config = _config(connection)
        if not tables - {VERSION_TABLE}:
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if VERSION_TABLE not in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")


def migrate(engine: Engine, revision: str = "head", *, down: bool = False) -> None:
    """Run the migration scripts themselves up (or, with ``down``, down) to ``revision``: for
    tests and for ``hitblocks db`` commands, never the create_all shortcut."""
    with _migrating(engine) as connection:
        config = _config(connection)
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


def current_of(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def check_current(engine: Engine) -> None:
    """Refuse a database that is not at the newest revision."""
    at = current(engine)
    if at != head():
        raise SchemaBehind(
            f"The MTurk service database is at {at or 'nothing'}, the code needs {head()}: "
            "run `hitblocks db upgrade` (or set HITBLOCKS_AUTO_MIGRATE=true)."
        )
