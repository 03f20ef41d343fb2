"""Per-key rate limits: in memory by default, in Redis when configured (127.0.0.1:6379,
or HITBLOCKS_TEST_REDIS_URL; those tests skip when Redis is not reachable)."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest

from app import create_app
from app.extensions import db
from app.services.accounts import create_key
from tests.conftest import basic_auth
from tests.test_errors import assert_error

REDIS_URL = os.environ.get("HITBLOCKS_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def limited_app(migrated_sqlite, tmp_path, **config):
    path = tmp_path / "limited.sqlite3"
    if not path.exists():
        shutil.copy(migrated_sqlite, path)
    return create_app(
        {"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "RATELIMIT_DEFAULT": "3 per minute",
         **config}
    )  # fmt: skip


def new_key(app, name="acme") -> str:
    with app.app_context():
        return create_key(db.session, name).key


def check_limit(client, key, other_key):
    auth = basic_auth(key)
    for remaining in (2, 1, 0):
        response = client.get("/v1/hitblocks", headers=auth)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert "RateLimit-Reset" in response.headers
    over = client.get("/v1/hitblocks", headers=auth)
    error = assert_error(over, 429, "rate_limit_error")
    assert error["message"].startswith(
        "Too many requests for this API key: the limit is 3 per minute. Retry after "
    )
    assert 0 < int(over.headers["Retry-After"]) <= 60
    assert f"Retry after {over.headers['Retry-After']} s." in error["message"]
    assert over.headers["RateLimit-Remaining"] == "0"
    assert over.headers["Request-Id"].startswith("req_")
    assert client.get("/v1/hitblocks", headers=basic_auth(other_key)).status_code == 200


def test_limits_in_memory(migrated_sqlite, tmp_path):
    app = limited_app(migrated_sqlite, tmp_path)
    check_limit(app.test_client(), new_key(app), new_key(app, "other"))


def test_the_default_limit_is_generous(client, auth):
    response = client.get("/v1/hitblocks", headers=auth)
    assert response.headers["RateLimit-Limit"] == "100"


class Clock:
    """``time.time`` for Flask-Limiter, its storage and us: moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retry_after_is_the_whole_seconds_until_the_window_resets(
    migrated_sqlite, tmp_path, monkeypatch
):
    """Flask-Limiter's own Retry-After rounds down: 7 where 7.4 s remain, and 0 in a
    window's last second, so a client that obeys it is refused again."""
    clock = Clock(1_800_000_000.9)
    monkeypatch.setattr(time, "time", clock)
    app = limited_app(migrated_sqlite, tmp_path, RATELIMIT_DEFAULT="2 per 10 seconds")
    client, auth = app.test_client(), basic_auth(new_key(app))
    for _ in range(2):
        answer = client.get("/v1/hitblocks", headers=auth)
        assert answer.status_code == 200
        assert "Retry-After" not in answer.headers  # nothing to wait for
    clock.now = 1_800_000_003.5  # the window resets at ...010.9: 7.4 s from now
    over = client.get("/v1/hitblocks", headers=auth)
    error = assert_error(over, 429, "rate_limit_error")
    assert over.headers["Retry-After"] == "8"
    assert error["message"] == (
        "Too many requests for this API key: the limit is 2 per 10 seconds. Retry after 8 s."
    )
    assert error["code"] == "rate_limit"
    clock.now = 1_800_000_010.5  # 0.4 s left
    over = client.get("/v1/hitblocks", headers=auth)
    assert_error(over, 429, "rate_limit_error")
    assert over.headers["Retry-After"] == "1"
    clock.now += int(over.headers["Retry-After"])
    assert client.get("/v1/hitblocks", headers=auth).status_code == 200


def test_a_request_refused_by_the_limit_may_be_retried_with_its_idempotency_key(
    migrated_sqlite, tmp_path, monkeypatch
):
    """Nothing ran, so the 429 is not the key's answer: the retry runs."""
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(time, "time", clock)
    app = limited_app(migrated_sqlite, tmp_path, RATELIMIT_DEFAULT="1 per second")
    client, auth = app.test_client(), basic_auth(new_key(app))
    assert client.get("/v1/hitblocks", headers=auth).status_code == 200
    body = {"type": "image-transcription", "title": "Receipts", "cost_per_item": 0.1}
    headers = {**auth, "Idempotency-Key": "create-receipts"}
    refused = client.post("/v1/hitblocks", json=body, headers=headers)
    assert_error(refused, 429, "rate_limit_error")
    clock.now += int(refused.headers["Retry-After"])
    retried = client.post("/v1/hitblocks", json=body, headers=headers)
    assert retried.status_code == 200, retried.json
    assert "Idempotent-Replayed" not in retried.headers


@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (HITBLOCKS_TEST_REDIS_URL)")
    return REDIS_URL


def test_limits_in_redis_are_shared_by_every_process(migrated_sqlite, tmp_path, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    config = {"RATELIMIT_STORAGE_URL": redis_url, "RATELIMIT_KEY_PREFIX": prefix}
    first = limited_app(migrated_sqlite, tmp_path, **config)
    second = limited_app(migrated_sqlite, tmp_path, **config)  # another worker, same database
    key, other = new_key(first), new_key(first, "other")
    auth = basic_auth(key)
    assert first.test_client().get("/v1/hitblocks", headers=auth).status_code == 200
    assert second.test_client().get("/v1/hitblocks", headers=auth).status_code == 200
    assert first.test_client().get("/v1/hitblocks", headers=auth).status_code == 200
    assert_error(second.test_client().get("/v1/hitblocks", headers=auth), 429, "rate_limit_error")
    assert second.test_client().get("/v1/hitblocks", headers=basic_auth(other)).status_code == 200
