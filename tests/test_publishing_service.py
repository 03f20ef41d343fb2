"""The publishing service on its own, with a fake gateway: it speaks the domain (domain
exceptions, domain objects), and never an HTTP status."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.domain import InsufficientFunds, InvalidState, NotFound, NothingPublished
from app.extensions import db
from app.models import Item
from app.services import publishing
from app.services.publishing import post_hitblock, post_item
from app.services.removal import delete_item
from mturk.gateway import MTurkRejected, MTurkUnavailable
from tests.helpers.fake_gateway import FakeGateway
from tests.helpers.hitblocks import add_hitblock


def test_a_hitblock_publishes_each_item_once_and_answers_a_domain_object(session, account_id):
    gateway = FakeGateway()
    hitblock_id = add_hitblock(session, account_id)
    publication = post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    assert len(publication.published) == 3 and publication.failed == []
    assert publication.hitblock.status == "in_progress"
    assert gateway.calls.count("CreateHITWithHITType") == 3
    again = post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    assert again.published == [] and gateway.calls.count("CreateHITWithHITType") == 3


@pytest.mark.parametrize("error", [MTurkUnavailable("down", "ServiceFault"),
                                   MTurkRejected("no", "AWS.MechanicalTurk.Refused")])  # fmt: skip
def test_nothing_published_carries_mturks_error_for_each_item(session, account_id, error):
    gateway = FakeGateway()
    gateway.fail_creates = error
    hitblock_id = add_hitblock(session, account_id, items=2)
    with pytest.raises(NothingPublished) as raised:
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    pending = session.scalars(select(Item.id).where(Item.status == "pending")).all()
    assert [(f.item, f.error) for f in raised.value.failures] == [(i, error) for i in pending]
    assert len(pending) == 2


def test_refusals_are_domain_exceptions(session, account_id):
    gateway = FakeGateway(balance=Decimal("0.05"))
    hitblock_id = add_hitblock(session, account_id, items=1)
    with pytest.raises(InsufficientFunds):
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=1)
    with pytest.raises(NotFound):
        post_hitblock(session, gateway, account_id + 1, hitblock_id, concurrency=1)
    paused = add_hitblock(session, account_id, items=1, status="paused")
    item_id = session.scalar(select(Item.id).where(Item.hitblock_id == paused))
    with pytest.raises(InvalidState) as raised:
        post_item(session, gateway, account_id, item_id)
    assert raised.value.code == "hitblock_paused"
    assert "CreateHITWithHITType" not in gateway.calls


@pytest.mark.parametrize("whole_hitblock", [True, False])
def test_an_item_deleted_while_its_create_is_in_flight_keeps_its_hit_which_is_expired(
    app, session, account_id, whole_hitblock
):
    gateway = FakeGateway()
    hitblock_id = add_hitblock(session, account_id, items=1)
    item_id = session.scalar(select(Item.id).where(Item.hitblock_id == hitblock_id))

    def delete_meanwhile():  # another request, on a session of its own
        with app.app_context():
            delete_item(db.session, gateway, account_id, item_id)

    gateway.during_create = delete_meanwhile
    if whole_hitblock:
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=1)
    else:
        with pytest.raises(NotFound):  # it is gone by the time the HIT is recorded
            post_item(session, gateway, account_id, item_id)
    [hit_id] = gateway.hits
    stored = session.get(Item, item_id)
    session.refresh(stored)
    assert (stored.status, stored.hit_id) == ("deleted", hit_id)
    assert gateway.expired == {hit_id}


def test_when_recording_fails_the_calls_not_yet_made_are_never_made(
    session, account_id, monkeypatch
):
    gateway = FakeGateway()
    hitblock_id = add_hitblock(session, account_id, items=30)

    def broken(recorder, published):
        if published:
            raise RuntimeError("the database went away")

    monkeypatch.setattr(publishing._Recorder, "__call__", broken)
    with pytest.raises(RuntimeError):
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    # The first answer, plus at most the window of calls already handed to the pool.
    assert gateway.calls.count("CreateHITWithHITType") <= 1 + 2 * 2


def test_answers_are_gathered_for_a_moment_when_few_came_back(monkeypatch):
    """With 8 workers, fewer than 2 answers wait up to GATHER for more (not the whole GATHER
    once enough came); a call still out after it is left for the next round. GATHER is made
    long here, so that a loaded machine cannot make the answer that comes miss it."""
    monkeypatch.setattr(publishing, "GATHER", 30.0)
    quick: Future[int] = Future()
    soon: Future[int] = Future()
    late: Future[int] = Future()  # never answered
    quick.set_result(1)
    answer = threading.Timer(0.05, soon.set_result, (2,))
    answer.start()
    started = time.monotonic()
    assert publishing._answered({quick: 1, soon: 2, late: 3}, workers=8) == {quick, soon}
    assert time.monotonic() - started < 15.0  # as soon as enough came, not after GATHER
    assert publishing._answered({late: 3, quick: 1}, workers=1) == {quick}  # 1 worker: no wait

    monkeypatch.setattr(publishing, "GATHER", 0.05)
    assert publishing._answered({quick: 1, late: 3}, workers=8) == {quick}  # GATHER ran out


def test_the_recorder_records_many_hits_in_bounded_batches(session, account_id, monkeypatch):
    """HITs recovered all at once are recorded RECORD_BATCH items a transaction: one UPDATE's
    CASE and IN list stay bounded (they grew with the square of the batch)."""
    monkeypatch.setattr(publishing, "RECORD_BATCH", 2)
    hitblock_id = add_hitblock(session, account_id, items=5)
    ids = sorted(session.scalars(select(Item.id).where(Item.hitblock_id == hitblock_id)))
    session.commit()
    updates: list[int] = []

    def count_updates(conn, cursor, statement, parameters, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE ITEMS"):
            updates.append(len(parameters))

    engine = db.engine
    event.listen(engine, "after_cursor_execute", count_updates)
    try:
        publishing._Recorder(session, FakeGateway(), hitblock_id, account_id)(
            {item_id: f"HIT{item_id}" for item_id in reversed(ids)}
        )
    finally:
        event.remove(engine, "after_cursor_execute", count_updates)
    assert len(updates) == 3
    stored = session.execute(
        select(Item.id, Item.status, Item.hit_id).where(Item.hitblock_id == hitblock_id)
    ).all()
    assert sorted(stored) == [(i, "published", f"HIT{i}") for i in ids]
