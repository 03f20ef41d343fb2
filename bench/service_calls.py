"""Raw requester API throughput of the bundled MTurk service: boto3 calls, no Hitblocks API.

    python bench/service_calls.py [--calls 1000] [--concurrency 32] [--operation create|get]
                                  [--server run|werkzeug] [--client-processes 4] [--keep]

Starts the bundled service on scratch databases in a temporary folder: ``run`` serves it as
``hitblocks run`` does (``hitblocks mturk-local``: its supervisor, gunicorn arbiter and
notification thread, ``app/serving.py``'s workers and threads), ``werkzeug`` as the tests and
``bench/publish.py`` do (Werkzeug's threaded server). Then --calls CreateHITWithHITType (or
GetHIT on HITs created first) are sent by --concurrency threads spread over
--client-processes processes (so that the clients' own signing does not share one GIL), each
thread with its keep-alive connection. Prints calls/s and the latency of one call, p50, p95
and p99, as the clients measured it, and the same with one call at a time (the service's own
cost, with no queueing); and the CPU time the service's processes spent per call, both ways
(from /proc), beside a Python loop's time, to compare machines.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publish import cpu_seconds, python_loop_seconds  # noqa: E402

from app.templates import HITBLOCK_TYPES, default_template, render  # noqa: E402
from mturk.client import load_credentials_file, make_client, resolve_endpoint  # noqa: E402
from mturk.questions import html_question  # noqa: E402

HOST = "127.0.0.1"
READY = "Local MTurk service: requester API at "
HIT_TYPE = {
    "Title": "Transcribe the text in an image",
    "Description": "Type the text you see in the image.",
    "Reward": "0.05",
    "AssignmentDurationInSeconds": 600,
    "AutoApprovalDelayInSeconds": 86_400,
}


def question(number: int) -> str:
    """The HTMLQuestion Hitblocks publishes for an image-transcription item."""
    kind = HITBLOCK_TYPES["image-transcription"]
    page = render(
        kind,
        default_template(kind, None),
        {"image_url": f"https://images.example.org/{number}.jpg"},
    )
    return html_question(page)


def client(endpoint: str, credentials_file: str, pool: int) -> Any:
    credentials = load_credentials_file(credentials_file)
    return make_client(
        resolve_endpoint(endpoint, endpoint),
        credentials=credentials,
        max_attempts=1,
        max_pool_connections=pool,
    )


def start_service(kind: str, folder: Path) -> tuple[subprocess.Popen[str], str, str]:
    """The bundled service, as ``hitblocks mturk-local`` (the part ``hitblocks run`` starts)
    or Werkzeug's threaded server; its URL and the credentials file of its requester."""
    credentials = str(folder / "mturk-credentials")
    env = {
        **os.environ,
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{folder / 'api.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": f"sqlite:///{folder / 'mturk.sqlite3'}",
        "HITBLOCKS_MTURK_CREDENTIALS_FILE": credentials,
        "HITBLOCKS_MTURK_LOCAL_PORT": "0",
        "HITBLOCKS_MTURK_LOCAL_CONTENT_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if kind == "run":
        command = [sys.executable, "-m", "app.cli", "mturk-local", "--port", "0"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-werkzeug", str(folder)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=copy_lines, args=(process.stdout, folder / "service.log", lines), daemon=True
    ).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if READY in line:
            return process, line.split(READY, 1)[1].split()[0].rstrip("/"), credentials
    stop(process)
    raise SystemExit(f"the service did not start; see {folder / 'service.log'}")


def serve_werkzeug(folder: str) -> None:
    """The comparison: the service on Werkzeug's threaded server, as ``bench/publish.py``."""
    from decimal import Decimal

    from werkzeug.serving import make_server

    from mturk.service import QuietHandler, create_service_app
    from mturk.service.requesters import ensure_local_credentials

    url = f"sqlite:///{folder}/mturk.sqlite3"
    ensure_local_credentials(url, f"{folder}/mturk-credentials", Decimal("10000"))
    app = create_service_app(url)
    server = make_server(HOST, 0, app, threaded=True, request_handler=QuietHandler)
    print(f"{READY}http://{HOST}:{server.server_port}/", flush=True)
    server.serve_forever()


def copy_lines(source: IO[str], path: Path, lines: queue.Queue[str]) -> None:
    with open(path, "w") as log:
        for line in source:
            log.write(line)
            lines.put(line)


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client_process(
    endpoint: str,
    credentials: str,
    operation: str,
    numbers: list[int],
    threads: int,
    hit_type_id: str,
    hit_ids: list[str],
    start: Any,
    results: Any,
) -> None:
    """One client process: ``threads`` threads share its calls; latencies go to ``results``."""
    mturk = client(endpoint, credentials, threads + 2)
    work: queue.Queue[int] = queue.Queue()
    for number in numbers:
        work.put(number)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def loop() -> None:
        mine: list[float] = []
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            try:
                if operation == "create":
                    mturk.create_hit_with_hit_type(
                        HITTypeId=hit_type_id,
                        MaxAssignments=1,
                        LifetimeInSeconds=86_400,
                        Question=question(number),
                        RequesterAnnotation=f"bench {number}",
                        UniqueRequestToken=f"bench-{os.getpid()}-{number}",
                    )
                else:
                    mturk.get_hit(HITId=hit_ids[number % len(hit_ids)])
            except Exception as error:  # counted, not fatal: the figure says how many
                with lock:
                    failures.append(type(error).__name__)
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    start.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, failures))


def run_calls(
    endpoint: str,
    credentials: str,
    operation: str,
    calls: int,
    concurrency: int,
    processes: int,
    hit_type_id: str,
    hit_ids: list[str],
) -> tuple[float, list[float], list[str]]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = max(1, min(processes, concurrency))
    children = []
    for index in range(processes):
        threads = concurrency // processes + (1 if index < concurrency % processes else 0)
        numbers = list(range(index, calls, processes))
        child = context.Process(
            target=client_process,
            args=(
                endpoint,
                credentials,
                operation,
                numbers,
                threads,
                hit_type_id,
                hit_ids,
                start,
                results,
            ),
        )
        child.start()
        children.append(child)
    time.sleep(1.5)  # the children import boto3 and build their clients
    began = time.perf_counter()
    start.set()
    latencies: list[float] = []
    failures: list[str] = []
    for _ in children:
        mine, failed = results.get()
        latencies.extend(mine)
        failures.extend(failed)
    elapsed = time.perf_counter() - began
    for child in children:
        child.join()
    return elapsed, latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def report(name: str, elapsed: float, latencies: list[float], failures: list[str]) -> None:
    ms = [seconds * 1000 for seconds in latencies]
    print(
        f"{name}: {len(latencies)} calls in {elapsed:.2f} s -> {len(latencies) / elapsed:.0f} "
        f"calls/s; latency p50 {percentile(ms, 0.5):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms; failures: {len(failures)} {sorted(set(failures))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--operation", choices=["create", "get"], default="create")
    parser.add_argument("--server", choices=["run", "werkzeug"], default="run")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--serve-werkzeug", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_werkzeug:
        serve_werkzeug(args.serve_werkzeug)
        return

    folder = Path(tempfile.mkdtemp(prefix="hitblocks-service-calls-"))
    process, endpoint, credentials = start_service(args.server, folder)
    try:
        mturk = client(endpoint, credentials, 4)
        hit_type_id = mturk.create_hit_type(**HIT_TYPE)["HITTypeId"]
        hit_ids = []
        if args.operation == "get":
            for number in range(100):
                created = mturk.create_hit_with_hit_type(
                    HITTypeId=hit_type_id, LifetimeInSeconds=86_400, Question=question(number)
                )
                hit_ids.append(created["HIT"]["HITId"])
        # A warm-up (imports, connections, caches), then one call at a time, then the load.
        run_calls(endpoint, credentials, args.operation, 50, 4, 1, hit_type_id, hit_ids)
        before = cpu_seconds(process.pid)
        serial = run_calls(endpoint, credentials, args.operation, 200, 1, 1, hit_type_id, hit_ids)
        serial_cpu = (cpu_seconds(process.pid) - before) / max(1, len(serial[1]))
        before = cpu_seconds(process.pid)
        loaded = run_calls(
            endpoint,
            credentials,
            args.operation,
            args.calls,
            args.concurrency,
            args.client_processes,
            hit_type_id,
            hit_ids,
        )
        loaded_cpu = (cpu_seconds(process.pid) - before) / max(1, len(loaded[1]))
    finally:
        stop(process)
    operation = "CreateHITWithHITType" if args.operation == "create" else "GetHIT"
    print(f"{operation} on the bundled service served by {args.server}:")
    report("  one at a time", *serial)
    report(f"  concurrency {args.concurrency} ({args.client_processes} client processes)", *loaded)
    print(
        f"  the service's CPU per call: {serial_cpu * 1000:.2f} ms one at a time, "
        f"{loaded_cpu * 1000:.2f} ms at concurrency {args.concurrency}; this machine's speed: "
        f"{python_loop_seconds():.2f} s for 10M steps of a Python loop"
    )
    log = (folder / "service.log").read_text()
    print(
        f"  service log: 'database is locked' x {log.count('database is locked')}, "
        f"tracebacks x {log.count('Traceback')}"
    )
    if args.keep:
        print(f"databases and log kept in {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
