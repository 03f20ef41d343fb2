from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Hitblock


def assert_error(response, status, error_type="invalid_request_error", param=None):
    assert response.status_code == status, response.json
    assert response.is_json
    error = response.json["error"]
    assert error["type"] == error_type
    assert error["message"]
    assert set(error) >= {"type", "message", "param", "code"}
    if param is not None:
        assert error["param"] == param
    return error


def test_unknown_path_is_json_404(client, auth):
    error = assert_error(client.get("/v1/nothing-here", headers=auth), 404)
    assert "/v1/nothing-here" in error["message"]


def test_path_outside_v1_is_json_404(client):
    assert_error(client.get("/"), 404)


def test_non_numeric_and_huge_ids_are_404_not_500(client, auth):
    assert_error(client.get("/v1/item/abc", headers=auth), 404)
    assert_error(client.get("/v1/item/99999999999999999999", headers=auth), 404)
    assert_error(client.get("/v1/hitblocks/0", headers=auth), 404)


def test_wrong_method_is_405_with_allow(client, auth):
    response = client.delete("/v1/hitblocks", headers=auth)
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]
    assert "POST" in response.headers["Allow"]


def test_accept_without_json_is_406(client, auth):
    response = client.get("/v1/hitblocks", headers={**auth, "Accept": "text/html"})
    assert_error(response, 406)


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*", "text/html, */*"])
def test_accept_allowing_json_is_fine(client, auth, accept):
    assert client.get("/v1/hitblocks", headers={**auth, "Accept": accept}).status_code == 200


def test_body_over_the_limit_is_413_and_changes_nothing(migrated_sqlite, tmp_path):
    import shutil

    path = tmp_path / "db.sqlite3"
    shutil.copy(migrated_sqlite, path)
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "MAX_CONTENT_LENGTH": 1000}
    )
    from app.services.accounts import create_key
    from tests.conftest import basic_auth

    with app.app_context():
        key = create_key(db.session, "acme").key
    client = app.test_client()
    body = {"type": "html", "title": "t", "cost_per_item": 1, "template": "x" * 2000}
    response = client.post("/v1/hitblocks", json=body, headers=basic_auth(key))
    assert_error(response, 413)
    assert "1000" in response.json["error"]["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Hitblock.id))) == 0
        db.engine.dispose()


def test_malformed_json_is_400(client, auth):
    response = client.post(
        "/v1/hitblocks", data='{"title": ', content_type="application/json", headers=auth
    )
    error = assert_error(response, 400)
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_numbers_are_400(client, auth, hitblock, constant):
    body = '{"image_url": "http://a.org/x.png", "n": ' + constant + "}"
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    response = client.post(path, data=body, content_type="application/json", headers=auth)
    assert assert_error(response, 400)["code"] == "invalid_json"


def test_json_that_is_not_an_object_is_400(client, auth):
    assert_error(client.post("/v1/hitblocks", json=[1, 2], headers=auth), 400)


def test_unsupported_content_type_is_400(client, auth):
    response = client.post("/v1/hitblocks", data="hello", content_type="text/plain", headers=auth)
    error = assert_error(response, 400)
    assert error["code"] == "unsupported_content_type"


def test_unknown_query_parameter_is_400_naming_it(client, auth):
    assert_error(client.get("/v1/hitblocks?limt=5", headers=auth), 400, param="limt")


def test_unexpected_failure_is_500_api_error_without_internals(app, client, auth, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail: password=hunter2")

    monkeypatch.setattr("app.services.hitblocks.list_hitblocks", explode)
    response = client.get("/v1/hitblocks", headers=auth)
    error = assert_error(response, 500, "api_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert response.headers["Request-Id"] in error["message"]


def test_every_response_carries_a_request_id(client, auth, hitblock):
    responses = [
        client.get("/v1/hitblocks", headers=auth),
        client.get(f"/v1/hitblocks/{hitblock['id']}", headers=auth),
        client.get("/v1/hitblocks"),
        client.get("/v1/nope", headers=auth),
        client.delete("/v1/hitblocks", headers=auth),
        client.get("/v1/openapi.json"),
    ]
    ids = [response.headers.get("Request-Id") for response in responses]
    assert all(request_id and request_id.startswith("req_") for request_id in ids)
    assert len(set(ids)) == len(ids)
