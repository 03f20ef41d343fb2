"""Batch ingestion through the HTTP API, next to the floor: the same rows by SQLAlchemy Core.

    python bench/ingest.py [--rows 10000] [--format csv|json] [--database-url URL]

Starts the real service on a loopback port (werkzeug's threaded server), creates a hitblock,
POSTs the rows to /v1/hitblocks/{id}/items/batch and times the round trip; then inserts the
same rows straight into the same database with one Core executemany. Prints items/second.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Hitblock, Item, utcnow  # noqa: E402
from app.services.accounts import create_key  # noqa: E402


def call(base: str, key: str, method: str, path: str, body: bytes, content_type: str) -> dict:
    token = base64.b64encode(f"{key}:".encode()).decode()
    request = urllib.request.Request(
        base + path,
        data=body,
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    args = parser.parse_args()

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = create_app({"DATABASE_URL": url, "BATCH_MAX_ROWS": max(args.rows, 10_000)})
    with app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "bench").key
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    urls = [f"https://images.example.org/receipts/{n:06d}.jpg" for n in range(args.rows)]
    if args.format == "csv":
        lines = ["image_url,description"] + [f"{u},receipt {n}" for n, u in enumerate(urls)]
        body, content_type = ("\n".join(lines) + "\n").encode(), "text/csv"
    else:
        rows = [{"image_url": u, "description": f"receipt {n}"} for n, u in enumerate(urls)]
        body, content_type = json.dumps(rows).encode(), "application/json"
    hitblock_body = json.dumps(
        {"type": "image-transcription", "title": "bench", "cost_per_item": 0.05}
    ).encode()

    api_times, core_times = [], []
    for _ in range(args.repeat):
        hitblock = call(base, key, "POST", "/v1/hitblocks", hitblock_body, "application/json")
        started = time.perf_counter()
        result = call(
            base, key, "POST", f"/v1/hitblocks/{hitblock['id']}/items/batch", body, content_type
        )
        api_times.append(time.perf_counter() - started)
        assert result["count"] == args.rows, result

        with app.app_context():
            hitblock_id = db.session.get(Hitblock, hitblock["id"]).id
            now = utcnow()
            values = [
                {
                    "hitblock_id": hitblock_id,
                    "type": "image",
                    "params": {"image_url": u, "description": f"receipt {n}"},
                    "status": "pending",
                    "cost": Decimal("0.00"),
                    "created": now,
                }
                for n, u in enumerate(urls)
            ]
            started = time.perf_counter()
            with db.engine.begin() as connection:
                connection.execute(insert(Item.__table__), values)
            core_times.append(time.perf_counter() - started)
    server.shutdown()

    api, core = min(api_times), min(core_times)
    best = f"best of {args.repeat}"
    print(f"database: {url.split('://')[0]}, rows per batch: {args.rows}, body: {args.format}")
    print(f"HTTP API batch:   {args.rows / api:10.0f} items/s  ({api:.3f} s, {best})")
    print(f"SQLAlchemy Core:  {args.rows / core:10.0f} items/s  ({core:.3f} s, {best})")
    print(f"API / floor:      {core / api:10.2f}")


if __name__ == "__main__":
    main()
