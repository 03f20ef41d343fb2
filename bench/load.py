"""Concurrent clients on a read/write mix, against the server ``hitblocks run`` starts.

    python bench/load.py [--server gunicorn|werkzeug|both] [--clients 20] [--requests 4000]
                         [--seconds 30] [--workers N] [--keep]

Starts the service in a process of its own, on scratch databases in a temporary folder
(removed afterwards unless --keep) and on a free loopback port: ``hitblocks run``
(gunicorn), or for comparison Werkzeug's threaded development server, which ``hitblocks
run`` used before. It creates a key, a hitblock and 200 items, then each client loops over
the mix (of every 20 requests: 8 list hitblocks, 5 get an item, 4 list a hitblock's items,
3 create an item) until --requests have been sent or --seconds have passed, whichever comes
first. Prints requests/s and p50/p99 latency, overall and per kind, every answer that was
not 200, and how often the server's log says "database is locked". The rate limit is raised
for the run: this measures the server, not the limiter.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.bootstrap import prepare  # noqa: E402
from app.extensions import db  # noqa: E402

HOST = "127.0.0.1"
READY = "Serving the API at "
MIX = ["list_hitblocks"] * 8 + ["get_item"] * 5 + ["list_items"] * 4 + ["create_item"] * 3
SEED_ITEMS = 200


class Client:
    """One keep-alive connection (reopened when the server closes it), as an SDK would use."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=10)
        token = base64.b64encode(f"{key}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, json.loads(payload) if payload else None


def serve_werkzeug() -> None:
    """The comparison: the API alone on Werkzeug's threaded server, as ``flask run`` serves."""
    from werkzeug.serving import make_server

    server = make_server(HOST, 0, create_app(), threaded=True)
    print(f"{READY}http://{HOST}:{server.server_port}", flush=True)
    server.serve_forever()  # until SIGTERM ends the process


def start_server(kind: str, folder: Path, workers: int | None) -> tuple[subprocess.Popen, int]:
    env = {
        **os.environ,
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{folder / 'api.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": f"sqlite:///{folder / 'mturk.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_PORT": "0",
        "HITBLOCKS_RATELIMIT_DEFAULT": "1000000 per second",
        "PYTHONUNBUFFERED": "1",
    }
    if kind == "gunicorn":
        command = [sys.executable, "-m", "app.cli", "run", "--port", "0"]
        if workers:
            command += ["--workers", str(workers)]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-werkzeug"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=copy_lines, args=(process.stdout, folder / "server.log", lines), daemon=True
    )
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if READY in line:
            url = line.split(READY, 1)[1].split()[0]
            return process, int(url.rsplit(":", 1)[1])
    stop_server(process)
    raise SystemExit(f"the {kind} server did not start; see {folder / 'server.log'}")


def copy_lines(source: IO[str], path: Path, lines: queue.Queue[str]) -> None:
    """The server's output, to its log file and to whoever waits for the line saying it serves."""
    with open(path, "w") as log:
        for line in source:
            log.write(line)
            lines.put(line)


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_serving(port: int, key: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Client(port, key).call("GET", "/v1/hitblocks")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API never answered")


def run_clients(
    port: int, key: str, hitblock: int, item_ids: list[int], args: argparse.Namespace
) -> tuple[list[tuple[str, int, float]], float]:
    """Every client loops over the mix until the shared request count or the clock runs out."""
    sent = itertools.count()
    stop = threading.Event()
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def client_loop() -> None:
        client = Client(port, key)
        mine: list[tuple[str, int, float]] = []
        while not stop.is_set():
            number = next(sent)
            if number >= args.requests:
                break
            kind = MIX[number % len(MIX)]
            item = item_ids[(number * 7) % len(item_ids)]
            started = time.perf_counter()
            try:
                if kind == "list_hitblocks":
                    status, _ = client.call("GET", "/v1/hitblocks?limit=10")
                elif kind == "get_item":
                    status, _ = client.call("GET", f"/v1/item/{item}")
                elif kind == "list_items":
                    status, _ = client.call("GET", f"/v1/hitblock/{hitblock}/items?limit=20")
                else:
                    body = {"image_url": f"https://images.example.org/load/{number}.jpg"}
                    status, _ = client.call("POST", f"/v1/hitblocks/{hitblock}/items", body)
            except (OSError, http.client.HTTPException):
                status = 0
            mine.append((kind, status, time.perf_counter() - started))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
    timer = threading.Timer(args.seconds, stop.set)
    started = time.perf_counter()
    timer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    timer.cancel()
    return results, elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(name: str, results: list[tuple[str, int, float]], elapsed: float, folder: Path) -> None:
    latencies = [seconds * 1000 for _, _, seconds in results]
    print(f"\n== {name}: {len(results)} requests in {elapsed:.1f} s")
    print(
        f"requests/s: {len(results) / elapsed:.0f}   p50: {percentile(latencies, 0.5):.1f} ms"
        f"   p99: {percentile(latencies, 0.99):.1f} ms   mean: {statistics.mean(latencies):.1f} ms"
    )
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, _, seconds in results:
        by_kind[kind].append(seconds * 1000)
    for kind in dict.fromkeys(MIX):
        values = by_kind[kind]
        if values:
            print(
                f"  {kind:<15} {len(values):>6}   p50 {percentile(values, 0.5):7.1f} ms"
                f"   p99 {percentile(values, 0.99):7.1f} ms"
            )
    failures = Counter(status for _, status, _ in results if status != 200)
    print(f"answers other than 200: {dict(failures) or 'none'} (0: no answer)")
    log = (folder / "server.log").read_text()
    print(
        f"server log: 'database is locked' x {log.count('database is locked')}, "
        f"tracebacks x {log.count('Traceback')}"
    )


def bench(kind: str, args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"hitblocks-load-{kind}-"))
    app = create_app({"DATABASE_URL": f"sqlite:///{folder / 'api.sqlite3'}"})
    issued = prepare(app)
    assert issued is not None
    with app.app_context():
        db.engine.dispose()
    process, port = start_server(kind, folder, args.workers)
    try:
        wait_until_serving(port, issued.key)
        setup = Client(port, issued.key)
        hitblock_fields = {"type": "image-transcription", "title": "load", "cost_per_item": 0.05}
        _, hitblock = setup.call("POST", "/v1/hitblocks", hitblock_fields)
        rows = [{"image_url": f"https://images.example.org/{n}.jpg"} for n in range(SEED_ITEMS)]
        _, batch = setup.call("POST", f"/v1/hitblocks/{hitblock['id']}/items/batch", rows)
        warmup = argparse.Namespace(**{**vars(args), "requests": 4 * args.clients})
        run_clients(port, issued.key, hitblock["id"], batch["item_ids"], warmup)
        results, elapsed = run_clients(port, issued.key, hitblock["id"], batch["item_ids"], args)
    finally:
        stop_server(process)
    first = next(line for line in (folder / "server.log").read_text().splitlines() if READY in line)
    report(f"{kind} at {first.split(READY, 1)[1].split(';')[0]}", results, elapsed, folder)
    print(f"clients: {args.clients}")
    if args.keep:
        print(f"databases and server log kept in {folder}")
    else:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["gunicorn", "werkzeug", "both"], default="gunicorn")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=4000, help="at most this many")
    parser.add_argument("--seconds", type=float, default=30, help="at most this long")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--serve-werkzeug", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_werkzeug:
        serve_werkzeug()
        return
    for kind in ["gunicorn", "werkzeug"] if args.server == "both" else [args.server]:
        bench(kind, args)


if __name__ == "__main__":
    main()
