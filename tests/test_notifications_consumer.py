"""Notification-driven collection end to end, over HTTP: the API publishes to the bundled
MTurk service, which sends its notifications to moto's SQS in server mode; the consumer
long-polls that queue (endpoint and credentials from the standard AWS settings) and a
worker's submit reaches ``GET /v1/item/{id}`` with no poll cycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from moto.server import ThreadedMotoServer
from sqlalchemy import func, select

from app import create_app, jobs
from app.extensions import db
from app.gateway import mturk_gateway
from app.jobs import CONSUMER, NotificationConsumer, lease_holder, notification_consumer
from app.models import Response
from app.notification_queue import SqsQueue, sqs_client
from app.services import notifications
from app.services.notifications import handle
from mturk.service import local_store
from mturk.service.notifications import AwsTransports, Deliverer, Running, boto3_clients
from mturk.service.store import HITType, Store
from tests.worker_site import complete

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HITBLOCK = {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}
ANSWER = [("transcription", "12.00")]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """moto's SQS in server mode on a loopback port; boto3 finds it (and test credentials)
    through the standard AWS settings, as an operator would configure them."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        patch.setenv("AWS_ENDPOINT_URL_SQS", url)
        yield url
        server.stop()


@pytest.fixture
def sqs(moto: str) -> Any:
    client = boto3.client("sqs", endpoint_url=moto, region_name="us-east-1")
    yield client
    client.close()


def new_queue(sqs: Any, name: str, visibility: int = 30) -> str:
    attributes = {"VisibilityTimeout": str(visibility)}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in the queue, visible or received and not deleted."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


@pytest.fixture
def delivering(mturk_local: Any, moto: str) -> Iterator[None]:
    """The bundled service's deliverer, sending its notifications to moto, from a thread (as
    ``hitblocks run`` runs it)."""
    store = Store(local_store(mturk_local.app).engine.url.render_as_string(hide_password=False))
    running = Running(Deliverer(store, AwsTransports(boto3_clients(moto)), interval=0.05))
    yield
    running.stop()
    store.dispose()


@pytest.fixture
def notified(app: Any, publishing: Any, sqs: Any, delivering: None, request: Any) -> str:
    """The API app publishing to the bundled service with a notification queue of its own."""
    url = new_queue(sqs, f"hitblocks-{request.node.name[:40]}", visibility=30)
    app.config["MTURK_NOTIFICATION_QUEUE_URL"] = url
    return url


@pytest.fixture
def consumer(app: Any, notified: str) -> Iterator[NotificationConsumer]:
    """The consumer's thread, as the scheduled-jobs process runs it (long polls of 1 s here,
    so that stopping it takes no longer)."""
    running = NotificationConsumer(app, SqsQueue(sqs_client(notified), notified, wait_seconds=1))
    running.start()
    yield running
    running.stop(timeout=10)


def publish(client: Any, auth: dict[str, str], count: int, **fields: Any) -> list[dict[str, Any]]:
    hitblock = client.post("/v1/hitblocks", json={**HITBLOCK, **fields}, headers=auth).json
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    assert client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth).status_code == 200
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return sorted(items["data"], key=lambda item: item["id"])


def wait_for(client: Any, auth: dict[str, str], item_id: int, responses: int, timeout: float):
    """The item as ``GET /v1/item/{id}`` shows it once it has ``responses`` responses (or
    when ``timeout`` seconds have passed)."""
    deadline = time.monotonic() + timeout
    while True:
        item = client.get(f"/v1/item/{item_id}", headers=auth).json
        if len(item["responses"]) >= responses or time.monotonic() > deadline:
            return item
        time.sleep(0.02)


def stored(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(Response.id))) or 0)


# ---- end to end -----------------------------------------------------------------------------


def test_a_submit_reaches_the_item_through_the_queue_without_a_poll_cycle(
    app, client, auth, publishing, notified, consumer, mturk_calls, sqs
):
    [item, _] = publish(client, auth, 2)
    with local_store(publishing.app).transaction() as session:  # the new HIT type, subscribed
        [hit_type] = session.scalars(select(HITType)).all()
        assert hit_type.notification["Destination"] == notified
        assert hit_type.notification["EventTypes"] == notifications.EVENT_TYPES
    mturk_calls.clear()
    complete(publishing.url, item["hit_id"], "AWORKER1", ANSWER)
    submitted = time.monotonic()
    shown = wait_for(client, auth, item["id"], 1, timeout=5.0)
    assert time.monotonic() - submitted < 5.0
    assert shown["status"] == "completed"
    assert [r["data"] for r in shown["responses"]] == [{"transcription": "12.00"}]
    assert "ListReviewableHITs" not in mturk_calls  # no poll cycle ran
    deadline = time.monotonic() + 5  # then HITReviewable comes: no call, and deleted
    while queue_depth(sqs, notified) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_depth(sqs, notified) == 0
    # (The consumer subscribes the open HIT types when it takes the lease: not collection.)
    del mturk_calls["UpdateNotificationSettings"]
    assert dict(mturk_calls) == {"GetAssignment": 1}


def test_multi_worker_answers_arrive_one_by_one(
    app, client, auth, publishing, notified, consumer, mturk_calls
):
    [item] = publish(client, auth, 1, workers_per_item=3)
    mturk_calls.clear()
    for n in (1, 2):
        complete(publishing.url, item["hit_id"], f"AWORKER{n}", ANSWER)
        shown = wait_for(client, auth, item["id"], n, timeout=5.0)
        assert len(shown["responses"]) == n and shown["status"] == "published"
    complete(publishing.url, item["hit_id"], "AWORKER3", ANSWER)
    assert wait_for(client, auth, item["id"], 3, timeout=5.0)["status"] == "completed"
    assert mturk_calls["GetAssignment"] + mturk_calls["ListAssignmentsForHIT"] <= 3


def test_two_consumers_share_the_queue_one_at_a_time(app, client, auth, publishing, notified):
    """Two scheduled-jobs processes (two holders): one consumes, the other waits for the
    lease; every answer is stored once."""
    items = publish(client, auth, 3)
    consumers = [
        NotificationConsumer(
            app, SqsQueue(sqs_client(notified), notified, wait_seconds=1), holder=holder
        )
        for holder in ("host-a", "host-b")
    ]
    for running in consumers:
        running.start()
    try:
        for n, item in enumerate(items):
            complete(publishing.url, item["hit_id"], f"AWORKER{n}", ANSWER)
        for item in items:
            assert len(wait_for(client, auth, item["id"], 1, timeout=5.0)["responses"]) == 1
        with app.app_context():
            assert lease_holder(db.session, CONSUMER) in {"host-a", "host-b"}
    finally:
        for running in consumers:
            running.stop(timeout=10)
    assert stored(app) == 3


# ---- nothing lost -----------------------------------------------------------------------------


def test_a_consumer_killed_between_receive_and_commit_loses_nothing(
    app, client, auth, publishing, sqs, delivering, monkeypatch
):
    url = new_queue(sqs, "killed", visibility=1)
    app.config["MTURK_NOTIFICATION_QUEUE_URL"] = url
    [item] = publish(client, auth, 1)
    complete(publishing.url, item["hit_id"], "AWORKER1", ANSWER)
    queue = SqsQueue(sqs_client(url), url, wait_seconds=2)
    real = notifications.store_assignments

    def killed(*args: Any) -> int:
        real(*args)
        raise KeyboardInterrupt  # dies after the insert, before the commit

    monkeypatch.setattr(notifications, "store_assignments", killed)
    with app.app_context():
        received: list[Any] = []
        deadline = time.monotonic() + 10  # the deliverer sends it within moments (busy CI: more)
        while not received and time.monotonic() < deadline:
            received = queue.receive()
        # The HIT's HITReviewable may come in the same receive; it dies storing too.
        assert "AssignmentSubmitted" in [
            json.loads(m.body)["Events"][0]["EventType"] for m in received
        ]
        with pytest.raises(KeyboardInterrupt):
            handle(db.session, mturk_gateway(), queue, received)
        db.session.rollback()
    assert stored(app) == 0
    monkeypatch.setattr(notifications, "store_assignments", real)
    # After the visibility timeout (1 s) the same message comes back, and is worked once.
    again: list[Any] = []
    deadline = time.monotonic() + 10
    with app.app_context():
        while time.monotonic() < deadline and not any(
            m.message_id == received[0].message_id for m in again
        ):
            batch = queue.receive()
            if batch:
                handle(db.session, mturk_gateway(), queue, batch)
                again += batch
        assert received[0].message_id in {m.message_id for m in again}
        assert max(m.receive_count for m in again) >= 2
    assert stored(app) == 1
    assert wait_for(client, auth, item["id"], 1, timeout=1.0)["status"] == "completed"


def test_duplicates_foreign_and_malformed_messages_are_deleted(
    app, client, auth, publishing, sqs, delivering
):
    url = new_queue(sqs, "mixed", visibility=1)
    app.config["MTURK_NOTIFICATION_QUEUE_URL"] = url
    [item] = publish(client, auth, 1)
    complete(publishing.url, item["hit_id"], "AWORKER1", ANSWER)
    queue = SqsQueue(sqs_client(url), url, wait_seconds=1)
    sent: dict[str, str] = {}
    deadline = time.monotonic() + 5
    while len(sent) < 2 and time.monotonic() < deadline:  # AssignmentSubmitted, HITReviewable
        sent.update({m.message_id: m.body for m in queue.receive()})  # (back in 1 s)
    bodies = list(sent.values())
    assert len(bodies) == 2
    for body in bodies:  # each delivered once more
        sqs.send_message(QueueUrl=url, MessageBody=body)
    foreign = json.loads(bodies[0])
    foreign["EventDocId"] = "f" * 40
    foreign["Events"][0]["HITId"] = "NOTOURS0000000000001"
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(foreign))
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    totals: dict[str, int] = {}
    deadline = time.monotonic() + 10
    with app.app_context():
        while queue_depth(sqs, url) and time.monotonic() < deadline:
            report = handle(db.session, mturk_gateway(), queue, queue.receive())
            for name in ("handled", "duplicates", "foreign", "malformed", "new_responses"):
                totals[name] = totals.get(name, 0) + getattr(report, name)
    assert queue_depth(sqs, url) == 0
    assert totals == {
        "handled": 2,
        "duplicates": 2,
        "foreign": 1,
        "malformed": 1,
        "new_responses": 1,
    }
    assert stored(app) == 1


# ---- wiring ---------------------------------------------------------------------------------


def test_the_consumer_runs_with_the_scheduler_only_when_a_queue_is_configured(app, monkeypatch):
    assert app.config["MTURK_NOTIFICATION_QUEUE_URL"] == ""
    assert notification_consumer(app) is None
    app.config["MTURK_NOTIFICATION_QUEUE_URL"] = "http://127.0.0.1:1/000000000000/q"
    made = notification_consumer(app)
    assert made is not None and isinstance(made.queue, SqsQueue)
    assert made.queue.url == "http://127.0.0.1:1/000000000000/q"

    seen: list[str] = []
    started = threading.Event()

    class Recording:
        def start(self) -> None:
            seen.append("start")
            started.set()

        def stop(self, timeout: float | None = None) -> None:
            seen.append("stop")

    monkeypatch.setattr(jobs, "notification_consumer", lambda _app: Recording())
    app.config["POLL_INTERVAL_SECONDS"] = 3600
    scheduler = jobs.schedule(app, BackgroundScheduler(daemon=True))
    scheduler.start(paused=True)
    assert started.wait(5)
    scheduler.shutdown(wait=True)
    assert seen == ["start", "stop"]


def test_the_poll_interval_follows_the_setup_unless_set(tmp_path, monkeypatch):
    def interval(**config: Any) -> int:
        made = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}", **config})
        return int(made.config["POLL_INTERVAL_SECONDS"])

    monkeypatch.delenv("HITBLOCKS_POLL_INTERVAL_SECONDS", raising=False)
    assert interval() == 5  # the bundled service: a local call per HIT type per idle cycle
    assert interval(MTURK_ENDPOINT="sandbox") == 30
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    assert interval(MTURK_NOTIFICATION_QUEUE_URL=queue) == 300  # the cycle is a safety net
    assert interval(MTURK_NOTIFICATION_QUEUE_URL=queue, POLL_INTERVAL_SECONDS=60) == 60
    monkeypatch.setenv("HITBLOCKS_POLL_INTERVAL_SECONDS", "12")
    assert interval(MTURK_NOTIFICATION_QUEUE_URL=queue) == 12


# ---- the consumer's thread: started once, and its lease let go when stopped -----------------


def consumer_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "notifications")


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_consumer_stopped_mid_long_poll_lets_its_lease_go_at_once(app, notified):
    """Stopping waits ``timeout`` for the long poll under way; past that, the lease is let go
    so that the next consumer starts now rather than when the lease would expire (30 s), and
    the old thread, when its poll returns, does not take it back."""
    long_poll = NotificationConsumer(
        app, SqsQueue(sqs_client(notified), notified, wait_seconds=3), holder="host-a"
    )
    long_poll.start()
    long_poll.start()  # a second start (a scheduler started again) starts nothing more
    with app.app_context():
        assert wait_until(lambda: lease_holder(db.session, CONSUMER) == "host-a")
        db.session.rollback()
    assert consumer_threads() == 1
    time.sleep(0.3)  # inside its long poll now
    long_poll.stop(timeout=0.1)
    assert consumer_threads() == 1  # still waiting on SQS
    with app.app_context():
        assert jobs.acquire_lease(db.session, CONSUMER, jobs.CONSUMER_TTL, "host-b")
    assert wait_until(lambda: consumer_threads() == 0, timeout=10)
    with app.app_context():
        assert lease_holder(db.session, CONSUMER) == "host-b"


def test_a_consumer_stopped_and_started_again_consumes_again(app, notified):
    running = NotificationConsumer(
        app, SqsQueue(sqs_client(notified), notified, wait_seconds=1), holder="host-a"
    )
    running.start()
    running.stop(timeout=10)
    assert consumer_threads() == 0
    with app.app_context():
        assert lease_holder(db.session, CONSUMER) == "host-a"  # released, not given away
        assert jobs.acquire_lease(db.session, CONSUMER, jobs.CONSUMER_TTL, "host-b")
        jobs.release_lease(db.session, CONSUMER, "host-b")
    running.start()
    try:
        with app.app_context():
            assert wait_until(lambda: lease_holder(db.session, CONSUMER) == "host-a")
        assert consumer_threads() == 1
    finally:
        running.stop(timeout=10)


def test_a_start_after_a_stop_that_timed_out_waits_for_the_old_thread_then_consumes(app, notified):
    running = NotificationConsumer(
        app, SqsQueue(sqs_client(notified), notified, wait_seconds=2), holder="host-a"
    )
    running.start()
    with app.app_context():
        assert wait_until(lambda: lease_holder(db.session, CONSUMER) == "host-a")
    time.sleep(0.3)  # inside its long poll now
    running.stop(timeout=0.1)  # times out: the old thread is still polling
    running.start()  # waits for it, then starts anew
    try:
        assert consumer_threads() == 1
        with app.app_context():
            assert wait_until(lambda: lease_holder(db.session, CONSUMER) == "host-a")
    finally:
        running.stop(timeout=10)
    assert consumer_threads() == 0


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_hitblocks_worker_stopped_lets_its_consumer_lease_go(
    app, publishing, notified, stop_with, tmp_path
):
    """``hitblocks worker`` stopped by Ctrl-C or by a service manager's SIGTERM while its
    consumer holds the lease (most likely in a long poll of 20 s) exits cleanly and lets the
    lease go: the next worker takes it at once instead of 30 s later."""
    env = {
        **os.environ,
        "HITBLOCKS_DATABASE_URL": app.config["DATABASE_URL"],
        "HITBLOCKS_MTURK_ENDPOINT": publishing.url,
        "HITBLOCKS_MTURK_CREDENTIALS_FILE": publishing.credentials_file,
        "HITBLOCKS_MTURK_NOTIFICATION_QUEUE_URL": notified,
    }
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        with app.app_context():
            assert wait_until(
                lambda: (
                    (lease_holder(db.session, CONSUMER) or "").split(":")[1:2] == [str(worker.pid)]
                ),
                timeout=30,
            ), "the worker never took the consumer's lease"
            db.session.rollback()
        time.sleep(0.5)  # most likely inside its long poll now
        worker.send_signal(stop_with)
        worker.wait(timeout=15)
    finally:
        worker.kill()
    errors = log.read_text()
    assert worker.returncode == 0, errors
    assert "Traceback" not in errors
    with app.app_context():
        assert jobs.acquire_lease(db.session, CONSUMER, jobs.CONSUMER_TTL, "host-b")
