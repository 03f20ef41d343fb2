"""Notifications (UpdateNotificationSettings, SendTestEventNotification) delivered to SQS and
SNS over HTTP: moto in server mode is the queue service, boto3 talks to it, and the deliverer
runs in a thread as it runs in the supervisor."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from sqlalchemy import event, select

from mturk.questions import html_question
from mturk.service import lifecycle, local_store
from mturk.service.notifications import (
    AwsTransports,
    Deliverer,
    Running,
    boto3_clients,
    region_of,
    retry_delay,
)
from mturk.service.store import HIT, Assignment, OutboundNotification, Requester, Store
from tests.helpers.requesters import client_for, new_requester
from tests.helpers.servers import free_port, hitblocks, read_until, scratch_env, stop
from tests.worker_site import Worker, complete

FORM = '<form method="post" action="/mturk/externalSubmit"><input name="answer"></form>'
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
MTURK_ID = re.compile(r"[A-Z0-9]{30}")


# ---- moto, the SQS/SNS endpoint -----------------------------------------------------------


@pytest.fixture(scope="module")
def aws_environment() -> Iterator[None]:
    """The deliverer takes its credentials from boto3's standard chain: here, the
    environment (and no ~/.aws file of whoever runs the tests)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        yield


def moto_server(port: int = 0) -> tuple[ThreadedMotoServer, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


@pytest.fixture(scope="module")
def moto(aws_environment: None) -> Iterator[str]:
    server, url = moto_server()
    yield url
    server.stop()


class Aws:
    """Our side of SQS and SNS at an endpoint: make queues and topics, read the queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        options = {"endpoint_url": url, "region_name": "us-east-1"}
        self.sqs = boto3.client("sqs", **options)
        self.sns = boto3.client("sns", **options)

    def queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def topic_into(self, name: str, queue_url: str) -> str:
        """A topic, with the queue subscribed to it."""
        arn = str(self.sns.create_topic(Name=name)["TopicArn"])
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.sns.subscribe(
            TopicArn=arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"]
        )
        return arn

    def receive(self, queue_url: str, count: int = 1, timeout: float = 1.0) -> list[str]:
        """The bodies of ``count`` messages, as soon as they are there (or what came in
        ``timeout`` seconds)."""
        bodies: list[str] = []
        deadline = time.monotonic() + timeout
        while len(bodies) < count and time.monotonic() < deadline:
            answer = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            for message in answer.get("Messages", []):
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(bodies) < count:
                time.sleep(0.02)
        return bodies


@pytest.fixture
def aws(moto: str) -> Aws:
    return Aws(moto)


def own_store(service: Any) -> Store:
    """A store of its own on the service's database, as the supervisor's deliverer has."""
    return Store(local_store(service).engine.url.render_as_string(hide_password=False))


@pytest.fixture
def delivering(mturk_local: Any, moto: str) -> Iterator[Deliverer]:
    """A deliverer sending to moto from a thread, as ``hitblocks run`` runs it."""
    store = own_store(mturk_local.app)
    deliverer = Deliverer(store, AwsTransports(boto3_clients(moto)))
    running = Running(deliverer)
    yield deliverer
    running.stop()
    store.dispose()


# ---- helpers ------------------------------------------------------------------------------


def spec(destination: str, *event_types: str, transport: str = "SQS") -> dict[str, Any]:
    return {
        "Destination": destination,
        "Transport": transport,
        "Version": "2006-05-05",
        "EventTypes": list(event_types),
    }


def hit_type(client: Any) -> str:
    return str(
        client.create_hit_type(
            Title="Transcribe a receipt",
            Description="Type the total",
            Reward="0.50",
            AssignmentDurationInSeconds=600,
        )["HITTypeId"]
    )


def new_hit(client: Any, type_id: str) -> str:
    return str(
        client.create_hit_with_hit_type(
            HITTypeId=type_id,
            MaxAssignments=1,
            LifetimeInSeconds=3600,
            Question=html_question(FORM),
        )["HIT"]["HITId"]
    )


def outbox(service: Any) -> list[OutboundNotification]:
    with local_store(service).transaction() as session:
        return list(
            session.scalars(select(OutboundNotification).order_by(OutboundNotification.seq))
        )


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["TurkErrorCode"], response["Error"]["Message"]


# ---- delivery -----------------------------------------------------------------------------


def test_a_submit_reaches_the_queue_within_a_second(mturk_local, delivering, aws):
    client = mturk_local.client
    queue = aws.queue("submitted")
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id, Notification=spec(queue, "AssignmentSubmitted"), Active=True
    )
    hit_id = new_hit(client, type_id)
    assignment_id = complete(mturk_local.url, hit_id, "AWORKER1", [("answer", "12.00")])
    submitted_at = time.monotonic()

    [body] = aws.receive(queue, timeout=1.0)
    assert time.monotonic() - submitted_at < 1.0
    message = json.loads(body)
    assert message["Events"] == [
        {
            "EventType": "AssignmentSubmitted",
            "EventTimestamp": message["Events"][0]["EventTimestamp"],
            "HITId": hit_id,
            "AssignmentId": assignment_id,
            "HITTypeId": type_id,
        }
    ]
    assert ISO_Z.fullmatch(message["Events"][0]["EventTimestamp"])
    assert re.fullmatch(r"[0-9a-f]{40}", message["EventDocId"])
    assert message["CustomerId"] == "tests"  # the requester
    assert message["EventDocVersion"] == "2014-08-15"
    # Only the events asked for: not the HIT's creation, nor the worker's accepting it.
    assert aws.receive(queue, timeout=0.3) == []
    assert [row.delivered_at is not None for row in outbox(mturk_local.app)] == [True]


def test_a_topic_delivers_to_the_queues_subscribed_to_it(mturk_local, delivering, aws):
    client = mturk_local.client
    queue = aws.queue("from-topic")
    topic = aws.topic_into("hits", queue)
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id, Notification=spec(topic, "HITCreated", transport="SNS")
    )
    hit_id = new_hit(client, type_id)

    [body] = aws.receive(queue)
    envelope = json.loads(body)  # SNS's, around MTurk's message
    assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", topic)
    assert envelope["Subject"].isdigit()  # MTurk's: the time, in milliseconds
    [event_document] = json.loads(envelope["Message"])["Events"]
    assert event_document["EventType"] == "HITCreated"
    assert (event_document["HITId"], event_document["HITTypeId"]) == (hit_id, type_id)
    assert "AssignmentId" not in event_document  # a HIT's event


def test_send_test_event_notification_sends_one_synthetic_event_at_once(
    mturk_local, delivering, aws
):
    client = mturk_local.client
    queue = aws.queue("tests")
    # The test event is sent even though the specification does not ask for it.
    client.send_test_event_notification(
        Notification=spec(queue, "HITReviewable"), TestEventType="AssignmentSubmitted"
    )
    [body] = aws.receive(queue)
    [document] = json.loads(body)["Events"]
    assert document["EventType"] == "AssignmentSubmitted"
    assert ISO_Z.fullmatch(document["EventTimestamp"])
    assert all(MTURK_ID.fullmatch(document[key]) for key in ("HITId", "AssignmentId", "HITTypeId"))
    with pytest.raises(ClientError):  # synthetic: it names no HIT
        client.get_hit(HITId=document["HITId"])

    client.send_test_event_notification(Notification=spec(queue, "Ping"), TestEventType="Ping")
    [ping] = json.loads(aws.receive(queue)[0])["Events"]
    assert ping["EventType"] == "Ping" and "AssignmentId" not in ping


def test_an_endpoint_that_is_down_is_retried_with_backoff_until_it_is_up(mturk_local, moto):
    server, url = moto_server(free_port())
    port = int(url.rsplit(":", 1)[1])
    aws = Aws(url)
    queue = aws.queue("patient")
    server.stop()  # the endpoint is down

    attempts: list[float] = []
    send = AwsTransports(boto3_clients(url))

    def counted(transport: str, destination: str, body: str) -> None:
        attempts.append(time.monotonic())
        send(transport, destination, body)

    store = own_store(mturk_local.app)
    deliverer = Deliverer(store, counted, interval=0.05, first_retry=0.2, draw=lambda: 1.0)
    running = Running(deliverer)
    try:
        mturk_local.client.send_test_event_notification(
            Notification=spec(queue, "Ping"), TestEventType="Ping"
        )
        deadline = time.monotonic() + 5
        while len(attempts) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        [row] = outbox(mturk_local.app)
        assert row.delivered_at is None and row.attempts >= 2
        assert "EndpointConnectionError" in (row.last_error or "")
        # Backoff: 0.2 s after the first failure, then 0.4 s (no jitter drawn here).
        gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.4

        server, _ = moto_server(port)  # back up, with its queues (moto keeps them)
        [body] = aws.receive(queue, timeout=3.0)
        assert json.loads(body)["Events"][0]["EventType"] == "Ping"
        [row] = outbox(mturk_local.app)
        assert row.delivered_at is not None and row.last_error is None
    finally:
        running.stop()
        store.dispose()
        server.stop()


# ---- settings -----------------------------------------------------------------------------


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/mturk"
TOPIC = "arn:aws:sns:us-east-1:123456789012:mturk"


@pytest.mark.parametrize(
    ("notification", "hint"),
    [
        ({**spec(QUEUE, "AssignmentSubmitted"), "Version": "2014-08-15"}, "Version"),
        (spec(QUEUE), "at least one EventType"),
        (spec(QUEUE, "AssignmentSubmitted", "Ping"), "Ping event is only valid"),
        (spec(TOPIC, "AssignmentSubmitted"), "queue's URL"),
        (spec("ftp://example.org/queue", "HITReviewable"), "queue's URL"),
        (spec(QUEUE, "HITReviewable", transport="SNS"), "topic's ARN"),
        (spec("someone at example.org", "HITReviewable", transport="Email"), "email address"),
    ],
)
def test_invalid_notification_settings_are_refused(mturk_local, notification, hint):
    client = mturk_local.client
    type_id = hit_type(client)
    code, message = refused(
        client.update_notification_settings, HITTypeId=type_id, Notification=notification
    )
    assert code == "AWS.MechanicalTurk.InvalidParameterValue" and hint in message
    if "Ping" not in hint:  # a test may name Ping; the rest is checked alike
        code, message = refused(
            client.send_test_event_notification,
            Notification=notification,
            TestEventType="AssignmentSubmitted",
        )
        assert code == "AWS.MechanicalTurk.InvalidParameterValue" and hint in message


def test_settings_name_a_notification_or_active_and_only_ones_own_hit_type(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client)
    assert refused(client.update_notification_settings, HITTypeId=type_id)[0] == (
        "AWS.MissingParameters"
    )
    code, message = refused(client.update_notification_settings, HITTypeId=type_id, Active=True)
    assert code == "AWS.MechanicalTurk.InvalidParameter" and "no notification" in message
    stranger = client_for(mturk_local.url, new_requester(mturk_local.app, "stranger"))
    code, _ = refused(
        stranger.update_notification_settings,
        HITTypeId=type_id,
        Notification=spec(QUEUE, "HITCreated"),
    )
    assert code == "AWS.MechanicalTurk.HITTypeDoesNotExist"
    stranger.close()
    # Accepted: each transport with its kind of destination; Email is kept, not sent.
    for notification in (
        spec(QUEUE, "HITCreated"),
        spec(TOPIC, "HITCreated", transport="SNS"),
        spec("http://127.0.0.1:4566/000000000000/local-queue", "HITCreated"),
        spec("requester@example.org", "HITCreated", transport="Email"),
    ):
        client.update_notification_settings(HITTypeId=type_id, Notification=notification)
    new_hit(client, type_id)
    assert outbox(mturk_local.app) == []  # the Email one is in force


def test_active_false_stops_messages_and_true_resumes_them(mturk_local):
    client = mturk_local.client
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id, Notification=spec(QUEUE, "HITCreated"), Active=False
    )
    new_hit(client, type_id)
    assert outbox(mturk_local.app) == []
    client.update_notification_settings(HITTypeId=type_id, Active=True)
    hit_id = new_hit(client, type_id)
    [row] = outbox(mturk_local.app)
    assert (row.transport, row.destination) == ("SQS", QUEUE)
    assert json.loads(row.message)["Events"][0]["HITId"] == hit_id
    client.update_notification_settings(HITTypeId=type_id, Active=False)
    new_hit(client, type_id)
    assert len(outbox(mturk_local.app)) == 1


# ---- the deliverer ------------------------------------------------------------------------


def test_an_idle_deliverer_only_reads(mturk_local):
    store = own_store(mturk_local.app)
    statements: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement),
    )
    running = Running(
        Deliverer(store, lambda *_: None, interval=0.05), lifecycle.Clock(store, 0.05).tick
    )
    time.sleep(0.5)
    running.stop()
    store.dispose()
    assert len(statements) >= 10  # it polled, the outbox and what time is due
    assert {statement.split()[0] for statement in statements} <= {"BEGIN", "SELECT"}
    assert "BEGIN IMMEDIATE" not in statements  # no write lock taken either


class Clock:
    def __init__(self) -> None:
        self.at = time.time()

    def __call__(self) -> float:
        return self.at


def test_a_row_is_claimed_by_one_deliverer_and_sent_again_if_its_sender_died(mturk_local):
    mturk_local.client.send_test_event_notification(
        Notification=spec(QUEUE, "Ping"), TestEventType="Ping"
    )
    clock = Clock()
    sent: list[str] = []
    stores = [own_store(mturk_local.app) for _ in range(2)]
    first = Deliverer(stores[0], lambda *_: sent.append("first"), clock=clock)
    second = Deliverer(stores[1], lambda *_: sent.append("second"), clock=clock)
    # Both see the row due; the conditional UPDATE gives it to one of them only.
    [seq] = first._due()
    assert second._due() == [seq]
    assert first._claim(seq) is not None
    assert second._claim(seq) is None
    # The first one dies before sending: the row is left alone until its lease is over...
    assert second.deliver_due() == 0 and sent == []
    clock.at += first.lease + 1
    # ...then sent by the other, once.
    assert second.deliver_due() == 1 and sent == ["second"]
    assert second.deliver_due() == 0 and sent == ["second"]
    for store in stores:
        store.dispose()


def test_failures_back_off_and_give_up_after_days_and_delivered_rows_go_after_a_week(
    mturk_local, caplog
):
    client = mturk_local.client
    client.send_test_event_notification(Notification=spec(QUEUE, "Ping"), TestEventType="Ping")
    clock = Clock()
    store = own_store(mturk_local.app)

    def down(*_: str) -> None:
        raise ConnectionError("the queue service is down")

    failing = Deliverer(store, down, clock=clock, draw=lambda: 1.0)
    assert failing.deliver_due() == 1
    [row] = outbox(mturk_local.app)
    assert (row.attempts, row.last_error) == (1, "ConnectionError: the queue service is down")
    assert row.next_attempt_at == pytest.approx(clock.at + 1.0)
    assert failing.deliver_due() == 0  # not due yet
    clock.at += 1.0
    failing.deliver_due()
    assert outbox(mturk_local.app)[0].next_attempt_at == pytest.approx(clock.at + 2.0)
    clock.at += 4 * 86_400  # four days of failures: given up, with a warning
    with caplog.at_level(logging.WARNING, "mturk.service.notifications"):
        failing.deliver_due()
    assert outbox(mturk_local.app) == []
    assert "gave up on notification" in caplog.text

    client.send_test_event_notification(Notification=spec(QUEUE, "Ping"), TestEventType="Ping")
    working = Deliverer(store, lambda *_: None, clock=clock)
    working.deliver_due()
    assert outbox(mturk_local.app)[0].delivered_at == clock.at
    clock.at += 7 * 86_400 - 1
    working._next_cleanup = 0.0
    working.deliver_due()
    assert len(outbox(mturk_local.app)) == 1  # kept a week
    clock.at += 601  # the next clean-up
    working.deliver_due()
    assert outbox(mturk_local.app) == []
    store.dispose()


def test_retry_delay_doubles_from_a_second_to_fifteen_minutes_with_jitter():
    assert [retry_delay(n, draw=lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(11, draw=lambda: 1.0) == 900.0
    assert retry_delay(10_000, draw=lambda: 1.0) == 900.0
    assert retry_delay(3, draw=lambda: 0.0) == 2.0  # never below half


def test_the_region_is_the_one_a_destination_names():
    assert region_of("SNS", "arn:aws:sns:eu-west-1:123456789012:t") == "eu-west-1"
    assert region_of("SQS", "https://sqs.us-west-2.amazonaws.com/123456789012/q") == "us-west-2"
    assert region_of("SQS", "https://queue.amazonaws.com/123456789012/q") == "us-east-1"
    assert region_of("SQS", "http://127.0.0.1:4566/000000000000/q") is None


# ---- the command ----------------------------------------------------------------------------


def test_mturk_local_alone_sends_its_notifications(tmp_path, moto, aws):
    from mturk.client import load_credentials_file, make_client, resolve_endpoint

    port = free_port()
    env = scratch_env(tmp_path, NOTIFICATIONS_ENDPOINT_URL=moto)
    server = hitblocks("mturk-local", "--port", str(port), env=env)
    try:
        output = read_until(server, "Notifications: sent to ")
        assert moto in output[-1]
        queue = aws.queue("from-mturk-local")
        url = f"http://127.0.0.1:{port}"
        credentials = load_credentials_file(env["HITBLOCKS_MTURK_CREDENTIALS_FILE"])
        client = make_client(resolve_endpoint(url, url), credentials=credentials)
        client.send_test_event_notification(Notification=spec(queue, "Ping"), TestEventType="Ping")
        client.close()
        [body] = aws.receive(queue, timeout=3.0)
        assert json.loads(body)["CustomerId"] == "hitblocks"
    finally:
        assert stop(server) == 0


# ---- review (revB) ----------------------------------------------------------------------------


def test_events_are_queued_in_the_order_they_happen(mturk_local):
    """A review policy acts on a submission inside the submit: the requester is told of the
    submission first, then of the approval it earned (not the other way round)."""
    client = mturk_local.client
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id,
        Notification=spec(QUEUE, "AssignmentSubmitted", "AssignmentApproved", "HITReviewable"),
    )
    policy = {
        "PolicyName": "ScoreMyKnownAnswers/2011-09-01",
        "Parameters": [
            {"Key": "AnswerKey", "MapEntries": [{"Key": "answer", "Values": ["12.00"]}]},
            {"Key": "ApproveIfKnownAnswerScoreIsAtLeast", "Values": ["100"]},
        ],
    }
    hit_id = client.create_hit_with_hit_type(
        HITTypeId=type_id,
        MaxAssignments=1,
        LifetimeInSeconds=3600,
        Question=html_question(FORM),
        AssignmentReviewPolicy=policy,
    )["HIT"]["HITId"]
    complete(mturk_local.url, hit_id, "AORDER1", [("answer", "12.00")])
    told = [json.loads(row.message)["Events"][0]["EventType"] for row in outbox(mturk_local.app)]
    assert told == ["AssignmentSubmitted", "AssignmentApproved", "HITReviewable"]


@pytest.mark.postgres
def test_two_last_submits_at_once_on_postgres_make_the_hit_reviewable_once(mturk_postgres):
    """The last two assignments of a HIT submitted at once, on PostgreSQL (whose
    transactions are not serialized as SQLite's): each submit counts the HIT's assignments
    after the other's is known, so the HIT becomes Reviewable, told once (revB)."""
    from threading import Barrier, BrokenBarrierError

    from mturk.service import events
    from mturk.service.store import HIT
    from tests.worker_site import Worker

    service, url, client = mturk_postgres.app, mturk_postgres.url, mturk_postgres.client
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id, Notification=spec(QUEUE, "HITReviewable")
    )
    hit_id = client.create_hit_with_hit_type(
        HITTypeId=type_id, MaxAssignments=2, LifetimeInSeconds=3600, Question=html_question(FORM)
    )["HIT"]["HITId"]
    workers = [Worker(url, f"ARACER{n}") for n in (1, 2)]
    accepted = []
    for worker in workers:
        worker.sign_in()
        accepted.append(worker.accept(hit_id))
    # Both submits wait, having recorded their answers, until the other has too (at most 1 s).
    together = Barrier(2, timeout=1)

    def meet(_session: Any, event: events.Event) -> None:
        if event.type == events.ASSIGNMENT_SUBMITTED:
            try:
                together.wait()
            except BrokenBarrierError:
                pass  # the other one waits for this one's transaction

    events.subscribe(meet)
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda pair: pair[0].submit(pair[1], [("answer", "1")]),
                    zip(workers, accepted, strict=True),
                )
            )
    finally:
        events._handlers.remove(meet)
    assert [status for status, _ in answers] == [200, 200]
    with local_store(service).transaction() as session:
        assert session.scalars(select(HIT.status).where(HIT.id == hit_id)).one() == "Reviewable"
    told = [json.loads(row.message)["Events"][0]["EventType"] for row in outbox(service)]
    assert told == ["HITReviewable"]


@pytest.mark.postgres
def test_deliverers_racing_on_postgres_send_each_row_once(postgres_schema_url):
    """Four deliverers pass over the same due rows at once on PostgreSQL: the conditional
    UPDATE of a claim, re-checked on the row's newest version, gives each row to one (revB)."""
    from threading import Barrier, Lock

    from mturk.service.requesters import create_requester

    store = Store(postgres_schema_url, migrate=True)
    with store.transaction() as session:
        create_requester(session, "alice")
    with store.transaction() as session:
        requester = session.scalars(select(Requester).where(Requester.name == "alice")).one()
        for n in range(40):
            session.add(
                OutboundNotification(
                    requester_id=requester.id,
                    transport="SQS",
                    destination=QUEUE,
                    message=str(n),
                    next_attempt_at=time.time() - 1,
                )
            )
    sent: list[str] = []
    guard = Lock()

    def send(_transport: str, _destination: str, body: str) -> None:
        with guard:
            sent.append(body)

    stores = [Store(postgres_schema_url) for _ in range(4)]
    deliverers = [Deliverer(own, send) for own in stores]
    start = Barrier(4)

    def race(deliverer: Deliverer) -> int:
        start.wait(timeout=5)
        return deliverer.deliver_due()

    try:
        with ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(race, deliverers))
        assert all(count == 40 for count in seen)  # each saw every row due...
        assert sorted(sent, key=int) == [str(n) for n in range(40)]  # ...and each went once
        with store.transaction() as session:
            rows = session.scalars(select(OutboundNotification)).all()
            assert all(row.delivered_at is not None and row.attempts == 1 for row in rows)
    finally:
        for own in [*stores, store]:
            own.dispose()


@pytest.mark.postgres
def test_two_sweeps_at_once_on_postgres_tell_an_abandonment_and_an_expiry_once(
    mturk_postgres,
):
    """Two requests sweep at once on PostgreSQL (each process sweeps on its own): an
    assignment past its deadline is abandoned by one of them, and its expired HIT refreshed
    by one, so each is told once (and a HIT-level review policy would run once) (revB)."""
    from threading import Barrier, BrokenBarrierError

    from sqlalchemy import update

    from mturk.service import events
    from mturk.service.lifecycle import sweep
    from mturk.service.store import HIT, Assignment
    from tests.worker_site import Worker

    service, url, client = mturk_postgres.app, mturk_postgres.url, mturk_postgres.client
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id, Notification=spec(QUEUE, "AssignmentAbandoned", "HITExpired")
    )
    hit_id = new_hit(client, type_id)
    worker = Worker(url, "ASLOW1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    store = local_store(service)
    with store.transaction() as session:  # time passes: the deadline, then the HIT's expiry
        past = time.time() - 10
        session.execute(
            update(Assignment).where(Assignment.id == assignment_id).values(deadline=past)
        )
        session.execute(update(HIT).where(HIT.id == hit_id).values(expiration=past))
    together = Barrier(2, timeout=1)

    def meet(_session: Any, event: events.Event) -> None:
        if event.type == events.ASSIGNMENT_ABANDONED:
            try:
                together.wait()
            except BrokenBarrierError:
                pass

    def sweeping(_: int) -> None:
        with store.transaction() as session:
            sweep(session)

    events.subscribe(meet)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(sweeping, range(2)))
    finally:
        events._handlers.remove(meet)
    told = sorted(json.loads(row.message)["Events"][0]["EventType"] for row in outbox(service))
    assert told == ["AssignmentAbandoned", "HITExpired"]


def test_fifo_queues_and_topics_are_sent_to_with_a_group_and_a_deduplication_id(moto, aws):
    """A FIFO queue or topic refuses a message without MessageGroupId (revB: topics too)."""
    send = AwsTransports(boto3_clients(moto))
    body = json.dumps({"Events": [], "EventDocId": "d" * 40})
    queue = str(
        aws.sqs.create_queue(QueueName="events.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    )
    send("SQS", queue, body)
    topic = str(
        aws.sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    )
    send("SNS", topic, body)
    assert aws.receive(queue) == [body]


def test_time_driven_events_are_sent_with_no_request_coming_in(mturk_local, moto, aws):
    """An expiry and an abandonment are applied by the background thread as they come, so a
    requester who only listens on its queue hears of them without calling anything."""
    client = mturk_local.client
    queue = aws.queue("time-driven")
    type_id = hit_type(client)
    client.update_notification_settings(
        HITTypeId=type_id,
        Notification=spec(queue, "HITExpired", "AssignmentAbandoned", "HITReviewable"),
    )
    hit_id = new_hit(client, type_id)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    with local_store(mturk_local.app).transaction() as session:  # time passes
        hit = session.scalar(select(HIT).where(HIT.id == hit_id))
        assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
        assert hit is not None and assignment is not None
        hit.expiration = assignment.deadline = time.time() - 1
    store = own_store(mturk_local.app)
    running = Running(
        Deliverer(store, AwsTransports(boto3_clients(moto)), interval=0.05),
        lifecycle.Clock(store, 0.1).tick,
    )
    try:
        bodies = aws.receive(queue, count=3, timeout=3.0)
    finally:
        running.stop()
        store.dispose()
    events = sorted(json.loads(body)["Events"][0]["EventType"] for body in bodies)
    assert events == ["AssignmentAbandoned", "HITExpired", "HITReviewable"]
