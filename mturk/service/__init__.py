"""The MTurk-compatible service: the marketplace where HITs are worked since AWS's closed.

It speaks the same Requester API 2017-01-17 JSON protocol as AWS's endpoint, so boto3 reaches
it with ``endpoint_url`` and nothing else in Hitblocks knows the difference. Where things are:

- ``wire``: the protocol on ``POST /`` (AWS JSON 1.1, validated against botocore's model);
- ``operations``: the requester API, operation by operation; ``errors``: how it refuses;
- ``lifecycle``: what time does to HITs and assignments, their statuses, the money;
- ``worker_site``: the site where workers find, accept and submit work;
- ``store``: its tables and transactions.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from flask import Flask, redirect
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from mturk.service.store import Store
from mturk.service.wire import Faults
from mturk.service.wire import blueprint as requester_blueprint
from mturk.service.worker_site import blueprint as worker_blueprint


def create_service_app(
    database_url: str,
    starting_balance: Decimal = Decimal("10000.00"),
    latency: float = 0.0,
    rate_per_second: float = 0.0,
    sweep_interval: float = 1.0,
) -> Flask:
    """``sweep_interval``: how often, at most, time-driven changes (assignment deadlines,
    auto-approval, HIT expiry) are applied; they are applied before the next request after."""
    app = Flask(__name__, static_folder=None)
    store = Store(database_url, int(starting_balance * 100), sweep_interval)
    app.extensions["mturk_local_store"] = store
    app.extensions["mturk_local_faults"] = Faults(latency=latency, rate_per_second=rate_per_second)
    app.register_blueprint(requester_blueprint)
    app.register_blueprint(worker_blueprint)
    app.add_url_rule("/", "home", lambda: redirect("/worker"), methods=["GET"])
    return app


def faults(app: Flask) -> Faults:
    """The fault and latency knobs of a running local service (tests and benchmarks)."""
    result: Any = app.extensions["mturk_local_faults"]
    return result  # type: ignore[no-any-return]


def local_store(app: Flask) -> Store:
    """The store of a local service app (a server disposes its engine after forking)."""
    result: Any = app.extensions["mturk_local_store"]
    return result  # type: ignore[no-any-return]


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, so boto3 reuses its connections instead of reconnecting for every call."""

    protocol_version = "HTTP/1.1"


class QuietHandler(KeepAliveHandler):
    """No access log line per request: for the service run beside the API and in tests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve_in_thread(app: Flask, host: str, port: int, poll_interval: float = 0.5) -> BaseWSGIServer:
    """Serve the local service from a daemon thread (``hitblocks run`` and the tests)."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(
        target=server.serve_forever, args=(poll_interval,), name="mturk-local", daemon=True
    ).start()
    return server
