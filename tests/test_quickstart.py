"""The quick start for real: ``hitblocks run`` in a subprocess, then the README's curl."""

from __future__ import annotations

import base64
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Server = tuple[subprocess.Popen[str], queue.Queue[str], threading.Thread]


def start(database: Path, port: int, mturk_port: int, command: str = "run") -> Server:
    """``hitblocks <command> --port`` in a subprocess, on its own databases and ports."""
    env = {
        **os.environ,
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{database}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": f"sqlite:///{database.parent / 'mturk.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_PORT": str(mturk_port),
        "HITBLOCKS_MTURK_LOCAL_BALANCE": "25.00",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", command, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    return process, lines, reader


def stop(server: Server) -> None:
    process, _, reader = server
    process.terminate()
    process.wait(timeout=10)
    reader.join(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


def read_until(lines: queue.Queue[str], marker: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if marker in line:
            return seen
    pytest.fail(f"{marker!r} not printed; got:\n{''.join(seen)}")


def get(url: str, key: str, form: dict[str, str] | None = None) -> tuple[int, dict]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_first_start_migrates_prints_a_working_key_and_restart_keeps_it(tmp_path):
    database = tmp_path / "quickstart.sqlite3"
    port, mturk_port = free_port(), free_port()
    server = start(database, port, mturk_port)
    lines = server[1]
    try:
        output = read_until(lines, "Running on")
        worker_site = f"http://127.0.0.1:{mturk_port}/worker"
        assert any(worker_site in line for line in output), "the worker site URL is printed"
        with urllib.request.urlopen(worker_site, timeout=10) as page:
            assert "Worker ID" in page.read().decode()
        curl = next(line for line in output if line.strip().startswith("curl "))
        key = curl.split(" -u ")[1].strip().rstrip(":")
        assert f"http://127.0.0.1:{port}/v1/hitblocks" in curl
        status, body = get(f"http://127.0.0.1:{port}/v1/hitblocks", key)
        assert (status, body["object"]) == (200, "list")
        assert get(f"http://127.0.0.1:{port}/v1/hitblocks", "hb_wrong")[0] == 401

        # The whole loop on one machine: the item becomes a HIT on the bundled MTurk service.
        api = f"http://127.0.0.1:{port}/v1"
        hitblock = {"type": "image-transcription", "title": "Receipts", "cost_per_item": "0.10"}
        status, created = get(f"{api}/hitblocks", key, hitblock)
        assert status == 200, created
        image = {"type": "image", "image_url": "https://example.org/r.jpg"}
        status, item = get(f"{api}/hitblocks/{created['id']}/items", key, image)
        assert status == 200, item
        status, hit = get(f"{api}/item/{item['id']}/post", key, {})
        assert status == 200, hit
        assert hit["url"] == f"http://127.0.0.1:{mturk_port}/worker/hits/{hit['id']}"
    finally:
        stop(server)

    server = start(database, port, mturk_port)
    lines = server[1]
    try:
        output = read_until(lines, "Running on")
        assert not any("curl " in line for line in output), "a second start must not add a key"
        assert get(f"http://127.0.0.1:{port}/v1/hitblocks", key)[0] == 200
    finally:
        stop(server)


def test_wsgi_module_exposes_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("HITBLOCKS_DATABASE_URL", f"sqlite:///{tmp_path / 'wsgi.sqlite3'}")
    sys.modules.pop("wsgi", None)
    monkeypatch.syspath_prepend(str(ROOT))
    import wsgi

    response = wsgi.app.test_client().get("/v1/hitblocks")
    assert response.status_code == 401
    sys.modules.pop("wsgi", None)


def test_mturk_local_command_serves_the_requester_api_and_worker_site(tmp_path):
    from mturk.client import make_client, resolve_endpoint

    port = free_port()
    server = start(tmp_path / "api.sqlite3", port, port, command="mturk-local")
    try:
        output = read_until(server[1], "Running on")
        assert any(f"http://127.0.0.1:{port}/worker" in line for line in output)
        url = f"http://127.0.0.1:{port}"
        client = make_client(resolve_endpoint(url, url))
        assert client.get_account_balance()["AvailableBalance"] == "25.00"
        client.close()
    finally:
        stop(server)
