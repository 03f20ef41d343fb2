"""Use-cases. Each public function owns its transaction: it commits once or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.extensions import DbSession

__all__ = ["DbSession", "transaction"]


@contextmanager
def transaction(session: DbSession) -> Iterator[DbSession]:
    """Commit what the block did, or roll all of it back if the block raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
