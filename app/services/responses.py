"""Responses: workers' assignments stored once each, their review, bonuses, and the money.

Money follows MTurk exactly: an approved response costs its reward plus MTurk's fee, a
rejected one nothing, a bonus its amount plus fee. Each charge is added to the item's
``cost`` and the hitblock's ``total_spent`` by the same conditional UPDATE that changes the
state, so a repeat (a retried request, a second poller) can never count it twice.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import contains_eager

from app.domain import Conflict, NotFound
from app.models import Bonus, Hitblock, Item, Response, utcnow
from app.pagination import Page, paginate
from app.services import DbSession, events, transaction
from app.services.hitblocks import find_hitblock
from app.services.items import find_item
from app.templates import HITBLOCK_TYPES, item_multi_valued_fields
from mturk.answers import parse_answer, storable
from mturk.fees import commission
from mturk.gateway import (
    INVALID_ASSIGNMENT_STATE,
    AssignmentInfo,
    MTurkError,
    MTurkGateway,
    MTurkRejected,
)

MTURK_STATUS = {"Submitted": "submitted", "Approved": "approved", "Rejected": "rejected"}


def approval_cost(hitblock: Hitblock) -> Decimal:
    reward = hitblock.cost_per_item
    return reward + commission(reward, hitblock.workers_per_item)


def _charge(session: DbSession, item_id: int, hitblock_id: int, amount: Decimal) -> None:
    session.execute(update(Item).where(Item.id == item_id).values(cost=Item.cost + amount))
    session.execute(
        update(Hitblock)
        .where(Hitblock.id == hitblock_id)
        .values(total_spent=Hitblock.total_spent + amount)
    )


def record_outcome(session: DbSession, response: Response, hitblock: Hitblock, status: str) -> bool:
    """Set a response approved or rejected (once); an approval charges its cost. True when
    this call changed it."""
    values: dict[str, Any] = {"status": status, "reviewed": utcnow()}
    if status == "approved":
        values["cost"] = approval_cost(hitblock)
    changed = session.execute(
        update(Response)
        .where(Response.id == response.id, Response.status == "submitted")
        .values(**values)
    ).rowcount  # type: ignore[attr-defined]
    if changed and status == "approved":
        _charge(session, response.item_id, hitblock.id, values["cost"])
    if changed:
        snapshot = events.response_snapshot(session, response.id)
        events.emit(session, hitblock.account_id, f"response.{status}", snapshot)
    return bool(changed)


# ---- storing assignments ---------------------------------------------------------------


def store_assignments(
    session: DbSession, item: Item, hitblock: Hitblock, assignments: list[AssignmentInfo]
) -> int:
    """Insert each assignment once (unique AssignmentId; a repeat is ignored, never an error),
    charge the ones MTurk already approved, and return how many were new."""
    if not assignments:
        return 0
    now = utcnow()
    cost = approval_cost(hitblock)
    multi_valued = item_multi_valued_fields(
        HITBLOCK_TYPES[hitblock.type], hitblock.template, item.params
    )
    rows = []
    for assignment in assignments:
        parsed = parse_answer(assignment.answer, multi_valued)
        status = MTURK_STATUS.get(assignment.status, "submitted")
        rows.append(
            {
                "item_id": item.id,
                "assignment_id": assignment.assignment_id,
                "worker_id": assignment.worker_id,
                "status": status,
                "data": parsed.data,
                "answer_xml": storable(assignment.answer)[0],  # as PostgreSQL text can hold it
                "answer_error": parsed.error,
                "accepted": assignment.accepted,
                "submitted": assignment.submitted or now,
                "auto_approval_due": assignment.auto_approval_due,
                "reviewed": now if status != "submitted" else None,
                "feedback": None,
                "cost": cost if status == "approved" else Decimal("0.00"),
                "created": now,
            }
        )
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        dialect_insert(Response)
        .on_conflict_do_nothing(index_elements=["assignment_id"])
        .returning(Response.id, Response.status)
    )
    inserted = [session.execute(stmt, row).first() for row in rows]
    new = [row for row in inserted if row is not None]
    approved = sum(1 for row in new if row.status == "approved")
    if approved:
        _charge(session, item.id, hitblock.id, cost * approved)
    for row in new:
        snapshot = events.response_snapshot(session, row.id)
        events.emit(session, hitblock.account_id, "response.submitted", snapshot)
        if row.status != "submitted":
            events.emit(session, hitblock.account_id, f"response.{row.status}", snapshot)
    return len(new)


def settle_item(session: DbSession, item: Item, hitblock: Hitblock, hit_expired: bool) -> str:
    """An item is completed with workers_per_item responses, expired when its HIT expired
    short; a hitblock is completed when none of its items is still open."""
    count = session.scalar(select(func.count(Response.id)).where(Response.item_id == item.id))
    status = item.status
    if count is not None and count >= hitblock.workers_per_item:
        status = "completed"
    elif hit_expired and hitblock.status != "paused":  # a pause expired it; resume may not
        status = "expired"
    if status != item.status:
        changed = session.execute(
            update(Item).where(Item.id == item.id, Item.status == "published").values(status=status)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return status  # another poller settled it first (and wrote its events)
        [snapshot] = events.item_snapshots(session, [item.id])
        callback = hitblock.id if status == "completed" else None  # callback_url gets these
        events.emit(session, hitblock.account_id, f"item.{status}", snapshot, callback)
        still_open = session.scalar(
            select(
                exists().where(
                    Item.hitblock_id == hitblock.id, Item.status.in_(("pending", "published"))
                )
            )
        )
        if not still_open:
            completed = session.execute(
                update(Hitblock)
                .where(Hitblock.id == hitblock.id, Hitblock.status == "in_progress")
                .values(status="completed")
            ).rowcount  # type: ignore[attr-defined]
            if completed:
                snapshot = events.hitblock_snapshot(session, hitblock.id)
                events.emit(session, hitblock.account_id, "hitblock.completed", snapshot)
    return status


# ---- reading ----------------------------------------------------------------------------


def find_response(session: DbSession, account_id: int, response_id: int) -> Response:
    response = session.scalar(
        select(Response)
        .join(Response.item)
        .join(Item.hitblock)
        .options(contains_eager(Response.item).contains_eager(Item.hitblock))
        .where(Response.id == response_id, Hitblock.account_id == account_id)
    )
    if response is None:
        raise NotFound("response", response_id)
    return response


def list_responses(
    session: DbSession, account_id: int, hitblock_id: int, args: dict[str, Any]
) -> Page[Response]:
    find_hitblock(session, account_id, hitblock_id)
    stmt = select(Response).join(Response.item).where(Item.hitblock_id == hitblock_id)
    if args.get("status"):
        stmt = stmt.where(Response.status == args["status"])
    return paginate(session, stmt, Response.id, args)


# ---- review ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    status: str  # "approved" or "rejected"
    feedback: str | None


def _ask_mturk(gateway: MTurkGateway, assignment_id: str, decision: Decision) -> str:
    """Tell MTurk; answer the state MTurk ends in (its own state wins on disagreement)."""
    try:
        if decision.status == "approved":
            gateway.approve(assignment_id, decision.feedback)
        else:
            gateway.reject(assignment_id, decision.feedback or "")
        return decision.status
    except MTurkRejected as error:
        if error.code != INVALID_ASSIGNMENT_STATE:
            raise
    return MTURK_STATUS[gateway.get_assignment(assignment_id).status]


def _settle_review(
    session: DbSession, account_id: int, response_id: int, mturk_status: str, decision: Decision
) -> Response:
    """Record the state MTurk ended in (once); the response as it now stands."""
    with transaction(session):
        response = find_response(session, account_id, response_id)
        if mturk_status in {"approved", "rejected"}:
            record_outcome(session, response, response.item.hitblock, mturk_status)
            if decision.feedback and mturk_status == decision.status:
                response.feedback = decision.feedback
    return response


def review(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_id: int,
    decision: Decision,
) -> Response:
    """Approve or reject on MTurk first, then record what MTurk confirms. A repeat is
    harmless; when MTurk's state differs (say, auto-approved already) MTurk's state is kept
    and the request answers 409."""
    response = find_response(session, account_id, response_id)
    if response.status == "submitted":
        mturk_status = _ask_mturk(gateway, response.assignment_id, decision)
        response = _settle_review(session, account_id, response_id, mturk_status, decision)
    if response.status != decision.status:
        raise Conflict(
            f"Response {response_id} is {response.status} on MTurk and cannot be "
            f"{decision.status}.",
            code="response_already_reviewed",
        )
    return response


@dataclass(frozen=True)
class ReviewOutcome:
    response: int
    status: str
    error: MTurkError | None  # why MTurk did not take the decision


@dataclass(frozen=True)
class BulkReview:
    results: list[ReviewOutcome]
    object: str = "review_result"


def review_all(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    decision: Decision,
    *,
    item_id: int | None = None,
    hitblock_id: int | None = None,
    concurrency: int = 8,
) -> BulkReview:
    """Review every submitted response of an item or a hitblock, reporting each outcome."""
    if item_id is not None:
        scope = Response.item_id == find_item(session, account_id, item_id).id
    else:
        assert hitblock_id is not None
        find_hitblock(session, account_id, hitblock_id)
        scope = Response.item_id.in_(select(Item.id).where(Item.hitblock_id == hitblock_id))
    pending = list(
        session.execute(
            select(Response.id, Response.assignment_id)
            .where(scope, Response.status == "submitted")
            .order_by(Response.id)
        )
    )

    def ask(row: Any) -> str | MTurkError:
        try:
            return _ask_mturk(gateway, row.assignment_id, decision)
        except MTurkError as error:
            return error

    results: list[ReviewOutcome] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for row, outcome in zip(pending, pool.map(ask, pending), strict=True):
            if isinstance(outcome, MTurkError):
                results.append(ReviewOutcome(row.id, "submitted", outcome))
            else:
                settled = _settle_review(session, account_id, row.id, outcome, decision)
                status = settled.status
                results.append(ReviewOutcome(row.id, status, None))
    return BulkReview(results)


# ---- bonuses ---------------------------------------------------------------------------


def pay_bonus(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_id: int,
    amount: Decimal,
    reason: str,
) -> Bonus:
    """Record the bonus with its UniqueRequestToken first, then pay it: a retry (ours, or the
    poller's for a bonus left pending) sends the same token, so MTurk pays it once."""
    response = find_response(session, account_id, response_id)
    with transaction(session):
        bonus = Bonus(
            response_id=response.id,
            amount=amount,
            reason=reason,
            unique_request_token=f"hb-bonus-{response.id}-{secrets.token_hex(8)}",
        )
        session.add(bonus)
        session.flush()
        bonus_id = bonus.id
    try:
        send_bonus(session, gateway, bonus_id)
    except MTurkError as error:
        if isinstance(error, MTurkRejected):
            with transaction(session):
                session.execute(update(Bonus).where(Bonus.id == bonus_id).values(status="failed"))
        raise
    found = session.get(Bonus, bonus_id)
    assert found is not None
    return found


def send_bonus(session: DbSession, gateway: MTurkGateway, bonus_id: int) -> None:
    """Pay a pending bonus under its stored token and record it paid (once)."""
    row = session.execute(
        select(Bonus, Response, Item)
        .join(Response, Response.id == Bonus.response_id)
        .join(Item, Item.id == Response.item_id)
        .where(Bonus.id == bonus_id)
    ).one()
    bonus, response, item = row
    gateway.send_bonus(
        worker_id=response.worker_id,
        assignment_id=response.assignment_id,
        amount=bonus.amount,
        reason=bonus.reason,
        token=bonus.unique_request_token,
    )
    cost = bonus.amount + commission(bonus.amount)
    with transaction(session):
        paid = session.execute(
            update(Bonus)
            .where(Bonus.id == bonus_id, Bonus.status == "pending")
            .values(status="paid", paid=utcnow(), cost=cost)
        ).rowcount  # type: ignore[attr-defined]
        if paid:
            _charge(session, item.id, item.hitblock_id, cost)


def pending_bonuses(session: DbSession, older_than: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Bonus.id).where(Bonus.status == "pending", Bonus.created < older_than)
        )
    )
