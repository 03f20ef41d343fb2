"""The poll cycle at scale: HITs collected concurrently (bounded) and stored in batches,
every guarantee kept (one HIT's failure isolated, a cycle stopped or killed anywhere is
simply run again, a cycle that lost its lease stops), and an idle cycle whose queries read
open work only, however much history is stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from app.extensions import db
from app.models import Hitblock, Item, Response, utcnow
from app.services import polling
from app.services.publishing import post_hitblock
from mturk.gateway import AssignmentInfo, HitInfo, MTurkUnavailable
from tests.helpers import hitblocks as helpers
from tests.helpers.fake_gateway import FakeGateway

ANSWERS_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
ANSWER = (
    f'<QuestionFormAnswers xmlns="{ANSWERS_NS}"><Answer><QuestionIdentifier>transcription'
    "</QuestionIdentifier><FreeText>12.00</FreeText></Answer></QuestionFormAnswers>"
)
LATER = datetime(2100, 1, 1, tzinfo=UTC)


class PollGateway(FakeGateway):
    """MTurk as the poll cycle sees it: HITs with work are Reviewable until moved to
    Reviewing. ``barrier``: every ListAssignmentsForHIT waits there for as many others (so a
    cycle that makes fewer at once never gets past it); the peak of calls at once is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.work: dict[str, list[AssignmentInfo]] = {}
        self.reviewing: set[str] = set()
        self.fail_lists: dict[str, Exception] = {}
        self.barrier: threading.Barrier | None = None
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def submit(self, hit_id: str, n: int = 1) -> None:
        self.work.setdefault(hit_id, []).append(
            AssignmentInfo(
                f"ASSIGNMENT{hit_id[-6:]}{n:04d}", f"AWORKER{n}", hit_id, "Submitted", ANSWER,
                utcnow(), utcnow(), LATER,
            )
        )  # fmt: skip

    def reviewable_hits(self, hit_type_id: str) -> list[HitInfo]:
        self.calls.append("ListReviewableHITs")
        return [
            HitInfo(hit_id, "Reviewable", LATER, 1)
            for hit_id in self.work
            if hit_id not in self.reviewing
        ]

    def assignments(self, hit_id: str, statuses: list[str]) -> list[AssignmentInfo]:
        self.calls.append("ListAssignmentsForHIT")
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            if hit_id in self.fail_lists:
                raise self.fail_lists[hit_id]
            return list(self.work.get(hit_id, []))
        finally:
            with self._lock:
                self.in_flight -= 1

    def mark_reviewing(self, hit_id: str) -> None:
        self.calls.append("UpdateHITReviewStatus")
        self.reviewing.add(hit_id)


def add_hitblock(session: Any, account_id: int, items: int, workers_per_item: int = 1) -> int:
    """A hitblock whose work is not auto-approved within a test (the due check stays idle)."""
    return helpers.add_hitblock(
        session,
        account_id,
        items,
        workers_per_item=workers_per_item,
        auto_approval_delay_in_seconds=3600,
    )


def published(session: Any, account_id: int, gateway: PollGateway, items: int) -> list[str]:
    """A hitblock of ``items`` published items; their HIT ids, in item order."""
    hitblock_id = add_hitblock(session, account_id, items)
    post_hitblock(session, gateway, account_id, hitblock_id, concurrency=4)
    return list(
        session.scalars(
            select(Item.hit_id).where(Item.hitblock_id == hitblock_id).order_by(Item.id)
        )
    )


def stored(session: Any) -> list[str]:
    session.rollback()
    return list(session.scalars(select(Response.assignment_id)))


@pytest.fixture
def commits(session: Any) -> list[int]:
    """Each commit of the session, as it happens."""
    seen: list[int] = []

    def count(_: Any) -> None:
        seen.append(1)

    event.listen(session, "after_commit", count)
    yield seen
    event.remove(session, "after_commit", count)


def test_hits_are_collected_concurrently_and_never_more_at_once_than_asked(session, account_id):
    gateway = PollGateway()
    for hit_id in published(session, account_id, gateway, 24):
        gateway.submit(hit_id)
    gateway.barrier = threading.Barrier(4, timeout=10)  # 24 calls: six rounds of four at once
    report = polling.poll_once(session, gateway, concurrency=4)
    assert (report.new_responses, report.errors) == (24, [])
    assert gateway.peak == 4
    assert len(gateway.reviewing) == 24
    assert gateway.calls.count("ListAssignmentsForHIT") == 24


def test_work_is_committed_in_batches_not_hit_by_hit(session, account_id, commits):
    gateway = PollGateway()
    hit_ids = published(session, account_id, gateway, 2 * polling.BATCH + 10)
    for hit_id in hit_ids:
        gateway.submit(hit_id)
    commits.clear()
    report = polling.poll_once(session, gateway, concurrency=4)
    assert (report.new_responses, report.errors) == (len(hit_ids), [])
    # Three batches stored, then the HITs marked done in one: not one or two per HIT.
    assert len(commits) == 4
    assert len(set(stored(session))) == len(hit_ids)
    assert session.scalar(select(func.count()).where(Item.hit_done.is_(True))) == len(hit_ids)


def test_one_hit_failing_in_a_batch_skips_that_hit_only(session, account_id, monkeypatch, commits):
    gateway = PollGateway()
    hit_ids = published(session, account_id, gateway, polling.BATCH + 5)
    for hit_id in hit_ids:
        gateway.submit(hit_id)
    bad_item = session.scalar(select(Item.id).where(Item.hit_id == hit_ids[7]))
    gateway.fail_lists[hit_ids[3]] = MTurkUnavailable("MTurk is down", "ServiceFault")
    real_store = polling.store_assignments

    def broken_for_one(session, item, hitblock, assignments):
        if item.id == bad_item:
            raise RuntimeError("the database refused this row")
        return real_store(session, item, hitblock, assignments)

    monkeypatch.setattr(polling, "store_assignments", broken_for_one)
    report = polling.poll_once(session, gateway, concurrency=4)
    assert report.new_responses == len(hit_ids) - 2
    assert sorted(report.errors) == sorted(
        [
            f"HIT {hit_ids[3]}: MTurk is down",
            f"HIT {hit_ids[7]}: RuntimeError: the database refused this row",
        ]
    )
    assert gateway.reviewing == set(hit_ids) - {hit_ids[3], hit_ids[7]}

    monkeypatch.setattr(polling, "store_assignments", real_store)
    del gateway.fail_lists[hit_ids[3]]
    report = polling.poll_once(session, gateway, concurrency=4)
    assert (report.new_responses, report.errors) == (2, [])  # the next cycle collects them
    assert sorted(stored(session)) == sorted(
        a.assignment_id for w in gateway.work.values() for a in w
    )


def test_a_cycle_interrupted_mid_batch_stores_nothing_twice_when_run_again(
    session, account_id, monkeypatch
):
    gateway = PollGateway()
    hit_ids = published(session, account_id, gateway, 2 * polling.BATCH)
    for hit_id in hit_ids:
        gateway.submit(hit_id)
    real_store = polling.store_assignments
    stores = []

    def killed_on_the_70th(session, item, hitblock, assignments):
        stores.append(item.id)
        if len(stores) == 70:
            raise KeyboardInterrupt  # as a kill would: nothing catches it
        return real_store(session, item, hitblock, assignments)

    monkeypatch.setattr(polling, "store_assignments", killed_on_the_70th)
    with pytest.raises(KeyboardInterrupt):
        polling.poll_once(session, gateway, concurrency=4)
    assert len(stored(session)) == polling.BATCH  # the first batch, committed; the second not
    monkeypatch.setattr(polling, "store_assignments", real_store)
    assert polling.poll_once(session, gateway, concurrency=4).new_responses == polling.BATCH
    assert polling.poll_once(session, gateway, concurrency=4).new_responses == 0
    assert len(stored(session)) == len(set(stored(session))) == len(hit_ids)


def test_a_cycle_that_lost_its_lease_stops_and_the_next_one_carries_on(session, account_id):
    gateway = PollGateway()
    hit_ids = published(session, account_id, gateway, 3 * polling.BATCH)
    for hit_id in hit_ids:
        gateway.submit(hit_id)
    asked: list[int] = []

    def lease_held() -> bool:  # held for the first batch, lost by the second
        asked.append(1)
        return len(asked) == 1

    report = polling.poll_once(session, gateway, concurrency=4, keep_going=lease_held)
    assert report.errors == ["the poll lease was lost; the cycle stopped"]
    assert report.new_responses == len(stored(session)) == polling.BATCH
    assert gateway.reviewing == set()  # nothing more was done after the loss
    report = polling.poll_once(session, gateway, concurrency=4)
    assert report.new_responses == 2 * polling.BATCH and report.errors == []
    assert len(set(stored(session))) == len(hit_ids)
    assert gateway.reviewing == set(hit_ids)


# ---- the idle cycle: its queries follow open work, not history ---------------------------


def add_history(session: Any, account_id: int, count: int) -> None:
    """``count`` completed items with an approved response each, in two completed hitblocks
    (one with three workers per item), as a long-running installation has."""
    past = utcnow() - timedelta(days=30)
    for n, workers in enumerate((1, 3)):
        hitblock_id = add_hitblock(session, account_id, 0, workers_per_item=workers)
        session.get(Hitblock, hitblock_id).status = "completed"
        session.get(Hitblock, hitblock_id).hit_type_id = f"HISTTYPE{n:012d}"
        first = session.scalar(select(func.coalesce(func.max(Item.id), 0))) + 1
        session.execute(
            insert(Item),
            [
                {
                    "id": first + i,
                    "hitblock_id": hitblock_id,
                    "type": "image",
                    "params": {"image_url": "https://e.org/h.jpg"},
                    "status": "completed",
                    "hit_id": f"HISTHIT{n}{i:012d}",
                    "published": past,
                    "last_polled": past,
                    "hit_done": True,
                }
                for i in range(count // 2)
            ],
        )
        session.execute(
            insert(Response),
            [
                {
                    "item_id": first + i,
                    "assignment_id": f"HISTA{n}{i:014d}",
                    "worker_id": "AHISTORY",
                    "status": "approved",
                    "data": {"transcription": "12.00"},
                    "submitted": past,
                    "auto_approval_due": past + timedelta(days=3),
                }
                for i in range(count // 2)
            ],
        )
        session.commit()


def idle_statements(session: Any, gateway: PollGateway) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        report = polling.poll_once(session, gateway, concurrency=4)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (report.new_responses, report.errors) == (0, [])
    return seen


@pytest.fixture
def idle(session: Any, account_id: int) -> PollGateway:
    """Open HITs, single- and multi-worker, none with new work."""
    gateway = PollGateway()
    published(session, account_id, gateway, 30)
    multi = add_hitblock(session, account_id, 10, workers_per_item=3)
    post_hitblock(session, gateway, account_id, multi, concurrency=4)
    polling.poll_once(session, gateway)  # the rotation checks the open multi-worker HITs once
    return gateway


def test_an_idle_cycle_makes_as_many_statements_with_history_as_without(session, account_id, idle):
    idle.barrier = None
    before = idle_statements(session, idle)
    add_history(session, account_id, 4000)
    after = idle_statements(session, idle)
    assert len(after) == len(before)
    assert [s for s, _ in after] == [s for s, _ in before]


def test_each_query_of_an_idle_cycle_reads_an_index_on_sqlite(session, account_id, idle):
    add_history(session, account_id, 2000)
    selects = [
        (statement, parameters)
        for statement, parameters in idle_statements(session, idle)
        if statement.lstrip().upper().startswith("SELECT")
    ]
    plans = {}
    connection = session.connection()
    for statement, parameters in selects:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        plans[statement] = [row[-1] for row in rows]
    used = " ".join(line for plan in plans.values() for line in plan)
    for index in ("ix_items_open_hits", "ix_items_published_last_polled"):
        assert f"USING INDEX {index}" in used or f"USING COVERING INDEX {index}" in used, plans
    assert "USING INDEX ix_responses_submitted_due" in used, plans
    for statement, plan in plans.items():
        for line in plan:  # no table of history read from end to end
            assert not line.startswith(("SCAN items", "SCAN responses")) or "INDEX" in line, (
                statement,
                plan,
            )
