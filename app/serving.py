"""Serving through gunicorn, the production WSGI server the project depends on.

``hitblocks run`` is a small supervisor. It listens on the ports itself (so a port in use is
reported at once, and port 0 works), hands each listening socket to a gunicorn arbiter of its
own, one for the API and one for the bundled MTurk service, runs the scheduled jobs in its own
process, and stops everything when it is stopped or when one part exits. The MTurk service's
arbiter listens on two ports, the service's and its task content origin's (``ByPort``).

- Two arbiters, not one serving both ports: the API calls the MTurk service, so a single pool
  of workers could be all busy waiting on calls that only a free worker could answer.
- The jobs in the supervisor, not in an arbiter or a worker: the supervisor is one process
  whatever the number of workers, and it never forks (its children are new interpreters), so
  the scheduler's threads cannot be copied into a child mid-lock, as a forking arbiter would.
- gthread workers: a request that waits on MTurk (a whole hitblock's publish) holds one thread,
  not a whole worker, and is not killed by the worker timeout; HTTP/1.1 keep-alive works.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import Engine

# Seconds a worker gets to finish its requests on SIGTERM before it is killed (gunicorn's
# default; Ctrl-C stops at once).
GRACEFUL_SECONDS = 30
BACKLOG = 2048
# The path without its query: queries carry invitation tokens and assignment ids (which alone
# let a task page submit), and the Basic user (the API key) is left out too.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# The bundled MTurk service: one process, its writes serialized by SQLite anyway (the store
# begins every transaction IMMEDIATE); threads for the API's concurrent calls and the poller.
# One process also lets concurrent calls share their commits (``mturk/service/group_commit``):
# a second process would wait for SQLite's lock by polling it instead (measured: no faster
# for publishing at concurrency 32 on 2 CPUs; neither were 4, 16 or 32 threads).
MTURK_LOCAL_WORKERS = 1
MTURK_LOCAL_THREADS = 8


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket, to be served by a gunicorn arbiter (``fd://``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn arbiter around an app loaded before it starts (gunicorn's ``preload_app``).

    Configured from ``options`` alone: unlike gunicorn's command, it reads no
    ``gunicorn.conf.py`` and no ``GUNICORN_CMD_ARGS``.
    """

    def __init__(self, app: Any, engines: Iterable[Engine], options: dict[str, Any]) -> None:
        self.application = app
        self.engines = list(engines)
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)
        # gunicorn 25.1+ opens a control socket by default, at one path per user: two
        # arbiters (or two checkouts) would fight over it, and nothing here uses it.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)
        self.cfg.set("post_fork", self.after_fork)

    def load(self) -> Any:
        return self.application

    def after_fork(self, server: Any, worker: Any) -> None:
        """A worker opens its own database connections: never the arbiter's, copied by fork."""
        for engine in self.engines:
            engine.dispose(close=False)


def serve(
    app: Any,
    engines: Iterable[Engine],
    fd: int | Sequence[int],
    *,
    name: str,
    workers: int,
    threads: int,
) -> None:
    """Serve ``app`` on the listening socket(s) ``fd`` until stopped (SIGTERM, SIGINT)."""
    fds = [fd] if isinstance(fd, int) else list(fd)
    options = {
        "bind": [f"fd://{each}" for each in fds],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": True,
        "proc_name": name,
        "accesslog": "-",
        # gunicorn's default format names the Basic-auth user, which here is the API key.
        "access_log_format": ACCESS_LOG_FORMAT,
        "graceful_timeout": GRACEFUL_SECONDS,
    }
    GunicornServer(app, engines, options).run()


def listening_port(fd: int) -> int:
    """The port a listening socket handed over by its descriptor is bound to."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        return int(sock.getsockname()[1])


class ByPort:
    """One WSGI app per listening port, for one arbiter serving several origins (the MTurk
    service and its task content origin): gunicorn sets ``SERVER_PORT`` from the socket a
    request came in on, never from the request's Host header."""

    def __init__(self, apps: dict[int, Any]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        app = self.apps.get(int(environ.get("SERVER_PORT") or 0))
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found."]
        return app(environ, start_response)


def stop_with_parent() -> None:
    """Have the kernel send SIGTERM when the supervisor dies, even by SIGKILL (Linux only):
    an arbiter must not serve on without it."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before the signal was asked for
            sys.exit("hitblocks run is gone; not serving without it.")


@dataclass
class Part:
    """One child of the supervisor: a gunicorn arbiter running a ``hitblocks`` command."""

    name: str
    process: subprocess.Popen[bytes]


def start_part(
    name: str,
    command: Sequence[str],
    sock: socket.socket,
    env: dict[str, str],
    more: Sequence[socket.socket] = (),
) -> Part:
    """``hitblocks <command> --fd N`` in a new interpreter that inherits only the socket, and
    the sockets ``more`` (under the same numbers, which ``command`` names)."""
    fd = sock.fileno()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *command, "--fd", str(fd)],
        pass_fds=[fd, *(each.fileno() for each in more)],
        env=env,
    )
    return Part(name, process)


def supervise(parts: Sequence[Part]) -> Part | None:
    """Wait until Ctrl-C or SIGTERM (None) or until a part exits (that part)."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            for part in parts:
                if part.process.poll() is not None:
                    return part
            time.sleep(0.2)
    except KeyboardInterrupt:
        return None
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_parts(parts: Sequence[Part]) -> None:
    """SIGTERM each part (a graceful stop for gunicorn), then SIGKILL what is left after the
    grace period. Ctrl-C and SIGTERM are ignored meanwhile: this is the stop they asked for."""
    previous = (
        signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    try:
        for part in parts:
            if part.process.poll() is None:
                part.process.terminate()
        deadline = time.monotonic() + GRACEFUL_SECONDS + 5
        for part in parts:
            try:
                part.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                part.process.kill()
                part.process.wait()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
