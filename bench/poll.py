"""Poll cost: 1,000 open HITs of which 50 receive work.

    python bench/poll.py [--hits 1000] [--with-work 50] [--workers-per-item 1]

Publishes the HITs on the local MTurk service, has workers submit to some of them through
the worker site, then runs poll cycles and prints the MTurk calls each made, counted on the
API's own boto3 client: the cycle that collects the work, and an idle one after it.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.gateway import mturk_gateway  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from app.services.polling import poll_once  # noqa: E402
from mturk.service import create_service_app, serve_in_thread  # noqa: E402
from mturk.service.requesters import ensure_local_credentials  # noqa: E402
from tests.worker_site import Worker  # noqa: E402


def api(client, key: str, path: str, body: object) -> dict:
    token = base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(path, json=body, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--with-work", type=int, default=50)
    parser.add_argument("--workers-per-item", type=int, default=1)
    args = parser.parse_args()

    folder = tempfile.mkdtemp()
    local = create_service_app(f"sqlite:///{folder}/mturk.sqlite3", sweep_interval=0)
    keys = f"{folder}/mturk-credentials"  # a requester with money, and its key
    ensure_local_credentials(f"sqlite:///{folder}/mturk.sqlite3", keys, Decimal("100000"))
    server = serve_in_thread(local, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/api.sqlite3",
            "MTURK_ENDPOINT": url,
            "MTURK_CREDENTIALS_FILE": keys,
        }
    )
    calls: Counter[str] = Counter()
    with app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "bench").key
        events = mturk_gateway().client.meta.events
        events.register("before-call.mturk", lambda model, **_: calls.update([model.name]))
    client = app.test_client()
    hitblock = api(
        client,
        key,
        "/v1/hitblocks",
        {
            "type": "image-transcription",
            "title": "bench",
            "cost_per_item": 0.05,
            "workers_per_item": args.workers_per_item,
        },
    )
    rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(args.hits)]
    api(client, key, f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)
    published = api(client, key, f"/v1/hitblocks/{hitblock['id']}/post", {})
    assert len(published["published"]) == args.hits

    token = base64.b64encode(f"{key}:".encode()).decode()
    items, after = [], None
    while True:
        query = f"?limit=100&starting_after={after}" if after else "?limit=100"
        page = client.get(
            f"/v1/hitblocks/{hitblock['id']}/items{query}",
            headers={"Authorization": f"Basic {token}"},
        ).json
        items += page["data"]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    worker = Worker(url, "ABENCH1", app=local)
    worker.sign_in()
    for item in items[: args.with_work]:
        worker.submit(worker.accept(item["hit_id"]), [("transcription", "12.00")])

    print(
        f"open HITs: {args.hits}, HITs with new work: {args.with_work}, "
        f"workers per item: {args.workers_per_item}"
    )
    for name in ("cycle with new work", "idle cycle"):
        calls.clear()
        started = time.perf_counter()
        with app.app_context():
            report = poll_once(db.session, mturk_gateway())
        elapsed = time.perf_counter() - started
        total = sum(calls.values())
        per = f"{total / report.new_responses:.2f}" if report.new_responses else "-"
        print(
            f"{name}: {total} MTurk calls, {report.new_responses} responses collected "
            f"({per} calls per response), {elapsed:.2f} s; {json.dumps(dict(calls))}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
