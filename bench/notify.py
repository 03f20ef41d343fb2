"""Notification-driven collection: how soon a worker's answer is visible, and what it costs.

    python bench/notify.py [--single 30] [--multi 10] [--hits 1000] [--with-work 50] [--runs 3]

Set-up, per run, all on 127.0.0.1 and as ``hitblocks run`` wires it: the bundled MTurk
service served from a thread, its notification deliverer (0.2 s outbox poll) sending to
moto's SQS in server mode; the API app (SQLite) with HITBLOCKS_MTURK_NOTIFICATION_QUEUE_URL
set, the SQS endpoint and credentials from the standard AWS settings (AWS_ENDPOINT_URL_SQS);
its scheduled jobs started with ``jobs.start_background`` (the consumer's 20 s long polls,
the poll cycle at its notified default of 300 s, the webhook sender); a webhook endpoint
subscribed to every event, received by an HTTP server in the process.

Submit-to-visible: for each sample a worker submits through the worker site (timed from
the start of that submit), then (1) ``GET /v1/item/{id}`` is asked every 20 ms until it
shows the new response, and (2) the receiver is watched until it got the
``response.submitted`` event naming that assignment. Submits are sequential (one at a time).
Single-worker HITs: one sample per HIT; multi-worker HITs (3 workers): one sample per
worker's submit, the first two while the HIT is still open (not Reviewable).

Calls per collected assignment: a fresh set-up, ``--hits`` single-worker HITs published,
``--with-work`` of them done by a worker, the consumer running (no scheduler, so no poll
cycle) until every answer is stored and the queue is empty; MTurk calls counted on the
API's own boto3 client (the subscription at publish time excluded: it is publishing). Then
one poll cycle runs, the safety net, and its calls are added.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
import flask_migrate  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app import create_app, jobs  # noqa: E402
from app.extensions import db  # noqa: E402
from app.gateway import mturk_gateway  # noqa: E402
from app.models import Response  # noqa: E402
from app.notification_queue import SqsQueue, sqs_client  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from app.services.polling import poll_once  # noqa: E402
from mturk.service import create_service_app, local_store, serve_in_thread  # noqa: E402
from mturk.service.notifications import (  # noqa: E402
    AwsTransports,
    Deliverer,
    Running,
    boto3_clients,
)
from mturk.service.requesters import ensure_local_credentials  # noqa: E402
from mturk.service.store import Store  # noqa: E402
from tests.worker_site import Worker  # noqa: E402

ANSWER = [("transcription", "12.00")]
CHECK_EVERY = 0.02


def assignment_of(value: Any) -> str:
    """The assignment_id somewhere in an event's payload."""
    if isinstance(value, dict):
        if isinstance(value.get("assignment_id"), str):
            return str(value["assignment_id"])
        value = list(value.values())
    if isinstance(value, list):
        for part in value:
            found = assignment_of(part)
            if found:
                return found
    return ""


class Receiver:
    """Webhook receiver: when each assignment's ``response.submitted`` arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.monotonic()
                event = json.loads(body)
                if event.get("type") == "response.submitted":
                    receiver.arrived.setdefault(assignment_of(event), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


class Setup:
    """The bundled service, moto's SQS and the API app, in a scratch folder."""

    def __init__(self, moto: str, name: str) -> None:
        folder = tempfile.mkdtemp()
        service_url = f"sqlite:///{folder}/mturk.sqlite3"
        self.local = create_service_app(service_url, sweep_interval=0)
        keys = f"{folder}/mturk-credentials"
        ensure_local_credentials(service_url, keys, Decimal("100000"))
        self.server = serve_in_thread(self.local, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        sqs = boto3.client("sqs", endpoint_url=moto, region_name="us-east-1")
        self.sqs = sqs
        self.queue = str(sqs.create_queue(QueueName=name)["QueueUrl"])
        self.store = Store(service_url)
        self.delivering = Running(Deliverer(self.store, AwsTransports(boto3_clients(moto))))
        self.app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{folder}/api.sqlite3",
                "MTURK_ENDPOINT": self.url,
                "MTURK_CREDENTIALS_FILE": keys,
                "MTURK_NOTIFICATION_QUEUE_URL": self.queue,
                "CALLBACKS_ALLOW_PRIVATE": True,
                "RATELIMIT_DEFAULT": "1000 per second",
            }
        )
        self.calls: Counter[str] = Counter()
        with self.app.app_context():
            flask_migrate.upgrade()
            self.key = create_key(db.session, "bench").key
            events = mturk_gateway().client.meta.events
            events.register("before-call.mturk", lambda model, **_: self.calls.update([model.name]))
        self.client = self.app.test_client()
        token = base64.b64encode(f"{self.key}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def api(self, method: str, path: str, body: object = None) -> Any:
        response = self.client.open(path, method=method, json=body, headers=self.headers)
        assert response.status_code == 200, response.json
        return response.json

    def publish(self, count: int, workers_per_item: int) -> list[dict[str, Any]]:
        fields = {"type": "image-transcription", "title": "bench", "cost_per_item": 0.05}
        hitblock = self.api(
            "POST", "/v1/hitblocks", {**fields, "workers_per_item": workers_per_item}
        )
        rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(count)]
        self.api("POST", f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)
        self.api("POST", f"/v1/hitblocks/{hitblock['id']}/post", {})
        items, after = [], None
        while True:
            query = f"?limit=100&starting_after={after}" if after else "?limit=100"
            page = self.api("GET", f"/v1/hitblocks/{hitblock['id']}/items{query}")
            items += page["data"]
            if not page["has_more"]:
                return items
            after = page["data"][-1]["id"]

    def queue_depth(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=names)
        return sum(int(found["Attributes"][name]) for name in names)

    def stored(self) -> int:
        with self.app.app_context():
            return int(db.session.scalar(select(func.count(Response.id))) or 0)

    def close(self) -> None:
        self.delivering.stop()
        self.store.dispose()
        self.server.shutdown()
        local_store(self.local).dispose()


def until(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long")
        time.sleep(CHECK_EVERY)
    return time.monotonic()


def quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


def latency(moto: str, run: int, single: int, multi: int) -> dict[str, list[float]]:
    setup = Setup(moto, f"latency-{run}")
    receiver = Receiver()
    setup.api("POST", "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]})
    singles = setup.publish(single, 1)
    multis = setup.publish(multi, 3)
    workers = [Worker(setup.url, f"ABENCH{n}", app=setup.local) for n in range(1, 4)]
    for worker in workers:
        worker.sign_in()
    scheduler = jobs.start_background(setup.app)
    with setup.app.app_context():  # the consumer holds its lease: it is long-polling
        until(lambda: jobs.lease_holder(db.session, jobs.CONSUMER) == jobs.HOLDER)
    found: dict[str, list[float]] = {
        "single visible": [],
        "single webhook": [],
        "multi visible": [],
        "multi webhook": [],
    }

    def sample(kind: str, worker: Worker, item: dict[str, Any], expected: int) -> None:
        assignment = worker.accept(item["hit_id"])
        started = time.monotonic()
        status, _ = worker.submit(assignment, ANSWER)
        assert status == 200

        def shown() -> bool:
            return len(setup.api("GET", f"/v1/item/{item['id']}")["responses"]) >= expected

        found[f"{kind} visible"].append(until(shown) - started)
        found[f"{kind} webhook"].append(until(lambda: assignment in receiver.arrived) - started)

    try:
        for item in singles:
            sample("single", workers[0], item, 1)
        for item in multis:
            for n, worker in enumerate(workers, 1):
                sample("multi", worker, item, n)
    finally:
        scheduler.shutdown(wait=False)
        receiver.server.shutdown()
        setup.close()
    return found


def calls_per_assignment(moto: str, run: int, hits: int, with_work: int) -> dict[str, Any]:
    setup = Setup(moto, f"calls-{run}")
    items = setup.publish(hits, 1)
    worker = Worker(setup.url, "ABENCH1", app=setup.local)
    worker.sign_in()
    consumer = jobs.NotificationConsumer(
        setup.app, SqsQueue(sqs_client(setup.queue), setup.queue, wait_seconds=1)
    )
    consumer.start()
    try:
        with setup.app.app_context():
            until(lambda: jobs.lease_holder(db.session, jobs.CONSUMER) == jobs.HOLDER)
        time.sleep(0.5)  # past the subscription of open HIT types when the lease was taken
        setup.calls.clear()
        started = time.monotonic()
        for item in items[:with_work]:
            worker.submit(worker.accept(item["hit_id"]), ANSWER)
        until(lambda: setup.stored() == with_work, timeout=120)
        until(lambda: setup.queue_depth() == 0, timeout=120)  # HITReviewable ones too
        elapsed = time.monotonic() - started
        consumer_calls = Counter(setup.calls)
    finally:
        consumer.stop(timeout=5)
    setup.calls.clear()
    with setup.app.app_context():
        report = poll_once(db.session, mturk_gateway())
    cycle_calls = Counter(setup.calls)
    setup.close()
    return {
        "consumer": consumer_calls,
        "cycle": cycle_calls,
        "cycle new": report.new_responses,
        "elapsed": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=30, help="single-worker samples a run")
    parser.add_argument("--multi", type=int, default=10, help="3-worker HITs a run")
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--with-work", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for noisy in ("werkzeug", "alembic"):  # moto's and the service's servers, migrations
        logging.getLogger(noisy).setLevel(logging.ERROR)

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    moto = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL_SQS"] = moto

    print("Submit-to-visible, seconds (p50 / p95), each run:")
    pooled: dict[str, list[float]] = {}
    for run in range(args.runs):
        found = latency(moto, run, args.single, args.multi)
        line = []
        for name, samples in found.items():
            pooled.setdefault(name, []).extend(samples)
            p50, p95 = quantiles(samples)
            line.append(f"{name} {p50:.2f} / {p95:.2f} (n={len(samples)})")
        print(f"  run {run + 1}: " + "; ".join(line))
    for name, samples in pooled.items():
        p50, p95 = quantiles(samples)
        print(f"  all runs, {name}: p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(samples):.3f} s")

    print(f"MTurk calls per collected assignment, {args.hits} open HITs, {args.with_work} worked:")
    for run in range(args.runs):
        found = calls_per_assignment(moto, run, args.hits, args.with_work)
        consumer, cycle = found["consumer"], found["cycle"]
        both = sum(consumer.values()) + sum(cycle.values())
        print(
            f"  run {run + 1}: consumer {sum(consumer.values())} calls {dict(consumer)} "
            f"= {sum(consumer.values()) / args.with_work:.2f} per assignment "
            f"(all collected {found['elapsed']:.1f} s after the first submit); "
            f"+ one safety-net poll cycle {sum(cycle.values())} {dict(cycle)} "
            f"({found['cycle new']} new) = {both / args.with_work:.2f} per assignment"
        )
    moto_server.stop()


if __name__ == "__main__":
    main()
