"""Group commit: the SQLite transactions of one process made durable together, by one fsync.

SQLite has one writer at a time, and a durable commit (WAL, ``synchronous=FULL``) waits for
an fsync: about 3 ms on the disks we run on, during which nothing else may write. One
transaction per commit caps the service near 300 writes a second whatever its CPU, and it is
the fsync, not the work, that takes most of that time.

So the transactions of a process take turns on one connection, in one SQLite transaction
(``BEGIN IMMEDIATE``), each after the first in a savepoint of its own; when no other is
waiting for its turn (or the group is ``WINDOW`` seconds old, or ``LIMIT`` strong), the one
whose turn it is commits them all. What each of them was promised still holds:

- durable: no transaction returns (no request is answered) before the COMMIT that holds it
  has returned, fsync included;
- atomic: a transaction that fails rolls back to its savepoint, and the others go on (the
  first of a group, having no savepoint, rolls the whole transaction back, which holds
  nobody else's work yet, and the group ends there); if the COMMIT itself fails, none of
  the group took effect and every one of them raises ``CommitFailed``;
- isolated as before: the transactions of a group run one after another, each seeing what the
  previous ones wrote, as they did when each took SQLite's write lock in turn. What a
  transaction reads is uncommitted until its group commits, but nobody is answered before
  that, and other connections (other processes, ``Store.reading``) see only committed data.

Transactions of other processes still take turns through SQLite's own lock (busy_timeout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

# How long a group may stay open for more transactions to join it (bounds the wait the
# first one adds to its answer), and how many it may hold.
WINDOW = 0.010
LIMIT = 64


class CommitFailed(Exception):
    """The COMMIT of a group failed: this transaction, like the others of its group, did not
    take effect."""


class _Group:
    """Transactions that one COMMIT makes durable together."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.opened = time.monotonic()
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommit:
    """The writing transactions of one process on one SQLite database (``Store``)."""

    def __init__(self, engine: Engine, window: float = WINDOW, limit: int = LIMIT) -> None:
        self.engine = engine
        self.window = window
        self.limit = limit
        self._turn = threading.Lock()  # held by the transaction whose turn it is
        self._count = threading.Lock()
        self._waiting = 0  # transactions waiting for their turn
        self._group: _Group | None = None
        self._inside = threading.local()

    @contextmanager
    def transaction(self, info: dict[str, Any]) -> Iterator[Session]:
        """A session whose work commits (durably) before this returns, or not at all."""
        if getattr(self._inside, "active", False):
            # It would wait for its own turn forever (before, for SQLite's lock, 15 s).
            raise RuntimeError("A store transaction cannot be opened inside another.")
        with self._count:
            self._waiting += 1
        self._turn.acquire()
        with self._count:
            self._waiting -= 1
        try:
            group = self._join()
        except BaseException:
            self._turn.release()
            raise
        self._inside.active = True
        session = Session(
            bind=group.connection,
            # The first of a group needs no savepoint: if it fails, rolling the whole
            # transaction back undoes nothing of anyone else's (the group then ends, below).
            join_transaction_mode="create_savepoint" if group.members else "rollback_only",
            expire_on_commit=False,
            info=dict(info),
        )
        try:
            try:
                with session.begin():
                    yield session
            finally:
                session.close()
                self._inside.active = False
        except BaseException as failure:
            if not _in_transaction(group.connection):
                # SQLite rolled the whole transaction back (it does on some errors: disk
                # full, I/O): the group is lost, and its other members must hear it.
                self._fail(group, failure)
            self._leave(group)  # its own failure is what it raises, whatever the group's fate
            raise
        self._leave(group)
        if group.error is not None:
            raise CommitFailed(f"The transaction was not committed: {group.error}") from (
                group.error
            )

    def _join(self) -> _Group:
        """The open group (committed first if it has been open too long), or a new one."""
        group = self._group
        if group is not None and not _in_transaction(group.connection):
            self._fail(group, CommitFailed("The transaction was rolled back by SQLite."))
            group = None
        elif group is not None and time.monotonic() - group.opened >= self.window:
            self._commit(group)
            group = None
        if group is None:
            connection = self.engine.connect()
            try:
                connection.begin()  # BEGIN IMMEDIATE (``store._sqlite_begin``)
            except BaseException:
                connection.close()
                raise
            group = self._group = _Group(connection)
        return group

    def _leave(self, group: _Group) -> None:
        """Hand the turn on, committing the group first if nobody is waiting for it; then wait
        until the group is committed (or its commit failed)."""
        group.members += 1
        try:
            if not group.done.is_set() and (
                self._waiting == 0
                or group.members >= self.limit
                or time.monotonic() - group.opened >= self.window
            ):
                self._commit(group)
        finally:
            self._turn.release()
        group.done.wait()

    def _fail(self, group: _Group, error: BaseException) -> None:
        """End a group that cannot commit: none of its members took effect."""
        if self._group is group:
            self._group = None
        group.error = error
        try:
            group.connection.rollback()
        except Exception:  # nothing more to undo, or the connection is lost
            pass
        finally:
            group.connection.close()
            group.done.set()

    def _commit(self, group: _Group) -> None:
        self._group = None
        try:
            group.connection.commit()
        except BaseException as error:
            group.error = error
            try:
                group.connection.rollback()
            except Exception:  # the connection is lost: closing it below is all there is
                pass
        finally:
            group.connection.close()
            group.done.set()


def _in_transaction(connection: Connection) -> bool:
    """Whether SQLite still holds the group's transaction open (the driver's view, not
    SQLAlchemy's, which does not hear of a rollback SQLite did on its own)."""
    if connection.invalidated or connection.closed:
        return False
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))
