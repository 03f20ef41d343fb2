"""``/v1/openapi.json`` is a valid OpenAPI document that describes what the service does."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec


@pytest.fixture
def spec(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi(spec):
    validate_spec(spec)
    assert spec["info"]["title"] == "Hitblocks API"
    assert {"basicAuth", "bearerAuth"} <= set(spec["components"]["securitySchemes"])


def test_every_route_is_documented_and_nothing_else(app, spec):
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.rule == "/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method in operations
        if method != "parameters"
    }
    assert served == documented
    # Both spellings of the seed's paths are served and documented.
    assert ("/v1/hitblock/{hitblock_id}/items", "get") in documented
    assert ("/v1/hitblocks/{hitblock_id}/items", "post") in documented
    assert ("/v1/item/{item_id}", "delete") in documented


def check(spec, path, method, response, body=None):
    """The real response must match the schema the document gives for its status."""
    body = response.json if body is None else body
    responses = spec["paths"][path][method]["responses"]
    documented = responses.get(str(response.status_code)) or responses["default"]
    if "$ref" in documented:
        documented = spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]})
    errors = list(validator.iter_errors(body))
    assert not errors, (path, method, response.status_code, errors[0].message)
    return schema


def test_real_responses_match_their_documented_schemas(
    spec, client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(
        callback_url="https://example.com/cb",
        qualification_requirements=[
            {
                "qualification_type_id": "00000000000000000040",  # NumberHITsApproved
                "comparator": "EqualTo",
                "integer_values": [1],
            }
        ],
    )
    hid = hitblock["id"]
    check(spec, "/v1/hitblocks", "get", client.get("/v1/hitblocks", headers=auth))
    check(
        spec, "/v1/hitblock/{hitblock_id}", "get", client.get(f"/v1/hitblock/{hid}", headers=auth)
    )
    updated = client.patch(f"/v1/hitblocks/{hid}", json={"title": "x"}, headers=auth)
    check(spec, "/v1/hitblocks/{hitblock_id}", "patch", updated)

    item = client.post(
        f"/v1/hitblocks/{hid}/items", json={"image_url": "http://a.org/1.png"}, headers=auth
    )
    check(spec, "/v1/hitblocks/{hitblock_id}/items", "post", item)
    listed = client.get(f"/v1/hitblock/{hid}/items", headers=auth)
    check(spec, "/v1/hitblock/{hitblock_id}/items", "get", listed)
    check(
        spec, "/v1/item/{item_id}", "get", client.get(f"/v1/item/{item.json['id']}", headers=auth)
    )
    batch = client.post(
        f"/v1/hitblocks/{hid}/items/batch", json=[{"image_url": "http://a.org/2.png"}], headers=auth
    )
    check(spec, "/v1/hitblocks/{hitblock_id}/items/batch", "post", batch)
    post = client.post(f"/v1/item/{item.json['id']}/post", headers=auth)
    assert post.status_code == 200, post.json
    check(spec, "/v1/item/{item_id}/post", "post", post)
    posted = client.post(f"/v1/hitblocks/{hid}/post", headers=auth)
    assert posted.status_code == 200, posted.json
    check(spec, "/v1/hitblocks/{hitblock_id}/post", "post", posted)
    deleted = client.delete(f"/v1/item/{item.json['id']}", headers=auth)
    check(spec, "/v1/item/{item_id}", "delete", deleted)

    from app.extensions import db
    from app.models import Response

    with client.application.app_context():
        db.session.add(
            Response(
                item_id=item.json["id"], assignment_id="A1", worker_id="AW", data={"a": ["b"]},
                submitted=datetime.now(UTC), auto_approval_due=datetime.now(UTC),
            )
        )  # fmt: skip
        db.session.commit()
        response_id = db.session.scalar(db.select(Response.id))
    listed = client.get(f"/v1/hitblocks/{hid}/responses?status=submitted", headers=auth)
    check(spec, "/v1/hitblocks/{hitblock_id}/responses", "get", listed)
    one = client.get(f"/v1/responses/{response_id}", headers=auth)
    check(spec, "/v1/responses/{response_id}", "get", one)

    bad = client.post("/v1/hitblocks", json={"title": "x"}, headers=auth)
    assert bad.status_code == 400
    check(spec, "/v1/hitblocks", "post", bad)
    bad_batch = client.post(f"/v1/hitblocks/{hid}/items/batch", json=[{}], headers=auth)
    check(spec, "/v1/hitblocks/{hitblock_id}/items/batch", "post", bad_batch)
    check(spec, "/v1/hitblocks", "get", client.get("/v1/hitblocks"))  # 401 under "default"


def test_schema_check_can_fail(spec, client, auth, hitblock):
    """The response check above is not vacuous: a wrong body is caught."""
    response = client.get(f"/v1/hitblock/{hitblock['id']}", headers=auth)
    body = {**response.json, "cost_per_item": "0.10"}  # a string where the document says number
    with pytest.raises(AssertionError):
        check(spec, "/v1/hitblock/{hitblock_id}", "get", response, body)
