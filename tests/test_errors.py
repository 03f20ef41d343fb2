from __future__ import annotations

import json
import logging

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


def item_path(hitblock) -> str:
    return f"/v1/hitblocks/{hitblock['id']}/items"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e309"])
def test_numbers_beyond_a_double_are_400_not_infinity(app, client, auth, hitblock, number):
    body = '{"image_url": "http://a.org/x.png", "n": ' + number + "}"
    response = client.post(
        item_path(hitblock), data=body, content_type="application/json", headers=auth
    )
    error = assert_error(response, 400)
    assert error["code"] == "invalid_json"
    assert "out of range" in error["message"]
    assert client.get(item_path(hitblock), headers=auth).json["data"] == []


def nested(depth: int) -> str:
    return '{"image_url": "http://a.org/x.png", "n": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_json_nested_too_deep_is_400_without_a_traceback(
    app, client, auth, hitblock, caplog, depth
):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for headers in (auth, {**auth, "Idempotency-Key": f"deep-{depth}"}):
        response = client.post(
            item_path(hitblock), data=nested(depth), content_type="application/json",
            headers=headers,
        )  # fmt: skip
        error = assert_error(response, 400)
        assert error["code"] == "invalid_json"
        assert "nested deeper than 64 levels" in error["message"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_json_nested_64_levels_is_read(client, auth, hitblock):
    response = client.post(
        item_path(hitblock), data=nested(64), content_type="application/json", headers=auth
    )
    error = assert_error(response, 400, param="n")  # read, then refused as an item value
    assert error["code"] != "invalid_json"


def test_form_fields_nested_too_deep_are_400(app, client, auth, hitblock, caplog):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    key = "params" + "[a]" * 1000
    response = client.post(item_path(hitblock), data={key: "x"}, headers=auth)
    error = assert_error(response, 400, param="params")
    assert "nested deeper than 64 levels" in error["message"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("digits", ["\uff11", "\u0661", "\u0967", "\uff10\uff11"])
def test_ids_are_ascii_digits_only(client, auth, hitblock, digits):
    """werkzeug's int converter reads any Unicode digit: /v1/hitblock/１ found hitblock 1."""
    assert hitblock["id"] == int(digits)
    for path in (f"/v1/hitblock/{digits}", f"/v1/hitblocks/{digits}/items"):
        error = assert_error(client.get(path, headers=auth), 404)
        assert "Unrecognized request URL" in error["message"]
    assert client.get(f"/v1/hitblock/{hitblock['id']}", headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "image-transcription", "title": "a\x00b", "cost_per_item": 0.1}, "title"),
        (
            {"type": "image-transcription", "title": "t", "cost_per_item": 0.1,
             "qualification_requirements": [
                 {"qualification_type_id": "ABC", "comparator": "Exists"},
                 {"qualification_type_id": "ABC\x00", "comparator": "Exists"},
             ]},
            "qualification_requirements[1][qualification_type_id]",
        ),
        ({"type": "image-transcription", "title": "t", "cost_per_item": 0.1, "k\x00": 1},
         "k\\u0000"),
        ({"type": "image-transcription", "title": "t\ud800", "cost_per_item": 0.1}, "title"),
    ],
)  # fmt: skip
def test_strings_no_database_can_store_are_400_naming_the_param(app, client, auth, body, param):
    """U+0000 (and a lone surrogate) cannot go into PostgreSQL text or JSON: 500 there."""
    raw = json.dumps(body)  # escapes U+0000 as \\u0000 and a lone surrogate as \\ud800
    response = client.post("/v1/hitblocks", data=raw, content_type="application/json",
                           headers=auth)  # fmt: skip
    error = assert_error(response, 400, param=param)
    assert error["message"].startswith(f"Invalid {param}: must not contain ")
    with app.app_context():
        assert db.session.scalar(select(func.count(Hitblock.id))) == 0


def test_a_nul_in_form_fields_is_400_naming_the_field(app, client, auth):
    body = {"type": "image-transcription", "title": "t", "cost_per_item": "0.1",
            "qualification_requirements[0][qualification_type_id]": "A\x00",
            "qualification_requirements[0][comparator]": "Exists"}  # fmt: skip
    response = client.post("/v1/hitblocks", data=body, headers=auth)
    assert_error(response, 400, param="qualification_requirements[0][qualification_type_id]")
    response = client.post("/v1/hitblocks", data={**HITBLOCK_FORM, "ti\x00tle": "x"}, headers=auth)
    assert_error(response, 400, param="ti\\u0000tle")
    with app.app_context():
        assert db.session.scalar(select(func.count(Hitblock.id))) == 0


HITBLOCK_FORM = {"type": "image-transcription", "title": "t", "cost_per_item": "0.1"}
