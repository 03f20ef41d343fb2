"""Getting a database ready on start: migrate it (when configured) and create a first key."""

from __future__ import annotations

import flask_migrate
from flask import Flask

from app.extensions import db
from app.services.accounts import IssuedKey, bootstrap_first_account


def ensure_schema(app: Flask) -> None:
    """Upgrade the schema to the newest migration when ``AUTO_MIGRATE`` is on (SQLite default)."""
    if app.config["AUTO_MIGRATE"]:
        with app.app_context():
            flask_migrate.upgrade()


def prepare(app: Flask) -> IssuedKey | None:
    """Migrate, then on an empty database create the first account; return its key if so."""
    ensure_schema(app)
    with app.app_context():
        return bootstrap_first_account(db.session, app.config["BOOTSTRAP_ACCOUNT"])
