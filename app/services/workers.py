"""Workers: their record in a hitblock, and blocking them from the account's HITs.

A block is MTurk's CreateWorkerBlock: it applies to every HIT of the requester that
Hitblocks signs as. One Hitblocks installation publishes all of its accounts' HITs as one
requester, so a block by one account keeps the worker from every account's HITs; an unblock
lifts MTurk's block only when no other account still blocks the worker. So that an account
cannot act on other accounts' workers, it may block only a worker who has answered one of
its HITs; any other worker id is a 404, as if there were no such worker.

As with bonuses, the decision is committed before MTurk is called (``pending``, or
``removing`` for an unblock) and confirmed after; what MTurk did not confirm (it was down)
is sent again by the poll cycle (``send_pending``), oldest attempt first; what MTurk refused
there is marked ``failed`` with its error, and no longer sent.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update

from app.domain import BlockStatus, InvalidInput, NotFound
from app.models import Hitblock, Item, Response, WorkerBlock, WorkerExclusion, utcnow
from app.pagination import Page, paginate
from app.services import DbSession, transaction
from app.services.consensus import answer_fields, counted_votes, majority
from app.services.gold import send_exclusions
from app.services.hitblocks import find_hitblock
from mturk.gateway import MTurkError, MTurkGateway, MTurkRejected

WORKER_ID = re.compile(r"[A-Z0-9]{1,64}")  # fullmatch: "$" would let a final newline pass
# Statuses under which the worker is blocked (or will be).
BLOCKING = (BlockStatus.PENDING, BlockStatus.ACTIVE)
UNBLOCK_REASON = "Unblocked by the requester."


@dataclass(frozen=True)
class WorkerStats:
    worker_id: str
    responses: int
    submitted: int
    approved: int
    rejected: int
    approval_rate: float | None  # approved / (approved + rejected); None before any review
    agreement: float | None  # share of answers equal to the consensus (items with >= 2)
    agreement_answers: int  # how many answers that share rests on
    gold_answers: int
    gold_correct: int
    gold_accuracy: float | None
    median_seconds: float | None  # submitted - accepted, per answer
    flagged: int
    blocked: bool
    excluded: bool
    object: str = "worker_stats"


def check_worker_id(worker_id: str) -> str:
    if not WORKER_ID.fullmatch(worker_id):
        raise InvalidInput(
            "A worker id is 1 to 64 uppercase letters and digits.",
            param="worker_id",
            code="invalid_worker_id",
        )
    return worker_id


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _agreement(session: DbSession, hitblock_id: int) -> dict[str, tuple[int, int]]:
    """worker -> (answers equal to the majority vote, answers compared), field by field, on
    items with at least two counted responses."""
    votes = counted_votes(session, hitblock_id)
    responses = Counter(vote.item_id for vote in votes)
    fields = answer_fields(votes)
    winners = majority(fields)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, answers in fields.items():
        for item_id, worker_id, key in answers.rows:
            if responses[item_id] >= 2:
                tally[worker_id][1] += 1
                tally[worker_id][0] += key == winners[(item_id, name)][0]
    return {worker: (same, compared) for worker, (same, compared) in tally.items()}


def worker_stats(session: DbSession, account_id: int, hitblock_id: int) -> list[WorkerStats]:
    """Every worker who answered in the hitblock, most responses first; five statements
    whatever the number of workers."""
    find_hitblock(session, account_id, hitblock_id)
    rows = session.execute(
        select(
            Response.worker_id,
            Response.status,
            Response.gold_correct,
            Response.accepted,
            Response.submitted,
            Response.flagged,
        )
        .join(Item, Item.id == Response.item_id)
        .where(Item.hitblock_id == hitblock_id)
    ).all()
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    gold: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[str, list[float]] = defaultdict(list)
    flagged: Counter[str] = Counter()
    for worker_id, status, correct, accepted, submitted, is_flagged in rows:
        statuses[worker_id][status] += 1
        flagged[worker_id] += bool(is_flagged and status == "submitted")
        if correct is not None:
            gold[worker_id][0] += 1
            gold[worker_id][1] += bool(correct)
        if accepted is not None and submitted is not None:
            seconds[worker_id].append((submitted - accepted).total_seconds())
    agreement = _agreement(session, hitblock_id)
    blocked = set(
        session.scalars(
            select(WorkerBlock.worker_id).where(
                WorkerBlock.account_id == account_id, WorkerBlock.status.in_(BLOCKING)
            )
        )
    )
    excluded = set(
        session.scalars(
            select(WorkerExclusion.worker_id).where(WorkerExclusion.hitblock_id == hitblock_id)
        )
    )
    stats = []
    for worker_id, counts in statuses.items():
        approved, rejected = counts["approved"], counts["rejected"]
        gold_answers, gold_correct = gold[worker_id]
        same, compared = agreement.get(worker_id, (0, 0))
        times = seconds[worker_id]
        stats.append(
            WorkerStats(
                worker_id=worker_id,
                responses=counts.total(),
                submitted=counts["submitted"],
                approved=approved,
                rejected=rejected,
                approval_rate=_ratio(approved, approved + rejected),
                agreement=_ratio(same, compared),
                agreement_answers=compared,
                gold_answers=gold_answers,
                gold_correct=gold_correct,
                gold_accuracy=_ratio(gold_correct, gold_answers),
                median_seconds=round(statistics.median(times), 1) if times else None,
                flagged=flagged[worker_id],
                blocked=worker_id in blocked,
                excluded=worker_id in excluded,
            )
        )
    stats.sort(key=lambda s: (-s.responses, s.worker_id))
    return stats


# ---- blocks ----------------------------------------------------------------------------


def find_block(session: DbSession, account_id: int, worker_id: str) -> WorkerBlock | None:
    return session.scalar(
        select(WorkerBlock).where(
            WorkerBlock.account_id == account_id, WorkerBlock.worker_id == worker_id
        )
    )


def _set_status(
    session: DbSession, block_id: int, status: BlockStatus, only_if: BlockStatus, **values: Any
) -> None:
    with transaction(session):
        session.execute(
            update(WorkerBlock)
            .where(WorkerBlock.id == block_id, WorkerBlock.status == only_if)
            .values(status=status, **values)
        )


def _worked_for(session: DbSession, account_id: int, worker_id: str) -> bool:
    """Whether the worker has a response in one of the account's hitblocks (one EXISTS)."""
    return bool(
        session.scalar(
            select(
                exists()
                .where(Response.worker_id == worker_id)
                .where(Item.id == Response.item_id)
                .where(Hitblock.id == Item.hitblock_id, Hitblock.account_id == account_id)
            )
        )
    )


def _others_block(session: DbSession, account_id: int, worker_id: str) -> bool:
    """True when another account of this installation (the same MTurk requester) still
    blocks the worker: MTurk's block must then stay."""
    return (
        session.scalar(
            select(WorkerBlock.id)
            .where(
                WorkerBlock.worker_id == worker_id,
                WorkerBlock.account_id != account_id,
                WorkerBlock.status.in_(BLOCKING),
            )
            .limit(1)
        )
        is not None
    )


def block_worker(
    session: DbSession, gateway: MTurkGateway, account_id: int, worker_id: str, reason: str
) -> WorkerBlock:
    """Block the worker from the account's HITs (MTurk's CreateWorkerBlock). Only a worker
    who answered one of the account's HITs: MTurk's block reaches every account of the
    installation, so any other id answers 404 like a missing worker. A repeat updates the
    reason. When MTurk is down the block stays pending and the poll cycle sends it; when
    MTurk refuses it, the block is as it was before (removed if it is new)."""
    check_worker_id(worker_id)
    with transaction(session):
        if not _worked_for(session, account_id, worker_id):
            raise NotFound("worker", worker_id)
        block = find_block(session, account_id, worker_id)
        if block is None:
            block = WorkerBlock(account_id=account_id, worker_id=worker_id, reason=reason)
            session.add(block)
            before = (BlockStatus.REMOVED, reason)
        else:
            before = (BlockStatus(block.status), block.reason)
        block.reason, block.status = reason, BlockStatus.PENDING
        session.flush()
        block_id = block.id
    try:
        gateway.block_worker(worker_id, reason)
    except MTurkRejected:
        status, old_reason = before
        _set_status(session, block_id, status, only_if=BlockStatus.PENDING, reason=old_reason)
        raise
    _set_status(
        session,
        block_id,
        BlockStatus.ACTIVE,
        only_if=BlockStatus.PENDING,
        error_code=None,
        error_message=None,
    )
    found = session.get(WorkerBlock, block_id, populate_existing=True)
    assert found is not None
    return found


def unblock_worker(
    session: DbSession, gateway: MTurkGateway, account_id: int, worker_id: str
) -> WorkerBlock:
    """Lift the account's block (MTurk's DeleteWorkerBlock, unless another account of this
    installation still blocks the worker). Unblocking a worker not blocked is a 404."""
    check_worker_id(worker_id)
    with transaction(session):
        block = find_block(session, account_id, worker_id)
        if block is None or block.status == BlockStatus.REMOVED:
            raise NotFound("worker block", worker_id)
        before = BlockStatus(block.status)
        block.status = BlockStatus.REMOVING
        block_id = block.id
    try:
        _send_unblock(session, gateway, account_id, worker_id, block_id)
    except MTurkRejected:
        _set_status(session, block_id, before, only_if=BlockStatus.REMOVING)
        raise
    found = session.get(WorkerBlock, block_id, populate_existing=True)
    assert found is not None
    return found


def _send_unblock(
    session: DbSession, gateway: MTurkGateway, account_id: int, worker_id: str, block_id: int
) -> None:
    if not _others_block(session, account_id, worker_id):
        gateway.unblock_worker(worker_id, UNBLOCK_REASON)
    _set_status(session, block_id, BlockStatus.REMOVED, only_if=BlockStatus.REMOVING)


def list_blocks(session: DbSession, account_id: int, args: dict[str, Any]) -> Page[WorkerBlock]:
    """The account's blocks in force, on their way to MTurk, or refused by it (``failed``,
    with MTurk's error), newest first."""
    stmt = select(WorkerBlock).where(
        WorkerBlock.account_id == account_id, WorkerBlock.status != BlockStatus.REMOVED
    )
    return paginate(session, stmt, WorkerBlock.id, args)


def send_pending(session: DbSession, gateway: MTurkGateway, limit: int = 100) -> list[str]:
    """What MTurk has not confirmed yet, sent again: blocks, unblocks, and gold policy
    exclusions, the least recently tried first (so that rows MTurk keeps failing on cannot
    starve the others). One line per failure: while MTurk is down the row stays for the
    next cycle; what MTurk refused becomes ``failed``, with its error, and is not sent again."""
    with transaction(session):
        rows = session.execute(
            select(
                WorkerBlock.id,
                WorkerBlock.account_id,
                WorkerBlock.worker_id,
                WorkerBlock.status,
                WorkerBlock.reason,
            )
            .where(WorkerBlock.status.in_((BlockStatus.PENDING, BlockStatus.REMOVING)))
            .order_by(WorkerBlock.last_attempt.asc().nulls_first(), WorkerBlock.id)
            .limit(limit)
        ).all()
        if rows:
            session.execute(
                update(WorkerBlock)
                .where(WorkerBlock.id.in_([row.id for row in rows]))
                .values(last_attempt=utcnow())
            )
    errors: list[str] = []
    for block_id, account_id, worker_id, status, reason in rows:
        try:
            if status == BlockStatus.PENDING:
                gateway.block_worker(worker_id, reason)
                _set_status(session, block_id, BlockStatus.ACTIVE, only_if=BlockStatus.PENDING)
            else:
                _send_unblock(session, gateway, account_id, worker_id, block_id)
        except MTurkError as error:
            session.rollback()
            errors.append(f"worker block {worker_id}: {error.message}")
            if isinstance(error, MTurkRejected):
                _set_status(
                    session,
                    block_id,
                    BlockStatus.FAILED,
                    only_if=BlockStatus(status),
                    error_code=error.code,
                    error_message=error.message,
                )
    return errors + send_exclusions(session, gateway, limit)
