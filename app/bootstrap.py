"""Getting a database ready on start: migrate it (when configured) and create a first key."""

from __future__ import annotations

import flask_migrate
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app

from app.extensions import db
from app.services.accounts import IssuedKey, bootstrap_first_account


class SchemaNotCurrent(RuntimeError):
    """The database is behind the code's migrations and may not be upgraded automatically."""


def ensure_schema(app: Flask) -> None:
    """Upgrade to the newest migration when ``AUTO_MIGRATE`` is on (the SQLite default);
    otherwise refuse to start on a schema the code does not match."""
    with app.app_context():
        if app.config["AUTO_MIGRATE"]:
            flask_migrate.upgrade()
            return
        config = current_app.extensions["migrate"].migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        if current != heads:
            raise SchemaNotCurrent(
                f"The database schema is at {sorted(current) or 'nothing'}, the code needs "
                f"{sorted(heads)}: run `hitblocks db upgrade` (or set HITBLOCKS_AUTO_MIGRATE=true)."
            )


def prepare(app: Flask) -> IssuedKey | None:
    """Migrate, then on an empty database create the first account; return its key if so."""
    ensure_schema(app)
    with app.app_context():
        return bootstrap_first_account(db.session, app.config["BOOTSTRAP_ACCOUNT"])
