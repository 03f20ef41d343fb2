"""Responses: workers' assignments stored once each, their review, bonuses, and the money.

Money follows MTurk exactly: an approved response costs its reward plus MTurk's fee, a
rejected one nothing, a bonus its amount plus fee. Each charge is added to the item's
``cost`` and the hitblock's ``total_spent`` by the same conditional UPDATE that changes the
state, so a repeat (a retried request, a second poller) can never count it twice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import contains_eager

from app.domain import Conflict, DomainError, InvalidInput, NotFound
from app.models import Bonus, Hitblock, Item, Response, utcnow
from app.pagination import Page, paginate
from app.services import DbSession, events, gold, insert_for, transaction
from app.services.hitblocks import count_items, find_hitblock, write_item_counts
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
    charge the ones MTurk already approved, and return how many were new.

    Answers to a gold item are scored as they are stored; under a gold policy, work of a
    worker excluded from the hitblock arrives flagged, and a worker whose new gold answers
    fail the policy is excluded (``gold.apply_policy``)."""
    if not assignments:
        return 0
    now = utcnow()
    cost = approval_cost(hitblock)
    multi_valued = item_multi_valued_fields(
        HITBLOCK_TYPES[hitblock.type], hitblock.template, item.params
    )
    excluded: set[str] = set()
    if hitblock.gold_policy:
        workers = {assignment.worker_id for assignment in assignments}
        excluded = gold.excluded_workers(session, hitblock.id, workers)
    rows = []
    for assignment in assignments:
        parsed = parse_answer(assignment.answer, multi_valued)
        status = MTURK_STATUS.get(assignment.status, "submitted")
        flagged = status == "submitted" and assignment.worker_id in excluded
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
                "gold_correct": gold.score(item.gold, parsed.data) if item.gold else None,
                "flagged": flagged,
                "flag_reason": gold.FLAG_REASON if flagged else None,
            }
        )
    stmt = (
        insert_for(session, Response)
        .on_conflict_do_nothing(index_elements=["assignment_id"])
        .returning(Response.id, Response.status)
    )
    inserted = [session.execute(stmt, row).first() for row in rows]
    new = [row for row in inserted if row is not None]
    if item.gold and hitblock.gold_policy and new:
        scored = {str(row["worker_id"]) for row, id_ in zip(rows, inserted, strict=True) if id_}
        gold.apply_policy(session, hitblock, scored)
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
        if status == "completed":
            count_items(session, hitblock.id, completed=1)
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
                write_item_counts(session)  # the event shows the counters with this item
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


def ask_mturk(gateway: MTurkGateway, assignment_id: str, decision: Decision) -> str:
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


def settle_review(
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


def _already_reviewed(response_id: int, status: str, decision: Decision) -> Conflict:
    return Conflict(
        f"Response {response_id} is {status} on MTurk and cannot be {decision.status}.",
        code="response_already_reviewed",
    )


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
        mturk_status = ask_mturk(gateway, response.assignment_id, decision)
        response = settle_review(session, account_id, response_id, mturk_status, decision)
    if response.status != decision.status:
        raise _already_reviewed(response_id, response.status, decision)
    return response


@dataclass(frozen=True)
class ReviewOutcome:
    response: int
    status: str | None  # the response's status now; None when the account has no such one
    error: DomainError | MTurkError | None  # why the decision was not taken


@dataclass(frozen=True)
class BulkReview:
    results: list[ReviewOutcome]
    object: str = "review_result"


REVIEW_LOOKUP_CHUNK = 500  # response ids per IN (...)


def review_many(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_ids: Sequence[int],
    decision: Decision | Sequence[Decision],
    concurrency: int,
) -> list[ReviewOutcome]:
    """Decide on each response given (one decision for all, or one per id), each outcome
    reported in the order given: MTurk is asked ``concurrency`` calls at a time (a bulk
    decision of hundreds takes seconds, not minutes), then each answer is recorded in its
    own transaction. Another account's id is reported as missing (``NotFound``), one MTurk
    state differs from the decision for as ``Conflict``, one MTurk did not take with its
    ``MTurkError``; a response already so decided is reported done, with no MTurk call."""
    ids = list(response_ids)
    decisions = [decision] * len(ids) if isinstance(decision, Decision) else list(decision)
    if len(decisions) != len(ids):
        raise ValueError("one decision for all the responses, or one for each")
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), REVIEW_LOOKUP_CHUNK):
        chunk = ids[start : start + REVIEW_LOOKUP_CHUNK]
        rows = session.execute(
            select(Response.id, Response.assignment_id, Response.status)
            .join(Item, Item.id == Response.item_id)
            .join(Hitblock, Hitblock.id == Item.hitblock_id)
            .where(Response.id.in_(chunk), Hitblock.account_id == account_id)
        )
        found.update((row.id, (row.assignment_id, row.status)) for row in rows)
    session.rollback()  # nothing written: end the read before the MTurk calls
    jobs = [
        (response_id, found[response_id][0], wanted)
        for response_id, wanted in zip(ids, decisions, strict=True)
        if response_id in found and found[response_id][1] == "submitted"
    ]

    def ask(job: tuple[int, str, Decision]) -> str | MTurkError:
        try:
            return ask_mturk(gateway, job[1], job[2])
        except MTurkError as error:
            return error

    settled: dict[int, ReviewOutcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for (response_id, _, wanted), answer in zip(jobs, pool.map(ask, jobs), strict=True):
            if isinstance(answer, MTurkError):  # recorded as each answer comes in
                settled[response_id] = ReviewOutcome(response_id, "submitted", answer)
            else:
                status = settle_review(session, account_id, response_id, answer, wanted).status
                settled[response_id] = _outcome(response_id, status, wanted)
    outcomes = []
    for response_id, wanted in zip(ids, decisions, strict=True):
        if response_id in settled:
            outcomes.append(settled[response_id])
        elif response_id in found:
            outcomes.append(_outcome(response_id, found[response_id][1], wanted))
        else:
            outcomes.append(ReviewOutcome(response_id, None, NotFound("response", response_id)))
    return outcomes


def _outcome(response_id: int, status: str, decision: Decision) -> ReviewOutcome:
    error = None if status == decision.status else _already_reviewed(response_id, status, decision)
    return ReviewOutcome(response_id, status, error)


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
    """Review every submitted response of an item or a hitblock, reporting each outcome
    (as MTurk left it: one it had decided otherwise has that status, with no error)."""
    if item_id is not None:
        scope = Response.item_id == find_item(session, account_id, item_id).id
    else:
        assert hitblock_id is not None
        find_hitblock(session, account_id, hitblock_id)
        scope = Response.item_id.in_(select(Item.id).where(Item.hitblock_id == hitblock_id))
    pending = list(
        session.scalars(
            select(Response.id).where(scope, Response.status == "submitted").order_by(Response.id)
        )
    )
    outcomes = review_many(session, gateway, account_id, pending, decision, concurrency)
    return BulkReview(
        [
            ReviewOutcome(o.response, o.status or "submitted", o.error)
            if isinstance(o.error, MTurkError)
            else ReviewOutcome(o.response, o.status or "submitted", None)
            for o in outcomes
        ]
    )


# ---- bonuses ---------------------------------------------------------------------------


BONUS_TOKEN = re.compile(r"[A-Za-z0-9-]{1,36}")  # a client's token: a UUID, say


def pay_bonus(
    session: DbSession,
    gateway: MTurkGateway,
    account_id: int,
    response_id: int,
    amount: Decimal,
    reason: str,
    *,
    token: str | None = None,
) -> Bonus:
    """Record the bonus with its UniqueRequestToken first, then pay it: a retry (ours, or the
    poller's for a bonus left pending) sends the same token, so MTurk pays it once.

    ``token`` is the caller's for this one decision (the console makes one per bonus): the
    bonus is stored under it, so sending the same request again (after a timeout, a 503)
    answers the bonus already recorded, paid or still pending, and never makes a second."""
    response = find_response(session, account_id, response_id)
    if token is not None and not BONUS_TOKEN.fullmatch(token):
        raise InvalidInput("A bonus token is 1 to 36 letters, digits or dashes.", param="token")
    suffix = token if token is not None else secrets.token_hex(8)
    unique = f"hb-bonus-{response.id}-{suffix}"
    with transaction(session):
        bonus_id = session.scalar(
            insert_for(session, Bonus)
            .values(
                response_id=response.id,
                amount=amount,
                reason=reason,
                status="pending",
                unique_request_token=unique,
                cost=Decimal("0.00"),
                created=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["unique_request_token"])
            .returning(Bonus.id)
        )
        if bonus_id is None:  # this token's bonus exists: a repeat of the same request
            existing = session.scalar(select(Bonus).where(Bonus.unique_request_token == unique))
            assert existing is not None
            if existing.amount != amount or existing.reason != reason:
                raise Conflict(
                    f"Bonus token {token} was used for another bonus "
                    f"(${existing.amount} for {existing.reason!r}).",
                    param="token",
                    code="bonus_token_reused",
                )
            return existing
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
