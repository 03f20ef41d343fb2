"""``hitblocks run`` as processes: gunicorn workers, the jobs in one process, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from app import serving
from tests.helpers.servers import (
    SERVING,
    alive,
    call,
    descendants,
    drain,
    hitblocks,
    printed_key,
    read_until,
    scratch_env,
    serving_url,
    stop,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def commands(pids: set[int]) -> list[str]:
    result = []
    for pid in pids:
        try:
            result.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return result


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_for(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def lease_holder_pids(database: Path) -> dict[str, int]:
    with sqlite3.connect(database, timeout=10) as connection:
        rows = connection.execute("SELECT name, holder FROM job_leases").fetchall()
    return {name: int(holder.split(":")[1]) for name, holder in rows}


def test_run_serves_through_gunicorn_workers_and_runs_the_jobs_in_one_process(tmp_path):
    env = scratch_env(
        tmp_path, MTURK_LOCAL_PORT="0", POLL_INTERVAL_SECONDS="1", WEBHOOK_INTERVAL_SECONDS="1"
    )
    server = hitblocks("run", "--port", "0", "--workers", "3", env=env)
    supervisor = server.process.pid
    try:
        output = read_until(server, SERVING)
        base, key = serving_url(output), printed_key(output)
        assert "with gunicorn (3 worker processes" in output[-1]
        status, _, headers = call(f"{base}/v1/hitblocks", key)
        assert status == 200
        assert headers["Server"].startswith("gunicorn")

        # One arbiter and three workers for the API, one and one for the MTurk service.
        def processes() -> list[str]:
            return commands(descendants(supervisor))

        wait_for(lambda: sum("serve-api" in line for line in processes()) == 4)
        wait_for(lambda: sum("mturk-local" in line for line in processes()) == 2)

        # Concurrent writes from several workers to one SQLite file all succeed.
        status, hitblock, _ = call(
            f"{base}/v1/hitblocks",
            key,
            json_body={"type": "image-transcription", "title": "t", "cost_per_item": 0.1},
        )
        answers: list[int] = []

        def create_items() -> None:
            for n in range(15):
                body = {"image_url": f"https://example.org/{n}.jpg"}
                url = f"{base}/v1/hitblocks/{hitblock['id']}/items"
                answers.append(call(url, key, json_body=body)[0])

        writers = [threading.Thread(target=create_items) for _ in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert answers == [200] * 120

        # Both jobs run, every time in the supervisor: never in a web worker.
        database = tmp_path / "api.sqlite3"
        wait_for(lambda: set(lease_holder_pids(database)) == {"poller", "webhooks"})
        holders = set()
        for _ in range(15):
            holders.update(lease_holder_pids(database).values())
            time.sleep(0.2)
        assert holders == {supervisor}
        pollers = [line for line in drain(server) if line.startswith("Poller:")]
        assert len(pollers) == 1 and f"in process {supervisor} " in pollers[0]
        tree = descendants(supervisor)
    finally:
        code = stop(server)
    assert code == 0
    wait_for(lambda: not alive(tree), timeout=15)


def test_ctrl_c_stops_every_process(tmp_path):
    env = scratch_env(tmp_path, MTURK_LOCAL_PORT="0")
    server = hitblocks("run", "--port", "0", "--workers", "2", env=env, own_group=True)
    try:
        read_until(server, SERVING)
        wait_for(lambda: len(descendants(server.process.pid)) == 5)
        tree = descendants(server.process.pid)
        os.killpg(server.process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        assert server.process.wait(timeout=30) == 0
    finally:
        stop(server)
    wait_for(lambda: not alive(tree), timeout=15)


def test_a_part_that_dies_stops_the_rest(tmp_path):
    env = scratch_env(tmp_path, MTURK_LOCAL_PORT="0", SCHEDULER="off")
    server = hitblocks("run", "--port", "0", "--workers", "2", env=env)
    try:
        read_until(server, SERVING)
        wait_for(lambda: len(descendants(server.process.pid)) == 5)
        tree = descendants(server.process.pid)
        api_arbiter = next(
            pid
            for pid in tree
            if parent_of(pid) == server.process.pid and "serve-api" in commands({pid})[0]
        )
        os.kill(api_arbiter, signal.SIGKILL)
        assert server.process.wait(timeout=30) == 1
    finally:
        stop(server)
    assert any("The API server exited" in line for line in drain(server))
    wait_for(lambda: not alive(tree), timeout=30)


@pytest.mark.parametrize("taken", ["api", "mturk"])
def test_a_port_in_use_is_refused_with_the_setting_to_change(tmp_path, taken):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = {"MTURK_LOCAL_PORT": str(port) if taken == "mturk" else "0"}
        api_port = str(port) if taken == "api" else "0"
        server = hitblocks("run", "--port", api_port, env=scratch_env(tmp_path, **settings))
        server.process.wait(timeout=60)
        assert stop(server) == 1
    output = "".join(drain(server))
    assert f"Cannot listen on 127.0.0.1:{port}" in output
    remedy = "HITBLOCKS_MTURK_LOCAL_PORT" if taken == "mturk" else "--port"
    assert remedy in output
    assert SERVING not in output


def test_the_access_log_leaves_out_queries_and_the_basic_user():
    """Queries carry invitation tokens and assignment ids, the Basic user is the API key."""
    for secret_atom in ("%(r)s", "%(q)s", "%(u)s", "%(f)s"):
        assert secret_atom not in serving.ACCESS_LOG_FORMAT
    assert "%(U)s" in serving.ACCESS_LOG_FORMAT  # the path alone
