"""SQLite connection settings shared by every engine the project opens."""

from __future__ import annotations

import sqlite3
from typing import Any


def apply_sqlite_pragmas(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Enforce foreign keys and let readers and one writer work side by side (WAL)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
