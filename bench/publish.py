"""Publishing a hitblock of items as HITs on the local MTurk service, with added latency.

    python bench/publish.py [--items 1000] [--latency-ms 50] [--concurrency 8]
                            [--against werkzeug|gunicorn|run] [--repeat 1]

--against werkzeug (the default): the local MTurk service in a process of its own on
Werkzeug's threaded server (every requester call delayed by --latency-ms, as a remote
endpoint would be), the API in this process, on loopback ports. --against gunicorn: the
service served as ``hitblocks run`` serves it (``hitblocks mturk-local``: gunicorn, with
``app/serving.py``'s workers and threads; no added latency), the API in this process.
--against run: ``hitblocks run`` itself, API and service as in production, on scratch
databases (no added latency).

Batch-creates the items, then times POST /v1/hitblocks/{id}/post. Prints HITs per second,
the CPU time each side spent per HIT (from /proc: the API process, the service's processes),
and, unless --against run, the MTurk calls the API made, by operation, counted on the API's
own boto3 client. --repeat N publishes N hitblocks one after another on the same servers.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402

from app import create_app  # noqa: E402
from app.bootstrap import prepare  # noqa: E402
from app.extensions import db  # noqa: E402
from app.gateway import mturk_gateway  # noqa: E402
from app.services.accounts import create_key  # noqa: E402
from mturk.service import serve_in_thread  # noqa: E402
from mturk.service.requesters import ensure_local_credentials  # noqa: E402

HOST = "127.0.0.1"
SERVICE_READY = "Local MTurk service: requester API at "
API_READY = "Serving the API at "


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
    parser.add_argument("--against", choices=["werkzeug", "gunicorn", "run"], default="werkzeug")
    parser.add_argument("--repeat", type=int, default=1, help="hitblocks published in turn")
    args = parser.parse_args()
    if args.against != "werkzeug" and args.latency_ms:
        parser.error("--latency-ms is only for --against werkzeug; give --latency-ms 0")

    folder = tempfile.mkdtemp()
    print(
        f"items: {args.items}, latency per MTurk call: {args.latency_ms:.0f} ms, "
        f"concurrency: {args.concurrency}, against: {args.against}; "
        f"this machine's speed: {python_loop_seconds():.2f} s for 10M steps of a Python loop"
    )
    if args.against == "run":
        bench_run(folder, args)
    else:
        bench_in_process(folder, args)


def bench_in_process(folder: str, args: argparse.Namespace) -> None:
    """The API in this process; the service in a process of its own."""
    keys = f"{folder}/mturk-credentials"  # a requester with money, and its key
    service_db = f"sqlite:///{folder}/mturk.sqlite3"
    if args.against == "werkzeug":
        mturk_port = free_port()
        ensure_local_credentials(service_db, keys, Decimal("100000"))
        local = multiprocessing.get_context("spawn").Process(
            target=serve_local, args=(service_db, mturk_port, args.latency_ms / 1000), daemon=True
        )
        local.start()
        wait_for(mturk_port)
        service_pid, endpoint = local.pid or 0, f"http://{HOST}:{mturk_port}"
    else:
        env = {"HITBLOCKS_MTURK_CREDENTIALS_FILE": keys}
        command = ["mturk-local", "--port", "0", "--content-port", "0"]
        service, lines = start_process(command, folder, env, "service.log")
        endpoint = wait_for_line(service, lines, SERVICE_READY).rstrip("/")
        service_pid = service.pid
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/api.sqlite3",
            "MTURK_ENDPOINT": endpoint,
            "MTURK_CREDENTIALS_FILE": keys,
            "MTURK_CONCURRENCY": args.concurrency,
            "RATELIMIT_DEFAULT": "1000000 per second",
        }
    )
    calls: Counter[str] = Counter()
    with app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "bench").key
        events = mturk_gateway().client.meta.events
        events.register("before-call.mturk", lambda model, **_: calls.update([model.name]))
    api_server = serve_in_thread(app, HOST, 0)
    base = f"http://{HOST}:{api_server.server_port}"
    try:
        for _ in range(args.repeat):
            calls.clear()
            publish(base, key, args, os.getpid(), service_pid)
            total = sum(calls.values())
            print(f"MTurk calls: {total} = {dict(sorted(calls.items()))}")
            print(
                f"calls beyond one CreateHITWithHITType per item: "
                f"{total - calls.get('CreateHITWithHITType', 0)}"
            )
    finally:
        api_server.shutdown()
        if args.against == "werkzeug":
            local.terminate()
        else:
            stop(service)


def bench_run(folder: str, args: argparse.Namespace) -> None:
    """``hitblocks run``: the API's and the service's gunicorn arbiters, as in production."""
    api_db = f"sqlite:///{folder}/api.sqlite3"
    issued = prepare(create_app({"DATABASE_URL": api_db}))
    assert issued is not None
    env = {
        "HITBLOCKS_DATABASE_URL": api_db,
        "HITBLOCKS_MTURK_CREDENTIALS_FILE": f"{folder}/mturk-credentials",
        "HITBLOCKS_MTURK_LOCAL_PORT": "0",
        "HITBLOCKS_MTURK_LOCAL_CONTENT_PORT": "0",
        "HITBLOCKS_MTURK_CONCURRENCY": str(args.concurrency),
        "HITBLOCKS_RATELIMIT_DEFAULT": "1000000 per second",
    }
    process, lines = start_process(["run", "--port", "0"], folder, env, "run.log")
    try:
        base = wait_for_line(process, lines, API_READY).split(" ")[0]
        wait_until_answering(base, issued.key)
        # Which processes are which: the API's arbiter and workers run `serve-api`.
        api_root = next(pid for pid in children(process.pid) if b"serve-api" in cmdline(pid))
        service_root = next(pid for pid in children(process.pid) if b"mturk-local" in cmdline(pid))
        for _ in range(args.repeat):
            publish(base, issued.key, args, api_root, service_root)
    finally:
        stop(process)


def publish(base: str, key: str, args: argparse.Namespace, api_pid: int, service_pid: int) -> None:
    """One hitblock of --items items, published in one call; prints the figures."""
    hitblock = call(
        base,
        key,
        "/v1/hitblocks",
        {"type": "image-transcription", "title": "bench", "cost_per_item": 0.05},
    )
    rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(args.items)]
    call(base, key, f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)

    cpu_before = cpu_seconds(api_pid), cpu_seconds(service_pid)
    started = time.perf_counter()
    result = call(base, key, f"/v1/hitblocks/{hitblock['id']}/post", {})
    elapsed = time.perf_counter() - started
    api_cpu = cpu_seconds(api_pid) - cpu_before[0]
    service_cpu = cpu_seconds(service_pid) - cpu_before[1]
    published = len(result["published"])
    serial = args.items * args.latency_ms / 1000

    print(f"published: {published}, failed: {len(result['failed'])}")
    print(
        f"time: {elapsed:.2f} s  ->  {published / elapsed:.1f} HITs/s "
        f"(one call at a time would need at least {serial:.1f} s)"
    )
    per_hit = max(published, 1) / 1000
    print(
        f"CPU per HIT: API {api_cpu / per_hit:.2f} ms, MTurk service {service_cpu / per_hit:.2f} ms"
        f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


def children(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [pid]
    for each in found:
        found.extend(child for child, parent in parents.items() if parent == each)
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def python_loop_seconds() -> float:
    """How fast this machine runs Python now (the best of three), printed beside the figures:
    they are CPU-bound, and the speed of a 2-CPU VM varies (one machine's CPU per HIT moved
    by a fifth within an hour), so that figures taken at two times or on two machines can be
    compared."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for step in range(10_000_000):
            total += step
        best = min(best, time.perf_counter() - started)
    return best


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and its descendants, threads included (Linux)."""
    ticks = 0
    for each in children(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def start_process(
    command: list[str], folder: str, env: dict[str, str], log: str
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """``hitblocks <command>`` on the scratch databases of ``folder``, its output in ``log``."""
    full_env = {
        **os.environ,
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": f"sqlite:///{folder}/mturk.sqlite3",
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{folder}/unused.sqlite3",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *command],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=copy_lines, args=(process.stdout, f"{folder}/{log}", lines), daemon=True
    ).start()
    return process, lines


def copy_lines(source: IO[str], path: str, lines: queue.Queue[str]) -> None:
    with open(path, "w") as log:
        for line in source:
            log.write(line)
            lines.put(line)


def wait_for_line(process: subprocess.Popen[str], lines: queue.Queue[str], ready: str) -> str:
    """What follows ``ready`` on the line of the process's output that holds it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if ready in line:
            return line.split(ready, 1)[1].split()[0]
    stop(process)
    raise SystemExit(f"no {ready!r} from the server")


def wait_until_answering(base: str, key: str) -> None:
    deadline = time.monotonic() + 60
    token = base64.b64encode(f"{key}:".encode()).decode()
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{base}/v1/hitblocks", headers={"Authorization": f"Basic {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the API never answered")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
