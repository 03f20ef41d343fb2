"""Pause, resume and cancel on their own, with a fake gateway: statuses, MTurk calls (one
per open HIT), events, and what a repeat after a failure finishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain import InvalidState
from app.models import Event, Hitblock, Item, utcnow
from app.services.lifecycle import cancel_hitblock, pause_hitblock, resume_hitblock
from app.services.polling import poll_once
from app.services.publishing import post_hitblock
from mturk.gateway import HitInfo, MTurkUnavailable
from tests.helpers.fake_gateway import FakeGateway
from tests.helpers.hitblocks import add_hitblock


def published(session, account_id, gateway, items=3):
    hitblock_id = add_hitblock(session, account_id, items=items)
    post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    gateway.calls.clear()
    return hitblock_id


def event_types(session):
    return session.scalars(select(Event.type).where(Event.type.like("hitblock.%"))).all()


def test_pause_expires_each_open_hit_once_and_resume_gives_back_the_lifetime_left(
    session, account_id
):
    gateway = FakeGateway()
    hitblock_id = published(session, account_id, gateway)
    paused = pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    assert paused.status == "paused"
    assert gateway.calls == ["UpdateExpirationForHIT"] * 3 and len(gateway.expired) == 3

    # Ten minutes of the hour had gone by when it was paused: 50 minutes are left.
    for item in session.scalars(select(Item)):
        item.published = utcnow() - timedelta(minutes=10)
    session.get(Hitblock, hitblock_id).paused_at = utcnow()
    session.commit()
    gateway.calls.clear()
    resumed = resume_hitblock(session, gateway, account_id, hitblock_id, 2)
    assert resumed.status == "in_progress" and gateway.calls == ["UpdateExpirationForHIT"] * 3
    assert gateway.expired == set()
    for expires in gateway.extended.values():
        assert timedelta(minutes=49) < expires - utcnow() <= timedelta(minutes=50)
    stored = session.scalars(select(Item.expires)).all()
    assert all(e is not None for e in stored)
    assert event_types(session) == ["hitblock.paused", "hitblock.resumed"]


def test_a_hit_whose_lifetime_ran_out_before_the_pause_is_not_extended(session, account_id):
    gateway = FakeGateway()
    hitblock_id = published(session, account_id, gateway, items=2)
    pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    first = session.scalars(select(Item).order_by(Item.id)).first()
    first.published = utcnow() - timedelta(hours=2)
    session.commit()
    gateway.calls.clear()
    resume_hitblock(session, gateway, account_id, hitblock_id, 2)
    assert gateway.calls == ["UpdateExpirationForHIT"] and first.hit_id not in gateway.extended


def test_invalid_transitions_are_refused_without_calling_mturk(session, account_id):
    gateway = FakeGateway()
    unlaunched = add_hitblock(session, account_id)
    for change in (pause_hitblock, resume_hitblock):
        with pytest.raises(InvalidState) as raised:
            change(session, gateway, account_id, unlaunched, 2)
        assert raised.value.code == "hitblock_unlaunched"
    hitblock_id = published(session, account_id, gateway)
    with pytest.raises(InvalidState):
        resume_hitblock(session, gateway, account_id, hitblock_id, 2)  # not paused
    cancel_hitblock(session, gateway, account_id, hitblock_id, 2)
    for change in (pause_hitblock, resume_hitblock):
        with pytest.raises(InvalidState) as raised:
            change(session, gateway, account_id, hitblock_id, 2)
        assert raised.value.code == "hitblock_canceled"
    session.get(Hitblock, unlaunched).status = "completed"
    session.commit()
    with pytest.raises(InvalidState) as raised:
        cancel_hitblock(session, gateway, account_id, unlaunched, 2)
    assert raised.value.code == "hitblock_completed"


def test_cancel_expires_open_hits_and_leaves_pending_items_unpublished(session, account_id):
    gateway = FakeGateway()
    hitblock_id = published(session, account_id, gateway, items=2)
    session.add(Item(hitblock_id=hitblock_id, type="image", params={"image_url": "x"}))
    session.commit()
    canceled = cancel_hitblock(session, gateway, account_id, hitblock_id, 2)
    assert canceled.status == "canceled" and gateway.calls == ["UpdateExpirationForHIT"] * 2
    statuses = sorted(session.scalars(select(Item.status)).all())
    assert statuses == ["pending", "published", "published"]
    unlaunched = add_hitblock(session, account_id)
    gateway.calls.clear()
    assert cancel_hitblock(session, gateway, account_id, unlaunched, 2).status == "canceled"
    assert gateway.calls == []
    assert event_types(session) == ["hitblock.canceled", "hitblock.canceled"]


class FlakyExpiry(FakeGateway):
    """Fails the second expiry it is asked for, once."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def expire_hit(self, hit_id: str) -> None:
        if len(self.expired) == 1 and self.failures:
            self.failures -= 1
            self.calls.append("UpdateExpirationForHIT")
            raise MTurkUnavailable("down", "ServiceFault")
        super().expire_hit(hit_id)


def test_a_repeated_pause_expires_what_a_failure_left_open_with_one_event(session, account_id):
    gateway = FlakyExpiry()
    hitblock_id = published(session, account_id, gateway)
    with pytest.raises(MTurkUnavailable):
        pause_hitblock(session, gateway, account_id, hitblock_id, 1)
    assert session.get(Hitblock, hitblock_id).status == "paused"  # recorded before MTurk
    assert len(gateway.expired) == 2
    pause_hitblock(session, gateway, account_id, hitblock_id, 1)
    assert len(gateway.expired) == 3
    assert event_types(session) == ["hitblock.paused"]


def test_a_failed_resume_leaves_the_hitblock_paused_and_a_repeat_finishes(session, account_id):
    gateway = FakeGateway()
    hitblock_id = published(session, account_id, gateway)
    pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    original = gateway.extend_hit
    gateway.extend_hit = lambda hit_id, at: (_ for _ in ()).throw(MTurkUnavailable("d", "F"))
    with pytest.raises(MTurkUnavailable):
        resume_hitblock(session, gateway, account_id, hitblock_id, 2)
    assert session.get(Hitblock, hitblock_id).status == "paused"
    gateway.extend_hit = original
    assert resume_hitblock(session, gateway, account_id, hitblock_id, 2).status == "in_progress"
    assert len(gateway.extended) == 3


def test_publishing_a_paused_hitblock_is_refused(session, account_id):
    gateway = FakeGateway()
    hitblock_id = published(session, account_id, gateway, items=1)
    pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    session.add(Item(hitblock_id=hitblock_id, type="image", params={"image_url": "x"}))
    session.commit()
    with pytest.raises(InvalidState) as raised:
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    assert raised.value.code == "hitblock_paused"


class ReviewableGateway(FakeGateway):
    """Lists every expired HIT as Reviewable, as MTurk does once a pause expired it."""

    def reviewable_hits(self, hit_type_id):
        self.calls.append("ListReviewableHITs")
        for hit_id in sorted(self.expired):
            yield HitInfo(hit_id, "Reviewable", utcnow() - timedelta(seconds=1), 1)


def test_a_paused_hitblock_costs_the_poller_nothing_once_in_flight_work_is_past(
    session, account_id
):
    """While paused, each expired HIT is collected until work accepted before the pause is
    past its deadline, once more after that, and then no more: one call per idle cycle."""
    gateway = ReviewableGateway()
    hitblock_id = published(session, account_id, gateway)
    pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    gateway.calls.clear()
    poll_once(session, gateway)  # in-flight work may still arrive: each HIT is looked at
    assert gateway.calls.count("ListAssignmentsForHIT") == 3

    hitblock = session.get(Hitblock, hitblock_id)
    duration = timedelta(seconds=hitblock.assignment_duration_in_seconds)
    hitblock.paused_at = utcnow() - duration - timedelta(minutes=2)  # deadlines are past
    for item in session.scalars(select(Item)):  # the look above, soon after the pause
        item.last_polled = hitblock.paused_at + timedelta(minutes=1)
    session.commit()
    gateway.calls.clear()
    poll_once(session, gateway)  # the last look, after every deadline
    assert gateway.calls.count("ListAssignmentsForHIT") == 3
    for _ in range(3):
        gateway.calls.clear()
        poll_once(session, gateway)
        assert gateway.calls == ["ListReviewableHITs"]
    assert {item.status for item in session.scalars(select(Item))} == {"published"}

    resume_hitblock(session, gateway, account_id, hitblock_id, 2)  # open again: looked at
    gateway.expired.update(gateway.extended)  # say they expired again
    gateway.calls.clear()
    poll_once(session, gateway)
    assert gateway.calls.count("ListAssignmentsForHIT") == 3


def test_the_multi_worker_rotation_skips_paused_hitblocks(session, account_id):
    gateway = ReviewableGateway()
    hitblock_id = add_hitblock(session, account_id, items=2, workers_per_item=3)
    post_hitblock(session, gateway, account_id, hitblock_id, concurrency=2)
    pause_hitblock(session, gateway, account_id, hitblock_id, 2)
    gateway.expired.clear()  # nothing Reviewable: only the rotation could look
    gateway.calls.clear()
    report = poll_once(session, gateway)
    assert report.partial_checked == 0 and "ListAssignmentsForHIT" not in gateway.calls
