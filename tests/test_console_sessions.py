"""Console sessions end on the server: after 12 hours without use or 7 days after signing
in, whatever copies of the cookie exist (clock patched); and what the console shares with
the worker site (``mturk.web_sessions``): the secret key file and password hashing."""

from __future__ import annotations

import os
import stat

import pytest

from app.console import site
from app.services import users
from mturk import web_sessions
from mturk.service import workers
from tests.helpers.console import make_user, signed_in_client

HOUR = 3600


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    ticking = Clock(1_900_000_000.0)
    monkeypatch.setattr(site, "_now", ticking)
    return ticking


def signed_in(client) -> bool:
    answer = client.get("/console")
    return answer.status_code == 200 and "/console/sign-in" not in answer.headers.get(
        "Location", ""
    )


def test_a_session_unused_for_12_hours_ends(app, clock):
    make_user(app, "acme", "ann@acme.test")
    client = signed_in_client(app, "ann@acme.test")
    copy = app.test_client()  # a copied cookie: the same signed session elsewhere
    copy.set_cookie(
        "hitblocks_console_session", client.get_cookie("hitblocks_console_session").value
    )
    clock.now += 11 * HOUR
    assert signed_in(client)  # used: its last use is now
    clock.now += 11 * HOUR
    assert signed_in(client)  # 22 hours after signing in, but never 12 idle
    assert not signed_in(copy)  # the copy's last use is 22 hours old
    clock.now += 12 * HOUR + 1
    assert not signed_in(client)
    answer = client.get("/console", headers={"Accept": "application/json"})
    assert answer.status_code == 401


def test_a_session_ends_7_days_after_signing_in_however_used(app, clock):
    make_user(app, "acme", "ann@acme.test")
    client = signed_in_client(app, "ann@acme.test")
    for _ in range(14):  # every 12 hours minus a minute: never idle for long
        clock.now += 12 * HOUR - 60
        assert signed_in(client)
    clock.now += 12 * HOUR
    assert not signed_in(client)  # 7 days and then some since the sign-in
    assert signed_in(signed_in_client(app, "ann@acme.test"))  # signing in again works


def test_the_secret_key_file_and_password_hashing_are_shared(tmp_path):
    key = web_sessions.instance_secret_key(tmp_path, "some-site-key")
    assert len(key) == 64 and web_sessions.instance_secret_key(tmp_path, "some-site-key") == key
    mode = stat.S_IMODE(os.stat(tmp_path / "some-site-key").st_mode)
    assert mode == 0o600
    hashed = users.hash_password("correct horse battery staple")
    assert web_sessions.verify_password(hashed, "correct horse battery staple")
    assert not web_sessions.verify_password(hashed, "wrong horse battery staple")
    assert not web_sessions.verify_password("not a hash", "anything")
    # One implementation, used by both sites: no copy left in either.
    assert users._verify is workers._verify is web_sessions.verify_password
    assert users._decoy_hash is workers._decoy_hash is web_sessions.decoy_hash
    assert users._hasher is workers._hasher is web_sessions.password_hasher
