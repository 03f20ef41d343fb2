"""The MTurk-compatible service: the marketplace where HITs are worked since AWS's closed.

It speaks the same Requester API 2017-01-17 JSON protocol as AWS's endpoint, so boto3 reaches
it with ``endpoint_url`` and nothing else in Hitblocks knows the difference. Where things are:

- ``wire``: the protocol on ``POST /`` (AWS JSON 1.1, validated against botocore's model);
- ``operations``: the requester API, operation by operation; ``errors``: how it refuses;
- ``lifecycle``: what time does to HITs and assignments, their statuses, the money;
- ``worker_site``: the site where workers find, accept and submit work;
- ``content``: the task content origin, where HTMLQuestion pages run, apart from the worker site;
- ``store``: its tables and transactions.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from flask import Flask, redirect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from mturk.service import events, notifications, review
from mturk.service.operations import ALLOW_HTTP
from mturk.service.question_forms import MAX_SUBMISSION_BYTES
from mturk.service.store import Store
from mturk.service.uploads import blueprint as uploads_blueprint
from mturk.service.wire import Faults
from mturk.service.wire import blueprint as requester_blueprint
from mturk.service.worker_site import blueprint as worker_blueprint
from mturk.service.worker_site import init_worker_site

# The handlers of MTurk's events (``events``), registered once: notifications first, so that
# an event is queued before those a review policy's actions on it emit (a submission before
# the approval it earned); then review policies.
events.subscribe(notifications.on_event)
events.subscribe(review.on_event)


def create_service_app(
    database_url: str,
    latency: float = 0.0,
    rate_per_second: float = 0.0,
    sweep_interval: float = 1.0,
    content_url: str = "",
    allow_http_external_url: bool = False,
    secret_key: str | None = None,
    open_signup: bool = False,
    proxy_hops: int = 0,
    migrate: bool | None = None,
) -> Flask:
    """``sweep_interval``: how often, at most, time-driven changes (assignment deadlines,
    auto-approval, HIT expiry) are applied; they are applied before the next request after.
    ``content_url``: the public URL of the task content origin (``content``) that the worker
    site frames; ``allow_http_external_url``: accept plain http:// ExternalURLs (local dev).
    ``secret_key`` signs worker sessions (default: a new one, so sessions end with the
    process); ``open_signup``: anyone may sign up as a worker, not only the invited.
    ``proxy_hops``: how many proxies in front of the service to believe about the client's
    address, scheme and host (``X-Forwarded-*``): sign-in limits and Secure cookies need them.
    ``migrate``: upgrade the database's schema on start (None: only on SQLite)."""
    app = Flask(__name__, static_folder=None)
    store = Store(database_url, sweep_interval, migrate)
    store.settings[ALLOW_HTTP] = allow_http_external_url
    app.config["MTURK_CONTENT_URL"] = content_url.rstrip("/")
    # A worker's submission (QuestionForm file uploads included) carries at most this much;
    # more is refused with 413 (``worker_site.external_submit``).
    app.config["MAX_CONTENT_LENGTH"] = MAX_SUBMISSION_BYTES
    app.extensions["mturk_local_store"] = store
    app.extensions["mturk_local_faults"] = Faults(latency=latency, rate_per_second=rate_per_second)
    app.register_blueprint(requester_blueprint)
    app.register_blueprint(worker_blueprint)
    app.register_blueprint(uploads_blueprint)  # GetFileUploadURL's /files/<token>
    csrf = init_worker_site(app, secret_key or secrets.token_hex(32), open_signup)
    csrf.exempt(requester_blueprint)  # SigV4 protects the requester API
    app.add_url_rule("/", "home", lambda: redirect("/worker"), methods=["GET"])
    if proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops, x_host=proxy_hops
        )
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


def serve_in_thread(
    app: Flask, host: str, port: int, poll_interval: float = 0.5, fd: int | None = None
) -> BaseWSGIServer:
    """Serve the local service from a daemon thread (the tests); ``fd``: a socket already
    listening (so that two apps can each be told the other's URL before either serves)."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler, fd=fd)
    threading.Thread(
        target=server.serve_forever, args=(poll_interval,), name="mturk-local", daemon=True
    ).start()
    return server
