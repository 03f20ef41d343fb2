"""Shared fixtures: an app on a freshly migrated SQLite file per test, accounts and keys."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from app.services.accounts import create_key
from mturk.client import make_client, resolve_endpoint
from mturk.service import create_service_app, faults, local_store, serve_in_thread
from mturk.service.content import create_content_app
from mturk.service.requesters import write_credentials_file
from mturk.service.wire import Faults
from tests.helpers.requesters import new_requester
from tests.worker_site import register_service

POSTGRES_URL = os.environ.get(
    "HITBLOCKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (faster than migrating each)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def app(migrated_sqlite: Path, tmp_path: Path) -> Iterator[Flask]:
    path = tmp_path / "hitblocks.sqlite3"
    shutil.copy(migrated_sqlite, path)
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """The app's database session, for services tested without HTTP (with a fake gateway)."""
    with app.app_context():
        yield db.session


@pytest.fixture
def account_id(session: Any) -> int:
    """An account ("acme") with a key, for service tests."""
    return create_key(session, "acme").account_id


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def basic_auth(key: str) -> dict[str, str]:
    """HTTP Basic with the key as username and no password, as the seed's ``curl -u KEY:``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def new_key(app: Flask) -> Callable[[str], str]:
    def make(account_name: str) -> str:
        with app.app_context():
            return create_key(db.session, account_name).key

    return make


@pytest.fixture
def key(new_key: Callable[[str], str]) -> str:
    return new_key("acme")


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return basic_auth(key)


@pytest.fixture
def other_auth(new_key: Callable[[str], str]) -> dict[str, str]:
    return basic_auth(new_key("globex"))


HITBLOCK = {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}


@pytest.fixture
def make_hitblock(client: FlaskClient, auth: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def make(headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        response = client.post(
            "/v1/hitblocks", json={**HITBLOCK, **fields}, headers=headers or auth
        )
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[no-any-return]

    return make


@pytest.fixture
def hitblock(make_hitblock: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_hitblock()


def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} (HITBLOCKS_TEST_POSTGRES_URL)")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped after the test. Its name
    ends in a random suffix: the server may be shared by test runs going on at once, and a
    test's parameters may be cut off from its name."""
    schema = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    schema = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in schema)
    schema = f"{schema}_{secrets.token_hex(4)}"
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


# ---- the local MTurk service ------------------------------------------------------------


@dataclass
class LocalMTurk:
    """A local MTurk service on a loopback port, and a real boto3 client pointed at it."""

    url: str
    app: Flask
    client: Any
    content_url: str = ""  # the task content origin, on a port of its own
    credentials_file: str = ""  # the client's requester key, in ~/.aws/credentials format

    def __post_init__(self) -> None:
        register_service(self.url, self.app)  # so that tests.worker_site can make workers

    @property
    def faults(self) -> Faults:
        return faults(self.app)


@pytest.fixture
def mturk_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMTurk]:
    # Sweep on every request, so that tests see deadlines and auto-approvals at once.
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    url, content_url = (f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    local_app = create_service_app(
        f"sqlite:///{tmp_path / 'mturk-local.sqlite3'}", sweep_interval=0, content_url=content_url
    )
    content_app = create_content_app(local_store(local_app), url)
    servers = [
        serve_in_thread(app, "127.0.0.1", 0, poll_interval=0.05, fd=sock.fileno())
        for app, sock in zip([local_app, content_app], sockets, strict=True)
    ]
    for sock in sockets:
        sock.close()  # each server listens on its own duplicate
    # A requester, whose key the client signs with, and so do apps made in the test.
    issued, credentials_file = new_requester(local_app, "tests"), tmp_path / "mturk-credentials"
    write_credentials_file(str(credentials_file), issued)
    monkeypatch.setenv("HITBLOCKS_MTURK_CREDENTIALS_FILE", str(credentials_file))
    client = make_client(resolve_endpoint(url, url), credentials=issued.credentials, max_attempts=3)
    yield LocalMTurk(url, local_app, client, content_url, str(credentials_file))
    for server in servers:
        server.shutdown()
        server.server_close()
    client.close()  # type: ignore[attr-defined]
    local_app.extensions["mturk_local_store"].dispose()


@pytest.fixture
def mturk_postgres(postgres_schema_url: str) -> Iterator[LocalMTurk]:
    """The local MTurk service on PostgreSQL (whose transactions are not serialized as
    SQLite's), served from threads, with a requester's client; for races."""
    service = create_service_app(postgres_schema_url, sweep_interval=0, migrate=True)
    server = serve_in_thread(service, "127.0.0.1", 0, poll_interval=0.05)
    url = f"http://127.0.0.1:{server.server_port}"
    issued = new_requester(service, "tests")
    client = make_client(resolve_endpoint(url, url), credentials=issued.credentials)
    yield LocalMTurk(url, service, client)
    server.shutdown()
    server.server_close()
    client.close()  # type: ignore[attr-defined]
    local_store(service).dispose()


@pytest.fixture
def publishing(app: Flask, mturk_local: LocalMTurk) -> LocalMTurk:
    """The API app publishing to the local MTurk service of this test."""
    app.config["MTURK_ENDPOINT"] = mturk_local.url
    app.config["MTURK_CREDENTIALS_FILE"] = mturk_local.credentials_file
    app.config["MTURK_MAX_ATTEMPTS"] = 3
    return mturk_local


@pytest.fixture
def mturk_calls(app: Flask, publishing: LocalMTurk) -> Counter[str]:
    """MTurk calls the app makes, by operation, counted on its own boto3 client."""
    from app.gateway import mturk_gateway

    calls: Counter[str] = Counter()
    with app.app_context():
        events = mturk_gateway().client.meta.events
        events.register("before-call.mturk", lambda model, **_: calls.update([model.name]))
    return calls
