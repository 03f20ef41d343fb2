"""Workers' records and blocks at the service level, with a fake gateway."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from app.domain import InvalidInput, NotFound
from app.extensions import db
from app.models import WorkerBlock, WorkerExclusion
from app.services import transaction
from app.services.accounts import create_key
from app.services.workers import (
    _worked_for,
    block_worker,
    check_worker_id,
    list_blocks,
    send_pending,
    unblock_worker,
    worker_stats,
)
from mturk.gateway import MTurkRejected, MTurkUnavailable
from tests.helpers.crowd import add_hitblock, add_item, add_response
from tests.helpers.fake_gateway import FakeGateway


def test_each_workers_record_in_a_hitblock(session, account_id):
    hitblock = add_hitblock(session, account_id)
    items = [add_item(session, hitblock) for _ in range(3)]
    golden = add_item(session, hitblock, gold={"label": "cat"})
    a, b, c = items
    # W1: right with the majority twice, approved, rejected, submitted; fast
    add_response(session, a, "W1", {"label": "cat"}, status="approved", seconds=10)
    add_response(session, b, "W1", {"label": "dog"}, status="rejected", seconds=20)
    add_response(session, c, "W1", {"label": "bird"}, seconds=60)
    add_response(session, golden, "W1", {"label": "cat"}, gold_correct=True, seconds=30)
    # W2 and W3 make the majority on a and c; c has W1 alone against them
    add_response(session, a, "W2", {"label": "cat"}, status="approved", seconds=100)
    add_response(session, c, "W2", {"label": "dog"}, seconds=200)
    add_response(session, c, "W3", {"label": "dog"}, flagged=True, seconds=300)
    add_response(session, golden, "W3", {"label": "dog"}, gold_correct=False, seconds=300)
    with transaction(session):
        session.add(WorkerExclusion(hitblock_id=hitblock.id, worker_id="W3", reason="r"))
        session.add(WorkerBlock(account_id=account_id, worker_id="W2", reason="r", status="active"))
    stats = {s.worker_id: s for s in worker_stats(session, account_id, hitblock.id)}
    assert list(stats) == ["W1", "W2", "W3"]  # most responses first
    w1, w2, w3 = stats["W1"], stats["W2"], stats["W3"]
    assert (w1.responses, w1.approved, w1.rejected, w1.submitted) == (4, 1, 1, 2)
    assert w1.approval_rate == 0.5
    assert (w1.gold_answers, w1.gold_correct, w1.gold_accuracy) == (1, 1, 1.0)
    assert w1.median_seconds == 25.0
    # Items with >= 2 counted responses: a (cat, cat), c (bird, dog; W3's flagged work does
    # not count) and the gold item (cat, dog); b's rejected answer counts nowhere. Ties go
    # to the answer received first: W1's.
    assert (w1.agreement, w1.agreement_answers) == (1.0, 3)
    assert (w2.agreement, w2.agreement_answers) == (0.5, 2)
    assert w2.approval_rate == 1.0 and w2.blocked and not w2.excluded
    assert (w3.agreement, w3.agreement_answers, w3.approval_rate) == (0.0, 1, None)
    assert (w3.gold_accuracy, w3.flagged, w3.excluded, w3.blocked) == (0.0, 1, True, False)


def count_statements(session, call):
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)


@pytest.mark.parametrize("workers", [2, 30])
def test_statements_do_not_grow_with_workers(session, account_id, workers):
    hitblock = add_hitblock(session, account_id)
    item = add_item(session, hitblock)
    for n in range(workers):
        add_response(session, item, f"W{n}", {"label": "cat"}, gold_correct=n % 2 == 0)
    hitblock_id = hitblock.id
    count = count_statements(session, lambda: worker_stats(session, account_id, hitblock_id))
    assert count == 5


def test_another_accounts_hitblock_is_missing(session, account_id):
    hitblock = add_hitblock(session, account_id)
    with pytest.raises(NotFound):
        worker_stats(session, create_key(session, "globex").account_id, hitblock.id)


def worked_for(session, account_id, *worker_ids):
    """Workers who answered one of the account's HITs: only they may be blocked by it."""
    item = add_item(session, add_hitblock(session, account_id))
    for worker_id in worker_ids:
        add_response(session, item, worker_id, {"label": "cat"})


def test_block_and_unblock(session, account_id):
    gateway = FakeGateway()
    worked_for(session, account_id, "A1B2")
    block = block_worker(session, gateway, account_id, "A1B2", "spam")
    assert (block.worker_id, block.reason, block.status) == ("A1B2", "spam", "active")
    assert gateway.blocked == {"A1B2": "spam"}
    again = block_worker(session, gateway, account_id, "A1B2", "more spam")
    assert again.id == block.id and again.reason == "more spam"
    assert [b.worker_id for b in list_blocks(session, account_id, {"limit": 10}).data] == ["A1B2"]
    lifted = unblock_worker(session, gateway, account_id, "A1B2")
    assert lifted.status == "removed" and gateway.blocked == {}
    assert list_blocks(session, account_id, {"limit": 10}).data == []
    with pytest.raises(NotFound):
        unblock_worker(session, gateway, account_id, "A1B2")
    with pytest.raises(InvalidInput) as refused:
        block_worker(session, gateway, account_id, "a1b2", "spam")
    assert refused.value.code == "invalid_worker_id"
    with pytest.raises(InvalidInput):
        block_worker(session, gateway, account_id, "A" * 65, "spam")


def test_a_block_mturk_did_not_confirm_is_sent_by_the_poll_cycle(session, account_id):
    gateway = FakeGateway()
    worked_for(session, account_id, "A1")
    gateway.fail_quality = MTurkUnavailable("down", "ServiceUnavailable")
    with pytest.raises(MTurkUnavailable):
        block_worker(session, gateway, account_id, "A1", "spam")
    assert session.scalars(select(WorkerBlock.status)).one() == "pending"
    assert send_pending(session, gateway) == ["worker block A1: down"]
    gateway.fail_quality = None
    assert send_pending(session, gateway) == []
    assert gateway.blocked == {"A1": "spam"}
    assert session.scalars(select(WorkerBlock.status)).one() == "active"

    gateway.fail_quality = MTurkUnavailable("down", "ServiceUnavailable")
    with pytest.raises(MTurkUnavailable):
        unblock_worker(session, gateway, account_id, "A1")
    assert session.scalars(select(WorkerBlock.status)).one() == "removing"
    gateway.fail_quality = None
    gateway.calls.clear()
    assert send_pending(session, gateway) == []
    assert gateway.calls == ["DeleteWorkerBlock"] and gateway.blocked == {}
    assert session.scalars(select(WorkerBlock.status)).one() == "removed"


def test_a_block_mturk_refuses_is_not_kept(session, account_id):
    gateway = FakeGateway()
    worked_for(session, account_id, "A1")
    gateway.fail_quality = MTurkRejected("no such worker", "AWS.MechanicalTurk.InvalidWorker")
    with pytest.raises(MTurkRejected):
        block_worker(session, gateway, account_id, "A1", "spam")
    assert list_blocks(session, account_id, {"limit": 10}).data == []
    gateway.fail_quality = None
    gateway.calls.clear()
    assert send_pending(session, gateway) == [] and gateway.calls == []


def test_mturks_block_stays_while_another_account_blocks_the_worker(session, account_id):
    """All accounts publish as one MTurk requester, whose block covers all their HITs."""
    gateway = FakeGateway()
    other = create_key(session, "globex").account_id
    worked_for(session, account_id, "A1")
    worked_for(session, other, "A1")
    block_worker(session, gateway, account_id, "A1", "spam")
    block_worker(session, gateway, other, "A1", "spam too")
    gateway.calls.clear()
    unblock_worker(session, gateway, account_id, "A1")
    assert gateway.calls == [] and "A1" in gateway.blocked  # globex still blocks A1
    unblock_worker(session, gateway, other, "A1")
    assert gateway.calls == ["DeleteWorkerBlock"] and gateway.blocked == {}


def test_an_account_blocks_only_workers_who_worked_for_it(session, account_id):
    """MTurk's block covers every account of the installation: a worker who never answered
    this account's HITs is none of its business, and answers 404 like a missing one."""
    gateway = FakeGateway()
    other = create_key(session, "globex").account_id
    worked_for(session, other, "THEIRS1")
    for worker_id in ("STRANGER1", "THEIRS1"):
        with pytest.raises(NotFound) as missing:
            block_worker(session, gateway, account_id, worker_id, "spite")
        assert missing.value.kind == "worker"
    assert gateway.calls == [] and gateway.blocked == {}
    assert session.scalar(select(WorkerBlock)) is None
    assert count_statements(session, lambda: _worked_for(session, account_id, "THEIRS1")) == 1


def test_workers_are_found_by_the_worker_id_index(session):
    plan = session.execute(
        text("EXPLAIN QUERY PLAN SELECT id FROM responses WHERE worker_id = 'W1'")
    ).all()
    assert "ix_responses_worker_id" in " ".join(str(row[-1]) for row in plan)


def test_a_worker_id_is_matched_whole():
    for worker_id in ("ABC\n", "ABC\nDEF", "\nABC"):
        with pytest.raises(InvalidInput):
            check_worker_id(worker_id)
    assert check_worker_id("ABC") == "ABC"


def test_a_refused_reblock_leaves_the_block_as_it_was(session, account_id):
    gateway = FakeGateway()
    worked_for(session, account_id, "A1")
    block_worker(session, gateway, account_id, "A1", "spam")
    gateway.fail_quality = MTurkRejected("throttled for good", "AWS.MechanicalTurk.Refused")
    with pytest.raises(MTurkRejected):
        block_worker(session, gateway, account_id, "A1", "more spam")
    block = session.scalars(select(WorkerBlock)).one()
    assert (block.status, block.reason) == ("active", "spam")  # MTurk still blocks A1
    assert [s.blocked for s in worker_stats(session, account_id, 1)] == [True]
    with pytest.raises(MTurkRejected):
        unblock_worker(session, gateway, account_id, "A1")
    assert session.scalars(select(WorkerBlock.status)).one() == "active"


def test_blocks_mturk_refuses_on_retry_fail_and_do_not_starve_the_others(session, account_id):
    """A retry MTurk refuses is not retried (it would be refused again, every cycle): the
    block becomes failed with MTurk's error; one that MTurk merely failed to answer stays
    pending, and goes behind those not yet tried."""
    worked_for(session, account_id, "GOOD", "DOWN", *(f"BAD{n}" for n in range(3)))
    with transaction(session):
        for worker_id in ("DOWN", "BAD0", "BAD1", "BAD2", "GOOD"):
            session.add(WorkerBlock(account_id=account_id, worker_id=worker_id, reason="r"))

    tried = []

    class Gateway(FakeGateway):
        def block_worker(self, worker_id, reason):
            tried.append(worker_id)
            if worker_id.startswith("BAD"):
                raise MTurkRejected("No such worker", "AWS.MechanicalTurk.WorkerDoesNotExist")
            if worker_id == "DOWN":
                raise MTurkUnavailable("down", "ServiceUnavailable")
            super().block_worker(worker_id, reason)

    gateway = Gateway()
    assert len(send_pending(session, gateway, limit=2)) == 2  # DOWN, BAD0
    assert len(send_pending(session, gateway, limit=2)) == 2  # BAD1, BAD2: not DOWN again
    assert send_pending(session, gateway, limit=2) == ["worker block DOWN: down"]  # and GOOD
    assert gateway.blocked == {"GOOD": "r"}
    blocks = {b.worker_id: b for b in session.scalars(select(WorkerBlock))}
    assert {w: b.status for w, b in blocks.items()} == {
        "DOWN": "pending",
        "BAD0": "failed",
        "BAD1": "failed",
        "BAD2": "failed",
        "GOOD": "active",
    }
    assert (blocks["BAD0"].error_code, blocks["BAD0"].error_message) == (
        "AWS.MechanicalTurk.WorkerDoesNotExist",
        "No such worker",
    )
    assert blocks["DOWN"].error_code is None and blocks["DOWN"].last_attempt is not None
    assert tried == ["DOWN", "BAD0", "BAD1", "BAD2", "GOOD", "DOWN"]
    tried.clear()
    send_pending(session, gateway)
    assert tried == ["DOWN"]  # failed blocks are left
    listed = {b.worker_id: b.status for b in list_blocks(session, account_id, {"limit": 10}).data}
    assert listed["BAD0"] == "failed"  # shown, with its error, for the account to see
