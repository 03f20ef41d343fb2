"""The poll cycle: bring submitted work back from MTurk as responses.

What it costs follows what changed, not how much is open:

1. ``ListReviewableHITs`` per HIT type that has published items (100 HITs a page). A HIT is
   Reviewable when all its assignments are in, or it expired. For each of ours,
   ``ListAssignmentsForHIT`` stores its work; once the item is settled the HIT is moved to
   Reviewing, so it does not come back next cycle. A paused hitblock's HITs (expired by the
   pause, open again on resume) are looked at until work accepted before the pause is past
   its deadline, then left alone until the resume.
2. HITs with several workers per item surface their first answers before the last worker:
   up to ``partial_budget`` of them a cycle, least recently checked first.
3. Responses past their AutoApprovalTime are checked (``GetAssignment``) and synced when
   MTurk auto-approved them, at most ``due_budget`` a cycle.
4. Bonuses left pending (MTurk was down) are paid again under their own token.

Idle HITs cost nothing per cycle. Every store is idempotent (unique AssignmentId,
conditional updates), so a cycle killed anywhere is simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager

from app.models import Hitblock, Item, Response, utcnow
from app.services import DbSession, transaction
from app.services.responses import (
    MTURK_STATUS,
    pending_bonuses,
    record_outcome,
    send_bonus,
    settle_item,
    store_assignments,
)
from mturk.gateway import HitInfo, MTurkError, MTurkGateway

ALL_STATUSES = ["Submitted", "Approved", "Rejected"]
log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    reviewable_hits: int = 0
    new_responses: int = 0
    partial_checked: int = 0
    auto_approved: int = 0
    bonuses_paid: int = 0
    # What failed and was skipped (a HIT, an assignment, a bonus), one line each.
    errors: list[str] = field(default_factory=list)


def _item_statuses(session: DbSession, hit_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Our items behind these HITs, not done with yet: HIT id -> (item id, item status).

    A paused hitblock's HITs are expired, so MTurk lists them as Reviewable every cycle,
    yet their items stay open for the resume. Work accepted before the pause can come in
    until its deadline (paused_at + the assignment duration); once a HIT has been collected
    after that, nothing new can reach it while paused, and it is left out ("quiet")."""
    rows = session.execute(
        select(
            Item.hit_id,
            Item.id,
            Item.status,
            Item.last_polled,
            Hitblock.paused_at,
            Hitblock.assignment_duration_in_seconds,
        )
        .join(Item.hitblock)
        .where(Item.hit_id.in_(hit_ids), Item.hit_done.is_(False))
    )
    found = {}
    for hit_id, item_id, status, last_polled, paused_at, duration in rows:
        quiet = (
            status == "published"
            and paused_at is not None
            and last_polled is not None
            and last_polled > paused_at + timedelta(seconds=duration)
        )
        if hit_id and not quiet:
            found[hit_id] = (item_id, status)
    return found


def mark_done(session: DbSession, item_id: int) -> None:
    """The HIT needs no more looking at: all its work is stored and MTurk lists it no more."""
    with transaction(session):
        session.execute(update(Item).where(Item.id == item_id).values(hit_done=True))


def collect(
    session: DbSession, gateway: MTurkGateway, item_id: int, hit_id: str, hit: HitInfo | None
) -> tuple[int, str]:
    """Store a HIT's assignments and settle its item: (new responses, item status)."""
    assignments = gateway.assignments(hit_id, ALL_STATUSES)
    with transaction(session):
        item = session.scalars(
            select(Item)
            .join(Item.hitblock)
            .options(contains_eager(Item.hitblock))
            .where(Item.id == item_id)
        ).one()
        new = store_assignments(session, item, item.hitblock, assignments)
        expired = hit is not None and hit.expiration <= utcnow()
        status = settle_item(session, item, item.hitblock, expired)
        session.execute(update(Item).where(Item.id == item.id).values(last_polled=utcnow()))
    return new, status


@contextmanager
def _isolated(session: DbSession, report: CycleReport, what: str) -> Iterator[None]:
    """One HIT's failure (MTurk's refusal, or anything storing its work: a database error, an
    answer no column can hold) is logged, counted and skipped; the rest of the cycle runs."""
    try:
        yield
    except MTurkError as error:
        report.errors.append(f"{what}: {error.message}")
    except Exception as error:
        session.rollback()
        log.exception("poll cycle: %s failed; skipped until the next cycle", what)
        report.errors.append(f"{what}: {type(error).__name__}: {error}"[:500])


def poll_once(
    session: DbSession,
    gateway: MTurkGateway,
    *,
    partial_budget: int = 20,
    due_budget: int = 100,
    retry_bonuses_after: timedelta = timedelta(minutes=1),
) -> CycleReport:
    report = CycleReport()
    seen: set[int] = set()
    hit_type_ids = session.scalars(
        select(Hitblock.hit_type_id)
        .distinct()
        .join(Item, Item.hitblock_id == Hitblock.id)
        .where(
            Item.status.in_(("published", "deleted")),
            Item.hit_id.is_not(None),
            Item.hit_done.is_(False),
            Hitblock.hit_type_id.is_not(None),
        )
    ).all()
    for hit_type_id in filter(None, hit_type_ids):
        hits: list[HitInfo] = []
        with _isolated(session, report, f"ListReviewableHITs {hit_type_id}"):
            hits = list(gateway.reviewable_hits(hit_type_id))
        report.reviewable_hits += len(hits)
        items = _item_statuses(session, [hit.hit_id for hit in hits])
        for hit in hits:
            if hit.hit_id not in items:
                continue  # not a HIT of ours
            item_id, status = items[hit.hit_id]
            with _isolated(session, report, f"HIT {hit.hit_id}"):
                # A deleted item's HIT was expired, but work submitted before is still a
                # worker's work: collect it too (the item stays deleted).
                if status in {"published", "deleted"}:
                    seen.add(item_id)
                    new, status = collect(session, gateway, item_id, hit.hit_id, hit)
                    report.new_responses += new
                if status != "published":
                    gateway.mark_reviewing(hit.hit_id)
                    mark_done(session, item_id)

    rotation = session.execute(
        select(Item.id, Item.hit_id)
        .join(Item.hitblock)
        .where(
            Item.status == "published",
            Hitblock.workers_per_item > 1,
            # A pause expired these HITs: what comes in is Reviewable, and found above.
            Hitblock.status != "paused",
            Item.id.not_in(seen) if seen else Item.id.is_not(None),
        )
        .order_by(Item.last_polled.is_not(None), Item.last_polled, Item.id)
        .limit(partial_budget)
    ).all()
    if rotation:  # to the back of the rotation now, so that one that keeps failing starves none
        with transaction(session):
            session.execute(
                update(Item)
                .where(Item.id.in_([item_id for item_id, _ in rotation]))
                .values(last_polled=utcnow())
            )
    for item_id, hit_id in rotation:
        assert hit_id is not None  # published items have a HIT
        with _isolated(session, report, f"HIT {hit_id}"):
            new, _ = collect(session, gateway, item_id, hit_id, None)
            report.partial_checked += 1
            report.new_responses += new

    due = session.scalars(
        select(Response)
        .join(Response.item)
        .join(Item.hitblock)
        .options(contains_eager(Response.item).contains_eager(Item.hitblock))
        .where(Response.status == "submitted", Response.auto_approval_due <= utcnow())
        .order_by(Response.auto_approval_due)
        .limit(due_budget)
    ).all()
    for response in due:
        with _isolated(session, report, f"assignment {response.assignment_id}"):
            mturk_status = MTURK_STATUS[gateway.get_assignment(response.assignment_id).status]
            if mturk_status != "submitted":
                with transaction(session):
                    if record_outcome(session, response, response.item.hitblock, mturk_status):
                        report.auto_approved += mturk_status == "approved"

    for bonus_id in pending_bonuses(session, utcnow() - retry_bonuses_after):
        with _isolated(session, report, f"bonus {bonus_id}"):
            send_bonus(session, gateway, bonus_id)
            report.bonuses_paid += 1
    session.rollback()  # end the read transaction this cycle left open
    return report
