"""The local MTurk service's state, in its own database (SQLite by default), so that a
restart loses no HIT, assignment or answer.

Its schema is created on start (``create_all``): this database belongs to the stand-in
service, not to Hitblocks, and is not migrated with the API's Alembic history.
"""

from __future__ import annotations

import os
import secrets
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from mturk.service import schema
from mturk.service.group_commit import GroupCommit
from mturk.sqlite import apply_sqlite_pragmas

ID_ALPHABET = string.ascii_uppercase + string.digits
# The execution option of a connection that only reads (``Store.reading``).
READ_ONLY = "mturk_read_only"


def new_id() -> str:
    """A 30-character id of uppercase letters and digits, the shape of MTurk's ids, drawn
    with ``secrets``: 30 x log2(36) = 155 bits of randomness, above the 128 an assignment id
    needs, since an ExternalQuestion page submits with the assignment id alone."""
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


class HITType(Base):
    __tablename__ = "hit_types"
    __table_args__ = (
        UniqueConstraint("requester_id", "fingerprint", name="uq_hit_types_requester_fingerprint"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text, default="")
    reward_cents: Mapped[int] = mapped_column(BigInteger)
    assignment_duration: Mapped[int] = mapped_column(BigInteger)
    auto_approval_delay: Mapped[int] = mapped_column(BigInteger)
    qualification_requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The properties above, canonically encoded: MTurk gives one requester's equal properties
    # the same id.
    fingerprint: Mapped[str] = mapped_column(Text)
    notification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notification_active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class HIT(Base):
    __tablename__ = "hits"
    __table_args__ = (
        Index("ix_hits_type_status", "hit_type_id", "status"),
        Index("ix_hits_status_expiration", "status", "expiration"),
        Index("ix_hits_requester_status", "requester_id", "status"),
        UniqueConstraint("requester_id", "unique_request_token", name="uq_hits_requester_token"),
    )

    # seq orders HITs for NextToken pagination; id is MTurk's HITId.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    hit_type_id: Mapped[str] = mapped_column(ForeignKey("hit_types.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    question: Mapped[str] = mapped_column(Text)
    max_assignments: Mapped[int] = mapped_column(Integer)
    requester_annotation: Mapped[str | None] = mapped_column(String(255))
    unique_request_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expiration: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="Assignable")
    review_status: Mapped[str] = mapped_column(String(32), default="NotReviewed")
    # The layout the question was rendered from (CreateHIT with HITLayoutId), if any.
    hit_layout_id: Mapped[str | None] = mapped_column(String(64))
    # MTurk's review policies given at CreateHIT (``review``), as given.
    assignment_review_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    hit_review_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # HITExpired is told once (``lifecycle.refresh_status``).
    expiry_told: Mapped[bool] = mapped_column(default=False)


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
    __table_args__ = (
        UniqueConstraint("requester_id", "unique_request_token", name="uq_bonuses_requester_token"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    worker_id: Mapped[str] = mapped_column(String(64), index=True)  # the worker's dashboard
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    grant_time: Mapped[float] = mapped_column(Float, default=now)
    unique_request_token: Mapped[str | None] = mapped_column(String(64))


class WorkerBlock(Base):
    __tablename__ = "worker_blocks"
    __table_args__ = (
        UniqueConstraint("requester_id", "worker_id", name="uq_worker_blocks_requester_worker"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)


class WorkerMessage(Base):
    __tablename__ = "worker_messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("requesters.id"))
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float] = mapped_column(Float, default=now)


# ---- Requester accounts, access keys and ledger (helper R; the logic is in ``requesters``) --


class Requester(Base):
    """A requester account: its HITs, its prepaid balance, its access keys."""

    __tablename__ = "requesters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class AccessKey(Base):
    """An AWS-style access key. The secret is kept as is, not hashed: SigV4 signs with the
    secret itself, so checking a signature needs it. Protect this database accordingly."""

    __tablename__ = "access_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # AKIA + 16
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    secret: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="Active")  # Active or Inactive
    created_at: Mapped[float] = mapped_column(Float, default=now)
    last_used_at: Mapped[float | None] = mapped_column(Float)


class LedgerEntry(Base):
    """One change of a requester's balance, so that the balance is explained: a funding
    (positive), or a reward or bonus paid with its commission (negative)."""

    __tablename__ = "ledger"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # funding, reward or bonus
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # the change, commission included
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # the commission in it
    balance_cents: Mapped[int] = mapped_column(BigInteger)  # the balance after the change
    reference: Mapped[str | None] = mapped_column(String(64))  # the assignment, if any
    at: Mapped[float] = mapped_column(Float, default=now)


# ---- end of requester accounts ----------------------------------------------------------


# ---- Worker accounts and invitations (helper W; the logic is in ``workers``) ---------------


class WorkerAccount(Base):
    """A worker who signs in with an email and a password; ``id`` is the WorkerId requesters
    see. ``email`` is kept lowercased, so that it is unique whatever its case."""

    __tablename__ = "worker_accounts"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active or disabled
    created_at: Mapped[float] = mapped_column(Float, default=now)


class WorkerInvitation(Base):
    """A one-time sign-up link; only the SHA-256 of its token is kept."""

    __tablename__ = "worker_invitations"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)
    worker_id: Mapped[str | None] = mapped_column(String(64))


# ---- end of worker accounts -------------------------------------------------------------


# ---- Qualification types and workers' qualifications (helper Q; logic in ``qualifications``)


class QualificationType(Base):
    """A requester's qualification type. MTurk's system types (approval rate, locale,
    Masters...) have no row: their values are computed from what the service knows."""

    __tablename__ = "qualification_types"
    __table_args__ = (
        UniqueConstraint("requester_id", "name", name="uq_qualification_types_requester_name"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))  # Active or Inactive
    auto_granted: Mapped[bool] = mapped_column(default=False)
    auto_granted_value: Mapped[int | None] = mapped_column(Integer)
    is_requestable: Mapped[bool] = mapped_column(default=True)
    retry_delay: Mapped[int | None] = mapped_column(BigInteger)
    test: Mapped[str | None] = mapped_column(Text)  # a QuestionForm, kept as given
    answer_key: Mapped[str | None] = mapped_column(Text)
    test_duration: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class WorkerQualification(Base):
    """A worker's score on a qualification type: a requester's type (``requester_id`` set),
    or a system type's value an administrator set on the worker's profile (Locale, Adult,
    Masters; ``requester_id`` None)."""

    __tablename__ = "worker_qualifications"
    __table_args__ = (
        UniqueConstraint(
            "qualification_type_id", "worker_id", name="uq_worker_qualifications_type_worker"
        ),
        Index("ix_worker_qualifications_worker", "worker_id"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    qualification_type_id: Mapped[str] = mapped_column(String(64))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("requesters.id"))
    worker_id: Mapped[str] = mapped_column(String(64))
    integer_value: Mapped[int | None] = mapped_column(Integer)
    locale_country: Mapped[str | None] = mapped_column(String(2))
    locale_subdivision: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="Granted")  # Granted or Revoked
    granted_at: Mapped[float] = mapped_column(Float, default=now)


class QualificationRequest(Base):
    """A worker's request for a requestable qualification type (``qualifications``): taking
    its test (Testing), waiting for the owner's decision (Pending), then Approved or
    Rejected. A test graded by an answer key is decided at once."""

    __tablename__ = "qualification_requests"
    __table_args__ = (
        Index("ix_qualification_requests_requester_status", "requester_id", "status"),
        Index("ix_qualification_requests_worker_type", "worker_id", "qualification_type_id"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    qualification_type_id: Mapped[str] = mapped_column(String(64))
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    worker_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # Testing, Pending, Approved, Rejected
    started_at: Mapped[float] = mapped_column(Float, default=now)
    submitted_at: Mapped[float | None] = mapped_column(Float)
    answer: Mapped[str | None] = mapped_column(Text)  # QuestionFormAnswers of the test
    # The QuestionForm the worker was given (the type's Test when the request was made).
    test: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)


# ---- end of qualifications --------------------------------------------------------------


# ---- Files workers upload to QuestionForm FileUpload questions (``question_forms``) --------


class UploadedFile(Base):
    """A file a worker uploaded as an answer; ``GetFileUploadURL`` gives a time-limited URL to
    it (only the SHA-256 of that URL's token is kept)."""

    __tablename__ = "uploaded_files"
    __table_args__ = (
        UniqueConstraint(
            "assignment_id", "question_identifier", name="uq_uploaded_files_assignment_question"
        ),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    question_identifier: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    # Up to 20 MB: read only when the file itself is sent (``uploads.download``).
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    download_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    download_expires_at: Mapped[float | None] = mapped_column(Float)


# ---- HIT layouts (``layouts``) -------------------------------------------------------------


class HITLayout(Base):
    """An HTML template with ``${name}`` placeholders that CreateHIT renders with
    HITLayoutParameters, as MTurk's requester-site projects did."""

    __tablename__ = "hit_layouts"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    html: Mapped[str] = mapped_column(Text)
    parameters: Mapped[list[str]] = mapped_column(JSON)  # the placeholders' names
    created_at: Mapped[float] = mapped_column(Float, default=now)


# ---- Review policies' results and actions (``review``) ----------------------------------------


class ReviewResult(Base):
    """One result a review policy computed (a known-answer score, an agreement...)."""

    __tablename__ = "review_results"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))  # Assignment or HIT
    policy_name: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[str] = mapped_column(String(64), default=new_id)  # its ActionId
    subject_id: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    question_id: Mapped[str | None] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ReviewAction(Base):
    """One action a review policy took (approve, reject, extend), and how it went."""

    __tablename__ = "review_actions"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    hit_id: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))  # Assignment or HIT
    policy_name: Mapped[str] = mapped_column(String(64))
    action_name: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # Intended, Succeeded, Failed, Cancelled
    complete_time: Mapped[float | None] = mapped_column(Float)
    result: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))


# ---- Notifications waiting to be sent (``notifications``) ---------------------------------


class OutboundNotification(Base):
    """One MTurk notification message for one destination (an SQS queue or SNS topic),
    written in the transaction of the change it reports and sent after it, at least once."""

    __tablename__ = "outbound_notifications"
    __table_args__ = (Index("ix_outbound_notifications_due", "delivered_at", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    transport: Mapped[str] = mapped_column(String(16))  # SQS or SNS (Email is not sent)
    destination: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)  # the JSON body, as MTurk sends it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=now)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=now)


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    apply_sqlite_pragmas(dbapi_connection)
    dbapi_connection.isolation_level = None  # transactions begin where we say (below)


def _sqlite_begin(connection: Any) -> None:
    """Every request's transaction takes SQLite's write lock up front (BEGIN IMMEDIATE), so
    that two requests cannot both read an assignment as Submitted and both approve (and pay)
    it: a request sees the state the previous one left."""
    # ---- notifications: a read-only connection (``Store.reading``) takes no lock ----
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # ---- end of notifications ----
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def service_engine(url: str) -> Engine:
    """The service database's engine; on SQLite, with the pragmas and transactions above, and
    its file readable by its owner only: it holds requesters' secrets and workers' hashes."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _owner_only(engine.url.database)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _owner_only(path: str | None) -> None:
    """Create the SQLite file (or tighten it) as 0600; SQLite gives its WAL and shared-memory
    files the database file's permissions."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name):
            os.chmod(name, 0o600)


class Store:
    """Engine and sessions of the local service; one transaction per request."""

    def __init__(self, url: str, sweep_interval: float = 1.0, migrate: bool | None = None) -> None:
        """``migrate``: bring the schema to the newest migration (None: only on SQLite, as
        the API does); otherwise refuse a database behind it (``schema.SchemaBehind``)."""
        self.sweep_interval = sweep_interval
        self.last_sweep = 0.0
        self.engine = service_engine(url)
        if migrate or (migrate is None and self.engine.dialect.name == "sqlite"):
            schema.upgrade(self.engine, Base.metadata)
        else:
            schema.check_current(self.engine)
        # Service settings that operations read from their session's ``info`` (task content).
        self.settings: dict[str, Any] = {}
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, info=self.settings)
        # On SQLite, this process's transactions commit in groups, one fsync for several
        # (``group_commit``); PostgreSQL runs them side by side and groups commits itself.
        self._groups = GroupCommit(self.engine) if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction, committed (durably) when this returns; rolled back if it raises."""
        if self._groups is not None:
            with self._groups.transaction(self.settings) as session:
                yield session
            return
        with self._sessions() as session, session.begin():
            yield session

    # ---- notifications ----
    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction that takes no write lock on SQLite (a deferred BEGIN, read
        beside the writer in WAL mode): for polls that mostly find nothing, such as the
        notification deliverer's, so that they neither wait for nor hold up the writers."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection

    # ---- end of notifications ----

    def dispose(self) -> None:
        self.engine.dispose()
