"""Templates that cannot lose work (issue 11), over the API: a requester's template must give
workers a way to submit their answers to MTurk. One that cannot is refused with a 400 saying
what is missing, on create, on update and, for a hitblock saved before the check, on publish
(before any MTurk call); a plain form is stored as written and published with MTurk's submit
plumbing. And the HIT ``url`` the API answers opens that HIT on the worker site."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from app.extensions import db
from app.models import Hitblock
from app.templates import EXTERNAL_HIT_URL, MTURK_SUBMIT_URL
from mturk.html_tags import start_tags
from mturk.questions import parse_question
from tests.test_errors import assert_error
from tests.worker_site import PASSWORD, Worker

HTML_HITBLOCK = {"type": "html", "title": "Questions", "cost_per_item": 0.1}
# The smallest template that works: a plain form with a submit button (the README's).
SMALLEST = """<form>
  <p>${question}</p>
  <label>Answer <input name="answer" required></label>
  <button>Submit</button>
</form>"""
REFUSED = [
    ("<p>${question}</p><input name='answer'>", "no way to submit"),
    ("<form><input name='a'></form><form><button>Go</button></form>", "2 forms"),
    ("<form action='https://example.org/save'><button>Go</button></form>", "not to MTurk"),
    ("<form><p>${question}</p><input name='answer'></form>", "no submit button"),
    ("<crowd-form></crowd-form><form><button>Go</button></form>", "both a <crowd-form>"),
]


def refused(response, says: str) -> dict:
    error = assert_error(response, 400, param="template")
    assert error["code"] == "template_cannot_submit"
    assert says in error["message"], error["message"]
    return error


def form_of(page: str) -> dict:
    [form] = [attributes for tag, attributes in start_tags(page) if tag == "form"]
    return form


@pytest.mark.parametrize(("template", "says"), REFUSED)
def test_a_template_that_cannot_submit_is_refused_on_create(client, auth, template, says):
    response = client.post(
        "/v1/hitblocks", json={**HTML_HITBLOCK, "template": template}, headers=auth
    )
    refused(response, says)
    assert client.get("/v1/hitblocks", headers=auth).json["data"] == []


def test_a_custom_template_of_a_built_in_type_is_checked_too(client, auth):
    body = {**HTML_HITBLOCK, "type": "text-classification", "template": "<p>${text}</p>"}
    refused(client.post("/v1/hitblocks", json=body, headers=auth), "no way to submit")


def test_the_message_says_how_to_fix_it(client, auth):
    error = refused(
        client.post("/v1/hitblocks", json={**HTML_HITBLOCK, "template": "<p>Hi</p>"}, headers=auth),
        "no way to submit",
    )
    assert '<button type="submit">' in error["message"] and "<crowd-form>" in error["message"]


def test_an_update_to_a_template_that_cannot_submit_is_refused_and_changes_nothing(
    client, auth, make_hitblock
):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=SMALLEST)
    path = f"/v1/hitblocks/{hitblock['id']}"
    for template, says in REFUSED:
        refused(client.post(path, json={"template": template, "title": "New"}, headers=auth), says)
    assert client.get(path, headers=auth).json == hitblock


def test_a_plain_form_is_stored_as_written_and_published_with_mturks_plumbing(
    client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=SMALLEST)
    assert hitblock["template"] == SMALLEST  # as the requester wrote it
    path = f"/v1/hitblocks/{hitblock['id']}"
    assert client.get(path, headers=auth).json["template"] == SMALLEST
    item = client.post(f"{path}/items", json={"question": "Why <b>?"}, headers=auth).json
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]

    # The HTMLQuestion MTurk was sent: the form posts to MTurk, with the assignmentId that
    # Amazon's externalHIT_v1.js fills in; the item's value is escaped as ever.
    question = publishing.client.get_hit(HITId=hit_id)["HIT"]["Question"]
    html = parse_question(question).content
    form = form_of(html)
    assert (form["action"], form["method"]) == (MTURK_SUBMIT_URL, "post")
    tags = list(start_tags(html))
    assert ("input", {"type": "hidden", "name": "assignmentId", "id": "assignmentId",
                      "value": "", "form": form["id"]}) in tags  # fmt: skip
    assert ("script", {"src": EXTERNAL_HIT_URL}) in tags
    assert "<p>Why &lt;b&gt;?</p>" in html

    # The task page workers get points the form at the worker site's externalSubmit.
    with urllib.request.urlopen(f"{publishing.content_url}/tasks/{hit_id}", timeout=10) as page:
        task = page.read().decode()
    assert form_of(task)["action"] == f"{publishing.url}/mturk/externalSubmit"
    assert ("script", {"src": "/assets/externalHIT_v1.js"}) in list(start_tags(task))

    worker = Worker(publishing.url, "ATEMPLATE1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    assert worker.submit(assignment_id, [("answer", "Because")])[0] == 200
    [assignment] = publishing.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert "<FreeText>Because</FreeText>" in assignment["Answer"]
    assert publishing.client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"


def test_a_template_that_already_submits_is_published_unchanged(
    client, auth, make_hitblock, publishing
):
    template = (
        f'<form id="mturk_form" method="post" action="{MTURK_SUBMIT_URL}">'
        '<input type="hidden" name="assignmentId" id="assignmentId">'
        "<p>${question}</p><textarea name='answer'></textarea><input type='submit'></form>"
        f'<script src="{EXTERNAL_HIT_URL}"></script><script>turkSetAssignmentID();</script>'
    )
    hitblock = make_hitblock(**HTML_HITBLOCK, template=template)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"question": "Why?"}, headers=auth
    ).json
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    question = publishing.client.get_hit(HITId=hit_id)["HIT"]["Question"]
    assert parse_question(question).content == template.replace("${question}", "Why?")


@pytest.mark.parametrize("post", ["item", "hitblock"])
def test_a_template_saved_before_the_check_is_refused_at_publish_before_calling_mturk(
    app, client, auth, make_hitblock, publishing, post
):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=SMALLEST)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"question": "Why?"}, headers=auth
    ).json
    with app.app_context():  # as a template stored by an older version would be
        db.session.get(Hitblock, hitblock["id"]).template = "<p>${question}</p>"
        db.session.commit()
    path = (
        f"/v1/item/{item['id']}/post" if post == "item" else f"/v1/hitblocks/{hitblock['id']}/post"
    )
    refused(client.post(path, headers=auth), "no way to submit")
    assert publishing.faults.calls == {}
    assert client.get(f"/v1/item/{item['id']}", headers=auth).json["status"] == "pending"


def test_the_hit_url_opens_that_hit_on_the_worker_site_after_sign_in(
    client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(**HTML_HITBLOCK, template=SMALLEST)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"question": "Why?"}, headers=auth
    ).json
    hit = client.post(f"/v1/item/{item['id']}/post", headers=auth).json
    assert hit["url"] == f"{publishing.url}/worker/hits/{hit['id']}"

    worker = Worker(publishing.url, "ATEMPLATE2")
    path = urllib.parse.urlsplit(hit["url"]).path
    status, url, page = worker.request(path)  # not signed in: to sign-in, then back here
    assert status == 200
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["next"] == [path]
    assert f'name="next" value="{path}"' in page
    form = [("email", worker.email), ("password", PASSWORD), ("next", path)]
    status, url, page = worker.request("/worker/login", form)
    assert (status, url) == (200, hit["url"])
    assert 'id="task-frame"' in page and hit["id"] in page
