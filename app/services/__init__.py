"""Use-cases. Each public function owns its transaction: it commits once or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import DbSession

__all__ = ["DbSession", "insert_for", "transaction"]


@contextmanager
def transaction(session: DbSession) -> Iterator[DbSession]:
    """Commit what the block did, or roll all of it back if the block raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def insert_for(session: DbSession, entity: Any) -> PgInsert | SqliteInsert:
    """An INSERT in the session's database's dialect (PostgreSQL or SQLite), for its
    ``on_conflict_do_nothing``: both spell it alike, and ``insert`` alone has none."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(entity)
    return sqlite_insert(entity)
