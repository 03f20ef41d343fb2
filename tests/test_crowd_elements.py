"""Hitblocks and MTurk's crowd HTML elements: a template that loads crowd-html-elements.js may
use only the elements the marketplace's stand-in provides (refused by name on create, update
and publish), and the answers those elements give are stored as responses."""

from __future__ import annotations

import json
from datetime import timedelta

from app.extensions import db
from app.gateway import mturk_gateway
from app.models import Hitblock
from app.services.polling import poll_once
from app.templates import multi_valued_fields
from mturk.answers import parse_answer
from mturk.questions import answers_xml
from tests.helpers.mturk_samples import SENTIMENT_TEMPLATE
from tests.test_errors import assert_error
from tests.worker_site import complete

LOADS = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
UNKNOWN = LOADS + (
    "<crowd-form><p>${text}</p>"
    '<crowd-polygon name="shape" src="${image_url}"></crowd-polygon>'
    "<crowd-input name='note' label='Note'></crowd-input></crowd-form>"
)
KNOWN = LOADS + (
    "<crowd-form><p>${text}</p>"
    '<crowd-radio-group><crowd-radio-button name="spam" value="yes">Spam</crowd-radio-button>'
    '<crowd-radio-button name="ham" value="yes">Ham</crowd-radio-button></crowd-radio-group>'
    '<crowd-checkbox name="sure">Sure</crowd-checkbox>'
    "</crowd-form>"
)
HTML_HITBLOCK = {"type": "html", "title": "Shapes", "cost_per_item": 0.1}


def assert_refused(response) -> None:
    error = assert_error(response, 400)
    assert error["param"] == "template"
    assert error["code"] == "unsupported_crowd_element"
    assert "<crowd-polygon>" in error["message"]
    assert "<crowd-input>" not in error["message"].split("Supported:")[0]


def test_creating_a_hitblock_with_an_unknown_crowd_element_is_refused_by_name(client, auth):
    response = client.post(
        "/v1/hitblocks", json={**HTML_HITBLOCK, "template": UNKNOWN}, headers=auth
    )
    assert_refused(response)
    assert client.get("/v1/hitblocks", headers=auth).json["data"] == []


def test_a_template_with_known_elements_or_without_the_script_is_accepted(client, auth):
    # A page that does not load the script (nor has a crowd-form, which Hitblocks would
    # give the script) may define crowd-* elements of its own.
    own = "<form><crowd-polygon name='shape'></crowd-polygon><button>Submit</button></form>"
    for template in (KNOWN, SENTIMENT_TEMPLATE, own):
        response = client.post(
            "/v1/hitblocks", json={**HTML_HITBLOCK, "template": template}, headers=auth
        )
        assert response.status_code == 200, response.json


def test_updating_the_template_to_an_unknown_crowd_element_is_refused(client, auth, make_hitblock):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=KNOWN)
    response = client.post(
        f"/v1/hitblocks/{hitblock['id']}", json={"template": UNKNOWN}, headers=auth
    )
    assert_refused(response)
    assert client.get(f"/v1/hitblock/{hitblock['id']}", headers=auth).json["template"] == KNOWN


def test_publishing_a_template_saved_before_the_check_is_refused_before_mturk(
    app, client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=KNOWN)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items",
        json={"text": "hello", "image_url": "https://example.org/a.png"},
        headers=auth,
    ).json
    with app.app_context():  # as a template stored by an older version would be
        db.session.get(Hitblock, hitblock["id"]).template = UNKNOWN
        db.session.commit()
    assert_refused(client.post(f"/v1/item/{item['id']}/post", headers=auth))
    assert_refused(client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth))
    assert publishing.faults.calls == {}
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "pending"


def test_crowd_element_answers_are_stored_in_mturks_shapes(
    app, client, auth, make_hitblock, publishing
):
    """What the stand-in submits (see tests/test_crowd_browser.py): one taskAnswers JSON, or
    with answer-format="flatten-objects" one field per nested key."""
    flat = make_hitblock(**HTML_HITBLOCK, template=SENTIMENT_TEMPLATE.replace(
        "</crowd-classifier>",
        '</crowd-classifier><label><input type="checkbox" name="topics" value="food"> Food'
        '</label><label><input type="checkbox" name="topics" value="service"> Service</label>'
        '<crowd-checkbox name="sarcastic">Sarcastic</crowd-checkbox>',
    ))  # fmt: skip
    whole = make_hitblock(**HTML_HITBLOCK, template=KNOWN)
    items = [
        client.post(f"/v1/hitblocks/{h['id']}/items", json={"text": "ok"}, headers=auth).json
        for h in (flat, whole)
    ]
    hits = [client.post(f"/v1/item/{i['id']}/post", headers=auth).json["id"] for i in items]
    complete(
        publishing.url,
        hits[0],
        "AWORKER1",
        [("sentiment.label", "Positive"), ("topics", "food"), ("topics", "service")]
        + [("sarcastic.on", "false")],
    )
    task_answers = {"spam": {"yes": False}, "ham": {"yes": True}, "sure": {"on": True}}
    complete(publishing.url, hits[1], "AWORKER2", [("taskAnswers", json.dumps([task_answers]))])
    with app.app_context():
        poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))

    flat_response, whole_response = (
        client.get(f"/v1/item/{i['id']}", headers=auth).json["responses"][0] for i in items
    )
    assert flat_response["answer_error"] is None
    assert flat_response["data"] == {
        "sentiment.label": "Positive",  # MTurk's results CSV column Answer.sentiment.label
        "topics": ["food", "service"],  # the template's checkbox group, read back as a list
        "sarcastic.on": "false",
    }
    assert whole_response["data"] == task_answers


def test_a_flattened_multi_select_classifier_answers_a_list():
    """With flatten-objects its labels arrive as one field per label, which MTurk joins with
    "|" like a checkbox group's; without, they stay a JSON list inside taskAnswers."""
    classifier = (
        '<crowd-classifier-multi-select name="topics" categories="[\'a\', \'b\']" header="Pick">'
        "</crowd-classifier-multi-select>"
    )
    flat = f'{LOADS}<crowd-form answer-format="flatten-objects">{classifier}</crowd-form>'
    whole = f"{LOADS}<crowd-form>{classifier}</crowd-form>"
    assert multi_valued_fields(flat) == {"topics.labels"}
    assert multi_valued_fields(whole) == frozenset()
    xml = answers_xml([("topics.labels", "a"), ("topics.labels", "b")])
    assert parse_answer(xml, multi_valued_fields(flat)).data == {"topics.labels": ["a", "b"]}
    assert parse_answer(answers_xml([]), multi_valued_fields(flat)).data == {"topics.labels": []}


def test_a_template_with_malformed_markup_is_accepted_and_read(client, auth):
    """``<![`` made html.parser raise AssertionError: a 500 on create, and every poll of the
    hitblock's answers failed in ``multi_valued_fields`` (review revA)."""
    template = LOADS + "<crowd-form><p>${text} <![ x</p><crowd-input name='a'></crowd-input>"
    template += "<input type=checkbox name=c><input type=checkbox name=c></crowd-form>"
    response = client.post(
        "/v1/hitblocks", json={**HTML_HITBLOCK, "template": template}, headers=auth
    )
    assert response.status_code == 200, response.json
    assert multi_valued_fields(template) == {"c"}
