"""Configuration: defaults here, overridden by ``HITBLOCKS_*`` environment variables."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

ENV_PREFIX = "HITBLOCKS"


class DefaultConfig:
    """Embedded defaults, so ``hitblocks run`` works with no configuration at all."""

    # Empty means "a SQLite file in the instance folder" (resolved in ``configure``).
    DATABASE_URL = ""
    # Upgrade the schema on ``hitblocks run``/wsgi start; None means "only for SQLite".
    AUTO_MIGRATE: bool | None = None
    # Largest request body accepted, in bytes (a 10,000-row CSV is about 1-2 MB).
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # Largest number of rows one batch request may create.
    BATCH_MAX_ROWS = 10_000
    # Name of the account created on first start with an empty database.
    BOOTSTRAP_ACCOUNT = "default"

    # Which MTurk endpoint publishes HITs: local (the bundled service), sandbox, production,
    # or the URL of any service that speaks the Requester API.
    MTURK_ENDPOINT = "local"
    MTURK_LOCAL_HOST = "127.0.0.1"
    MTURK_LOCAL_PORT = 5001
    # Empty means "a SQLite file in the instance folder".
    MTURK_LOCAL_DATABASE_URL = ""
    # Balance of the requester Hitblocks creates for itself on the bundled service's first start.
    MTURK_LOCAL_BALANCE = "10000.00"
    # The access key MTurk calls are signed with, in ~/.aws/credentials format ([default]).
    # Empty: with the bundled service, instance/mturk-local-credentials (written on its first
    # start); with any other endpoint, the standard AWS credential chain.
    MTURK_CREDENTIALS_FILE = ""
    # The task content origin: HTMLQuestion pages run there, apart from the worker site, so
    # that their frame may keep storage and open popups. Its own port by default; its public
    # URL when it is reached at a host of its own behind a proxy (empty: http://HOST:PORT).
    MTURK_LOCAL_CONTENT_PORT = 5002
    MTURK_LOCAL_CONTENT_URL = ""
    # The worker site's public URL, the only page that may frame task content (empty:
    # http://MTURK_LOCAL_HOST:MTURK_LOCAL_PORT).
    MTURK_LOCAL_URL = ""
    # Accept ExternalQuestions at plain http:// URLs (local development only; MTurk refuses
    # them).
    MTURK_LOCAL_ALLOW_HTTP_EXTERNAL_URL = False
    # Proxies in front of the API and the local MTurk service whose X-Forwarded-For, -Proto and
    # -Host to believe (0: none, so a client cannot claim another address or https).
    PROXY_HOPS = 0
    MTURK_REGION = "us-east-1"
    # Notifications of the bundled MTurk service (UpdateNotificationSettings) go to SQS and SNS
    # at this endpoint (empty: AWS's own, by region; or any SQS/SNS-compatible service's URL),
    # in this region (empty: the one the destination names, else us-east-1), signed with
    # credentials from boto3's standard chain (AWS_ACCESS_KEY_ID..., ~/.aws, a role).
    NOTIFICATIONS_ENDPOINT_URL = ""
    NOTIFICATIONS_REGION = ""
    # An SQS queue (its URL) MTurk's notifications of Hitblocks' HIT types are sent to, read
    # by the scheduled-jobs process: work arrives as it is submitted. Its endpoint, region and
    # credentials come from the standard AWS settings (AWS_ENDPOINT_URL_SQS or
    # AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID...). Empty: the poller alone.
    MTURK_NOTIFICATION_QUEUE_URL = ""
    # Tries per MTurk call, retries included (botocore's standard mode: throttling and 5xx).
    MTURK_MAX_ATTEMPTS = 5
    # MTurk calls in flight at once when a whole hitblock is published.
    MTURK_CONCURRENCY = 8

    # `hitblocks run` serves the API through gunicorn: worker processes, and threads in each
    # (a request waiting on MTurk holds a thread, not a process).
    WEB_WORKERS = 3
    WEB_THREADS = 4

    # The poller: how often it runs, whether `hitblocks run` runs it ("off" to leave it to
    # `hitblocks worker`), and how many multi-worker HITs and due auto-approvals it checks
    # per cycle. Unset, the interval follows the setup (``poll_interval`` below): 300 s with a
    # notification queue (the cycle is then a safety net), 5 s with the bundled service (an
    # idle cycle costs one local call per HIT type with open work), 30 s otherwise.
    POLL_INTERVAL_SECONDS: int | None = None
    SCHEDULER = "on"
    POLL_PARTIAL_BUDGET = 20
    POLL_DUE_BUDGET = 100

    # Requests per API key, in Flask-Limiter's notation ("100 per second", "1000/hour;20/second"),
    # counted in memory, or in Redis (or any storage Flask-Limiter knows) at this URL.
    RATELIMIT_DEFAULT = "100 per second"
    RATELIMIT_STORAGE_URL = ""

    # Webhook and callback deliveries: how often the sender runs, and whether destinations on
    # private, loopback or link-local addresses are allowed (off: a requester must not reach
    # the service's own network through them).
    WEBHOOK_INTERVAL_SECONDS = 2
    CALLBACKS_ALLOW_PRIVATE = False

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    JSON_SORT_KEYS = False

    API_TITLE = "Hitblocks API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/v1"
    OPENAPI_JSON_PATH = "openapi.json"


def configure(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Load defaults, then ``HITBLOCKS_*`` variables, then explicit overrides (tests)."""
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.update(overrides)

    url = str(app.config["DATABASE_URL"] or "")
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "hitblocks.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(url)
    local_url = str(app.config["MTURK_LOCAL_DATABASE_URL"] or "")
    if not local_url:
        os.makedirs(app.instance_path, exist_ok=True)
        local_url = "sqlite:///" + os.path.join(app.instance_path, "mturk-local.sqlite3")
    app.config["MTURK_LOCAL_DATABASE_URL"] = normalize_database_url(local_url)
    if app.config["POLL_INTERVAL_SECONDS"] is None:
        app.config["POLL_INTERVAL_SECONDS"] = poll_interval(app.config)
    if app.config["AUTO_MIGRATE"] is None:
        app.config["AUTO_MIGRATE"] = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


NOTIFIED_POLL_INTERVAL = 300
LOCAL_POLL_INTERVAL = 5
POLL_INTERVAL = 30


def poll_interval(config: Any) -> int:
    """The default poll interval: with notifications the cycle only catches what a lost
    message missed; with the bundled service a call is local, so a short one makes the quick
    start feel live; against a remote MTurk, 30 s."""
    if config["MTURK_NOTIFICATION_QUEUE_URL"]:
        return NOTIFIED_POLL_INTERVAL
    if config["MTURK_ENDPOINT"] == "local":
        return LOCAL_POLL_INTERVAL
    return POLL_INTERVAL


def normalize_database_url(url: str) -> str:
    """Accept the usual PostgreSQL spellings and pick the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
