"""Notification-driven collection: MTurk tells a queue what happened to our HITs, and the
work named is collected at once, instead of waiting for the next poll cycle.

Each HIT type Hitblocks creates is subscribed (``subscribe``) when a queue is configured.
``handle`` takes a batch of received messages and, per HIT of ours they name:

- AssignmentSubmitted: the assignment, unless already stored, by ``GetAssignment`` (one call);
  two or more unknown ones of a HIT by one ``ListAssignmentsForHIT``;
- HITReviewable (all its work is in, or it expired): nothing when the item already has all
  its responses, else one ``ListAssignmentsForHIT`` (a HIT Reviewable short of its
  assignments has expired, and its item is settled so);
- AssignmentReturned, AssignmentAbandoned, HITExpired: nothing to collect (work accepted
  before an expiry may still come; HITReviewable says when it is all in).

An item settled (completed, or its HIT Reviewable and done with) is marked ``hit_done`` and
left out of the poll cycle. Its HIT is not moved to Reviewing: that would be a second call
per HIT, where the cycle, now a safety net at a long interval, pays at most one listing call
per 100 such HITs while their hitblock still has open items.

Nothing is lost: a message is deleted only after the work it names is committed; a consumer
killed before that leaves it to come back after the queue's visibility timeout, and storing
twice stores once (unique AssignmentId, conditional updates). Its EventDocId is then recorded
(``notification_messages``), so a message delivered again costs no MTurk call. A message that
does not parse, or names only HITs that are not ours, is logged and deleted; one whose work
keeps failing is given up (logged, deleted) after ``GIVE_UP_AFTER_RECEIVES`` tries: the poll
cycle still collects its HIT.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import contains_eager

from app.models import Hitblock, Item, NotificationMessage, Response, utcnow
from app.notification_queue import QueueMessage
from app.services import DbSession, insert_for, transaction
from app.services.polling import collect
from app.services.responses import settle_item, store_assignments
from mturk.gateway import HitInfo, MTurkGateway, MTurkRejected

log = logging.getLogger(__name__)

ASSIGNMENT_SUBMITTED = "AssignmentSubmitted"
HIT_REVIEWABLE = "HITReviewable"
EVENT_TYPES = [
    ASSIGNMENT_SUBMITTED,
    "AssignmentReturned",
    "AssignmentAbandoned",
    HIT_REVIEWABLE,
    "HITExpired",
]
GIVE_UP_AFTER_RECEIVES = 10
# A message naming no HIT of ours is kept this many receives while a publish is recording
# HIT ids (MTurk may tell of a HIT before the publish that created it has recorded it).
UNKNOWN_HIT_RECEIVES = 3
# SQS keeps a message at most 14 days: an EventDocId older than that cannot come back.
KEEP_SEEN = timedelta(days=14)
MAX_DOC_ID = 128


class MessageQueue(Protocol):
    def receive(self) -> list[QueueMessage]: ...

    def delete(self, messages: list[QueueMessage]) -> None: ...


class Malformed(ValueError):
    """A message that is not an MTurk notification."""


@dataclass(frozen=True)
class Notice:
    """One event of a message: what happened to which HIT (and assignment)."""

    event_type: str
    hit_id: str
    assignment_id: str | None
    at: datetime | None


@dataclass(frozen=True)
class Parsed:
    message: QueueMessage
    doc_id: str
    notices: list[Notice]


@dataclass
class ConsumeReport:
    received: int = 0
    handled: int = 0  # messages whose work is stored (or needed none), then deleted
    duplicates: int = 0
    foreign: int = 0
    malformed: int = 0
    given_up: int = 0
    left: int = 0  # failed this time, left in the queue to come back
    new_responses: int = 0
    mturk_calls: int = 0
    errors: list[str] = field(default_factory=list)


def subscribe(gateway: MTurkGateway, hit_type_id: str, destination: str) -> None:
    """Have MTurk tell the queue ``destination`` of the HIT type's events we collect on."""
    gateway.update_notification_settings(hit_type_id, destination, EVENT_TYPES)


def subscribe_open_hit_types(session: DbSession, gateway: MTurkGateway, destination: str) -> int:
    """Subscribe the HIT types with open work (made before the queue was configured, say):
    one call each. How many were subscribed."""
    hit_type_ids = session.scalars(
        select(Hitblock.hit_type_id)
        .distinct()
        .join(Item, Item.hitblock_id == Hitblock.id)
        .where(
            Item.status.in_(("published", "deleted")),
            Item.hit_done.is_(False),
            Hitblock.hit_type_id.is_not(None),
            or_(
                Hitblock.notification_destination.is_(None),
                Hitblock.notification_destination != destination,
            ),
        )
    ).all()
    session.rollback()  # end the read before the calls
    for hit_type_id in filter(None, hit_type_ids):
        subscribe(gateway, hit_type_id, destination)
        with transaction(session):  # remembered: a later publish does not subscribe it again
            session.execute(
                update(Hitblock)
                .where(Hitblock.hit_type_id == hit_type_id)
                .values(notification_destination=destination)
            )
    return len(hit_type_ids)


# ---- parsing --------------------------------------------------------------------------------


def _text(value: Any, what: str, limit: int = 255) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Malformed(f"{what} is not a string of 1 to {limit} characters")
    return value


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse(message: QueueMessage) -> Parsed:
    """MTurk's message (``{"Events": [...], "EventDocId": ...}``), sent to the queue as is or
    wrapped by an SNS topic the queue subscribes to."""
    try:
        body = json.loads(message.body)
        if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
            body = json.loads(body["Message"])  # through SNS, without raw delivery
    except (ValueError, TypeError) as error:
        raise Malformed(f"not JSON: {error}") from error
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    doc_id = _text(body.get("EventDocId"), "EventDocId", MAX_DOC_ID)
    events = body.get("Events")
    if not isinstance(events, list) or not events:
        raise Malformed("Events is not a non-empty list")
    notices = []
    for event in events:
        if not isinstance(event, dict):
            raise Malformed("an event is not an object")
        assignment_id = event.get("AssignmentId")
        if assignment_id is not None:
            assignment_id = _text(assignment_id, "AssignmentId")
        notices.append(
            Notice(
                event_type=_text(event.get("EventType"), "EventType", 64),
                hit_id=_text(event.get("HITId"), "HITId"),
                assignment_id=assignment_id,
                at=_timestamp(event.get("EventTimestamp")),
            )
        )
    return Parsed(message, doc_id, notices)


# ---- handling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ours:
    item_id: int
    status: str
    hit_done: bool
    workers_per_item: int
    stored: int  # responses stored


def _publishing(session: DbSession) -> bool:
    """Whether some item has a request token but no HIT recorded: a publish under way (or
    one whose recording failed, which its retry finishes)."""
    found = session.scalar(
        select(
            exists().where(
                Item.status == "pending",
                Item.unique_request_token.is_not(None),
                Item.hit_id.is_(None),
            )
        )
    )
    session.rollback()
    return bool(found)


def _ours(session: DbSession, hit_ids: Iterable[str]) -> dict[str, _Ours]:
    hit_ids = list(set(hit_ids))
    if not hit_ids:
        return {}
    stored = (
        select(func.count(Response.id))
        .where(Response.item_id == Item.id)
        .correlate(Item)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Item.hit_id,
            Item.id,
            Item.status,
            Item.hit_done,
            Hitblock.workers_per_item,
            stored,
        )
        .join(Item.hitblock)
        .where(Item.hit_id.in_(hit_ids))
    )
    return {row[0]: _Ours(*row[1:]) for row in rows if row[0]}


def _known_assignments(session: DbSession, assignment_ids: set[str]) -> set[str]:
    if not assignment_ids:
        return set()
    return set(
        session.scalars(
            select(Response.assignment_id).where(Response.assignment_id.in_(assignment_ids))
        )
    )


def _seen(session: DbSession, doc_ids: list[str]) -> set[str]:
    if not doc_ids:
        return set()
    return set(
        session.scalars(
            select(NotificationMessage.event_doc_id).where(
                NotificationMessage.event_doc_id.in_(doc_ids)
            )
        )
    )


def _record(session: DbSession, doc_ids: list[str]) -> None:
    if not doc_ids:
        return
    now = utcnow()
    with transaction(session):
        session.execute(
            insert_for(session, NotificationMessage).on_conflict_do_nothing(
                index_elements=["event_doc_id"]
            ),
            [{"event_doc_id": doc_id, "received": now} for doc_id in doc_ids],
        )


def _store_one(
    session: DbSession, gateway: MTurkGateway, item_id: int, hit_id: str, assignment_id: str
) -> tuple[int, str]:
    """GetAssignment, then store it and settle the item, as ``collect`` does for a HIT."""
    assignment = gateway.get_assignment(assignment_id)
    if assignment.hit_id != hit_id:
        raise MTurkRejected(
            f"assignment {assignment_id} belongs to HIT {assignment.hit_id}, not {hit_id}",
            "HitblocksMismatch",
        )
    with transaction(session):
        item = session.scalars(
            select(Item)
            .join(Item.hitblock)
            .options(contains_eager(Item.hitblock))
            .where(Item.id == item_id)
        ).one()
        new = store_assignments(session, item, item.hitblock, [assignment])
        status = settle_item(session, item, item.hitblock, False)
        session.execute(update(Item).where(Item.id == item_id).values(last_polled=utcnow()))
    return new, status


def _collect_hit(
    session: DbSession,
    gateway: MTurkGateway,
    hit_id: str,
    ours: _Ours,
    notices: list[Notice],
    known: set[str],
    report: ConsumeReport,
) -> None:
    """The work these events name for one HIT of ours, committed; at most one MTurk call."""
    reviewable = [n for n in notices if n.event_type == HIT_REVIEWABLE]
    unknown = sorted(
        {
            n.assignment_id
            for n in notices
            if n.event_type == ASSIGNMENT_SUBMITTED
            and n.assignment_id
            and n.assignment_id not in known
        }
    )
    status = ours.status
    open_item = status in {"published", "deleted"}
    if reviewable and ours.hit_done:
        reviewable = []  # done with already (the poll cycle, or an earlier message)
    short = ours.stored + len(unknown) < ours.workers_per_item
    if reviewable and open_item and (status == "deleted" or short):
        # All its work is in: list it. Reviewable short of its assignments means it expired,
        # then: but the message may be late (a pause expired the HIT and a resume extended it
        # since), so MTurk is asked how the HIT stands now rather than the message believed.
        hit: HitInfo | None = None
        if status != "deleted":
            report.mturk_calls += 1
            hit = gateway.get_hit(hit_id)
        report.mturk_calls += 1
        new, status = collect(session, gateway, ours.item_id, hit_id, hit)
        report.new_responses += new
    elif len(unknown) > 1:
        report.mturk_calls += 1
        new, status = collect(session, gateway, ours.item_id, hit_id, None)
        report.new_responses += new
    elif unknown:
        report.mturk_calls += 1
        new, status = _store_one(session, gateway, ours.item_id, hit_id, unknown[0])
        report.new_responses += new
    done = status == "completed" or (bool(reviewable) and status != "published")
    if done and not ours.hit_done:
        with transaction(session):
            session.execute(update(Item).where(Item.id == ours.item_id).values(hit_done=True))


def handle(
    session: DbSession, gateway: MTurkGateway, queue: MessageQueue, messages: list[QueueMessage]
) -> ConsumeReport:
    """Do the work a batch of messages names, and delete each message whose work is
    committed (or that needs none); a message whose HIT failed stays, to come back."""
    report = ConsumeReport(received=len(messages))
    finished: list[QueueMessage] = []
    parsed: list[Parsed] = []
    for message in messages:
        try:
            parsed.append(parse(message))
        except Malformed as error:
            log.warning("notification %s dropped, malformed: %s", message.message_id, error)
            report.malformed += 1
            finished.append(message)
    seen = _seen(session, [p.doc_id for p in parsed])
    fresh: list[Parsed] = []
    for p in parsed:
        if p.doc_id in seen:
            report.duplicates += 1
            finished.append(p.message)
        else:
            seen.add(p.doc_id)  # the same document twice in one batch: once
            fresh.append(p)
    ours = _ours(session, (n.hit_id for p in fresh for n in p.notices))
    known = _known_assignments(
        session,
        {n.assignment_id for p in fresh for n in p.notices if n.assignment_id and n.hit_id in ours},
    )
    session.rollback()  # end the reads before any MTurk call

    by_hit: dict[str, list[Notice]] = defaultdict(list)
    for p in fresh:
        for notice in p.notices:
            if notice.hit_id in ours:
                by_hit[notice.hit_id].append(notice)
    failed: dict[str, str] = {}
    refused: set[str] = set()  # MTurk refused the request itself: retrying cannot help
    for hit_id, notices in by_hit.items():
        try:
            _collect_hit(session, gateway, hit_id, ours[hit_id], notices, known, report)
        except Exception as error:
            session.rollback()
            log.warning("notification work for HIT %s failed: %s", hit_id, error, exc_info=True)
            failed[hit_id] = f"HIT {hit_id}: {type(error).__name__}: {error}"[:500]
            if isinstance(error, MTurkRejected):
                refused.add(hit_id)
    report.errors += failed.values()

    done: list[Parsed] = []
    for p in fresh:
        hits = {n.hit_id for n in p.notices}
        if not hits & ours.keys():
            if p.message.receive_count < UNKNOWN_HIT_RECEIVES and _publishing(session):
                # Maybe ours, its id not recorded yet (a publish still under way): it comes
                # back after the visibility timeout.
                report.left += 1
                continue
            log.info("notification %s names no HIT of ours (%s): dropped", p.doc_id, sorted(hits))
            report.foreign += 1
            finished.append(p.message)
        elif hits & failed.keys():
            if hits & refused or p.message.receive_count >= GIVE_UP_AFTER_RECEIVES:
                log.error(
                    "notification %s dropped after %d tries (%s); the poll cycle collects its HIT",
                    p.doc_id,
                    p.message.receive_count,
                    "; ".join(failed[hit] for hit in sorted(hits & failed.keys())),
                )
                report.given_up += 1
                finished.append(p.message)
            else:
                report.left += 1
        else:
            done.append(p)
            finished.append(p.message)
    _record(session, [p.doc_id for p in done])
    report.handled = len(done)
    queue.delete(finished)
    return report


def consume_once(
    session: DbSession,
    gateway: MTurkGateway,
    queue: MessageQueue,
    keep_going: Callable[[], bool] = lambda: True,
) -> ConsumeReport:
    """One long poll of the queue, and the work its messages name, unless ``keep_going``
    says no once the poll returns (the consumer was stopped and its lease given up meanwhile:
    the messages come back to the next holder after their visibility timeout)."""
    messages = queue.receive()
    if not messages or not keep_going():
        return ConsumeReport()
    return handle(session, gateway, queue, messages)


def forget_seen(session: DbSession, *, now: datetime | None = None) -> int:
    """Delete the EventDocIds older than any message the queue can still hand out."""
    cutoff = (now or utcnow()) - KEEP_SEEN
    with transaction(session):
        removed = session.execute(
            delete(NotificationMessage).where(NotificationMessage.received < cutoff)
        ).rowcount  # type: ignore[attr-defined]
    return int(removed or 0)
