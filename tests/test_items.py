from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, insert, select, update

from app.extensions import db
from app.models import Hitblock, Item, Response, utcnow
from app.services.accounts import create_key
from tests.conftest import basic_auth
from tests.helpers.hitblocks import add_hitblock
from tests.test_errors import assert_error

SEED_ITEM = {
    "type": "image",
    "image_url": "http://www.images.com/my-image.jpg",
    "description": "My image from personal website",
}
SUBMIT = "<button>Submit</button></form>"  # ends an html template's form


def count_items(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Item.id)))


def test_create_item_from_form_fields_as_in_the_seed_curl(client, auth, hitblock):
    response = client.post(f"/v1/hitblocks/{hitblock['id']}/items", data=SEED_ITEM, headers=auth)
    assert response.status_code == 200, response.json
    item = response.json
    assert item["object"] == "item"
    assert isinstance(item["id"], int)
    assert item["type"] == "image"
    assert item["hitblock"] == hitblock["id"]
    assert item["status"] == "pending"
    assert item["cost"] == 0
    assert item["currency"] == "usd"
    assert isinstance(item["created"], int)
    assert item["params"] == {
        "image_url": "http://www.images.com/my-image.jpg",
        "description": "My image from personal website",
    }
    assert item["responses"] == []


@pytest.mark.parametrize(
    "body",
    [
        SEED_ITEM,
        {"type": "image", "params": {k: v for k, v in SEED_ITEM.items() if k != "type"}},
        {"params": {"image_url": SEED_ITEM["image_url"]}, "description": SEED_ITEM["description"]},
    ],
)
def test_create_item_from_json_top_level_or_params(client, auth, hitblock, body):
    response = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=body, headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["params"] == {
        "image_url": SEED_ITEM["image_url"],
        "description": SEED_ITEM["description"],
    }


def test_create_item_from_nested_form_params(client, auth, hitblock):
    body = {"params[image_url]": "https://example.org/x.png", "params[note]": "n"}
    response = client.post(f"/v1/hitblock/{hitblock['id']}/items", data=body, headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["params"] == {"image_url": "https://example.org/x.png", "note": "n"}


@pytest.mark.parametrize(
    ("hitblock_fields", "item", "param"),
    [
        ({}, {"type": "text", "image_url": "http://a.org/x.png"}, "type"),
        ({}, {"type": "video", "image_url": "http://a.org/x.png"}, "type"),
        ({}, {"type": "image"}, "image_url"),
        ({}, {"image_url": "   "}, "image_url"),
        ({}, {"image_url": "javascript:alert(1)"}, "image_url"),
        ({}, {"image_url": "not a url"}, "image_url"),
        ({}, {"image_url": {"nested": 1}}, "image_url"),
        ({}, {"image_url": None}, "image_url"),
        ({}, {"image_url": "http://a.org/x.png", "bad-name": "x"}, "bad-name"),
        ({}, {"image_url": "http://a.org/x.png", "note": "x" * 65_536}, "note"),
        ({}, {"image_url": "http://a.org/x.png", "params": {"image_url": "http://b"}}, "image_url"),
        ({}, {"params": "nope"}, "params"),
        ({"type": "text-classification", "labels": ["a", "b"]}, {"type": "image"}, "type"),
        ({"type": "text-classification", "labels": ["a", "b"]}, {"type": "text"}, "text"),
        (
            {"type": "html", "template": "<form>${question} ${choices}" + SUBMIT},
            {"question": "q"},
            "choices",
        ),
        (
            {"type": "html", "template": "<form>${question}" + SUBMIT},
            {"type": "text", "question": "q"},
            "type",
        ),
    ],
)
def test_invalid_items_are_400_naming_the_field_and_create_nothing(
    app, client, auth, make_hitblock, hitblock_fields, item, param
):
    created = make_hitblock(**hitblock_fields)
    response = client.post(f"/v1/hitblocks/{created['id']}/items", json=item, headers=auth)
    assert_error(response, 400, param=param)
    assert count_items(app) == 0


def test_every_template_field_is_required_and_optional_description_is_not(
    client, auth, make_hitblock
):
    html = make_hitblock(type="html", template="<form><p>${question}</p><p>${context}</p>" + SUBMIT)
    path = f"/v1/hitblocks/{html['id']}/items"
    ok = client.post(path, json={"type": "html", "question": "q", "context": "c"}, headers=auth)
    assert ok.status_code == 200, ok.json
    assert ok.json["type"] == "html"

    text = make_hitblock(type="text-classification", labels=["spam", "ham"])
    response = client.post(f"/v1/hitblocks/{text['id']}/items", json={"text": "hi"}, headers=auth)
    assert response.status_code == 200
    assert response.json["type"] == "text"


def test_numbers_are_accepted_as_field_values(client, auth, make_hitblock):
    html = make_hitblock(type="html", template="<form>${n}" + SUBMIT)
    response = client.post(f"/v1/hitblocks/{html['id']}/items", json={"n": 3}, headers=auth)
    assert response.status_code == 200
    assert response.json["params"] == {"n": 3}


def test_get_item_in_both_spellings_with_its_responses(app, client, auth, hitblock):
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=SEED_ITEM, headers=auth).json
    submitted = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        db.session.add_all(
            [
                Response(
                    item_id=item["id"],
                    assignment_id="A1",
                    worker_id="AWORKER1",
                    status="approved",
                    data={"transcription": "total 12.00"},
                    submitted=submitted,
                ),
                Response(
                    item_id=item["id"],
                    assignment_id="A2",
                    worker_id="AWORKER2",
                    status="submitted",
                    data={"transcription": "total 12.0"},
                    submitted=submitted,
                ),
            ]
        )
        db.session.commit()
    for path in (f"/v1/item/{item['id']}", f"/v1/items/{item['id']}"):
        body = client.get(path, headers=auth).json
        assert body["id"] == item["id"]
        first, second = body["responses"]
        assert first["object"] == "response"
        assert first["data"] == {"transcription": "total 12.00"}
        assert first["approved"] is True
        assert first["status"] == "approved"
        assert first["worker_id"] == "AWORKER1"
        assert first["submitted"] == int(submitted.timestamp())
        assert second["approved"] is None


def test_list_items_in_both_spellings(client, auth, hitblock):
    first = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=SEED_ITEM, headers=auth).json
    for path in (f"/v1/hitblock/{hitblock['id']}/items", f"/v1/hitblocks/{hitblock['id']}/items"):
        body = client.get(path, headers=auth).json
        assert body == {"object": "list", "url": path, "has_more": False, "data": [first]}


def test_delete_item_then_it_is_404_everywhere(app, client, auth, hitblock):
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=SEED_ITEM, headers=auth).json
    response = client.delete(f"/v1/item/{item['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json == {"deleted": True, "id": item["id"]}
    assert_error(client.get(f"/v1/item/{item['id']}", headers=auth), 404)
    assert_error(client.delete(f"/v1/item/{item['id']}", headers=auth), 404)
    assert_error(client.post(f"/v1/item/{item['id']}/post", headers=auth), 404)
    listed = client.get(f"/v1/hitblocks/{hitblock['id']}/items", headers=auth).json
    assert listed["data"] == []
    assert count_items(app) == 1  # kept, so responses that arrive later are never lost


def test_another_accounts_item_is_404(client, auth, other_auth, hitblock):
    item = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=SEED_ITEM, headers=auth).json
    for method, path in [
        ("get", f"/v1/item/{item['id']}"),
        ("delete", f"/v1/item/{item['id']}"),
        ("post", f"/v1/item/{item['id']}/post"),
    ]:
        response = getattr(client, method)(path, headers=other_auth)
        assert_error(response, 404)
        assert response.json["error"]["message"] == f"No such item: {item['id']}"
    assert client.get(f"/v1/item/{item['id']}", headers=auth).status_code == 200


def test_canceled_hitblocks_take_no_items(app, client, auth, hitblock):
    with app.app_context():
        db.session.get(Hitblock, hitblock["id"]).status = "canceled"
        db.session.commit()
    response = client.post(f"/v1/hitblocks/{hitblock['id']}/items", json=SEED_ITEM, headers=auth)
    assert assert_error(response, 400)["code"] == "hitblock_canceled"


def test_listing_items_costs_the_same_queries_whatever_the_page_size(app, client, auth, hitblock):
    """Responses load in one query per page, not one per item."""
    from sqlalchemy import event

    path = f"/v1/hitblocks/{hitblock['id']}/items"
    rows = [{"image_url": f"http://x.org/{n}.png"} for n in range(60)]
    client.post(f"{path}/batch", json=rows, headers=auth)
    with app.app_context():
        item_ids = db.session.scalars(select(Item.id)).all()
        for n, item_id in enumerate(item_ids):
            db.session.add(
                Response(
                    item_id=item_id,
                    assignment_id=f"A{n}",
                    worker_id="AW",
                    data={},
                    submitted=datetime.now(UTC),
                )
            )
        db.session.commit()
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def queries(limit: int) -> int:
        statements.clear()
        body = client.get(f"{path}?limit={limit}", headers=auth).json
        assert len(body["data"]) == limit
        assert all(len(item["responses"]) == 1 for item in body["data"])
        return len(statements)

    assert queries(2) == queries(50) <= 4


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"image_url": "http://a.org/x.png", "note": "a\x00b"}, "note"),
        ({"params": {"image_url": "http://a.org/x.png", "note": "\x00"}}, "params[note]"),
        ({"params": {"image_url": "http://a.org/x.png", "no\x00te": "x"}}, "params[no\\u0000te]"),
    ],
)
def test_a_nul_in_item_params_is_400_naming_the_param(app, client, auth, hitblock, body, param):
    """PostgreSQL cannot store U+0000 in JSON: this was a 500 there (and stored on SQLite)."""
    path = f"/v1/hitblocks/{hitblock['id']}/items"
    error = assert_error(client.post(path, json=body, headers=auth), 400, param=param)
    assert "U+0000" in error["message"]
    form = {"image_url": "http://a.org/x.png", "params[note]": "a\x00b"}
    assert_error(client.post(path, data=form, headers=auth), 400, param="params[note]")
    assert count_items(app) == 0


@pytest.mark.parametrize("listed", [False, True], ids=["one item", "a page of items"])
def test_an_item_and_its_responses_are_read_as_of_one_moment(app, client, listed):
    """``GET /v1/item/{id}`` and ``GET /v1/hitblocks/{id}/items`` read items and their
    responses in one statement: a commit landing between two reads (the notification
    consumer storing an answer and completing the item) could show the new response beside
    the old status."""
    with app.app_context():
        issued = create_key(db.session, "acme")
        hitblock_id = add_hitblock(db.session, issued.account_id, 1)
        item_id = db.session.scalar(select(Item.id).where(Item.hitblock_id == hitblock_id))
        db.session.execute(update(Item).where(Item.id == item_id).values(status="published"))
        db.session.commit()
        engine = db.engine
    answered: list[bool] = []

    def answer_meanwhile(conn, cursor, statement, *_args) -> None:
        """Right after the API's first read of the item, another connection commits an
        answer and completes the item."""
        if answered or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "FROM items" not in statement:
            return
        answered.append(True)
        with engine.begin() as other:
            other.execute(
                insert(Response).values(
                    item_id=item_id,
                    assignment_id="AMEANWHILE0000000000000000000",
                    worker_id="AWORKER",
                    status="submitted",
                    data={"transcription": "12.00"},
                    submitted=utcnow(),
                )
            )
            other.execute(update(Item).where(Item.id == item_id).values(status="completed"))

    path = f"/v1/hitblocks/{hitblock_id}/items" if listed else f"/v1/item/{item_id}"
    event.listen(engine, "after_cursor_execute", answer_meanwhile)
    try:
        shown = client.get(path, headers=basic_auth(issued.key)).json
    finally:
        event.remove(engine, "after_cursor_execute", answer_meanwhile)
    if listed:
        [shown] = shown["data"]
    assert answered
    assert (shown["status"], len(shown["responses"])) in {("published", 0), ("completed", 1)}
