"""The SQL statements a local MTurk service runs, for tests that bound how many a page takes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from mturk.service import local_store


@contextmanager
def statements(mturk_local: Any) -> Iterator[list[str]]:
    """The SQL statements the service of ``mturk_local`` (a ``LocalMTurk``) runs meanwhile."""
    seen: list[str] = []
    engine = local_store(mturk_local.app).engine

    def count(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
