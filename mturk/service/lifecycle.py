"""The life of HITs and assignments: what time does to them (deadlines, auto-approval,
expiry), the HIT statuses MTurk derives from its assignments, and the money approvals move."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from mturk.fees import commission, format_amount
from mturk.service import events
from mturk.service.errors import TurkError
from mturk.service.requesters import debit
from mturk.service.store import HIT, Assignment, HITType, Store
from mturk.service.store import now as clock

DONE_STATUSES = ("Submitted", "Approved", "Rejected")


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def amount(cents: int) -> str:
    return format_amount(Decimal(cents) / 100)


def charge(
    session: Session, requester_id: int, cents: int, fee_cents: int, kind: str, reference: str
) -> None:
    """Draw a requester's balance down by ``cents`` (the commission ``fee_cents`` included),
    in its ledger; refuse, changing nothing, when the balance would go negative."""
    if not debit(session, requester_id, cents, fee_cents, kind, reference):
        raise TurkError(
            "You do not have enough funds for this operation.",
            "AWS.MechanicalTurk.InsufficientFunds",
        )


def assignment_counts(session: Session, hit_ids: list[str]) -> dict[str, dict[str, int]]:
    """Assignments per HIT and status, for a page of HITs in one query."""
    counts: dict[str, dict[str, int]] = {hit_id: {} for hit_id in hit_ids}
    rows = session.execute(
        select(Assignment.hit_id, Assignment.status, func.count())
        .where(Assignment.hit_id.in_(hit_ids))
        .group_by(Assignment.hit_id, Assignment.status)
    )
    for hit_id, status, count in rows:
        counts[hit_id][status] = count
    return counts


def refresh_status(session: Session, hit: HIT, at: float | None = None) -> None:
    """Recompute a HIT's status from its assignments and expiry, as MTurk defines them, and
    tell (once) that it expired, and that it became reviewable."""
    if hit.status == "Disposed":
        return
    at = clock() if at is None else at
    before = hit.status
    counts = assignment_counts(session, [hit.id])[hit.id]
    in_progress = counts.get("Accepted", 0)
    done = sum(counts.get(status, 0) for status in DONE_STATUSES)
    expired = hit.expiration <= at
    if done >= hit.max_assignments or (expired and in_progress == 0):
        hit.status = "Reviewing" if hit.review_status == "MarkedForReview" else "Reviewable"
    elif expired or done + in_progress >= hit.max_assignments:
        hit.status = "Unassignable"
    else:
        hit.status = "Assignable"
    if expired and not hit.expiry_told and before in ("Assignable", "Unassignable"):
        hit.expiry_told = True
        events.emit(session, events.HIT_EXPIRED, hit, at=at)
    elif not expired:
        hit.expiry_told = False  # extended: a later expiry is told again
    if hit.status == "Reviewable" and before not in ("Reviewable", "Reviewing"):
        events.emit(session, events.HIT_REVIEWABLE, hit, at=at)


def sweep_if_due(store: Store, session: Session) -> None:
    """Sweep at most once per ``store.sweep_interval``, so that a burst of calls does not pay
    for the same scan each time."""
    at = clock()
    if at - store.last_sweep >= store.sweep_interval:
        sweep(session)
        store.last_sweep = at


def _expiring(at: float) -> tuple[Any, ...]:
    """HITs whose expiry has come and not been applied (told) yet."""
    return (
        HIT.status.in_(("Assignable", "Unassignable")),
        HIT.expiration <= at,
        HIT.expiry_told.is_(False),
    )


def is_due(connection: Connection, at: float) -> bool:
    """Whether time changed anything by ``at``: a deadline, an auto-approval or an expiry due
    (three indexed lookups, for a poll that mostly finds nothing)."""
    checks = (
        select(Assignment.seq).where(Assignment.status == "Accepted", Assignment.deadline <= at),
        select(Assignment.seq).where(
            Assignment.status == "Submitted", Assignment.auto_approval_time <= at
        ),
        select(HIT.seq).where(*_expiring(at)),
    )
    return any(connection.scalar(check.limit(1)) is not None for check in checks)


@dataclass
class Clock:
    """Applies what time does without waiting for a request: so that a requester who only
    listens (notifications) hears of an expiry, an abandonment or an auto-approval when it
    happens. Run by the service's background thread (``notifications.Running``); at most
    once per ``interval``, and only a read when nothing is due."""

    store: Store
    interval: float = 1.0
    _next: float = field(default=0.0, init=False)

    def tick(self) -> bool:
        at = clock()
        if at < self._next:
            return False
        self._next = at + self.interval
        with self.store.reading() as connection:
            if not is_due(connection, at):
                return False
        with self.store.transaction() as session:
            sweep(session)
        return True


def sweep(session: Session) -> None:
    """Apply what time did since the last request: abandon assignments past their deadline,
    auto-approve (and pay) submissions past AutoApprovalTime, and expire HITs."""
    at = clock()
    overdue = session.scalars(
        select(Assignment).where(Assignment.status == "Accepted", Assignment.deadline <= at)
    ).all()
    expiring = session.scalars(select(HIT.id).where(*_expiring(at))).all()
    # The HITs first, locked in one order (as a submit locks its HIT before its assignment)
    # and read afresh: a concurrent sweep (PostgreSQL) waits, then finds them refreshed and
    # their assignments abandoned, so an abandonment or an expiry is told once.
    hits = {
        hit_id: session.scalars(
            select(HIT)
            .where(HIT.id == hit_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        for hit_id in sorted({assignment.hit_id for assignment in overdue} | set(expiring))
    }
    abandoned: list[Assignment] = []
    for assignment in overdue:
        try:  # once: if a concurrent sweep abandoned it, it is not abandoned (nor told) again
            move(session, assignment, {"Accepted"}, status="Abandoned")
        except TurkError:
            continue
        abandoned.append(assignment)
    due = session.scalars(
        select(Assignment).where(
            Assignment.status == "Submitted", Assignment.auto_approval_time <= at
        )
    ).all()
    for assignment in due:
        try:
            with session.begin_nested():
                approve(session, assignment, None, assignment.auto_approval_time or at)
        except TurkError:
            pass  # not enough funds: it stays Submitted, as a failed approval would
    for assignment in abandoned:
        events.emit(
            session, events.ASSIGNMENT_ABANDONED, hits[assignment.hit_id], assignment.id, at
        )
    for hit in hits.values():
        refresh_status(session, hit, at)


def move(session: Session, assignment: Assignment, allowed: set[str], **values: Any) -> None:
    """Change an assignment's state only if it is still in one of ``allowed``, in one
    conditional UPDATE: of two concurrent calls (a retried approval, a sweep racing an
    approval, an approval racing a rejection) exactly one changes it, whatever the database's
    isolation, and the other is refused as MTurk refuses it."""
    changed = session.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.status.in_(allowed))
        .values(**values)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        raise TurkError(
            f"This operation can be called with a status of: {', '.join(sorted(allowed))}",
            "AWS.MechanicalTurk.InvalidAssignmentState",
        )
    session.refresh(assignment)


def approve(
    session: Session,
    assignment: Assignment,
    feedback: str | None,
    at: float,
    allowed: frozenset[str] = frozenset({"Submitted"}),
) -> None:
    """Approve (once) and charge the HIT's requester its reward and MTurk's fee."""
    values: dict[str, Any] = {"status": "Approved", "approval_time": at, "rejection_time": None}
    if feedback is not None:
        values["requester_feedback"] = feedback
    move(session, assignment, set(allowed), **values)
    hit = session.scalars(select(HIT).where(HIT.id == assignment.hit_id)).one()
    hit_type = session.get_one(HITType, hit.hit_type_id)
    reward = Decimal(hit_type.reward_cents) / 100
    fee = cents(str(commission(reward, hit.max_assignments)))
    charge(session, hit.requester_id, hit_type.reward_cents + fee, fee, "reward", assignment.id)
    events.emit(session, events.ASSIGNMENT_APPROVED, hit, assignment.id, at)
