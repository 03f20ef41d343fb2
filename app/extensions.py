"""Extensions live at module level and are bound to an app only by the factory.

flask-smorest's ``Api`` holds one app's OpenAPI spec, so the factory makes one per app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeAlias

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

from app.schemas import ErrorSchema

# Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# What services and the layers below them take: Flask-SQLAlchemy's request-scoped session,
# or a plain one (scripts, tests).
DbSession: TypeAlias = Session | scoped_session[Any]
# The migrations live beside the packages, in the checkout that ``pip install -e .`` points at.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True)


class HitblocksApi(Api):
    """flask-smorest's Api, documenting our error body instead of its own."""

    ERROR_SCHEMA = ErrorSchema
