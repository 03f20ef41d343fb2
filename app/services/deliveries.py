"""Webhook endpoints, and delivering events to them and to hitblocks' callback URLs.

Deliveries are made in the transaction that writes the event, and sent by the scheduled-jobs
process, never from a request: right after the commit that made them (the commit rings a
``Doorbell`` in that process; what other processes made is found by a check every fraction
of a second, ``deliveries_due``), and by a scheduled run as well. At least once,
``webhook-id`` stable across retries so receivers can deduplicate. Only 2xx is success.
Retries back off over about three days (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, then
every 10 h), with jitter, and never sooner than a ``Retry-After``; a 410 disables the
endpoint. Every attempt is recorded.
"""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, scoped_session

from app.domain import Deleted, InvalidInput, NotFound
from app.models import Delivery, DeliveryAttempt, Event, Hitblock, WebhookEndpoint, utcnow
from app.pagination import Page, paginate
from app.schemas import EventSchema
from app.services import DbSession, transaction
from app.webhooks import Outcome, RefusedDestination, check_destination, new_secret, send

# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last, the delivery fails.
RETRY_DELAYS = [5, 300, 1800, 7200, 18000] + [36000] * 6


# ---- endpoints ----------------------------------------------------------------------------


def _checked_url(url: str, allow_private: bool) -> str:
    try:
        check_destination(url, allow_private, must_resolve=False)
    except RefusedDestination as exc:
        raise InvalidInput(
            f"Webhook URL refused: {exc}.", param="url", code="url_refused"
        ) from None
    return url


def create_endpoint(
    session: DbSession, account_id: int, fields: dict[str, Any], allow_private: bool
) -> WebhookEndpoint:
    with transaction(session):
        endpoint = WebhookEndpoint(
            account_id=account_id,
            url=_checked_url(fields["url"], allow_private),
            enabled_events=fields["enabled_events"],
            secret=new_secret(),
        )
        session.add(endpoint)
        session.flush()
        endpoint_id = endpoint.id
    created = find_endpoint(session, account_id, endpoint_id)
    created.reveal_secret = True  # type: ignore[attr-defined]  # shown once, on creation
    return created


def find_endpoint(session: DbSession, account_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.account_id == account_id,
            WebhookEndpoint.status != "deleted",
        )
    )
    if endpoint is None:
        raise NotFound("webhook_endpoint", endpoint_id)
    return endpoint


def list_endpoints(
    session: DbSession, account_id: int, args: dict[str, Any]
) -> Page[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == account_id, WebhookEndpoint.status != "deleted"
    )
    return paginate(session, stmt, WebhookEndpoint.id, args)


def update_endpoint(
    session: DbSession,
    account_id: int,
    endpoint_id: int,
    changes: dict[str, Any],
    allow_private: bool,
) -> WebhookEndpoint:
    with transaction(session):
        endpoint = find_endpoint(session, account_id, endpoint_id)
        if "url" in changes:
            endpoint.url = _checked_url(changes["url"], allow_private)
        if "enabled_events" in changes:
            endpoint.enabled_events = changes["enabled_events"]
        if "disabled" in changes:
            endpoint.status = "disabled" if changes["disabled"] else "enabled"
    return find_endpoint(session, account_id, endpoint_id)


def delete_endpoint(session: DbSession, account_id: int, endpoint_id: int) -> Deleted:
    """Delete it: its pending deliveries stop, and it is no longer found or listed."""
    with transaction(session):
        endpoint = find_endpoint(session, account_id, endpoint_id)
        endpoint.status = "deleted"
        session.execute(
            update(Delivery)
            .where(Delivery.endpoint_id == endpoint.id, Delivery.status == "pending")
            .values(status="failed")
        )
    return Deleted(endpoint_id)


# ---- fan-out (called by events.emit, inside the change's transaction) ----------------------


# Where an event goes: (endpoint id or None for a callback, url, signing secret).
Destination = tuple[int | None, str, str]
# In a session's ``info``: (the transaction, {account id: its enabled endpoints}).
ENDPOINTS = "hitblocks_endpoints"


def subscribed_endpoints(session: DbSession, account_id: int, event_type: str) -> list[Destination]:
    """The account's enabled endpoints that want this type of event.

    Read once per account and transaction: a poll cycle writes several events per HIT in
    one transaction, and the endpoints it reads cannot change under it."""
    own = session() if isinstance(session, scoped_session) else session
    transaction = own.get_transaction()
    cached: tuple[Any, dict[int, list[Any]]] | None = session.info.get(ENDPOINTS)
    if cached is None or transaction is None or cached[0] is not transaction:
        cached = session.info[ENDPOINTS] = (transaction, {})
    endpoints = cached[1].get(account_id)
    if endpoints is None:
        endpoints = cached[1][account_id] = [
            (endpoint.id, endpoint.url, endpoint.secret, list(endpoint.enabled_events))
            for endpoint in session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.account_id == account_id, WebhookEndpoint.status == "enabled"
                )
            )
        ]
    return [
        (endpoint_id, url, secret)
        for endpoint_id, url, secret, wanted in endpoints
        if "*" in wanted or event_type in wanted
    ]


def fan_out(
    session: DbSession,
    account_id: int,
    event_type: str,
    events: list[Event],
    callback_hitblock_id: int | None,
    endpoints: list[Destination] | None = None,
) -> None:
    """A delivery per event and destination that wants it: each enabled endpoint subscribed
    to the type (looked up unless the caller already did), and the hitblock's callback_url
    when one is given."""
    destinations = list(
        subscribed_endpoints(session, account_id, event_type) if endpoints is None else endpoints
    )
    if callback_hitblock_id is not None:
        hitblock = session.get(Hitblock, callback_hitblock_id)
        if hitblock is not None and hitblock.callback_url:
            if hitblock.callback_secret is None:
                hitblock.callback_secret = new_secret()
            destinations.append((None, hitblock.callback_url, hitblock.callback_secret))
    now = utcnow()
    if destinations:
        session.info[MADE] = True
    session.add_all(
        Delivery(
            account_id=account_id,
            event_id=event.id,
            endpoint_id=endpoint_id,
            url=url,
            secret=secret,
            next_attempt=now,
        )
        for event in events
        for endpoint_id, url, secret in destinations
    )


# ---- waking the sender -----------------------------------------------------------------------


# In a session's ``info``: its transaction made deliveries, so its commit rings the doorbells.
MADE = "hitblocks.deliveries_made"
_doorbells: set[Doorbell] = set()
_doorbells_lock = threading.Lock()


class Doorbell:
    """Rung right after a commit that made deliveries in this process (an ``after_commit``
    listener), so that the sender sends them at once rather than at its next check or run.

    Deliveries made in another process (an API worker) ring nothing here; the sender finds
    those with ``deliveries_due``. A rollback forgets what the transaction made."""

    def __init__(self) -> None:
        self._rung = threading.Event()

    def install(self) -> None:
        with _doorbells_lock:
            _doorbells.add(self)
            if not event.contains(Session, "after_commit", _ring_after_commit):
                event.listen(Session, "after_commit", _ring_after_commit)
                event.listen(Session, "after_rollback", _forget_after_rollback)

    def uninstall(self) -> None:
        with _doorbells_lock:
            _doorbells.discard(self)
            if not _doorbells and event.contains(Session, "after_commit", _ring_after_commit):
                event.remove(Session, "after_commit", _ring_after_commit)
                event.remove(Session, "after_rollback", _forget_after_rollback)

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> bool:
        """Wait until rung or ``timeout`` seconds passed; True when rung (and unrung again:
        what a later commit rings is not lost, the caller looks after this returns)."""
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung


def _ring_after_commit(session: Session) -> None:
    if session.info.pop(MADE, False):
        for doorbell in list(_doorbells):
            doorbell.ring()


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(MADE, None)


def deliveries_due(session: DbSession, now: datetime | None = None) -> bool:
    """Whether a delivery waits to be sent: one probe of the (status, next_attempt) index,
    which finds nothing when idle however many deliveries were sent before."""
    found = session.scalar(
        select(Delivery.id)
        .where(Delivery.status == "pending", Delivery.next_attempt <= (now or utcnow()))
        .limit(1)
    )
    return found is not None


# ---- sending (the sender in the scheduled-jobs process) ---------------------------------------


@dataclass(frozen=True)
class Message:
    delivery_id: int
    url: str
    secret: str
    body: bytes


@dataclass
class DeliveryReport:
    sent: int = 0
    delivered: int = 0
    failed: int = 0


def event_body(event: Event) -> bytes:
    return json.dumps(EventSchema().dump(event), separators=(",", ":")).encode()


def deliver_due(
    session: DbSession, *, allow_private: bool, concurrency: int = 8, limit: int = 100
) -> DeliveryReport:
    """Send what is due, ``concurrency`` at a time, so one slow receiver delays no other."""
    rows = session.execute(
        select(Delivery, Event)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.status == "pending", Delivery.next_attempt <= utcnow())
        .order_by(Delivery.next_attempt, Delivery.id)
        .limit(limit)
    ).all()
    messages = [Message(d.id, d.url, d.secret, event_body(e)) for d, e in rows]
    session.rollback()
    report = DeliveryReport()

    def attempt(message: Message) -> Outcome:
        return send(message.url, message.secret, f"msg_{message.delivery_id}", message.body,
                    allow_private)  # fmt: skip

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for message, outcome in zip(messages, pool.map(attempt, messages), strict=True):
            report.sent += 1
            status = record_attempt(session, message.delivery_id, outcome)
            report.delivered += status == "delivered"
            report.failed += status == "failed"
    return report


def record_attempt(session: DbSession, delivery_id: int, outcome: Outcome) -> str:
    with transaction(session):
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        session.add(
            DeliveryAttempt(
                delivery_id=delivery_id,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
            )
        )
        delivery.attempts += 1
        if outcome.ok:
            delivery.status, delivery.next_attempt = "delivered", None
        elif outcome.status_code == 410:
            delivery.status, delivery.next_attempt = "failed", None
            if delivery.endpoint_id is not None:
                session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == delivery.endpoint_id)
                    .values(status="disabled")
                )
        elif delivery.attempts > len(RETRY_DELAYS):
            delivery.status, delivery.next_attempt = "failed", None
        else:
            delay = RETRY_DELAYS[delivery.attempts - 1] * random.uniform(0.8, 1.2)
            delay = max(delay, outcome.retry_after or 0)
            delivery.next_attempt = utcnow() + timedelta(seconds=delay)
        return delivery.status


# ---- reading and retrying ------------------------------------------------------------------


def find_delivery(session: DbSession, account_id: int, delivery_id: int) -> Delivery:
    delivery = session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.account_id == account_id)
    )
    if delivery is None:
        raise NotFound("webhook_delivery", delivery_id)
    return delivery


def list_deliveries(session: DbSession, account_id: int, args: dict[str, Any]) -> Page[Delivery]:
    stmt = select(Delivery).where(Delivery.account_id == account_id)
    if args.get("endpoint"):
        stmt = stmt.where(Delivery.endpoint_id == args["endpoint"])
    if args.get("event"):
        stmt = stmt.where(Delivery.event_id == args["event"])
    return paginate(session, stmt, Delivery.id, args)


def attempts_of(session: DbSession, delivery_id: int) -> list[DeliveryAttempt]:
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
    )


def retry_delivery(session: DbSession, account_id: int, delivery_id: int) -> Delivery:
    """Send it again at the next run, whatever its state (a manual redelivery)."""
    with transaction(session):
        delivery = find_delivery(session, account_id, delivery_id)
        delivery.status, delivery.next_attempt = "pending", utcnow()
        session.info[MADE] = True
    return find_delivery(session, account_id, delivery_id)
