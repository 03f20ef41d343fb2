"""A template that cannot lose work, in a real browser (issue 11): a hitblock whose template is
a plain form, with none of MTurk's submit plumbing, is created through the API and an item
published to the bundled MTurk service; a worker opens the HIT's ``url`` from the API, signs
in, lands on that HIT, accepts and submits: with the form's own button (at 1280x800), or
with the page's Submit, which asks the task frame to submit its form (at 390x844). The answer
reaches MTurk and the poller, and the HIT is no longer in progress.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots (i11-tmpl-*.png).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder, sign_in
from tests.worker_site import PASSWORD, email_of, ensure_worker

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# A requester's template as one would first write it: a form, a field, a button. No action,
# no assignmentId, no script: Hitblocks adds MTurk's plumbing when it publishes.
PLAIN_FORM = """<h2>${question}</h2>
<form>
  <p><label for="answer">Your answer</label><br>
  <textarea id="answer" name="answer" rows="4" style="width:100%;box-sizing:border-box"
            required></textarea></p>
  <button>Submit</button>
</form>"""
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def page(viewport: str) -> Iterator[Any]:
    width, height = VIEWPORTS[viewport]
    with chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(15_000)
        yield page


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = screenshot_folder(tmp_path)
    page.screenshot(path=str(folder / f"i11-tmpl-{name}.png"), full_page=True)


def submitted_assignments(publishing: Any, hit_id: str, page: Any) -> list[dict[str, Any]]:
    """The HIT's submitted assignments, once MTurk has one (the browser posts on its own)."""
    deadline = time.monotonic() + 15
    while True:
        assignments = publishing.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        if assignments or time.monotonic() > deadline:
            return list(assignments)
        page.wait_for_timeout(100)


def test_a_plain_form_template_submits_from_the_browser(
    app, client, auth, make_hitblock, publishing, page, viewport, tmp_path
):
    hitblock = make_hitblock(type="html", title="Answer a question", template=PLAIN_FORM)
    assert hitblock["template"] == PLAIN_FORM  # stored as written
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items",
        json={"question": "What is the total on the receipt?"},
        headers=auth,
    ).json
    hit = client.post(f"/v1/item/{item['id']}/post", headers=auth).json

    # The HIT's url from the API: sign in, and the site shows that HIT.
    worker_id = {"desktop": "ATEMPLATEDESK1", "phone": "ATEMPLATEPHON1"}[viewport]
    ensure_worker(publishing.url, worker_id)
    page.goto(hit["url"])
    page.fill("#email", email_of(worker_id))
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(hit["url"])
    task = page.frame_locator("#task-frame")
    expect = playwright_api.expect
    expect(task.locator("h2")).to_have_text("What is the total on the receipt?")
    expect(task.get_by_role("button", name="Submit")).to_be_disabled()  # a preview
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(page, tmp_path, f"preview-{viewport}")

    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    task = page.frame_locator("#task-frame")
    task.get_by_label("Your answer").fill("$12.40")
    expect(task.get_by_role("button", name="Submit")).to_be_enabled()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(page, tmp_path, f"task-{viewport}")
    if viewport == "desktop":  # the form's own button
        task.get_by_role("button", name="Submit").click()
    else:  # the page's Submit, which asks the task frame to submit its form
        page.click("#submit-task")

    [assignment] = submitted_assignments(publishing, hit["id"], page)
    assert assignment["WorkerId"] == worker_id
    assert assignment["AssignmentStatus"] == "Submitted"
    assert "<QuestionIdentifier>answer</QuestionIdentifier>" in assignment["Answer"]
    assert "<FreeText>$12.40</FreeText>" in assignment["Answer"]
    assert publishing.client.get_hit(HITId=hit["id"])["HIT"]["HITStatus"] == "Reviewable"
    screenshot(page, tmp_path, f"submitted-{viewport}")

    with app.app_context():
        poll_once(db.session, mturk_gateway(), retry_bonuses_after=timedelta(0))
    [response] = client.get(f"/v1/item/{item['id']}", headers=auth).json["responses"]
    assert response["data"] == {"answer": "$12.40"}
    assert response["worker_id"] == worker_id


@pytest.mark.parametrize("viewport", ["desktop"])
def test_a_crowd_form_template_without_its_script_is_given_it(
    client, auth, make_hitblock, publishing, page, viewport
):
    """A <crowd-form> does nothing without crowd-html-elements.js: Hitblocks adds it."""
    template = (
        '<crowd-form><p>${question}</p><crowd-input name="reason"></crowd-input></crowd-form>'
    )
    hitblock = make_hitblock(type="html", title="Why", template=template)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"question": "Why?"}, headers=auth
    ).json
    hit = client.post(f"/v1/item/{item['id']}/post", headers=auth).json
    sign_in(page, publishing.url, "ATEMPLATECROWD")
    page.goto(hit["url"])
    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    task = page.frame_locator("#task-frame")
    task.locator("input[name=reason]").fill("Because")
    task.get_by_role("button", name="Submit").click()
    [assignment] = submitted_assignments(publishing, hit["id"], page)
    assert "<QuestionIdentifier>taskAnswers</QuestionIdentifier>" in assignment["Answer"]
    assert "Because" in assignment["Answer"]


# A template whose plain form is followed by an element it never closes. Appended as they
# were, MTurk's plumbing became SVG or MathML elements (an <input> that is no form control, a
# <script src> never loaded) or inert <template> content: the form went without its
# assignmentId, and the worker's submit was refused.
LEFT_OPEN = {
    "svg": '<svg width="20" height="20"><circle r="9" cx="10" cy="10">',
    "math": "<math><mi>x</mi>",
    "template": "<template><p>A row to copy",
}


@pytest.mark.parametrize("viewport", ["desktop"])
def test_the_plumbing_survives_an_element_the_template_leaves_open(page):
    from app.templates import submit_problem, submittable

    served: dict[str, str] = {}

    def serve(route: Any) -> None:
        url = route.request.url
        if url.startswith("http://task.test/"):
            route.fulfill(status=200, content_type="text/html", body=served["page"])
        else:  # Amazon's externalHIT_v1.js, as far as the plumbing needs it
            script = "window.turkSetAssignmentID = function () { window.turkCalled = true; };"
            route.fulfill(status=200, content_type="application/javascript", body=script)

    page.route("**/*", serve)
    for name, tail in LEFT_OPEN.items():
        template = '<form><input name="answer" value="12.40"><button>Submit</button></form>' + tail
        assert submit_problem(template) is None, name
        served["page"] = submittable(template)
        page.goto("http://task.test/task?assignmentId=A1B2C3")
        sent = page.evaluate(
            """() => {
              const form = document.getElementById("mturk_form");
              const data = new FormData(form);
              return [data.get("assignmentId"), data.get("answer"), !!window.turkCalled];
            }"""
        )
        assert sent == ["A1B2C3", "12.40", True], name
