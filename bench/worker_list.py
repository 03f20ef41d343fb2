"""The worker site's HIT list with a marketplace's worth of HITs: time and SQL statements.

    python bench/worker_list.py [--groups 200] [--hits-per-group 100]

Fills a fresh local MTurk service (SQLite, in a temporary folder) with --groups HIT types of
--hits-per-group HITs each, through its store, signs a worker in, and times the list page
(/worker) in each sort and with a search, best of 5, through Flask's test client. Prints
milliseconds and SQL statements per page: the statements must not grow with the HITs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert, select  # noqa: E402

from mturk.questions import html_question  # noqa: E402
from mturk.service import create_service_app, local_store  # noqa: E402
from mturk.service.requesters import create_requester  # noqa: E402
from mturk.service.store import HIT, HITType, Requester, new_id, now  # noqa: E402
from mturk.service.workers import create_worker  # noqa: E402

PASSWORD = "a long enough password"
QUESTION = html_question('<form><input name="answer"><button>Submit</button></form>')


def fill(app, groups: int, per_group: int) -> None:
    store = local_store(app)
    with store.transaction() as session:
        create_requester(session, "bench")
        requester_id = session.scalars(select(Requester.id)).one()
    at = now()
    with store.transaction() as session:
        for number in range(groups):
            type_id = new_id()
            session.execute(
                insert(HITType).values(
                    id=type_id, requester_id=requester_id, title=f"Task {number}",
                    description="Transcribe a receipt", keywords="receipt, total",
                    reward_cents=5 + number % 50, assignment_duration=600,
                    auto_approval_delay=3600, qualification_requirements=[],
                    fingerprint=type_id, notification_active=False, created_at=at,
                )
            )  # fmt: skip
            session.execute(
                insert(HIT),
                [
                    {
                        "id": new_id(), "hit_type_id": type_id, "requester_id": requester_id,
                        "question": QUESTION, "max_assignments": 3, "created_at": at,
                        "expiration": at + 86400, "status": "Assignable",
                        "review_status": "NotReviewed", "expiry_told": False,
                    }
                    for _ in range(per_group)
                ],
            )  # fmt: skip
    create_worker(store, "bench@example.org", PASSWORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--hits-per-group", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    app = create_service_app(f"sqlite:///{folder / 'bench.sqlite3'}", sweep_interval=3600)
    fill(app, args.groups, args.hits_per_group)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/worker").text)
    assert token is not None
    data = {"email": "bench@example.org", "password": PASSWORD, "csrf_token": token[1]}
    assert client.post("/worker/login", data=data).status_code == 302
    statements: list[str] = []
    event.listen(
        local_store(app).engine, "before_cursor_execute",
        lambda *call: statements.append(call[2]),
    )  # fmt: skip
    total = args.groups * args.hits_per_group
    print(f"{args.groups} groups, {total} HITs ({args.hits_per_group} per group)")
    for label, path in [
        ("newest", "/worker"),
        ("reward", "/worker?sort=reward"),
        ("available", "/worker?sort=available"),
        ("search 'Task 19'", "/worker?q=Task+19"),
        ("page 5", "/worker?page=5"),
    ]:
        best = float("inf")
        for _ in range(5):
            statements.clear()
            started = time.perf_counter()
            response = client.get(path)
            best = min(best, time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
        shown = response.text.count("Accept &amp; work")
        print(f"  {label:18} {best * 1000:7.1f} ms  {len(statements):3} statements  {shown} groups")


if __name__ == "__main__":
    main()
