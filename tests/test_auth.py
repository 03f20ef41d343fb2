from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from app.cli import main
from app.extensions import db
from app.models import ApiKey
from app.services.accounts import revoke_key
from tests.conftest import basic_auth, bearer_auth


def test_basic_auth_with_key_as_username(client, key):
    response = client.get("/v1/hitblocks", headers=basic_auth(key))
    assert response.status_code == 200
    assert response.json["object"] == "list"


def test_bearer_auth(client, key):
    assert client.get("/v1/hitblocks", headers=bearer_auth(key)).status_code == 200


def test_bearer_with_hybrid_style_trailing_colon(client, key):
    headers = {"Authorization": f"Bearer {key}:"}
    assert client.get("/v1/hitblocks", headers=headers).status_code == 200


def test_basic_auth_with_a_password_still_uses_the_username(client, key):
    token = base64.b64encode(f"{key}:ignored".encode()).decode()
    response = client.get("/v1/hitblocks", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b":").decode(),
        "Bearer ",
        "Bearer hb_nosuchkey",
        "Digest username=x",
        "Basic " + base64.b64encode(b"hb_nosuchkey:").decode(),
    ],
)
def test_missing_malformed_or_unknown_key_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/hitblocks", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["type"] == "authentication_error"
    assert response.json["error"]["message"]
    assert "Basic" in response.headers["WWW-Authenticate"]
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_unknown_key_message_masks_the_key(client):
    response = client.get("/v1/hitblocks", headers=bearer_auth("hb_secretsecretsecret1234"))
    assert "hb_secretsecretsecret1234" not in response.json["error"]["message"]
    assert "1234" in response.json["error"]["message"]


def test_revoked_key_is_401(app, client, key):
    assert client.get("/v1/hitblocks", headers=basic_auth(key)).status_code == 200
    with app.app_context():
        assert revoke_key(db.session, key) is True
        assert revoke_key(db.session, key) is False
    response = client.get("/v1/hitblocks", headers=basic_auth(key))
    assert response.status_code == 401
    assert response.json["error"]["type"] == "authentication_error"


def test_keys_are_stored_hashed(app, key):
    with app.app_context():
        stored = db.session.scalars(db.select(ApiKey)).all()
    assert len(stored) == 1
    assert stored[0].key_hash != key
    assert key not in stored[0].key_hash
    assert stored[0].last4 == key[-4:]


def test_openapi_document_needs_no_key(client):
    assert client.get("/v1/openapi.json").status_code == 200


def test_unknown_paths_under_v1_need_a_key_first(client):
    """An unauthenticated caller learns nothing about which paths exist."""
    assert client.get("/v1/nope").status_code == 401


def test_cli_keys_create_prints_the_key_last_and_revoke_works(app, client, monkeypatch):
    runner = CliRunner()
    monkeypatch.setattr("app.cli.create_app", lambda: app)
    result = runner.invoke(main, ["keys", "create", "--account", "initech"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("hb_")
    assert client.get("/v1/hitblocks", headers=basic_auth(key)).status_code == 200

    second = runner.invoke(main, ["keys", "create", "--account", "initech"])
    second_key = second.output.strip().splitlines()[-1]
    assert second_key != key

    result = runner.invoke(main, ["keys", "revoke", key])
    assert result.exit_code == 0, result.output
    assert client.get("/v1/hitblocks", headers=basic_auth(key)).status_code == 401
    assert client.get("/v1/hitblocks", headers=basic_auth(second_key)).status_code == 200

    again = runner.invoke(main, ["keys", "revoke", key])
    assert again.exit_code != 0
    assert "No active API key" in again.output

    listed = runner.invoke(main, ["keys", "list", "--account", "initech"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert f"...{key[-4:]}" in lines[0] and "revoked" in lines[0]
    assert f"...{second_key[-4:]}" in lines[1] and "active" in lines[1]
    assert key not in listed.output


def test_two_keys_of_one_account_see_the_same_objects(client, new_key):
    first, second = new_key("acme"), new_key("acme")
    created = client.post(
        "/v1/hitblocks",
        json={"type": "image-transcription", "title": "t", "cost_per_item": 1},
        headers=basic_auth(first),
    ).json
    response = client.get(f"/v1/hitblocks/{created['id']}", headers=basic_auth(second))
    assert response.status_code == 200
