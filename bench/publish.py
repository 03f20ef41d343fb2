"""Publishing a hitblock of items as HITs on the local MTurk service, with added latency.

    python bench/publish.py [--items 1000] [--latency-ms 50] [--concurrency 8]

Starts the local MTurk service in a process of its own (every requester call delayed by
--latency-ms, as a remote endpoint would be) and the API on loopback ports, batch-creates the
items, then times POST /v1/hitblocks/{id}/post. Prints HITs per second and the MTurk calls
the API made, by operation, counted on the API's own boto3 client.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import socket
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.gateway import mturk_gateway  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from mturk.service import serve_in_thread  # noqa: E402
from mturk.service.requesters import ensure_local_credentials  # noqa: E402


def call(base: str, key: str, path: str, body: object) -> dict:
    token = base64.b64encode(f"{key}:".encode()).decode()
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    folder = tempfile.mkdtemp()
    mturk_port = free_port()
    keys = f"{folder}/mturk-credentials"  # a requester with money, and its key
    ensure_local_credentials(f"sqlite:///{folder}/mturk.sqlite3", keys, Decimal("100000"))
    local = multiprocessing.get_context("spawn").Process(
        target=serve_local,
        args=(f"sqlite:///{folder}/mturk.sqlite3", mturk_port, args.latency_ms / 1000),
        daemon=True,
    )
    local.start()
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/api.sqlite3",
            "MTURK_ENDPOINT": f"http://127.0.0.1:{mturk_port}",
            "MTURK_CREDENTIALS_FILE": keys,
            "MTURK_CONCURRENCY": args.concurrency,
        }
    )
    calls: Counter[str] = Counter()
    with app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "bench").key
        events = mturk_gateway().client.meta.events
        events.register("before-call.mturk", lambda model, **_: calls.update([model.name]))
    wait_for(mturk_port)
    api_server = serve_in_thread(app, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{api_server.server_port}"

    hitblock = call(
        base,
        key,
        "/v1/hitblocks",
        {"type": "image-transcription", "title": "bench", "cost_per_item": 0.05},
    )
    rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(args.items)]
    call(base, key, f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)

    started = time.perf_counter()
    result = call(base, key, f"/v1/hitblocks/{hitblock['id']}/post", {})
    elapsed = time.perf_counter() - started
    total = sum(calls.values())
    serial = args.items * args.latency_ms / 1000

    print(
        f"items: {args.items}, latency per MTurk call: {args.latency_ms:.0f} ms, "
        f"concurrency: {args.concurrency}"
    )
    print(f"published: {len(result['published'])}, failed: {len(result['failed'])}")
    print(
        f"time: {elapsed:.2f} s  ->  {len(result['published']) / elapsed:.1f} HITs/s "
        f"(one call at a time would need at least {serial:.1f} s)"
    )
    print(f"MTurk calls: {total} = {dict(sorted(calls.items()))}")
    print(
        f"calls beyond one CreateHITWithHITType per item: "
        f"{total - calls.get('CreateHITWithHITType', 0)}"
    )
    api_server.shutdown()
    local.terminate()


def serve_local(database_url: str, port: int, latency: float) -> None:
    from werkzeug.serving import run_simple

    from mturk.service import KeepAliveHandler, create_service_app

    app = create_service_app(database_url, latency=latency)
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=KeepAliveHandler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the local MTurk service did not start")


if __name__ == "__main__":
    main()
