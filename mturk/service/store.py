"""The local MTurk service's state, in its own database (SQLite by default), so that a
restart loses no HIT, assignment or answer.

Its schema is created on start (``create_all``): this database belongs to the stand-in
service, not to Hitblocks, and is not migrated with the API's Alembic history.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from mturk.sqlite import apply_sqlite_pragmas

ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id() -> str:
    """A 30-character id of uppercase letters and digits, the shape of MTurk's ids."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(30))


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    # Named constraints, so that migrations can alter them on SQLite (batch mode) and
    # PostgreSQL alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Account(Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger)


class HITType(Base):
    __tablename__ = "hit_types"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text, default="")
    reward_cents: Mapped[int] = mapped_column(BigInteger)
    assignment_duration: Mapped[int] = mapped_column(BigInteger)
    auto_approval_delay: Mapped[int] = mapped_column(BigInteger)
    qualification_requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The properties above, canonically encoded: MTurk gives equal properties the same id.
    fingerprint: Mapped[str] = mapped_column(Text, unique=True)
    notification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notification_active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class HIT(Base):
    __tablename__ = "hits"
    __table_args__ = (
        Index("ix_hits_type_status", "hit_type_id", "status"),
        Index("ix_hits_status_expiration", "status", "expiration"),
    )

    # seq orders HITs for NextToken pagination; id is MTurk's HITId.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    hit_type_id: Mapped[str] = mapped_column(ForeignKey("hit_types.id"))
    question: Mapped[str] = mapped_column(Text)
    max_assignments: Mapped[int] = mapped_column(Integer)
    requester_annotation: Mapped[str | None] = mapped_column(String(255))
    unique_request_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expiration: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="Assignable")
    review_status: Mapped[str] = mapped_column(String(32), default="NotReviewed")


class Assignment(Base):
    """Accepted, Submitted, Approved, Rejected, Returned or Abandoned; the API shows the
    middle three, as MTurk does."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_hit_status", "hit_id", "status"),
        Index("ix_assignments_status_auto_approval", "status", "auto_approval_time"),
        Index("ix_assignments_status_deadline", "status", "deadline"),
        Index("ix_assignments_worker", "worker_id", "status"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    hit_id: Mapped[str] = mapped_column(ForeignKey("hits.id"))
    worker_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="Accepted")
    accept_time: Mapped[float] = mapped_column(Float, default=now)
    deadline: Mapped[float] = mapped_column(Float)
    submit_time: Mapped[float | None] = mapped_column(Float)
    auto_approval_time: Mapped[float | None] = mapped_column(Float)
    approval_time: Mapped[float | None] = mapped_column(Float)
    rejection_time: Mapped[float | None] = mapped_column(Float)
    answer: Mapped[str | None] = mapped_column(Text)
    requester_feedback: Mapped[str | None] = mapped_column(Text)


class Bonus(Base):
    __tablename__ = "bonuses"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    grant_time: Mapped[float] = mapped_column(Float, default=now)
    unique_request_token: Mapped[str | None] = mapped_column(String(64), unique=True)


class WorkerBlock(Base):
    __tablename__ = "worker_blocks"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text)


class WorkerMessage(Base):
    __tablename__ = "worker_messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float] = mapped_column(Float, default=now)


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    apply_sqlite_pragmas(dbapi_connection)
    dbapi_connection.isolation_level = None  # transactions begin where we say (below)


def _sqlite_begin(connection: Any) -> None:
    """Every request's transaction takes SQLite's write lock up front (BEGIN IMMEDIATE), so
    that two requests cannot both read an assignment as Submitted and both approve (and pay)
    it: a request sees the state the previous one left."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def service_engine(url: str) -> Engine:
    """The service database's engine; on SQLite, with the pragmas and transactions above."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


class Store:
    """Engine and sessions of the local service; one transaction per request."""

    def __init__(self, url: str, starting_balance_cents: int, sweep_interval: float = 1.0) -> None:
        self.sweep_interval = sweep_interval
        self.last_sweep = 0.0
        self.engine = service_engine(url)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self.transaction() as session:
            if session.get(Account, 1) is None:
                session.add(Account(id=1, balance_cents=starting_balance_cents))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
