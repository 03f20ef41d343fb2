"""Webhooks and callbacks, delivered to a real HTTP receiver on loopback that checks the
Standard Webhooks signature, fails on purpose, goes down and comes back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update

from app.extensions import db
from app.gateway import mturk_gateway
from app.jobs import run_deliveries
from app.models import Delivery, utcnow
from app.services.polling import poll_once
from app.webhooks import RefusedDestination, check_destination
from tests.test_errors import assert_error
from tests.worker_site import complete


class Receiver:
    """Records what it receives; answers the queued statuses (then 200)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request's arrival
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrivals.append(time.monotonic())
                if receiver.delay:  # cut short when the receiver is closed
                    receiver.closing.wait(receiver.delay)
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append({"headers": headers, "body": body})
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(message["body"]) for message in self.received]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def webhooks_app(app):
    app.config["CALLBACKS_ALLOW_PRIVATE"] = True  # the receiver is on loopback
    return app


def verify(secret: str, message: dict[str, Any]) -> bool:
    """What a receiver does (see the README): recompute and compare the signature."""
    headers, body = message["headers"], message["body"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.removeprefix("v1,") for part in headers["webhook-signature"].split()]
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, signature) for signature in given)


def endpoint(client, auth, url, events=("*",)):
    body = {"url": url, "enabled_events": list(events)}
    response = client.post("/v1/webhook_endpoints", json=body, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def loop(app, client, auth, make_hitblock, publishing, **hitblock_fields):
    """Publish one item, have a worker do it, and poll: the events of a whole loop."""
    hitblock = make_hitblock(**hitblock_fields)
    image = {"image_url": "https://example.org/a.jpg"}
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=image, headers=auth).json
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    complete(publishing.url, hit_id, "AWORKER1", [("transcription", "12.00")])
    with app.app_context():
        poll_once(db.session, mturk_gateway())
    return hitblock, item


def make_due(app) -> None:
    """Time passes: every pending delivery is due now."""
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt=utcnow()))
        db.session.commit()


def test_signed_events_and_the_callback_reach_the_receiver(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    created = endpoint(client, auth, receiver.url)
    assert created["secret"].startswith("whsec_")
    listed = client.get(f"/v1/webhook_endpoints/{created['id']}", headers=auth).json
    assert listed["secret"] is None  # shown once, on creation
    callback = Receiver()
    try:
        hitblock, item = loop(webhooks_app, client, auth, make_hitblock, publishing,
                              callback_url=callback.url)  # fmt: skip
        report = run_deliveries(webhooks_app)
        assert report.failed == 0 and report.delivered == report.sent == 5
        # Sent several at a time, so arrival order is not promised; event ids give the order.
        types = [event["type"] for event in sorted(receiver.events(), key=lambda e: e["id"])]
        assert types == [
            "item.published",
            "response.submitted",
            "item.completed",
            "hitblock.completed",
        ]
        assert all(verify(created["secret"], message) for message in receiver.received)
        assert not verify("whsec_" + base64.b64encode(b"x" * 24).decode(), receiver.received[0])

        [posted] = callback.events()
        assert posted["type"] == "item.completed"
        assert posted["data"]["object"]["id"] == item["id"]
        assert posted["data"]["object"]["responses"][0]["data"] == {"transcription": "12.00"}
        secret = client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth).json["callback_secret"]
        assert verify(secret, callback.received[0])
        assert run_deliveries(webhooks_app).sent == 0  # each delivered once
    finally:
        callback.close()


def test_failures_retry_with_backoff_and_a_stable_webhook_id(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    endpoint(client, auth, receiver.url, ["item.published"])
    receiver.answers = [(500, {})]
    loop(webhooks_app, client, auth, make_hitblock, publishing)
    started = int(time.time())
    assert run_deliveries(webhooks_app).delivered == 0
    [delivery] = client.get("/v1/webhook_deliveries", headers=auth).json["data"]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert 3 <= delivery["next_attempt"] - started <= 7  # 5 s, with jitter (whole seconds)
    assert run_deliveries(webhooks_app).sent == 0  # not due yet
    make_due(webhooks_app)
    assert run_deliveries(webhooks_app).delivered == 1
    first, second = receiver.received
    assert (
        first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == delivery["webhook_id"]
    )
    detail = client.get(f"/v1/webhook_deliveries/{delivery['id']}", headers=auth).json
    assert detail["status"] == "delivered"
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 200]
    assert all(a["latency_ms"] >= 0 for a in detail["attempt_log"])


def test_retry_after_is_honoured(webhooks_app, client, auth, make_hitblock, publishing, receiver):
    endpoint(client, auth, receiver.url, ["item.published"])
    receiver.answers = [(503, {"Retry-After": "600"})]
    loop(webhooks_app, client, auth, make_hitblock, publishing)
    started = time.time()
    run_deliveries(webhooks_app)
    [delivery] = client.get("/v1/webhook_deliveries", headers=auth).json["data"]
    assert delivery["next_attempt"] - started >= 599


def test_a_410_disables_the_endpoint(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    created = endpoint(client, auth, receiver.url)
    receiver.answers = [(410, {})]
    loop(webhooks_app, client, auth, make_hitblock, publishing)
    run_deliveries(webhooks_app)
    assert client.get(f"/v1/webhook_endpoints/{created['id']}", headers=auth).json["status"] == (
        "disabled"
    )
    statuses = {
        d["status"] for d in client.get("/v1/webhook_deliveries", headers=auth).json["data"]
    }
    assert "failed" in statuses


def test_a_receiver_down_for_a_while_loses_nothing(
    webhooks_app, client, auth, make_hitblock, publishing
):
    down = Receiver()
    port = down.server.server_port
    down.close()  # nobody listens at this address for now
    endpoint(client, auth, down.url, ["item.published", "item.completed"])
    loop(webhooks_app, client, auth, make_hitblock, publishing)
    for _ in range(3):
        run_deliveries(webhooks_app)
        make_due(webhooks_app)
    deliveries = client.get("/v1/webhook_deliveries", headers=auth).json["data"]
    assert {d["status"] for d in deliveries} == {"pending"}
    assert all(d["attempts"] == 3 for d in deliveries)
    detail = client.get(f"/v1/webhook_deliveries/{deliveries[0]['id']}", headers=auth).json
    assert detail["attempt_log"][0]["status_code"] is None and detail["attempt_log"][0]["error"]

    revived = Receiver(port)  # back, at the same address
    try:
        make_due(webhooks_app)
        run_deliveries(webhooks_app)
        assert sorted(e["type"] for e in revived.events()) == ["item.completed", "item.published"]
    finally:
        revived.close()


def test_a_slow_receiver_does_not_stall_the_others(
    webhooks_app, client, auth, make_hitblock, publishing, receiver, monkeypatch
):
    """The slow receiver answers long after the timeout; the other is sent to beside it,
    not after it, and the run ends at the timeout (bounds wide enough for a loaded machine:
    one after the other would take the whole timeout before the second was even sent)."""
    timeout = 3.0
    monkeypatch.setattr("app.webhooks.TIMEOUT_SECONDS", timeout)
    slow = Receiver()
    slow.delay = 20.0
    try:
        endpoint(client, auth, slow.url, ["item.published"])
        endpoint(client, auth, receiver.url, ["item.published"])
        loop(webhooks_app, client, auth, make_hitblock, publishing)
        started = time.monotonic()
        report = run_deliveries(webhooks_app)
        assert time.monotonic() - started < slow.delay / 2  # the slow one was cut off
        assert len(receiver.arrivals) == 1 and receiver.arrivals[0] - started < timeout
        assert report.sent == 2 and report.delivered == 1
        assert len(receiver.received) == 1
        timed_out = [d for d in client.get("/v1/webhook_deliveries", headers=auth).json["data"]
                     if d["status"] == "pending"]  # fmt: skip
        assert len(timed_out) == 1
    finally:
        slow.close()


def test_manual_retry(webhooks_app, client, auth, make_hitblock, publishing, receiver):
    endpoint(client, auth, receiver.url, ["item.published"])
    loop(webhooks_app, client, auth, make_hitblock, publishing)
    run_deliveries(webhooks_app)
    [delivery] = client.get("/v1/webhook_deliveries", headers=auth).json["data"]
    retried = client.post(f"/v1/webhook_deliveries/{delivery['id']}/retry", headers=auth).json
    assert retried["status"] == "pending"
    run_deliveries(webhooks_app)
    assert len(receiver.received) == 2
    # At least once: a receiver that deduplicates on webhook-id processes it once.
    assert len({message["headers"]["webhook-id"] for message in receiver.received}) == 1


def test_the_scheduler_sends_within_seconds_not_the_request(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    from app import jobs

    webhooks_app.config.update(WEBHOOK_INTERVAL_SECONDS=1, POLL_INTERVAL_SECONDS=3600)
    endpoint(client, auth, receiver.url, ["item.published"])
    hitblock = make_hitblock()
    image = {"image_url": "https://example.org/a.jpg"}
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=image, headers=auth).json
    client.post(f"/v1/item/{item['id']}/post", headers=auth)
    assert receiver.received == []  # nothing is sent from the request path
    scheduler = jobs.start_background(webhooks_app)
    try:
        deadline = time.monotonic() + 5
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e["type"] for e in receiver.events()] == ["item.published"]
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://10.0.0.8/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "ftp://example.org/x",
    ],
)
def test_private_destinations_are_refused(url):
    with pytest.raises(RefusedDestination):
        check_destination(url, allow_private=False)


def test_endpoints_crud_and_refusals(client, auth, other_auth):
    refused = client.post("/v1/webhook_endpoints",
                          json={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]},
                          headers=auth)  # fmt: skip
    assert assert_error(refused, 400, param="url")["code"] == "url_refused"
    bad_type = client.post("/v1/webhook_endpoints",
                           json={"url": "https://example.org/x", "enabled_events": ["nope"]},
                           headers=auth)  # fmt: skip
    assert_error(bad_type, 400, param="enabled_events")
    body = {"url": "https://example.org/x", "enabled_events": ["item.completed"]}
    created = client.post("/v1/webhook_endpoints", json=body, headers=auth)
    assert created.status_code == 200, created.json
    path = f"/v1/webhook_endpoints/{created.json['id']}"
    updated = client.post(path, json={"enabled_events": ["*"], "disabled": True}, headers=auth).json
    assert (updated["enabled_events"], updated["status"]) == (["*"], "disabled")
    assert client.get("/v1/webhook_endpoints", headers=auth).json["data"][0]["id"] == updated["id"]
    assert_error(client.get(path, headers=other_auth), 404)
    assert client.delete(path, headers=auth).json == {"deleted": True, "id": updated["id"]}
    assert_error(client.get(path, headers=auth), 404)
    assert client.get("/v1/webhook_endpoints", headers=auth).json["data"] == []


def test_publishing_many_items_looks_at_the_endpoints_once(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    from sqlalchemy import event as sa_event

    endpoint(client, auth, receiver.url, ["item.published"])
    hitblock = make_hitblock()
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(25)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    statements: list[str] = []
    with webhooks_app.app_context():
        sa_event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    assert sum("FROM webhook_endpoints" in statement for statement in statements) == 1
    deliveries = client.get("/v1/webhook_deliveries?limit=100", headers=auth).json["data"]
    assert len(deliveries) == 25


def test_a_poll_cycle_reads_the_endpoints_once_per_batch_and_sees_a_new_one_next_time(
    webhooks_app, client, auth, make_hitblock, publishing, receiver
):
    """Each stored response writes several events; the endpoints are read once per
    transaction (a batch of HITs), and an endpoint made after it is seen by the next."""
    from sqlalchemy import event as sa_event

    endpoint(client, auth, receiver.url, ["response.submitted"])
    hitblock = make_hitblock()
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(4)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items", headers=auth).json["data"]
    for n, item in enumerate(items[:2]):
        complete(publishing.url, item["hit_id"], f"AWORKER{n}", [("transcription", "1")])
    statements: list[str] = []
    with webhooks_app.app_context():
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        assert poll_once(db.session, mturk_gateway()).new_responses == 2
        sa_event.remove(db.engine, "before_cursor_execute", listener)
    assert sum("FROM webhook_endpoints" in statement for statement in statements) == 1

    endpoint(client, auth, receiver.url, ["item.completed"])  # made after that transaction
    for n, item in enumerate(items[2:]):
        complete(publishing.url, item["hit_id"], f"AWORKER{n + 2}", [("transcription", "2")])
    with webhooks_app.app_context():
        assert poll_once(db.session, mturk_gateway()).new_responses == 2
    deliveries = client.get("/v1/webhook_deliveries?limit=100", headers=auth).json["data"]
    assert len(deliveries) == 2 + 2 + 2  # 2 then 2 response.submitted, and 2 item.completed
