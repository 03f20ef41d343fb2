"""SQLite shared by several processes: writers wait their turn, readers are never blocked."""

from __future__ import annotations

import sqlite3
import threading
import time

from mturk.sqlite import apply_sqlite_pragmas


def connect(path: str) -> sqlite3.Connection:
    """A connection as our engines open one, minus Python's own 5 s wait (``timeout=0``), so
    that only the pragmas decide whether a writer waits."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    apply_sqlite_pragmas(connection)
    return connection


def test_a_writer_waits_for_another_write_and_readers_do_not(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    holder, writer, reader = connect(path), connect(path), connect(path)
    holder.execute("CREATE TABLE t (n INTEGER)")
    assert holder.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert time.monotonic() - started < 1.0, "a reader does not wait for a writer (WAL)"
        writer.execute("INSERT INTO t VALUES (2)")  # "database is locked" without busy_timeout
        assert time.monotonic() - started >= 1.9
    finally:
        release.join()
    assert reader.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]
    for connection in (holder, writer, reader):
        connection.close()
