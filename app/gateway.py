"""The app's MTurk gateway: built once per app from configuration, on first use."""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app

from mturk.client import Credentials, load_credentials_file, make_client, resolve_endpoint
from mturk.gateway import MTurkGateway

_lock = threading.Lock()


def local_service_url(app: Flask) -> str:
    return f"http://{app.config['MTURK_LOCAL_HOST']}:{app.config['MTURK_LOCAL_PORT']}"


def local_credentials_path(app: Flask) -> str:
    """Where ``hitblocks run`` keeps the key of Hitblocks' own requester on the bundled
    service: in the instance folder, not in the API's database."""
    return os.path.join(app.instance_path, "mturk-local-credentials")


def credentials_path(app: Flask) -> str | None:
    """The credentials file the gateway signs with; None: the standard AWS chain."""
    if app.config["MTURK_CREDENTIALS_FILE"]:
        return str(app.config["MTURK_CREDENTIALS_FILE"])
    if app.config["MTURK_ENDPOINT"] == "local":
        return local_credentials_path(app)
    return None


def gateway_credentials(app: Flask) -> Credentials | None:
    path = credentials_path(app)
    if path is None or not os.path.exists(path):
        return None
    return load_credentials_file(path)


def build_gateway(app: Flask) -> MTurkGateway:
    endpoint = resolve_endpoint(app.config["MTURK_ENDPOINT"], local_service_url(app))
    client = make_client(
        endpoint,
        credentials=gateway_credentials(app),
        region=app.config["MTURK_REGION"],
        max_attempts=int(app.config["MTURK_MAX_ATTEMPTS"]),
        max_pool_connections=int(app.config["MTURK_CONCURRENCY"]) + 2,
    )
    return MTurkGateway(client, endpoint)


def mturk_gateway() -> MTurkGateway:
    """The gateway of the current app (tests may put their own in ``extensions``)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    gateway = app.extensions.get("mturk_gateway")
    if gateway is None:
        with _lock:
            gateway = app.extensions.get("mturk_gateway") or build_gateway(app)
            app.extensions["mturk_gateway"] = gateway
    return gateway  # type: ignore[no-any-return]
