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

Idle HITs cost nothing per cycle, and the queries of an idle cycle read open work only
(partial indexes: 0013), not the items and responses completed before.

A burst costs wall time by the call, not by the HIT: MTurk is asked ``concurrency`` calls at
a time (its threads only call MTurk; every database statement runs in the calling thread),
and what comes back is stored ``BATCH`` HITs to a transaction while the next calls are in
flight. If one HIT of a batch fails to store, the batch is rolled back and stored again one
HIT at a time, so that only that HIT is skipped. Every store is idempotent (unique
AssignmentId, conditional updates), so a cycle killed anywhere is simply run again; and
``keep_going`` (the job's lease still held) is asked before each batch, so a cycle that
lost its lease stops rather than overlap the next holder's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import false, select, update
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
from mturk.gateway import AssignmentInfo, HitInfo, MTurkError, MTurkGateway

ALL_STATUSES = ["Submitted", "Approved", "Rejected"]
BATCH = 50  # HITs stored per transaction
LOOKUP_CHUNK = 500  # HIT ids per IN (...)
log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class CycleReport:
    reviewable_hits: int = 0
    new_responses: int = 0
    partial_checked: int = 0
    auto_approved: int = 0
    bonuses_paid: int = 0
    # What failed and was skipped (a HIT, an assignment, a bonus), one line each.
    errors: list[str] = field(default_factory=list)


class LeaseLost(Exception):
    """The job's lease was lost while the cycle ran: it stops, the next holder carries on."""


def _item_statuses(session: DbSession, hit_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Our items behind these HITs, not done with yet: HIT id -> (item id, item status).

    A paused hitblock's HITs are expired, so MTurk lists them as Reviewable every cycle,
    yet their items stay open for the resume. Work accepted before the pause can come in
    until its deadline (paused_at + the assignment duration); once a HIT has been collected
    after that, nothing new can reach it while paused, and it is left out ("quiet")."""
    found = {}
    for start in range(0, len(hit_ids), LOOKUP_CHUNK):
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
            .where(Item.hit_id.in_(hit_ids[start : start + LOOKUP_CHUNK]), Item.hit_done == false())
        )
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
    _mark_done(session, [item_id])


def _mark_done(session: DbSession, item_ids: list[int]) -> None:
    if item_ids:
        with transaction(session):
            session.execute(update(Item).where(Item.id.in_(item_ids)).values(hit_done=True))


@dataclass(frozen=True)
class _Hit:
    """A HIT to collect, as plain values (safe to hand to a thread)."""

    item_id: int
    hit_id: str
    hit: HitInfo | None  # as ListReviewableHITs gave it; None for a HIT still open


Fetched = tuple[_Hit, list[AssignmentInfo]]


def _store(session: DbSession, fetched: list[Fetched]) -> dict[int, tuple[int, str]]:
    """Store each HIT's assignments and settle its item, in the caller's transaction (one
    query loads the items): item id -> (new responses, item status)."""
    items = {
        item.id: item
        for item in session.scalars(
            select(Item)
            .join(Item.hitblock)
            .options(contains_eager(Item.hitblock))
            .where(Item.id.in_([hit.item_id for hit, _ in fetched]))
        )
    }
    now = utcnow()
    settled = {}
    for hit, assignments in fetched:
        item = items[hit.item_id]
        new = store_assignments(session, item, item.hitblock, assignments)
        expired = hit.hit is not None and hit.hit.expiration <= now
        settled[item.id] = (new, settle_item(session, item, item.hitblock, expired))
    session.execute(update(Item).where(Item.id.in_(list(settled))).values(last_polled=now))
    return settled


def collect(
    session: DbSession, gateway: MTurkGateway, item_id: int, hit_id: str, hit: HitInfo | None
) -> tuple[int, str]:
    """Store a HIT's assignments and settle its item: (new responses, item status)."""
    assignments = gateway.assignments(hit_id, ALL_STATUSES)
    with transaction(session):
        settled = _store(session, [(_Hit(item_id, hit_id, hit), assignments)])
    return settled[item_id]


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


def _store_batch(session: DbSession, fetched: list[Fetched], report: CycleReport) -> dict[int, str]:
    """Store a batch of HITs in one transaction: item id -> status, for the HITs stored. When
    one of them fails, the batch is rolled back and stored again one HIT a transaction, so
    that the failure skips that HIT only."""
    settled: dict[int, tuple[int, str]] = {}
    stored = False
    if len(fetched) > 1:
        try:
            with transaction(session):
                settled = _store(session, fetched)
            stored = True
        except Exception:
            log.info("poll cycle: a batch of %d HITs failed; storing them one by one", len(fetched))
    if not stored:
        for one in fetched:
            with _isolated(session, report, f"HIT {one[0].hit_id}"), transaction(session):
                settled.update(_store(session, [one]))
    report.new_responses += sum(new for new, _ in settled.values())
    return {item_id: status for item_id, (_, status) in settled.items()}


def _in_batches(
    pool: ThreadPoolExecutor, call: Callable[[T], R], jobs: Iterable[T], size: int
) -> Iterator[list[tuple[T, Future[R]]]]:
    """Each job's call, all handed to the pool at once (the calls only read), given back done,
    ``size`` at a time, as they complete: the caller stores one batch while the pool's
    threads make the next calls."""
    futures = {pool.submit(call, job): job for job in jobs}
    batch: list[tuple[T, Future[R]]] = []
    for future in as_completed(futures):
        batch.append((futures[future], future))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Cycle:
    session: DbSession
    gateway: MTurkGateway
    pool: ThreadPoolExecutor
    report: CycleReport
    keep_going: Callable[[], bool]

    def check_lease(self) -> None:
        if not self.keep_going():
            raise LeaseLost

    def collect(self, hits: list[_Hit]) -> dict[int, str]:
        """Collect these HITs, ``BATCH`` to a transaction: item id -> status, of each stored."""
        settled: dict[int, str] = {}

        def fetch(hit: _Hit) -> list[AssignmentInfo]:
            return self.gateway.assignments(hit.hit_id, ALL_STATUSES)

        for batch in _in_batches(self.pool, fetch, hits, BATCH):
            self.check_lease()
            fetched: list[Fetched] = []
            for hit, future in batch:
                with _isolated(self.session, self.report, f"HIT {hit.hit_id}"):
                    fetched.append((hit, future.result()))
            if fetched:
                settled.update(_store_batch(self.session, fetched, self.report))
        return settled

    def close(self, hits: list[_Hit]) -> None:
        """Move settled HITs to Reviewing (concurrently), then mark them done (one UPDATE):
        a HIT MTurk refused to move stays to be tried again next cycle."""

        def move(hit: _Hit) -> None:
            self.gateway.mark_reviewing(hit.hit_id)

        done: list[int] = []
        for batch in _in_batches(self.pool, move, hits, max(1, len(hits))):
            for hit, future in batch:
                with _isolated(self.session, self.report, f"HIT {hit.hit_id}"):
                    future.result()
                    done.append(hit.item_id)
        _mark_done(self.session, done)


def _open_hit_types(session: DbSession) -> list[str]:
    """HIT types with HITs not done with yet. Read from the partial index of open HITs (its
    terms repeated here), so the cost follows open HITs, not every item ever published."""
    open_hitblocks = (
        select(Item.hitblock_id)
        .where(
            Item.hit_done == false(),
            Item.hit_id.is_not(None),
            Item.status.in_(("published", "deleted")),
        )
        .distinct()
    )
    return [
        hit_type_id
        for hit_type_id in session.scalars(
            select(Hitblock.hit_type_id)
            .where(Hitblock.id.in_(open_hitblocks), Hitblock.hit_type_id.is_not(None))
            .distinct()
        )
        if hit_type_id
    ]


def _rotation(session: DbSession, seen: set[int], budget: int) -> list[_Hit]:
    """Multi-worker HITs still open, least recently checked first, moved to the back of the
    rotation now (so that one that keeps failing starves none). Walks the partial index of
    published items in its order, so the cost follows open items, not history."""
    rows = session.execute(
        select(Item.id, Item.hit_id)
        .join(Item.hitblock)
        .where(
            Item.status == "published",
            Hitblock.workers_per_item > 1,
            # A pause expired these HITs: what comes in is Reviewable, and found above.
            Hitblock.status != "paused",
            Item.id.not_in(seen) if seen else Item.id.is_not(None),
        )
        .order_by(Item.last_polled.asc().nulls_first(), Item.id)
        .limit(budget)
    ).all()
    if rows:
        with transaction(session):
            session.execute(
                update(Item)
                .where(Item.id.in_([item_id for item_id, _ in rows]))
                .values(last_polled=utcnow())
            )
    return [_Hit(item_id, hit_id, None) for item_id, hit_id in rows if hit_id]


def poll_once(
    session: DbSession,
    gateway: MTurkGateway,
    *,
    partial_budget: int = 20,
    due_budget: int = 100,
    retry_bonuses_after: timedelta = timedelta(minutes=1),
    concurrency: int = 8,
    keep_going: Callable[[], bool] = lambda: True,
) -> CycleReport:
    """One cycle; at most ``concurrency`` MTurk calls at once. ``keep_going`` is asked before
    each batch is stored: False (the lease is lost) stops the cycle there."""
    report = CycleReport()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="poll")
    cycle = _Cycle(session, gateway, pool, report, keep_going)
    try:
        _run(cycle, partial_budget, due_budget, retry_bonuses_after)
    except LeaseLost:
        log.warning("poll cycle: the lease was lost; the cycle stopped")
        report.errors.append("the poll lease was lost; the cycle stopped")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # calls under way end; no new one starts
        session.rollback()  # end the read transaction this cycle left open
    return report


def _run(cycle: _Cycle, partial_budget: int, due_budget: int, retry_bonuses: timedelta) -> None:
    session, gateway, report = cycle.session, cycle.gateway, cycle.report
    seen: set[int] = set()
    for hit_type_id in _open_hit_types(session):
        hits: list[HitInfo] = []
        with _isolated(session, report, f"ListReviewableHITs {hit_type_id}"):
            hits = list(gateway.reviewable_hits(hit_type_id))
        report.reviewable_hits += len(hits)
        if not hits:
            continue
        items = _item_statuses(session, [hit.hit_id for hit in hits])
        ours = [(items[hit.hit_id], hit) for hit in hits if hit.hit_id in items]
        # A deleted item's HIT was expired, but work submitted before is still a worker's
        # work: collect it too (the item stays deleted).
        to_collect = [
            _Hit(item_id, hit.hit_id, hit)
            for (item_id, status), hit in ours
            if status in {"published", "deleted"}
        ]
        seen.update(hit.item_id for hit in to_collect)
        settled = cycle.collect(to_collect)
        # Settled now, or before: the HIT goes to Reviewing (not one whose collect failed).
        to_close = []
        for (item_id, status), hit in ours:
            if item_id in seen:
                status = settled.get(item_id, "published")
            if status != "published":
                to_close.append(_Hit(item_id, hit.hit_id, hit))
        cycle.close(to_close)

    rotation = _rotation(session, seen, partial_budget)
    report.partial_checked += len(cycle.collect(rotation))

    cycle.check_lease()
    due = session.scalars(
        select(Response)
        .join(Response.item)
        .join(Item.hitblock)
        .options(contains_eager(Response.item).contains_eager(Item.hitblock))
        .where(Response.status == "submitted", Response.auto_approval_due <= utcnow())
        .order_by(Response.auto_approval_due)
        .limit(due_budget)
    ).all()
    # The threads get plain ids: the ORM objects stay with this thread's session.
    assignment_ids = {response.assignment_id: response for response in due}
    if due:
        _check_due(cycle, assignment_ids)
    for bonus_id in pending_bonuses(session, utcnow() - retry_bonuses):
        with _isolated(session, report, f"bonus {bonus_id}"):
            send_bonus(session, gateway, bonus_id)
            report.bonuses_paid += 1


def _check_due(cycle: _Cycle, due: dict[str, Response]) -> None:
    """GetAssignment for each response past its AutoApprovalTime (concurrently); what MTurk
    approved or rejected meanwhile is recorded."""
    session, report = cycle.session, cycle.report
    for batch in _in_batches(cycle.pool, cycle.gateway.get_assignment, due, len(due)):
        for assignment_id, future in batch:
            response = due[assignment_id]
            with _isolated(session, report, f"assignment {assignment_id}"):
                mturk_status = MTURK_STATUS[future.result().status]
                if mturk_status != "submitted":
                    with transaction(session):
                        if record_outcome(session, response, response.item.hitblock, mturk_status):
                            report.auto_approved += mturk_status == "approved"
