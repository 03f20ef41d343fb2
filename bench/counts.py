"""Reading hitblocks (``GET /v1/hitblocks/{id}``, ``GET /v1/hitblocks``) at any number of items.

    python bench/counts.py [--sizes 10000,300000] [--requests 300] [--runs 3]
                           [--before-tree DIR] [--database-url URL]

A scratch SQLite database (or --database-url, an empty one) migrated to head; an account
with five hitblocks, four of 100 items and one that grows to each of --sizes, its items
inserted directly (Core INSERT: 80% completed, 10% published, 5% pending, 5% deleted), its
counters then set as the migration sets them. At each size, --runs runs of --requests
requests each of ``GET /v1/hitblocks/{id}`` (the big one) and ``GET /v1/hitblocks`` (all
five) through Flask's test client (the whole API stack in this process, no network); prints
p50 and p90 per run, and the ratio of the median p50s, largest size over smallest (the
issue's goal: at most 1.2). --before-tree DIR: the same requests in a process of its own,
through the code in DIR (``git archive HEAD | tar -x -C DIR``: the correlated COUNTs), on
the same database, for comparison.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "measure":
    sys.path.insert(0, sys.argv[2])  # the tree under test (--before-tree)
else:
    sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Item, utcnow  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from tests.helpers import hitblocks as helpers  # noqa: E402

STATUSES = ["completed"] * 16 + ["published"] * 2 + ["pending", "deleted"]
CHUNK = 10_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# ---- reads ---------------------------------------------------------------------------------


def add_hitblock(session: Any, account_id: int) -> int:
    """An empty hitblock, its items inserted afterwards (``add_items``)."""
    return helpers.add_hitblock(session, account_id, 0)


def add_items(session: Any, hitblock_id: int, count: int, start: int) -> None:
    now = utcnow()
    for first in range(start, start + count, CHUNK):
        rows = [
            {
                "hitblock_id": hitblock_id,
                "type": "image",
                "params": {"image_url": f"https://e.org/{n}.jpg"},
                "status": STATUSES[n % len(STATUSES)],
                "cost": 0,
                "created": now,
            }
            for n in range(first, min(start + count, first + CHUNK))
        ]
        session.execute(insert(Item), rows)
    # As the migration backfills them: items inserted directly went past the services.
    session.execute(
        text(
            "UPDATE hitblocks SET num_items = (SELECT count(*) FROM items WHERE"
            " items.hitblock_id = hitblocks.id AND items.status != 'deleted'),"
            " num_items_completed = (SELECT count(*) FROM items WHERE"
            " items.hitblock_id = hitblocks.id AND items.status = 'completed')"
        )
    )
    session.commit()


def measure(url: str, key: str, hitblock_id: int, requests: int, runs: int) -> dict[str, Any]:
    """p50 and p90 (ms) of each read, per run."""
    app = create_app({"DATABASE_URL": url, "RATELIMIT_DEFAULT": "1000000 per second"})
    client = app.test_client()
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    paths = {"get": f"/v1/hitblocks/{hitblock_id}", "list": "/v1/hitblocks?limit=10"}
    found: dict[str, Any] = {name: [] for name in paths}
    for path in paths.values():
        assert client.get(path, headers=headers).status_code == 200  # warm up
    for _ in range(runs):
        for name, path in paths.items():
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.json
            found[name].append((statistics.median(times), percentile(times, 0.9)))
    body = client.get(paths["get"], headers=headers).json
    found["num_items"] = body["num_items"]
    with app.app_context():
        db.engine.dispose()
    return found


def reads(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    folder = tempfile.mkdtemp(prefix="bench-counts-")
    url = args.database_url or f"sqlite:///{folder}/hitblocks.sqlite3"
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        flask_migrate.upgrade()
        issued = create_key(db.session, "acme")
        account_id = issued.account_id
        big = add_hitblock(db.session, account_id)
        for _ in range(4):
            add_items(db.session, add_hitblock(db.session, account_id), 100, 0)
        db.engine.dispose()
    print(f"database: {url.split('?')[0]}; {args.runs} runs x {args.requests} requests")
    results: dict[str, dict[int, list[float]]] = {}
    stored = 0
    for size in sizes:
        with app.app_context():
            add_items(db.session, big, size - stored, stored)
            db.engine.dispose()
        stored = size
        trees = [("after", None)] + ([("before", args.before_tree)] if args.before_tree else [])
        for label, tree in trees:
            if tree is None:
                found = measure(url, issued.key, big, args.requests, args.runs)
            else:
                command = [sys.executable, __file__, "measure", tree, url, issued.key, str(big)]
                command += [str(args.requests), str(args.runs)]
                found = json.loads(subprocess.check_output(command, text=True).splitlines()[-1])
            for name in ("get", "list"):
                runs = found[name]
                p50s = [p50 for p50, _ in runs]
                results.setdefault(f"{label} {name}", {})[size] = p50s
                print(
                    f"{label:6} {size:>7} items  {name:4}  p50 "
                    + " ".join(f"{p50:6.2f}" for p50 in p50s)
                    + " ms  p90 "
                    + " ".join(f"{p90:6.2f}" for _, p90 in runs)
                    + f" ms  (num_items {found['num_items']})"
                )
    low, high = sizes[0], sizes[-1]
    for label, by_size in results.items():
        ratio = statistics.median(by_size[high]) / statistics.median(by_size[low])
        print(f"{label}: p50 at {high} / p50 at {low} = {ratio:.2f}")


def main() -> None:
    if sys.argv[1:2] == ["measure"]:  # a --before-tree run: print its figures as JSON
        url, key, hitblock_id, requests, runs = sys.argv[3:8]
        found = measure(url, key, int(hitblock_id), int(requests), int(runs))
        print(json.dumps(found))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    read = parser
    read.add_argument("--sizes", default="10000,300000")
    read.add_argument("--requests", type=int, default=300)
    read.add_argument("--runs", type=int, default=3)
    read.add_argument("--before-tree", default="")
    read.add_argument("--database-url", default="")
    reads(parser.parse_args())


if __name__ == "__main__":
    main()
