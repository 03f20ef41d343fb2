"""SQLite connection settings shared by every engine the project opens."""

from __future__ import annotations

import sqlite3
from typing import Any

# How long a writer waits for another process's write to finish before SQLite gives up with
# "database is locked". Several web workers write to one file: under a burst of writes (40
# clients creating items on 16 server threads) the slowest waits were near 2 s.
BUSY_TIMEOUT_MS = 15_000


def apply_sqlite_pragmas(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Enforce foreign keys; let readers and one writer work side by side (WAL), and writers
    of every process wait their turn rather than fail (busy_timeout, set before the WAL switch,
    which itself may have to wait)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
