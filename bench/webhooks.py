"""How long a webhook waits after the commit that made it, and what the sender's check costs.

    python bench/webhooks.py [--events 20] [--runs 3] [--history 100000]

A receiver on 127.0.0.1 and an endpoint that wants every event; --events events
are committed one at a time, at random moments (0 to 2 s apart), and the time from each
commit's return to the receiver getting it is noted. Three ways of sending:
  - tick: the scheduled sender alone, every 2 s (WEBHOOK_INTERVAL_SECONDS), as before;
  - doorbell: the WebhookSender, the event committed in its process (as the poller and
    the notification consumer commit): the commit wakes it;
  - check: the WebhookSender, the commit ringing no doorbell, as an API worker's commit in
    another process: found by the sender's check every 0.2 s.
Prints p50, p95 and max per run. Then the cost of that check when idle: --history sent
deliveries stored, the probe (``deliveries_due``) timed over 2,000 calls.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402
from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.jobs import WebhookSender, run_deliveries  # noqa: E402
from app.models import Event, utcnow  # noqa: E402
from app.services import events  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from app.services.deliveries import MADE, create_endpoint, deliveries_due  # noqa: E402

CHUNK = 10_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.arrived:
                    receiver.arrivals[body["id"]] = time.monotonic()
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def wait_for(self, event_id: int, timeout: float = 10) -> float:
        with self.arrived:
            self.arrived.wait_for(lambda: event_id in self.arrivals, timeout)
        return self.arrivals[event_id]


def webhook_app() -> tuple[Flask, int, Receiver]:
    folder = tempfile.mkdtemp(prefix="bench-webhooks-")
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{folder}/hitblocks.sqlite3", "CALLBACKS_ALLOW_PRIVATE": True}
    )
    receiver = Receiver()
    with app.app_context():
        flask_migrate.upgrade()
        account_id = create_key(db.session, "acme").account_id
        fields = {"url": receiver.url, "enabled_events": ["*"]}
        create_endpoint(db.session, account_id, fields, allow_private=True)
    return app, account_id, receiver


def commit_event(app: Flask, account_id: int, ring: bool) -> tuple[int, float]:
    with app.app_context():
        events.emit(db.session, account_id, "item.published", {"object": "item", "id": 1})
        event_id = db.session.scalar(text("SELECT max(id) FROM events"))
        if not ring:
            db.session.info.pop(MADE, None)
        db.session.commit()
        return int(event_id), time.monotonic()


def latencies(mode: str, count: int, rng: random.Random) -> list[float]:
    app, account_id, receiver = webhook_app()
    stop: Callable[[], None]
    if mode == "tick":
        scheduler = BackgroundScheduler(daemon=True)
        scheduler.add_job(
            run_deliveries, "interval", args=[app], seconds=2, max_instances=1, coalesce=True
        )
        scheduler.start()
        stop = lambda: scheduler.shutdown(wait=True)  # noqa: E731
    else:
        sender = WebhookSender(app, check_seconds=0.2)
        sender.start()
        stop = lambda: sender.stop(timeout=5)  # noqa: E731
    found = []
    try:
        time.sleep(0.5)
        for _ in range(count):
            time.sleep(rng.uniform(0, 2))
            event_id, committed = commit_event(app, account_id, ring=mode != "check")
            found.append((receiver.wait_for(event_id) - committed) * 1000)
    finally:
        stop()
        receiver.server.shutdown()
        with app.app_context():
            db.engine.dispose()
    return found


def probe_cost(history: int) -> None:
    app, account_id, receiver = webhook_app()
    receiver.server.shutdown()
    with app.app_context():
        now = utcnow()
        for first in range(0, history, CHUNK):
            count = min(CHUNK, history - first)
            db.session.execute(
                insert(Event),
                [
                    {"account_id": account_id, "type": "x", "data": {}, "created": now}
                    for _ in range(count)
                ],
            )
        db.session.execute(
            text(
                "INSERT INTO deliveries (account_id, event_id, url, secret, status, attempts,"
                " created) SELECT account_id, id, 'http://x', 's', 'delivered', 1, created"
                " FROM events"
            )
        )
        db.session.commit()
        times = []
        for _ in range(2000):
            started = time.perf_counter()
            deliveries_due(db.session)
            db.session.rollback()
            times.append((time.perf_counter() - started) * 1_000_000)
        db.engine.dispose()
    print(
        f"idle check with {history} sent deliveries stored: p50 {statistics.median(times):.0f}"
        f" us, p95 {percentile(times, 0.95):.0f} us per check (5 checks a second)"
    )


def webhooks(args: argparse.Namespace) -> None:
    rng = random.Random(13)
    for mode in ("tick", "doorbell", "check"):
        for run in range(args.runs):
            found = latencies(mode, args.events, rng)
            print(
                f"{mode:8} run {run + 1}: commit to receiver p50 {statistics.median(found):6.0f}"
                f" ms  p95 {percentile(found, 0.95):6.0f} ms  max {max(found):6.0f} ms"
                f"  ({len(found)} events)"
            )
    probe_cost(args.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", type=int, default=100_000)
    webhooks(parser.parse_args())


if __name__ == "__main__":
    main()
