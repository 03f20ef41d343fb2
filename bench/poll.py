"""The poll cycle: what it costs in MTurk calls, in wall time in a burst, and in database time
when idle with a long history.

    python bench/poll.py work [--hits 1000] [--with-work 50] [--workers-per-item 1]
    python bench/poll.py burst [--hits 1000] [--latency-ms 50] [--concurrency 8] [--repeat 1]
    python bench/poll.py idle [--hits 1000] [--history 300000] [--cycles 20] [--explain]
                              [--database-url URL]

work: publishes the HITs on the local MTurk service (in this process), has workers submit to
some of them through the worker site, then runs poll cycles and prints the MTurk calls each
made, counted on the API's own boto3 client: the cycle that collects the work, and an idle
one after it.

burst: the local MTurk service in a process of its own (Werkzeug's threaded server, every
requester call delayed by --latency-ms, as a remote endpoint would be; the worker site is
not delayed), the API in this process. --hits HITs are published and a worker submits to
each of them, then two pollers collect the burst:
  - a per-HIT peer poller (what a naive tool does): GetHIT for every open HIT, one after
    another, and ListAssignmentsForHIT for each whose counts or status changed since it
    last looked (it stores nothing: its time is only its MTurk calls);
  - Hitblocks' poll cycle, run as the scheduler runs it (``run_poll_cycle``: under the
    poll lease, renewed while it runs), with MTURK_CONCURRENCY = --concurrency.
Prints each one's wall time and MTurk calls, their ratio, and the cycle's time against its
lease's TTL. --repeat N does it all N times on fresh databases.

idle: --hits HITs published and open (no work), then --history completed items, each with
one approved response, inserted directly (spread over hitblocks of 1,000 items, a third
of them with three workers per item, each with its HIT type), as a long-running
installation would have. Runs --cycles idle cycles (``poll_once``) before and after the
history is inserted and prints, per cycle, the MTurk calls and the database time: the time
of every SQL statement, summed (SQLAlchemy's before/after_cursor_execute events on the
API's engine), and their count. --explain prints each statement of an idle cycle with its
plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL). --database-url: the API's
database (default: a scratch SQLite file); it must be empty.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import event, insert, select, text, update  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.gateway import mturk_gateway  # noqa: E402
from app.jobs import poll_lease_ttl, run_poll_cycle  # noqa: E402
from app.models import Hitblock, Item, Response, utcnow  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from app.services.polling import poll_once  # noqa: E402
from mturk.service import create_service_app, serve_in_thread  # noqa: E402
from mturk.service.requesters import ensure_local_credentials  # noqa: E402
from tests.worker_site import Worker  # noqa: E402

HOST = "127.0.0.1"
ANSWER = [("transcription", "12.00")]


def api(client: Any, key: str, path: str, body: object = None, method: str = "post") -> Any:
    token = base64.b64encode(f"{key}:".encode()).decode()
    response = getattr(client, method)(path, json=body, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200, response.json
    return response.json


def count_calls(app: Flask) -> Counter[str]:
    """MTurk calls the app makes, by operation, counted on its own boto3 client."""
    calls: Counter[str] = Counter()
    with app.app_context():
        events = mturk_gateway().client.meta.events
        events.register("before-call.mturk", lambda model, **_: calls.update([model.name]))
    return calls


def publish(app: Flask, key: str, hits: int, workers_per_item: int = 1) -> list[dict[str, Any]]:
    """A hitblock of ``hits`` items, published; its items (with their HIT ids)."""
    client = app.test_client()
    hitblock = api(
        client,
        key,
        "/v1/hitblocks",
        {
            "type": "image-transcription",
            "title": "bench",
            "cost_per_item": 0.05,
            "workers_per_item": workers_per_item,
        },
    )
    rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(hits)]
    api(client, key, f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)
    published = api(client, key, f"/v1/hitblocks/{hitblock['id']}/post", {})
    assert len(published["published"]) == hits, published["failed"][:3]
    items: list[dict[str, Any]] = []
    after = None
    while True:
        query = f"?limit=100&starting_after={after}" if after else "?limit=100"
        page = api(client, key, f"/v1/hitblocks/{hitblock['id']}/items{query}", method="get")
        items += page["data"]
        if not page["has_more"]:
            return items
        after = page["data"][-1]["id"]


def submit_to_each(url: str, service: Flask, hit_ids: list[str], workers: int = 8) -> None:
    """One assignment submitted to each HIT, by ``workers`` workers side by side."""

    def work(n: int) -> None:
        worker = Worker(url, f"ABENCH{n}", app=service)
        worker.sign_in()
        for hit_id in hit_ids[n::workers]:
            status, page = worker.submit(worker.accept(hit_id), ANSWER)
            assert status == 200, page

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(workers)))


# ---- work: MTurk calls per collected response ----------------------------------------


def scenario_work(args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp()
    local = create_service_app(f"sqlite:///{folder}/mturk.sqlite3", sweep_interval=0)
    keys = f"{folder}/mturk-credentials"  # a requester with money, and its key
    ensure_local_credentials(f"sqlite:///{folder}/mturk.sqlite3", keys, Decimal("100000"))
    server = serve_in_thread(local, HOST, 0)
    url = f"http://{HOST}:{server.server_port}"
    app = make_api(f"sqlite:///{folder}/api.sqlite3", url, keys, args.concurrency)
    with app.app_context():
        key = create_key(db.session, "bench").key
    calls = count_calls(app)
    items = publish(app, key, args.hits, args.workers_per_item)
    submit_to_each(url, local, [item["hit_id"] for item in items[: args.with_work]], workers=1)

    print(
        f"open HITs: {args.hits}, HITs with new work: {args.with_work}, "
        f"workers per item: {args.workers_per_item}"
    )
    for name in ("cycle with new work", "idle cycle"):
        calls.clear()
        started = time.perf_counter()
        with app.app_context():
            report = poll_once(db.session, mturk_gateway(), concurrency=args.concurrency)
        elapsed = time.perf_counter() - started
        total = sum(calls.values())
        per = f"{total / report.new_responses:.2f}" if report.new_responses else "-"
        print(
            f"{name}: {total} MTurk calls, {report.new_responses} responses collected "
            f"({per} calls per response), {elapsed:.2f} s; {json.dumps(dict(calls))}"
        )
    server.shutdown()


def make_api(database_url: str, endpoint: str, keys: str, concurrency: int) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "MTURK_ENDPOINT": endpoint,
            "MTURK_CREDENTIALS_FILE": keys,
            "MTURK_CONCURRENCY": concurrency,
            "RATELIMIT_DEFAULT": "1000000 per second",
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
    return app


# ---- burst: 1,000 HITs with new work, against a per-HIT peer ---------------------------


def scenario_burst(args: argparse.Namespace) -> None:
    print(
        f"HITs with new work: {args.hits}, latency per MTurk call: {args.latency_ms:.0f} ms, "
        f"concurrency: {args.concurrency}"
    )
    results = [burst_once(args) for _ in range(args.repeat)]
    if len(results) > 1:
        for n, name in enumerate(("peer", "Hitblocks")):
            times = [result[n] for result in results]
            print(f"{name}: {spread(times)} s over {len(times)} runs")
        ratios = [ours / peer for peer, ours in results]
        print(f"Hitblocks / peer: {spread(ratios, 3)}")


def burst_once(args: argparse.Namespace) -> tuple[float, float]:
    folder = tempfile.mkdtemp()
    service_db = f"sqlite:///{folder}/mturk.sqlite3"
    keys = f"{folder}/mturk-credentials"
    ensure_local_credentials(service_db, keys, Decimal("100000"))
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_local, args=(service_db, port, args.latency_ms / 1000), daemon=True
    )
    process.start()
    try:
        wait_for(port)
        url = f"http://{HOST}:{port}"
        app = make_api(f"sqlite:///{folder}/api.sqlite3", url, keys, args.concurrency)
        with app.app_context():
            key = create_key(db.session, "bench").key
        started = time.perf_counter()
        items = publish(app, key, args.hits)
        hit_ids = [item["hit_id"] for item in items]
        # Workers are made on the service's database, by its own functions.
        worker_service = create_service_app(service_db, sweep_interval=0)
        submit_to_each(url, worker_service, hit_ids)
        print(f"set up: {len(hit_ids)} HITs published and worked in {time_since(started)}")

        calls = count_calls(app)
        cpu = cpu_seconds(os.getpid()), cpu_seconds(process.pid or 0)
        started = time.perf_counter()
        with app.app_context():
            peer_calls = peer_poll(mturk_gateway().client, hit_ids)
        peer = time.perf_counter() - started
        print(
            f"per-HIT peer: {peer:.1f} s, {sum(peer_calls.values())} calls {dict(peer_calls)}; "
            f"{cpu_used(cpu, process.pid or 0)}"
        )

        calls.clear()
        ttl = poll_lease_ttl(app)
        cpu = cpu_seconds(os.getpid()), cpu_seconds(process.pid or 0)
        started = time.perf_counter()
        report = run_poll_cycle(app, "bench")
        ours = time.perf_counter() - started
        assert report is not None
        print(
            f"Hitblocks: {ours:.1f} s, {sum(calls.values())} calls {dict(calls)}; "
            f"{cpu_used(cpu, process.pid or 0)}; "
            f"{report.new_responses} responses stored, {len(report.errors)} errors; "
            f"the cycle took {ours / ttl.total_seconds():.0%} of its lease's TTL "
            f"({ttl.total_seconds():.0f} s, renewed every third of it while it runs)"
        )
        print(f"Hitblocks / peer: {ours / peer:.3f} (1/{peer / ours:.1f})")
        assert report.new_responses == args.hits, report
        with app.app_context():
            db.engine.dispose()
        return peer, ours
    finally:
        process.terminate()


def peer_poll(client: Any, hit_ids: list[str]) -> Counter[str]:
    """A naive poller: GetHIT for every open HIT, one after another, and the HIT's
    assignments when what GetHIT says changed since last time (here: since publishing)."""
    calls: Counter[str] = Counter()
    for hit_id in hit_ids:
        hit = client.get_hit(HITId=hit_id)["HIT"]
        calls["GetHIT"] += 1
        state = (
            hit["HITStatus"],
            hit["NumberOfAssignmentsAvailable"],
            hit["NumberOfAssignmentsPending"],
            hit["NumberOfAssignmentsCompleted"],
        )
        if state != ("Assignable", hit["MaxAssignments"], 0, 0):
            client.list_assignments_for_hit(HITId=hit_id, MaxResults=100)
            calls["ListAssignmentsForHIT"] += 1
    return calls


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used(before: tuple[float, float], service_pid: int) -> str:
    api = cpu_seconds(os.getpid()) - before[0]
    service = cpu_seconds(service_pid) - before[1]
    return f"CPU: API process {api:.1f} s, MTurk service {service:.1f} s"


def serve_local(database_url: str, port: int, latency: float) -> None:
    import logging

    from werkzeug.serving import run_simple

    from mturk.service import KeepAliveHandler

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    service = create_service_app(database_url, latency=latency)
    run_simple(HOST, port, service, threaded=True, request_handler=KeepAliveHandler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the local MTurk service did not start")


# ---- idle: an idle cycle's database time, with a long history ---------------------------


class StatementClock:
    """Every SQL statement run on ``engine`` while on: its text and how long it took."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.on = False
        self.statements: list[tuple[str, Any, float]] = []
        self._started = threading.local()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            elapsed = time.perf_counter() - self._started.at
            self.statements.append((statement, parameters, elapsed))

    @contextmanager
    def measuring(self) -> Iterator[list[tuple[str, Any, float]]]:
        self.statements = []
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


def scenario_idle(args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp()
    local = create_service_app(f"sqlite:///{folder}/mturk.sqlite3", sweep_interval=0)
    keys = f"{folder}/mturk-credentials"
    ensure_local_credentials(f"sqlite:///{folder}/mturk.sqlite3", keys, Decimal("100000"))
    server = serve_in_thread(local, HOST, 0)
    url = f"http://{HOST}:{server.server_port}"
    app = make_api(
        args.database_url or f"sqlite:///{folder}/api.sqlite3", url, keys, args.concurrency
    )
    with app.app_context():
        key = create_key(db.session, "bench").key
        clock = StatementClock(db.engine)
    calls = count_calls(app)
    publish(app, key, args.hits)
    print(f"open HITs: {args.hits}, database: {app.config['SQLALCHEMY_DATABASE_URI'][:60]}")

    def idle_cycles(label: str) -> None:
        times, counts = [], []
        each: dict[str, list[float]] = {}
        for _ in range(args.cycles):
            calls.clear()
            with app.app_context(), clock.measuring() as statements:
                report = poll_once(db.session, mturk_gateway())
            assert report.new_responses == 0 and not report.errors, report
            times.append(sum(elapsed for _, _, elapsed in statements) * 1000)
            counts.append(len(statements))
            for statement, _, elapsed in statements:
                each.setdefault(" ".join(statement.split())[:70], []).append(elapsed * 1000)
        print(
            f"{label}: idle cycle database time {spread(times, 2)} ms "
            f"(min-median-max of {args.cycles}), {statistics.median(counts):.0f} statements, "
            f"{sum(calls.values())} MTurk call(s) {dict(calls)}"
        )
        for statement, elapsed in each.items():
            print(f"    {spread(elapsed, 3)} ms  {statement}")

    idle_cycles("no history")
    started = time.perf_counter()
    insert_history(app, key, args.history)
    print(f"history: {args.history} completed items and responses in {time_since(started)}")
    idle_cycles(f"{args.history} completed items and responses")
    if args.explain:
        with app.app_context(), clock.measuring() as statements:
            poll_once(db.session, mturk_gateway())
        explain(app, statements)
    server.shutdown()


def insert_history(app: Flask, key: str, count: int, per_hitblock: int = 1000) -> None:
    """``count`` completed items, each with one approved response, in completed hitblocks of
    ``per_hitblock`` items (a third with three workers per item), inserted directly."""
    client = app.test_client()
    now = utcnow()
    past = now - timedelta(days=30)
    with app.app_context():
        engine = db.engine
        for first in range(0, count, per_hitblock):
            n = first // per_hitblock
            hitblock = api(
                client,
                key,
                "/v1/hitblocks",
                {
                    "type": "image-transcription",
                    "title": f"history {n}",
                    "cost_per_item": 0.05,
                    "workers_per_item": 3 if n % 3 == 0 else 1,
                },
            )
            size = min(per_hitblock, count - first)
            with engine.begin() as connection:
                connection.execute(
                    update(Hitblock)
                    .where(Hitblock.id == hitblock["id"])
                    .values(status="completed", hit_type_id=f"HISTTYPE{n:011d}")
                )
                connection.execute(
                    insert(Item),
                    [
                        {
                            "hitblock_id": hitblock["id"],
                            "type": "image",
                            "params": {"image_url": f"https://images.example.org/h{first + i}"},
                            "status": "completed",
                            "cost": Decimal("0.06"),
                            "created": past,
                            "unique_request_token": f"hist-{first + i}",
                            "token_issued": past,
                            "hit_id": f"HISTHIT{first + i:013d}",
                            "published": past,
                            "last_polled": past,
                            "hit_done": True,
                        }
                        for i in range(size)
                    ],
                )
                item_ids = connection.scalars(
                    select(Item.id).where(Item.hitblock_id == hitblock["id"]).order_by(Item.id)
                ).all()
                connection.execute(
                    insert(Response),
                    [
                        {
                            "item_id": item_id,
                            "assignment_id": f"HISTASSIGNMENT{item_id:016d}",
                            "worker_id": f"AHISTWORKER{item_id % 500}",
                            "status": "approved",
                            "data": {"transcription": "12.00"},
                            "answer_xml": "",
                            "accepted": past,
                            "submitted": past,
                            "auto_approval_due": past + timedelta(days=3),
                            "reviewed": past,
                            "cost": Decimal("0.06"),
                            "created": past,
                            "flagged": False,
                        }
                        for item_id in item_ids
                    ],
                )
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))


def explain(app: Flask, statements: list[tuple[str, Any, float]]) -> None:
    with app.app_context(), db.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        for statement, parameters, elapsed in statements:
            print(f"\n{elapsed * 1000:.3f} ms  {' '.join(statement.split())}")
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            for row in rows:
                print("    " + (row[0] if postgres else str(row[-1])))


def spread(values: list[float], digits: int = 1) -> str:
    ordered = sorted(values)
    middle = statistics.median(ordered)
    return f"{ordered[0]:.{digits}f} / {middle:.{digits}f} / {ordered[-1]:.{digits}f}"


def time_since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


SCENARIOS: dict[str, Callable[[argparse.Namespace], None]] = {
    "work": scenario_work,
    "burst": scenario_burst,
    "idle": scenario_idle,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS), nargs="?", default="work")
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--with-work", type=int, default=50)
    parser.add_argument("--workers-per-item", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8, help="MTURK_CONCURRENCY")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--history", type=int, default=300_000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    SCENARIOS[args.scenario](args)


if __name__ == "__main__":
    main()
