"""A worker in a real browser: headless Chromium (Debian's package) driven by Playwright
signs up through an invitation link, then walks the worker site through preview, accept and
submit. Skipped when either is missing; ``.ci/run`` installs both."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from mturk.questions import ANSWERS_NS
from mturk.service import local_store
from mturk.service.workers import create_invitations, signup_link
from tests.helpers.browser import CHROMIUM, chromium, expect_submitted

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)


@pytest.fixture
def page(tmp_path) -> Iterator[Any]:
    with chromium(playwright_api) as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page


def publish(client, auth, make_hitblock, publishing, **hitblock_fields):
    hitblock = make_hitblock(**hitblock_fields)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"text": "Win a prize now!!!"}, headers=auth
    ).json
    return client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]


def sign_up(page, publishing) -> str:
    """Sign up through a one-time invitation link, as `hitblocks workers invite` prints;
    the worker id the service gave."""
    [token] = create_invitations(local_store(publishing.app), 1)
    page.goto(signup_link(publishing.url, token))
    page.fill("#email", "browser@workers.test")
    page.fill("#password", "a browser's password")
    page.click("#sign-up")
    return str(page.text_content("#worker-id"))


def work_through(page, publishing, hit_id: str) -> Any:
    assert re.fullmatch(r"A[A-Z0-9]{13}", sign_up(page, publishing))
    # The list shows HIT groups (one HIT type each); a group's Preview shows its next HIT.
    group = publishing.client.get_hit(HITId=hit_id)["HIT"]["HITTypeId"]
    page.click(f"li[data-hit-type-id='{group}'] a.preview")
    task = page.frame_locator("#task-frame")
    playwright_api.expect(task.locator("text=Win a prize now!!!")).to_be_visible()
    playwright_api.expect(task.locator("[type=submit], button[type=submit]").first).to_be_disabled()
    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    return page.frame_locator("#task-frame")


def test_a_worker_previews_accepts_and_submits_in_a_browser(
    page, client, auth, make_hitblock, publishing
):
    hit_id = publish(
        client, auth, make_hitblock, publishing, type="text-classification", labels=["spam", "ham"]
    )
    task = work_through(page, publishing, hit_id)
    task.locator("input[value=spam]").check()
    task.locator("#submitButton").click()
    expect_submitted(task.owner.page)

    [assignment] = publishing.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["WorkerId"] == page.text_content("#worker-id")
    assert "<QuestionIdentifier>label</QuestionIdentifier>" in assignment["Answer"]
    assert "<FreeText>spam</FreeText>" in assignment["Answer"]


CROWD_TEMPLATE = """
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <p>${text}</p>
  <crowd-input name="reason" required></crowd-input>
  <label><input type="checkbox" name="sure"> Sure</label>
</crowd-form>
"""


def test_a_crowd_form_template_submits_task_answers(page, client, auth, make_hitblock, publishing):
    hit_id = publish(client, auth, make_hitblock, publishing, type="html", template=CROWD_TEMPLATE)
    task = work_through(page, publishing, hit_id)
    task.locator("input[name=reason]").fill("it shouts")
    task.locator("input[name=sure]").check()
    task.locator("button[type=submit]").click()
    expect_submitted(task.owner.page)

    [assignment] = publishing.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    answer = SafeET.fromstring(assignment["Answer"]).find("a:Answer", {"a": ANSWERS_NS})
    assert answer.findtext("a:QuestionIdentifier", namespaces={"a": ANSWERS_NS}) == "taskAnswers"
    task_answers = json.loads(answer.findtext("a:FreeText", namespaces={"a": ANSWERS_NS}))
    assert task_answers == [{"reason": "it shouts", "sure": {"on": True}}]


CROWD_GROUP_TEMPLATE = """
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <p>${text}</p>
  <label><input type="checkbox" name="topics" value="shop"> Shop</label>
  <label><input type="checkbox" name="topics" value="blog"> Blog</label>
  <label><input type="checkbox" name="topics" value="news"> News</label>
  <label><input type="checkbox" name="flags" value="rude"> Rude</label>
  <label><input type="checkbox" name="flags" value="spam"> Spam</label>
  <select name="sizes" multiple><option>S</option><option>M</option><option>L</option></select>
  <label><input type="checkbox" name="sure"> Sure</label>
  <crowd-input name="reason"></crowd-input>
</crowd-form>
"""


def test_a_crowd_form_checkbox_group_answers_a_list_end_to_end(
    app, page, client, auth, make_hitblock, publishing
):
    hitblock = make_hitblock(type="html", template=CROWD_GROUP_TEMPLATE)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"text": "Win a prize now!!!"}, headers=auth
    ).json
    hit_id = client.post(f"/v1/item/{item['id']}/post", headers=auth).json["id"]
    task = work_through(page, publishing, hit_id)
    task.locator("input[value=shop]").check()
    task.locator("input[value=news]").check()
    task.locator("select[name=sizes]").select_option(["S", "L"])
    task.locator("input[name=reason]").fill("a|b")
    task.locator("button[type=submit]").click()
    expect_submitted(task.owner.page)

    with app.app_context():
        poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))
    [response] = client.get(f"/v1/item/{item['id']}", headers=auth).json["responses"]
    assert response["answer_error"] is None
    assert response["data"] == {
        "topics": ["shop", "news"],
        "flags": [],  # a group with nothing checked
        "sizes": ["S", "L"],
        "sure": {"on": False},  # a lone checkbox keeps MTurk's shape
        "reason": "a|b",
    }
