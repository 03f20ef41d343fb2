"""Webhooks leave right after the commit that made them, not at the sender's next tick (2 s):
this process's commits wake the sender, other processes' are found by a cheap check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app import jobs
from app.extensions import db
from app.jobs import WebhookSender
from app.models import Delivery, utcnow
from app.services import deliveries, events
from app.services.accounts import create_key

# The old sender ran every 2 s: an event waited up to a tick (1.95 s in the setup).
OLD_TICK = 2.0


class Receiver:
    """A webhook receiver on loopback that notes when each message arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrivals.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def account(app, session, receiver) -> int:
    """An account whose endpoint on the receiver wants every event."""
    app.config["CALLBACKS_ALLOW_PRIVATE"] = True  # the receiver is on loopback
    account_id = create_key(session, "acme").account_id
    fields = {"url": receiver.url, "enabled_events": ["*"]}
    deliveries.create_endpoint(session, account_id, fields, allow_private=True)
    return account_id


@pytest.fixture
def sender(app) -> Iterator[Any]:
    """Start a sender (``check_seconds`` given); stopped at the end."""
    started: list[WebhookSender] = []

    def start(check_seconds: float) -> WebhookSender:
        started.append(WebhookSender(app, "this-host", check_seconds=check_seconds))
        started[-1].start()
        return started[-1]

    yield start
    for running in started:
        running.stop(timeout=5)


def emit(session, account_id: int, *, ring: bool = True) -> float:
    """Commit one event (and its delivery); when the commit returned. ``ring=False``: as if
    another process committed it (its commits ring no doorbell here)."""
    events.emit(session, account_id, "item.published", {"id": 1, "object": "item"})
    if not ring:
        session.info.pop(deliveries.MADE)
    session.commit()
    return time.monotonic()


def test_an_event_reaches_the_receiver_right_after_its_commit(session, account, receiver, sender):
    sender(check_seconds=60)  # no check within the test: only the commit can wake it
    committed = emit(session, account)
    assert receiver.arrived.wait(5)
    latency = receiver.arrivals[0] - committed
    assert latency < OLD_TICK / 4, f"{latency:.3f} s"


def test_a_burst_is_sent_at_once(session, account, receiver, sender):
    """More than one batch (100) of deliveries: the sender goes on until none is due."""
    sender(check_seconds=60)
    for _ in range(150):
        events.emit(session, account, "item.published", {"id": 1, "object": "item"})
    committed = time.monotonic()
    session.commit()
    deadline = committed + 10
    while len(receiver.arrivals) < 150 and time.monotonic() < deadline:
        receiver.arrived.wait(0.1)
        receiver.arrived.clear()
    assert len(receiver.arrivals) == 150


def test_what_another_process_commits_is_found_by_the_check(session, account, receiver, sender):
    sender(check_seconds=0.2)
    committed = emit(session, account, ring=False)
    assert receiver.arrived.wait(5)
    latency = receiver.arrivals[0] - committed
    assert latency < OLD_TICK / 2, f"{latency:.3f} s"


def test_a_rolled_back_transaction_rings_nothing(app, session, account):
    doorbell = deliveries.Doorbell()
    doorbell.install()
    try:
        events.emit(session, account, "item.published", {"id": 1, "object": "item"})
        session.rollback()
        session.commit()  # an empty transaction: the rolled back one left nothing to ring
        assert not doorbell.wait(0)
        emit(session, account)
        assert doorbell.wait(0)
        assert not doorbell.wait(0)  # rung once, heard once
    finally:
        doorbell.uninstall()
    assert not event.contains(Session, "after_commit", deliveries._ring_after_commit)


def test_an_idle_sender_only_reads_one_index(app, session, account, sender):
    """Idle (deliveries sent, or due later), each check is one SELECT: no lease is taken, no
    row written."""
    emit(session, account)
    session.execute(update(Delivery).values(status="delivered"))
    emit(session, account)
    later = utcnow().replace(year=utcnow().year + 1)
    session.execute(update(Delivery).where(Delivery.status == "pending").values(next_attempt=later))
    session.commit()
    assert not deliveries.deliveries_due(session)
    seen: list[str] = []
    checked = threading.Event()

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)
        if sum("FROM deliveries" in s for s in seen) >= 5:
            checked.set()

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        sender(check_seconds=0.01)
        assert checked.wait(5)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    statements = [s for s in list(seen) if s.strip().upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}]
    assert statements and all(s.lstrip().upper().startswith("SELECT") for s in statements)
    assert all("deliveries.status" in s and "LIMIT" in s for s in statements)


def test_the_scheduler_runs_the_sender_and_stops_it(app, session, account, receiver):
    app.config.update(WEBHOOK_INTERVAL_SECONDS=3600, POLL_INTERVAL_SECONDS=3600)
    scheduler = jobs.start_background(app)
    try:
        # The scheduled runs went at the start; from now on only the sender can send.
        deadline = time.monotonic() + 5
        while not [t for t in threading.enumerate() if t.name == "webhooks"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        committed = emit(session, account)
        assert receiver.arrived.wait(5)
        assert receiver.arrivals[0] - committed < OLD_TICK / 2
    finally:
        scheduler.shutdown(wait=True)
    deadline = time.monotonic() + 5
    while [t for t in threading.enumerate() if t.name == "webhooks"]:
        assert time.monotonic() < deadline, "the sender outlived the scheduler"
        time.sleep(0.01)
    assert not event.contains(Session, "after_commit", deliveries._ring_after_commit)


def test_the_sender_starts_once_and_again_after_a_stop(session, account, receiver, app):
    """A scheduler started again starts no second sender; one stopped can start again."""

    def senders() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == "webhooks")

    running = WebhookSender(app, "this-host", check_seconds=60)
    running.start()
    running.start()
    assert senders() == 1
    running.stop(timeout=5)
    assert senders() == 0
    running.start()
    try:
        emit(session, account)  # and the one started again is woken by a commit
        assert receiver.arrived.wait(5)
    finally:
        running.stop(timeout=5)
