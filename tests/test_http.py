"""Bodies of unknown length (``Transfer-Encoding: chunked``) over the size limit answer 413
and create nothing, whatever reads them, in the test client and behind both real servers."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Hitblock, Item
from app.services.accounts import create_key
from tests.conftest import basic_auth
from tests.helpers.servers import (
    SERVING,
    call,
    free_port,
    hitblocks,
    post_chunked,
    printed_key,
    read_until,
    scratch_env,
    serving_url,
    start,
    stop,
    wait_until_answering,
)

LIMIT = 2000
HTTP_LIMIT = 20_000
HITBLOCK = {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}


def csv_rows(count: int) -> bytes:
    return (
        "image_url\n" + "".join(f"https://example.org/{n:06d}.jpg\n" for n in range(count))
    ).encode()


@pytest.fixture
def limited(migrated_sqlite, tmp_path) -> Iterator[tuple[Flask, FlaskClient, dict[str, str]]]:
    path = tmp_path / "db.sqlite3"
    shutil.copy(migrated_sqlite, path)
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "MAX_CONTENT_LENGTH": LIMIT}
    )
    with app.app_context():
        key = create_key(db.session, "acme").key
    yield app, app.test_client(), basic_auth(key)
    with app.app_context():
        db.engine.dispose()


def post_chunked_in_client(
    client: FlaskClient, path: str, body: bytes, content_type: str, headers: dict[str, str]
) -> Any:
    """What a WSGI server hands over for a chunked body: no length, a stream the server ends."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(model.id))))  # type: ignore[attr-defined]


def multipart(rows: bytes) -> tuple[bytes, str]:
    boundary = "hitblocksboundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="items.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + rows
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("reader", ["json", "form", "csv", "multipart"])
def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(limited, reader):
    app, client, auth = limited
    hitblock = client.post("/v1/hitblocks", json=HITBLOCK, headers=auth).json
    items = f"/v1/hitblocks/{hitblock['id']}/items"
    if reader == "json":
        path, model = "/v1/hitblocks", Hitblock
        body, content_type = (
            json.dumps({**HITBLOCK, "description": "x" * LIMIT}).encode(),
            "application/json",
        )
    elif reader == "form":
        path, model = items, Item
        body = f"image_url=https://example.org/a.jpg&description={'x' * LIMIT}".encode()
        content_type = "application/x-www-form-urlencoded"
    elif reader == "csv":
        path, model, (body, content_type) = f"{items}/batch", Item, (csv_rows(100), "text/csv")
    else:
        path, model, (body, content_type) = f"{items}/batch", Item, multipart(csv_rows(100))
    before = count(app, model)
    assert len(body) > LIMIT

    response = post_chunked_in_client(client, path, body, content_type, auth)

    assert response.status_code == 413, response.json
    assert response.json["error"]["type"] == "invalid_request_error"
    assert f"limit of {LIMIT} bytes" in response.json["error"]["message"]
    assert count(app, model) == before


def test_a_chunked_body_up_to_the_limit_is_read_whole(limited):
    app, client, auth = limited
    hitblock = client.post("/v1/hitblocks", json=HITBLOCK, headers=auth).json
    head, url = csv_rows(60), b"https://example.org/"
    rows = head + url + b"p" * (LIMIT - len(head) - len(url) - len(b".jpg\n")) + b".jpg\n"
    assert len(rows) == LIMIT

    path = f"/v1/hitblocks/{hitblock['id']}/items/batch"
    response = post_chunked_in_client(client, path, rows, "text/csv", auth)

    assert response.status_code == 200, response.json
    assert response.json["count"] == 61


# ---- over real HTTP, behind both servers ------------------------------------------------


@pytest.fixture(scope="module", params=["hitblocks run", "gunicorn wsgi:app"])
def real_server(request, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The base URL and a key of the API served by ``hitblocks run`` or ``gunicorn wsgi:app``."""
    folder = tmp_path_factory.mktemp("chunked")
    env = scratch_env(
        folder, MAX_CONTENT_LENGTH=str(HTTP_LIMIT), MTURK_LOCAL_PORT="0", SCHEDULER="off"
    )
    if request.param == "hitblocks run":
        server = hitblocks("run", "--port", "0", "--workers", "2", env=env)
        output = read_until(server, SERVING)
        base, key = serving_url(output), printed_key(output)
    else:
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ]
        server = start(command, env)
        line = read_until(server, "Created the first account")[-1]
        base, key = f"http://127.0.0.1:{port}", line.split("API key ")[1].split()[0]
    try:
        wait_until_answering(f"{base}/v1/hitblocks")
        yield base, key
    finally:
        stop(server)


def test_a_chunked_csv_batch_over_the_limit_is_413_over_http(real_server):
    base, key = real_server
    status, hitblock, _ = call(f"{base}/v1/hitblocks", key, json_body=HITBLOCK)
    assert status == 200, hitblock
    items = f"{base}/v1/hitblocks/{hitblock['id']}/items"
    rows = csv_rows(2000)  # 62 kB: werkzeug cut it at 20 kB and 600-odd items were created
    assert len(rows) > 3 * HTTP_LIMIT

    status, body = post_chunked(f"{items}/batch", key, rows, "text/csv")

    assert status == 413, body
    assert body["error"]["type"] == "invalid_request_error"
    assert call(f"{base}/v1/hitblock/{hitblock['id']}/items", key)[1]["data"] == []


def test_a_chunked_body_within_the_limit_is_served_over_http(real_server):
    base, key = real_server
    status, hitblock, _ = call(f"{base}/v1/hitblocks", key, json_body=HITBLOCK)
    items = f"{base}/v1/hitblocks/{hitblock['id']}/items"

    status, body = post_chunked(f"{items}/batch", key, csv_rows(500), "text/csv")

    assert status == 200, body
    assert body["count"] == 500
    status, body = post_chunked(
        f"{base}/v1/hitblocks", key, json.dumps(HITBLOCK).encode(), "application/json"
    )
    assert (status, body["object"]) == (200, "hitblock")
