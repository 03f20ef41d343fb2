"""One answer shape, whatever built the task page: workers submit through the local MTurk
service's worker site, the poller stores their work, and the API shows it."""

from __future__ import annotations

import json
from datetime import timedelta

import flask_migrate
import pytest

from app import create_app
from app.extensions import db
from app.gateway import mturk_gateway
from app.services.accounts import create_key
from app.services.polling import poll_once
from tests.conftest import basic_auth
from tests.worker_site import complete

PLAIN_TEMPLATE = """
<form method="post" action="https://www.mturk.com/mturk/externalSubmit">
  <input type="hidden" name="assignmentId">
  <p>${text}</p>
  <label><input type="radio" name="label" value="spam"> Spam</label>
  <label><input type="radio" name="label" value="ham"> Ham</label>
  <label><input type="checkbox" name="topics" value="shop"> Shop</label>
  <label><input type="checkbox" name="topics" value="blog"> Blog</label>
  <select name="sizes" multiple><option>S</option><option>L</option></select>
  <input name="note">
  <input type="submit">
</form>
"""

CROWD_TEMPLATE = """
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <p>${text}</p>
  <label><input type="checkbox" name="topics" value="shop"> Shop</label>
  <label><input type="checkbox" name="topics" value="blog"> Blog</label>
</crowd-form>
"""


def published_items(client, auth, make_hitblock, template, count):
    hitblock = make_hitblock(type="html", template=template)
    rows = [{"text": f"Win a prize {n}!"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth)
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return sorted(items["data"], key=lambda item: item["id"])


def poll(app):
    with app.app_context():
        report = poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))
    assert report.errors == []


def response_of(client, auth, item):
    [response] = client.get(f"/v1/item/{item['id']}", headers=auth).json["responses"]
    return response


def test_a_plain_form_answers_strings_and_a_list_per_group(
    app, client, auth, make_hitblock, publishing
):
    items = published_items(client, auth, make_hitblock, PLAIN_TEMPLATE, 3)
    forms = [
        [("label", "spam"), ("topics", "shop"), ("topics", "blog"), ("sizes", "L")]
        + [("note", "a|b")],
        [("label", "ham"), ("topics", "blog"), ("note", "")],
        [("label", "ham"), ("note", "x")],  # nothing checked or selected: the browser sends none
    ]
    for n, (item, fields) in enumerate(zip(items, forms, strict=True)):
        complete(publishing.url, item["hit_id"], f"AWORKER{n}", fields)
    poll(app)

    two, one, none = (response_of(client, auth, item) for item in items)
    assert two["data"] == {
        "label": "spam",
        "topics": ["shop", "blog"],
        "sizes": ["L"],
        "note": "a|b",  # a text holding "|" is left whole
    }
    assert one["data"] == {"label": "ham", "topics": ["blog"], "sizes": [], "note": ""}
    assert none["data"] == {"label": "ham", "topics": [], "sizes": [], "note": "x"}
    assert two["answer_error"] is None
    # MTurk's own form stays available: one FreeText per name, a group's values joined by "|".
    assert (
        "<QuestionIdentifier>topics</QuestionIdentifier><FreeText>shop|blog</FreeText>"
        in (two["answer_xml"])
    )


def test_a_crowd_form_answer_keeps_its_types(app, client, auth, make_hitblock, publishing):
    [item] = published_items(client, auth, make_hitblock, CROWD_TEMPLATE, 1)
    fields = {"topics": ["shop"], "count": 3, "sure": {"on": True}, "box": {"left": 1.5}}
    complete(publishing.url, item["hit_id"], "AWORKER1", [("taskAnswers", json.dumps([fields]))])
    poll(app)

    response = response_of(client, auth, item)
    assert response["data"] == fields
    assert "<QuestionIdentifier>taskAnswers</QuestionIdentifier>" in response["answer_xml"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_database(request, app, client, auth, publishing):
    """(app, client, auth) on SQLite, then on PostgreSQL, whose text cannot hold U+0000."""
    if request.param == "sqlite":
        yield app, client, auth
        return
    pg_app = create_app(
        {
            "DATABASE_URL": request.getfixturevalue("postgres_schema_url"),
            "MTURK_ENDPOINT": publishing.url,
            "TESTING": True,
        }
    )
    with pg_app.app_context():
        flask_migrate.upgrade()
        key = create_key(db.session, "acme").key
    yield pg_app, pg_app.test_client(), basic_auth(key)
    with pg_app.app_context():
        db.engine.dispose()


def test_a_nul_in_an_answer_is_removed_and_flagged(any_database, publishing):
    app, client, auth = any_database
    hitblock = client.post(
        "/v1/hitblocks",
        json={"type": "html", "title": "Notes", "cost_per_item": 0.1, "template": PLAIN_TEMPLATE},
        headers=auth,
    ).json
    first, second = (
        client.post(f"/v1/hitblocks/{hitblock['id']}/items", json={"text": t}, headers=auth).json
        for t in ("one", "two")
    )
    hits = [
        client.post(f"/v1/item/{i['id']}/post", headers=auth).json["id"] for i in (first, second)
    ]
    complete(publishing.url, hits[0], "AWORKER1", [("note", "a\x00b"), ("topics", "sh\x00op")])
    crowd = json.dumps([{"note": "c\x00d", "k\x00": ["\x00"]}])  # sent escaped, as \u0000
    complete(publishing.url, hits[1], "AWORKER2", [("taskAnswers", crowd)])
    poll(app)

    # A form field's U+0000 cannot be put in XML: the service records U+FFFD in its place.
    plain = response_of(client, auth, first)
    assert plain["data"] == {"note": "a\ufffdb", "topics": ["sh\ufffdop"], "sizes": []}
    assert plain["answer_error"] is None
    # One escaped in crowd-form JSON reaches Hitblocks, which removes it and says so.
    response = response_of(client, auth, second)
    assert response["answer_error"] == "answer contained U+0000 characters, removed"
    assert response["data"] == {"note": "cd", "k": [""], "topics": [], "sizes": []}
    for item in (first, second):
        assert "\x00" not in response_of(client, auth, item)["answer_xml"]
