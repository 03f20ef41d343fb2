"""Real servers in subprocesses, on loopback ports: ``hitblocks run``, ``gunicorn wsgi:app``."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVING = "Serving the API at "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A subprocess and the lines it printed (stdout and stderr), read by a thread."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    reader: threading.Thread
    seen: list[str] = field(default_factory=list)


def scratch_env(folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a service on its own databases in ``folder``; ``settings`` are
    ``HITBLOCKS_*`` names without the prefix."""
    return {
        **os.environ,
        "HITBLOCKS_DATABASE_URL": f"sqlite:///{folder / 'api.sqlite3'}",
        "HITBLOCKS_MTURK_LOCAL_DATABASE_URL": f"sqlite:///{folder / 'mturk.sqlite3'}",
        "HITBLOCKS_MTURK_CREDENTIALS_FILE": str(folder / "mturk-local-credentials"),
        "HITBLOCKS_MTURK_LOCAL_SECRET_KEY": "scratch worker-session key",  # not instance/'s
        "HITBLOCKS_MTURK_LOCAL_CONTENT_PORT": "0",  # any free port: tests run side by side
        "PYTHONUNBUFFERED": "1",
        **{f"HITBLOCKS_{name}": value for name, value in settings.items()},
    }


def start(command: Sequence[str], env: dict[str, str], own_group: bool = False) -> Server:
    """``own_group``: in a process group of its own, as a terminal runs it (for Ctrl-C)."""
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_group,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    return Server(process, lines, reader)


def hitblocks(*args: str, env: dict[str, str], own_group: bool = False) -> Server:
    """``hitblocks ARGS`` in a subprocess."""
    return start([sys.executable, "-m", "app.cli", *args], env, own_group)


def stop(server: Server, timeout: float = 20) -> int:
    """SIGTERM (as a service manager stops it) unless it has exited; its exit code."""
    if server.process.poll() is None:
        server.process.terminate()
    code = server.process.wait(timeout=timeout)
    server.reader.join(timeout=10)
    assert server.process.stdout is not None
    server.process.stdout.close()
    return code


def read_until(server: Server, marker: str, timeout: float = 60) -> list[str]:
    """Lines printed until one holding ``marker`` (all lines so far, that one included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = server.lines.get(timeout=0.2)
        except queue.Empty:
            if server.process.poll() is not None and server.lines.empty():
                break
            continue
        server.seen.append(line)
        if marker in line:
            return list(server.seen)
    pytest.fail(f"{marker!r} not printed; got:\n{''.join(server.seen)}")


def drain(server: Server) -> list[str]:
    """Every line printed so far."""
    while True:
        try:
            server.seen.append(server.lines.get_nowait())
        except queue.Empty:
            return list(server.seen)


def serving_url(lines: Sequence[str]) -> str:
    line = next(line for line in lines if SERVING in line)
    return line.split(SERVING, 1)[1].split()[0]


def printed_key(lines: Sequence[str]) -> str:
    """The first key ``hitblocks run`` printed, from its ready ``curl`` line."""
    curl = next(line for line in lines if line.strip().startswith("curl "))
    return curl.split(" -u ")[1].strip().rstrip(":")


def auth_headers(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def call(
    url: str, key: str, form: dict[str, str] | None = None, json_body: Any = None
) -> tuple[int, Any, dict[str, str]]:
    """A request as curl sends it: GET, or POST of a form or JSON. Status, JSON, headers."""
    headers = auth_headers(key)
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def post_chunked(
    url: str, key: str, body: bytes, content_type: str, piece: int = 4096
) -> tuple[int, Any]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` and no Content-Length."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), piece):
            yield body[start : start + piece]

    try:
        connection.request(
            "POST",
            parts.path,
            body=pieces(),
            headers={**auth_headers(key), "Content-Type": content_type},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_until_answering(url: str, timeout: float = 60) -> None:
    """Until the server answers HTTP at all (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} never answered")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux: read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    result = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            result.add(pid)
    return result
