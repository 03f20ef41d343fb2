"""The notification service on its own, with a fake queue and a fake gateway: which MTurk
calls each message costs, and that nothing is lost or stored twice."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.jobs import CONSUMER, acquire_lease, release_lease, run_notifications
from app.models import Hitblock, Item, NotificationMessage, Response
from app.notification_queue import QueueMessage
from app.services import notifications
from app.services.notifications import (
    EVENT_TYPES,
    forget_seen,
    handle,
    subscribe_open_hit_types,
)
from app.services.publishing import post_hitblock
from mturk.gateway import AssignmentInfo
from tests.helpers.fake_gateway import WorkGateway
from tests.helpers.hitblocks import add_hitblock

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/hitblocks"
_ids = itertools.count(1)


class FakeQueue:
    """Messages handed out until deleted; ``expire_visibility`` brings back the ones received
    and not deleted, as SQS does once their visibility timeout is over."""

    def __init__(self) -> None:
        self.visible: list[QueueMessage] = []
        self.in_flight: list[QueueMessage] = []
        self.deleted: list[str] = []

    def send(self, body: str) -> None:
        n = next(_ids)
        self.visible.append(QueueMessage(f"m{n}", f"r{n}", body, 0))

    def receive(self) -> list[QueueMessage]:
        batch, self.visible = self.visible[:10], self.visible[10:]
        handed = [
            QueueMessage(m.message_id, f"{m.receipt_handle}+", m.body, m.receive_count + 1)
            for m in batch
        ]
        self.in_flight += handed
        return handed

    def delete(self, messages: list[QueueMessage]) -> None:
        for message in messages:
            self.in_flight.remove(message)
            self.deleted.append(message.message_id)

    def expire_visibility(self) -> None:
        self.visible += self.in_flight
        self.in_flight = []


def body(*events: tuple[str, str, str | None], doc_id: str | None = None) -> str:
    return json.dumps(
        {
            "Events": [
                {
                    "EventType": event_type,
                    "EventTimestamp": "2026-12-06T12:00:00Z",
                    "HITId": hit_id,
                    **({"AssignmentId": assignment_id} if assignment_id else {}),
                    "HITTypeId": "TYPE0000000000000001",
                }
                for event_type, hit_id, assignment_id in events
            ],
            "EventDocId": doc_id or f"{next(_ids):040x}",
            "CustomerId": "hitblocks",
            "EventDocVersion": "2014-08-15",
        }
    )


def submitted(hit_id: str, assignment_id: str) -> tuple[str, str, str]:
    return ("AssignmentSubmitted", hit_id, assignment_id)


def reviewable(hit_id: str) -> tuple[str, str, None]:
    return ("HITReviewable", hit_id, None)


def work(hit_id: str, assignment_id: str, worker_id: str = "W1") -> AssignmentInfo:
    now = datetime.now(UTC)
    answer = (
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>total</QuestionIdentifier>'
        "<FreeText>12.00</FreeText></Answer></QuestionFormAnswers>"
    )
    return AssignmentInfo(
        assignment_id, worker_id, hit_id, "Submitted", answer, now, now, now + timedelta(days=1)
    )


def published(
    session: Any,
    account_id: int,
    gateway: WorkGateway,
    items: int = 2,
    notify: str | None = QUEUE,
    **fields: Any,
) -> list[tuple[int, str]]:
    """A hitblock's items published through the fake gateway: [(item id, HIT id)]."""
    hitblock_id = add_hitblock(session, account_id, items, **fields)
    post_hitblock(session, gateway, account_id, hitblock_id, concurrency=1, notify=notify)
    rows = session.execute(
        select(Item.id, Item.hit_id).where(Item.hitblock_id == hitblock_id).order_by(Item.id)
    ).all()
    session.rollback()
    gateway.calls.clear()
    return [(item_id, hit_id) for item_id, hit_id in rows]


def item(session: Any, item_id: int) -> Item:
    session.expire_all()
    return session.get(Item, item_id)


def responses(session: Any) -> int:
    return session.scalar(select(func.count(Response.id)))


def consume(session: Any, gateway: WorkGateway, queue: FakeQueue):
    return handle(session, gateway, queue, queue.receive())


# ---- subscribing ----------------------------------------------------------------------------


def test_a_new_hit_type_is_subscribed_before_its_first_hit(session, account_id):
    gateway = WorkGateway()
    published(session, account_id, gateway)
    assert gateway.notifications == {"TYPE0000000000000001": (QUEUE, EVENT_TYPES)}
    assert set(EVENT_TYPES) == {
        "AssignmentSubmitted",
        "AssignmentReturned",
        "AssignmentAbandoned",
        "HITReviewable",
        "HITExpired",
    }


def test_without_a_queue_nothing_is_subscribed(session, account_id):
    gateway = WorkGateway()
    published(session, account_id, gateway, notify=None)
    assert gateway.notifications == {}


def test_a_type_made_before_the_queue_is_subscribed_by_its_next_publish_once(session, account_id):
    """A hitblock published before the queue was configured, with no open work when the
    consumer started, is subscribed when it publishes again; later publishes cost nothing."""
    gateway = WorkGateway()
    [(_, _), (_, _)] = published(session, account_id, gateway, notify=None)
    hitblock_id = session.scalar(select(Hitblock.id))
    for n in range(2):
        session.add(Item(hitblock_id=hitblock_id, type="image", params={"image_url": f"{n}"}))
        session.commit()
        post_hitblock(session, gateway, account_id, hitblock_id, concurrency=1, notify=QUEUE)
    assert gateway.calls.count("UpdateNotificationSettings") == 1
    assert gateway.notifications == {"TYPE0000000000000001": (QUEUE, EVENT_TYPES)}
    session.add(Item(hitblock_id=hitblock_id, type="image", params={"image_url": "x"}))
    session.commit()
    post_hitblock(session, gateway, account_id, hitblock_id, concurrency=1, notify=QUEUE + "2")
    assert gateway.notifications["TYPE0000000000000001"][0] == QUEUE + "2"  # another queue


# ---- collecting -----------------------------------------------------------------------------


def test_a_submit_costs_one_get_assignment_and_the_reviewable_after_it_nothing(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    report = consume(session, gateway, queue)
    assert (report.handled, report.new_responses, report.mturk_calls) == (1, 1, 1)
    assert gateway.calls == ["GetAssignment"]
    assert (item(session, item_id).status, item(session, item_id).hit_done) == ("completed", True)
    assert queue.in_flight == [] and len(queue.deleted) == 1
    assert session.scalar(select(func.count()).select_from(NotificationMessage)) == 1

    queue.send(body(reviewable(hit_id)))
    report = consume(session, gateway, queue)
    assert (report.handled, report.mturk_calls) == (1, 0)
    assert gateway.calls == ["GetAssignment"]  # no UpdateHITReviewStatus either
    assert responses(session) == 1


def test_submit_and_reviewable_in_one_batch_cost_one_call(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(reviewable(hit_id)))  # SQS does not keep the order
    queue.send(body(submitted(hit_id, "A1")))
    report = consume(session, gateway, queue)
    assert (report.handled, report.new_responses, report.mturk_calls) == (2, 1, 1)
    assert gateway.calls == ["GetAssignment"]
    assert item(session, item_id).status == "completed"


def test_multi_worker_hits_show_each_answer_as_it_comes(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id)] = published(session, account_id, gateway, items=1, workers_per_item=3)
    gateway.work[hit_id] = [work(hit_id, f"A{n}", f"W{n}") for n in (1, 2, 3)]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    queue.send(body(submitted(hit_id, "A2")))
    report = consume(session, gateway, queue)  # two unknown ones: one listing
    assert (report.new_responses, gateway.calls) == (3, ["ListAssignmentsForHIT"])
    # (the listing found the third one too)
    assert item(session, item_id).status == "completed"
    queue.send(body(submitted(hit_id, "A3")))
    queue.send(body(reviewable(hit_id)))
    report = consume(session, gateway, queue)
    assert (report.handled, report.mturk_calls) == (2, 0)
    assert item(session, item_id).hit_done


def test_a_multi_worker_hits_first_answer_is_stored_and_the_hit_stays_open(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id)] = published(session, account_id, gateway, items=1, workers_per_item=2)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    report = consume(session, gateway, queue)
    assert (report.new_responses, gateway.calls) == (1, ["GetAssignment"])
    assert (item(session, item_id).status, item(session, item_id).hit_done) == ("published", False)


def test_a_hit_reviewable_short_of_its_assignments_expired(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id)] = published(session, account_id, gateway, items=1, workers_per_item=2)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(("HITExpired", hit_id, None)))
    report = consume(session, gateway, queue)
    assert (report.handled, report.mturk_calls) == (1, 0)  # work may still come: wait
    queue.send(body(reviewable(hit_id)))
    report = consume(session, gateway, queue)
    assert (report.new_responses, gateway.calls) == (1, ["GetHIT", "ListAssignmentsForHIT"])
    assert (item(session, item_id).status, item(session, item_id).hit_done) == ("expired", True)


def test_a_late_reviewable_for_a_hit_open_again_does_not_expire_its_item(session, account_id):
    """A pause expired the HIT (HITReviewable was sent), a resume extended it before the
    message was handled: MTurk's own state decides, and the item stays open."""
    gateway = WorkGateway()
    [(item_id, hit_id)] = published(session, account_id, gateway, items=1, workers_per_item=2)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    gateway.expirations[hit_id] = datetime.now(UTC) + timedelta(minutes=30)  # resumed
    queue = FakeQueue()
    queue.send(body(reviewable(hit_id)))
    report = consume(session, gateway, queue)
    assert (report.new_responses, gateway.calls) == (1, ["GetHIT", "ListAssignmentsForHIT"])
    assert (item(session, item_id).status, item(session, item_id).hit_done) == (
        "published",
        False,
    )


def test_returned_and_abandoned_cost_nothing(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    queue = FakeQueue()
    queue.send(body(("AssignmentReturned", hit_id, "A1")))
    queue.send(body(("AssignmentAbandoned", hit_id, "A2")))
    report = consume(session, gateway, queue)
    assert (report.handled, report.mturk_calls, gateway.calls) == (2, 0, [])
    assert item(session, item_id).status == "published"


# ---- nothing lost, nothing twice ------------------------------------------------------------


def test_a_message_delivered_twice_is_worked_once(session, account_id):
    gateway = WorkGateway()
    [(_, hit_id), (_, other_hit)] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    twice = body(submitted(hit_id, "A1"))
    queue.send(twice)
    queue.send(twice)  # in the same batch
    report = consume(session, gateway, queue)
    assert (report.handled, report.duplicates, report.mturk_calls) == (1, 1, 1)
    queue.send(twice)  # and later, after it was recorded
    report = consume(session, gateway, queue)
    assert (report.handled, report.duplicates, report.mturk_calls) == (0, 1, 0)
    # Another document about the same assignment (MTurk can repeat an event): no call either.
    queue.send(body(submitted(hit_id, "A1")))
    assert consume(session, gateway, queue).mturk_calls == 0
    assert gateway.calls == ["GetAssignment"] and responses(session) == 1
    assert queue.visible == queue.in_flight == []


def test_foreign_hits_are_logged_and_deleted(session, account_id, caplog):
    gateway = WorkGateway()
    published(session, account_id, gateway)
    queue = FakeQueue()
    queue.send(body(submitted("NOTOURS0000000000001", "A9")))
    queue.send(body(("Ping", "NOTOURS0000000000002", None)))
    with caplog.at_level(logging.INFO, "app.services.notifications"):
        report = consume(session, gateway, queue)
    assert (report.foreign, report.handled, gateway.calls) == (2, 0, [])
    assert queue.in_flight == [] and len(queue.deleted) == 2
    assert "NOTOURS0000000000001" in caplog.text


def test_a_message_for_a_hit_not_recorded_yet_waits_for_the_publish(session, account_id):
    """MTurk can tell of a HIT before the publish that created it has recorded its id: while
    a publish is under way such a message comes back (a few times) instead of being dropped."""
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    recorded = session.get(Item, item_id)
    recorded.hit_id, recorded.status = None, "pending"  # the publish has not recorded it yet
    session.commit()
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    report = consume(session, gateway, queue)
    assert (report.left, report.foreign, queue.deleted) == (1, 0, [])
    recorded = session.get(Item, item_id)
    recorded.hit_id, recorded.status = hit_id, "published"  # now it has
    session.commit()
    queue.expire_visibility()
    report = consume(session, gateway, queue)
    assert (report.handled, report.new_responses) == (1, 1)

    queue.send(body(submitted("NOTOURS0000000000003", "A9")))  # no publish under way
    assert consume(session, gateway, queue).foreign == 1


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        json.dumps({"Events": [], "EventDocId": "d1"}),
        json.dumps({"Events": [{"EventType": "AssignmentSubmitted", "HITId": "H"}]}),
        json.dumps({"Events": [{"EventType": "AssignmentSubmitted"}], "EventDocId": "d2"}),
        json.dumps({"Events": ["x"], "EventDocId": "d3"}),
        json.dumps({"Events": [{"EventType": 5, "HITId": "H"}], "EventDocId": "d4"}),
        json.dumps({"Events": [{"EventType": "X", "HITId": "H"}], "EventDocId": "d" * 200}),
        json.dumps({"Type": "Notification", "Message": "{not json"}),
    ],
)
def test_malformed_messages_are_logged_and_deleted(session, account_id, caplog, bad):
    gateway = WorkGateway()
    queue = FakeQueue()
    queue.send(bad)
    with caplog.at_level(logging.WARNING, "app.services.notifications"):
        report = consume(session, gateway, queue)
    assert (report.malformed, gateway.calls) == (1, [])
    assert queue.in_flight == [] and len(queue.deleted) == 1
    assert "malformed" in caplog.text


def test_a_message_through_an_sns_topic_is_unwrapped(session, account_id):
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(json.dumps({"Type": "Notification", "Message": body(submitted(hit_id, "A1"))}))
    assert consume(session, gateway, queue).new_responses == 1


def test_a_consumer_killed_before_its_commit_leaves_the_message_to_come_back(
    session, account_id, monkeypatch
):
    gateway = WorkGateway()
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    real = notifications.store_assignments

    def killed(*args: Any) -> int:
        real(*args)
        raise KeyboardInterrupt  # the process dies after the insert, before the commit

    monkeypatch.setattr(notifications, "store_assignments", killed)
    with pytest.raises(KeyboardInterrupt):
        consume(session, gateway, queue)
    session.rollback()
    assert responses(session) == 0 and queue.deleted == [] and len(queue.in_flight) == 1
    monkeypatch.setattr(notifications, "store_assignments", real)
    queue.expire_visibility()
    report = consume(session, gateway, queue)
    assert (report.handled, report.new_responses) == (1, 1)
    queue.expire_visibility()
    assert queue.visible == [] and responses(session) == 1
    assert item(session, item_id).status == "completed"


def test_a_failing_hit_is_retried_then_given_up_and_the_others_go_on(session, account_id, caplog):
    gateway = WorkGateway()
    [(_, hit_id), (_, other_hit)] = published(session, account_id, gateway)
    gateway.work[other_hit] = [work(other_hit, "B1")]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))  # MTurk does not know A1 yet: refused
    queue.send(body(submitted(other_hit, "B1")))
    gateway.unavailable = True
    report = consume(session, gateway, queue)
    assert (report.left, report.handled) == (2, 0)
    gateway.unavailable = False
    queue.expire_visibility()
    report = consume(session, gateway, queue)
    assert (report.handled, report.new_responses, report.given_up) == (1, 1, 1)
    assert "dropped after 2 tries" in caplog.text  # refused by MTurk: retrying cannot help
    assert queue.visible == queue.in_flight == []


def test_mturk_unavailable_is_retried_up_to_ten_times(session, account_id):
    gateway = WorkGateway()
    [(_, hit_id), _] = published(session, account_id, gateway)
    gateway.unavailable = True
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    for _ in range(9):
        assert consume(session, gateway, queue).left == 1
        queue.expire_visibility()
    assert consume(session, gateway, queue).given_up == 1
    assert queue.visible == queue.in_flight == []


def test_old_event_doc_ids_are_forgotten_after_fourteen_days(session):
    now = datetime.now(UTC)
    session.add_all(
        [
            NotificationMessage(event_doc_id="old", received=now - timedelta(days=15)),
            NotificationMessage(event_doc_id="new", received=now - timedelta(days=13)),
        ]
    )
    session.commit()
    assert forget_seen(session, now=now) == 1
    assert session.scalars(select(NotificationMessage.event_doc_id)).all() == ["new"]


# ---- one consumer at a time -------------------------------------------------------------------


def test_one_consumer_at_a_time_under_the_lease(app, session, account_id):
    gateway = WorkGateway()
    app.extensions["mturk_gateway"] = gateway
    app.config["MTURK_NOTIFICATION_QUEUE_URL"] = QUEUE
    [(item_id, hit_id), _] = published(session, account_id, gateway)
    gateway.work[hit_id] = [work(hit_id, "A1")]
    queue = FakeQueue()
    queue.send(body(submitted(hit_id, "A1")))
    stop = threading.Event()
    assert acquire_lease(session, CONSUMER, timedelta(seconds=30), "another-host")
    assert run_notifications(app, queue, "this-host", stop=stop, batches=1) is None
    assert len(queue.visible) == 1 and gateway.calls == []  # untouched

    release_lease(session, CONSUMER, "another-host")
    report = run_notifications(app, queue, "this-host", stop=stop, batches=1)
    assert report is not None and report.new_responses == 1
    # Its HIT type was subscribed to this queue when published: not again on taking the lease.
    assert gateway.calls == ["GetAssignment"]
    # ...and it let the lease go: another holder takes it at once.
    assert acquire_lease(session, CONSUMER, timedelta(seconds=30), "another-host")


def test_the_consumer_subscribes_open_types_it_finds_unsubscribed_once(session, account_id):
    gateway = WorkGateway()
    published(session, account_id, gateway, notify=None)  # before the queue was configured
    assert subscribe_open_hit_types(session, gateway, QUEUE) == 1
    assert gateway.notifications == {"TYPE0000000000000001": (QUEUE, EVENT_TYPES)}
    assert subscribe_open_hit_types(session, gateway, QUEUE) == 0  # remembered
    assert gateway.calls == ["UpdateNotificationSettings"]
