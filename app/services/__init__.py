"""Use-cases. Each public function owns its transaction: it commits once or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

from sqlalchemy.orm import Session, scoped_session

# Services take Flask-SQLAlchemy's request-scoped session or a plain one (scripts, tests).
DbSession: TypeAlias = Session | scoped_session[Any]


@contextmanager
def transaction(session: DbSession) -> Iterator[DbSession]:
    """Commit what the block did, or roll all of it back if the block raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
