"""Database models (SQLAlchemy 2.x, typed). The schema itself comes only from migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy import column as sa_column
from sqlalchemy import false as sa_false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain import BlockStatus, ExclusionStatus
from app.extensions import Base, db
from mturk.sqlite import apply_sqlite_pragmas

# db.Model is Base plus Flask-SQLAlchemy's mixins, made at run time; type checkers see Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

# JSON everywhere; JSONB on PostgreSQL so that later queries can index into params.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Cents(TypeDecorator[Decimal]):
    """Money as an exact ``Decimal`` in Python, stored as integer cents.

    Integer cents are exact on SQLite too, where ``Numeric`` would go through float.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"{value} has more than two decimals")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


event.listen(Engine, "connect", apply_sqlite_pragmas)


class Account(Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Model):
    """An API key, kept only as its SHA-256 (keys are long random tokens, not passwords)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship()


class User(Model):
    """A person who signs in to the console (API keys are for programs): an ``admin`` may do
    everything, a ``reviewer`` only review. The password is kept as its Argon2id hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: lower case
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # a UserRole
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(lazy="raise_on_sql")


class Hitblock(Model):
    __tablename__ = "hitblocks"
    __table_args__ = (Index("ix_hitblocks_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="unlaunched")
    cost_per_item: Mapped[Decimal] = mapped_column(Cents)
    workers_per_item: Mapped[int] = mapped_column(Integer, default=1)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    template: Mapped[str] = mapped_column(Text)
    labels: Mapped[list[str] | None] = mapped_column(JsonType)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    lifetime_in_seconds: Mapped[int] = mapped_column(Integer)
    assignment_duration_in_seconds: Mapped[int] = mapped_column(Integer)
    auto_approval_delay_in_seconds: Mapped[int] = mapped_column(Integer)
    keywords: Mapped[str] = mapped_column(String(1000), default="")
    qualification_requirements: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    total_spent: Mapped[Decimal] = mapped_column(Cents, default=Decimal("0.00"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # MTurk's HIT type for this hitblock (also its HIT group), made on first publish.
    hit_type_id: Mapped[str | None] = mapped_column(String(64))
    # Signs what is POSTed to callback_url (Standard Webhooks), as an endpoint's secret does.
    callback_secret: Mapped[str | None] = mapped_column(String(128))
    # When the hitblock was last paused: a resume gives each open HIT back the lifetime it
    # had left then.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The notification queue its HIT type was last subscribed to (UpdateNotificationSettings):
    # a publish subscribes it again when the configured queue is another, or none was.
    notification_destination: Mapped[str | None] = mapped_column(String(2048))
    # {"min_accuracy": 0.8, "min_answers": 5}: workers below it on gold items are excluded.
    gold_policy: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # The qualification type that marks workers excluded from this hitblock (made at first
    # publish when a gold_policy is set; the HIT type requires that workers lack it).
    exclusion_qualification_type_id: Mapped[str | None] = mapped_column(String(64))
    # Items not deleted, and items completed: kept by the statement that changes an item's
    # status, in its transaction (``app.services.hitblocks.count_items``), so that reading a
    # hitblock costs the same at 10 items or 300k.
    num_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    num_items_completed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# Partial index predicates, written as the poll cycle's queries write them (SQLite uses a
# partial index only when the query repeats its terms).
OPEN_HIT = (sa_column("hit_done") == sa_false()) & sa_column("hit_id").is_not(None)
PUBLISHED = sa_column("status") == "published"
SUBMITTED = sa_column("status") == "submitted"


class Item(Model):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_hitblock_id_id", "hitblock_id", "id"),
        Index("ix_items_hitblock_id_status", "hitblock_id", "status"),
        # The poll cycle's HIT types and rotation read open work only (partial indexes, so
        # that their cost follows open HITs, not the items completed before).
        Index(
            "ix_items_open_hits",
            "hitblock_id",
            "status",
            sqlite_where=OPEN_HIT,
            postgresql_where=OPEN_HIT,
        ),
        Index(
            "ix_items_published_last_polled",
            "last_polled",
            "id",
            sqlite_where=PUBLISHED,
            postgresql_where=PUBLISHED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hitblock_id: Mapped[int] = mapped_column(ForeignKey("hitblocks.id"))
    type: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    cost: Mapped[Decimal] = mapped_column(Cents, default=Decimal("0.00"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Stored before CreateHIT is called, so a retry after a crash finds the same HIT.
    unique_request_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the token was given: MTurk remembers a token for 24 hours only.
    token_issued: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the poller last listed this HIT's assignments (multi-worker HITs, in rotation).
    last_polled: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # True once every assignment of the HIT is stored and the HIT is out of MTurk's
    # Reviewable list (or deleted there): the poller no longer needs to look at it.
    hit_done: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # When the HIT expires as last set by a resume; None: published + the hitblock's lifetime.
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The expected answer of a gold item, {field: value}; never sent to MTurk.
    gold: Mapped[dict[str, Any] | None] = mapped_column(JsonType)

    hitblock: Mapped[Hitblock] = relationship(lazy="raise_on_sql")
    responses: Mapped[list[Response]] = relationship(
        back_populates="item", order_by="Response.id", lazy="raise_on_sql"
    )


class Response(Model):
    """One worker's answer to an item: one MTurk assignment."""

    __tablename__ = "responses"
    # A worker's record (review panel, exports, blocks) is looked up by worker id.
    # Responses awaiting auto-approval, by due time, for the poll cycle (partial: only those).
    __table_args__ = (
        Index("ix_responses_worker_id", "worker_id"),
        Index(
            "ix_responses_submitted_due",
            "auto_approval_due",
            sqlite_where=SUBMITTED,
            postgresql_where=SUBMITTED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    assignment_id: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    answer_xml: Mapped[str] = mapped_column(Text, default="")
    # Why the answer could not be parsed (it is kept raw in answer_xml); None when it could.
    answer_error: Mapped[str | None] = mapped_column(Text)
    accepted: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted: Mapped[datetime] = mapped_column(UTCDateTime)
    auto_approval_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback: Mapped[str | None] = mapped_column(Text)
    # What MTurk charged for this response: reward plus fee once approved (0 otherwise).
    cost: Mapped[Decimal] = mapped_column(Cents, default=Decimal("0.00"), server_default="0")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # On a gold item: whether the answer matched the gold; None on other items.
    gold_correct: Mapped[bool | None] = mapped_column()
    # Set for review when the worker failed the hitblock's gold policy; flag_reason says why.
    flagged: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    flag_reason: Mapped[str | None] = mapped_column(Text)

    item: Mapped[Item] = relationship(back_populates="responses")


class Bonus(Model):
    """A bonus to a response's worker; its row id makes the UniqueRequestToken."""

    __tablename__ = "bonuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Cents)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, paid
    unique_request_token: Mapped[str] = mapped_column(String(64), unique=True)
    # Amount plus MTurk's fee, once paid.
    cost: Mapped[Decimal] = mapped_column(Cents, default=Decimal("0.00"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerBlock(Model):
    """A worker an account blocked (MTurk's CreateWorkerBlock). Written before the MTurk
    call: ``pending`` until MTurk confirms the block, ``removing`` until it confirms the
    unblock, then ``removed`` (the row is kept, and a later block reuses it); the poll cycle
    retries both while MTurk is down, and marks a block MTurk refused ``failed``."""

    __tablename__ = "worker_blocks"
    __table_args__ = (UniqueConstraint("account_id", "worker_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=BlockStatus.PENDING)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Why MTurk refused the block, when it is failed (its error code and message).
    error_code: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    # The last time the poll cycle sent it: the retry goes oldest attempt first.
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerExclusion(Model):
    """A worker excluded from one hitblock's HITs by its gold policy: the exclusion
    qualification is granted on MTurk after this row is committed (``pending`` until then,
    retried by the poll cycle while MTurk is down; ``failed`` when MTurk refused it)."""

    __tablename__ = "worker_exclusions"
    __table_args__ = (UniqueConstraint("hitblock_id", "worker_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hitblock_id: Mapped[int] = mapped_column(ForeignKey("hitblocks.id"))
    worker_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ExclusionStatus.PENDING)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(128))  # when failed: MTurk's refusal
    error_message: Mapped[str | None] = mapped_column(Text)
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Model):
    """Something worth knowing happened: written in the same transaction as the change (an
    outbox), for the events API and for webhook deliveries."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)  # the object, as the API shows it
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Model):
    """Where an account wants its events POSTed, signed with the endpoint's own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    enabled_events: Mapped[list[str]] = mapped_column(JsonType)
    # Kept as given out: signing needs it. ("whsec_" + base64 of 24 random bytes.)
    secret: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="enabled")  # enabled, disabled
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Model):
    """One event on its way to one destination (an endpoint, or a hitblock's callback_url)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next_attempt", "status", "next_attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))  # the destination's, when it was made
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAttempt(Model):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Model):
    """A POST made with an Idempotency-Key: its request's fingerprint, then its answer,
    replayed for repeats within 24 hours (Stripe's semantics)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)  # None while it runs
    response_body: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobLease(Model):
    """Who runs a scheduled job right now: one holder at a time, across processes and hosts."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationMessage(Model):
    """An MTurk notification whose work is stored, by its EventDocId: a message the queue
    delivers again (SQS and MTurk are at-least-once) is deleted without redoing the work.
    Kept for the queue's longest retention (14 days), then deleted."""

    __tablename__ = "notification_messages"

    event_doc_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
