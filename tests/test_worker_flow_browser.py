"""Working in a flow, in a real browser at desktop (1280x800) and phone (390x844) sizes: a
worker accepts a group, works ten of its HITs one after another without going back to the
list (each submit acknowledged on the task page, the next HIT opened and accepted), with the
keys of the flow (Ctrl+Enter in the task and on the page, Alt+S, Alt+R); times show in the
worker's own time zone, with a live countdown; and the HIT URL the Hitblocks API returns
(``POST /v1/item/{id}/post``) opens that HIT after sign-in.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots (i11-flow-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mturk.questions import html_question
from mturk.service import local_store
from mturk.service.store import Assignment
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder, sign_in
from tests.worker_site import PASSWORD, email_of, ensure_worker

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
expect = playwright_api.expect

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
ASSIGNMENT_URL = re.compile(r".*/worker/assignments/([A-Z0-9]+)$")

# MTurk's own plumbing, as requesters write it (the content origin rewrites it to the
# service's), with FrameHeight 0: the frame takes the content's height.
RECEIPT = """
<script src="https://s3.amazonaws.com/mturk-public/externalHIT_v1.js"></script>
<form name="mturk_form" method="post" id="mturk_form"
      action="https://www.mturk.com/mturk/externalSubmit">
  <input type="hidden" value="" name="assignmentId" id="assignmentId">
  <h2 id="receipt">Receipt {number}</h2>
  <p>Type the total shown on the receipt.</p>
  <label for="total">Total</label>
  <textarea id="total" name="total" rows="2" style="width: 30rem"></textarea>
  <p><input type="submit" id="submitButton" value="Submit"></p>
</form>
<script>turkSetAssignmentID();</script>
"""


@pytest.fixture(params=list(SIZES))
def page(request, tmp_path) -> Iterator[Any]:
    width, height = SIZES[request.param]
    with chromium(playwright_api) as browser:
        context = browser.new_context(
            viewport={"width": width, "height": height}, timezone_id="Asia/Tokyo"
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.size_name = request.param  # type: ignore[attr-defined]
        yield page
        context.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = screenshot_folder(tmp_path)
    path = folder / f"i11-flow-{name}-{page.size_name}.png"
    page.screenshot(path=str(path), full_page=True)


def new_group(client, hits: int) -> tuple[str, list[str]]:
    type_id = client.create_hit_type(
        Title="Transcribe a receipt",
        Description="Type the total shown on a shop receipt.",
        Keywords="receipts, transcription",
        Reward="0.25",
        AssignmentDurationInSeconds=900,
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    hit_ids = [
        client.create_hit_with_hit_type(
            HITTypeId=type_id,
            MaxAssignments=1,
            LifetimeInSeconds=3600,
            Question=html_question(RECEIPT.format(number=number)),
        )["HIT"]["HITId"]
        for number in range(1, hits + 1)
    ]
    return type_id, hit_ids


def assignments(mturk_local, worker_id: str) -> list[Assignment]:
    with local_store(mturk_local.app).transaction() as session:
        return list(
            session.scalars(
                select(Assignment).where(Assignment.worker_id == worker_id).order_by(Assignment.seq)
            )
        )


def current_assignment(page: Any) -> str:
    match = ASSIGNMENT_URL.match(page.url)
    assert match, page.url
    return match.group(1)


def test_a_worker_works_ten_hits_of_a_group_without_going_back_to_the_list(
    page, mturk_local, tmp_path
):
    type_id, hit_ids = new_group(mturk_local.client, 10)
    mturk_local.client.create_hit(  # another group, still listed
        Title="Label a photo",
        Description="Say what the photo shows.",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=html_question(RECEIPT.format(number="photo")),
    )
    sign_in(page, mturk_local.url, "AFLOW01")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    group = page.locator(f'li[data-hit-type-id="{type_id}"]')
    expect(group.locator(".available")).to_have_text("10")
    expires = group.locator("time")
    assert "JST" in expires.inner_text() or "GMT+9" in expires.inner_text()  # Tokyo's time
    assert expires.get_attribute("title").endswith("UTC")
    screenshot(page, tmp_path, "list")

    visited: list[str] = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and visited.append(frame.url))
    group.locator("button.accept-next").click()
    page.wait_for_url(ASSIGNMENT_URL)
    # Four ways to submit, as workers do: the task's own button, Ctrl+Enter in the task,
    # Ctrl+Enter on the page, and the page's Submit button.
    ways = ["button", "key-in-task", "key-on-page", "page-button"]
    seen = []
    for number in range(10):
        assignment_id = current_assignment(page)
        seen.append(assignment_id)
        task = page.frame_locator("#task-frame")
        expect(task.locator("#receipt")).to_have_text(f"Receipt {number + 1}")
        expect(page.locator("#time-left")).to_have_text(re.compile(r"^1[45]:\d\d left$"))
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        if number:
            expect(page.locator("#flow-status")).to_have_text("Submitted – next HIT loaded.")
        if number == 1:
            screenshot(page, tmp_path, "task")
        task.locator("#total").fill(f"{number + 1}.99")
        way = ways[number % len(ways)]
        if way == "button":
            task.locator("#submitButton").click()
        elif way == "key-in-task":
            task.locator("#total").press("Control+Enter")
        elif way == "key-on-page":
            page.locator("#task-title").click()
            page.keyboard.press("Control+Enter")
        else:
            page.locator("#submit-task").click()
        if number < 9:
            page.wait_for_url(lambda url, done=assignment_id: _next_assignment(url, done))
    page.wait_for_url(f"{mturk_local.url}/worker")
    expect(page.locator("#flow-status")).to_have_text(
        "Submitted. This group has no more HITs for you."
    )
    screenshot(page, tmp_path, "list-after")

    worked = assignments(mturk_local, "AFLOW01")
    assert [a.id for a in worked] == seen and len(set(seen)) == 10
    assert [a.hit_id for a in worked] == hit_ids  # the group's HITs, oldest first
    assert {a.status for a in worked} == {"Submitted"}
    assert [f"{n}.99" in (a.answer or "") for n, a in enumerate(worked, 1)] == [True] * 10
    # Task page, "next" page, task page...: never the list until the group was done.
    lists = [url for url in visited if url.rstrip("/").endswith("/worker")]
    assert lists == [f"{mturk_local.url}/worker"], visited
    assert page.locator(f'li[data-hit-type-id="{type_id}"]').count() == 0
    expect(page.locator("li.group")).to_have_count(1)  # the other group


def _next_assignment(url: str, done: str) -> bool:
    match = ASSIGNMENT_URL.match(url)
    return bool(match) and match.group(1) != done


def test_skip_and_return_with_the_keys_and_auto_accept_off(page, mturk_local, tmp_path):
    type_id, hit_ids = new_group(mturk_local.client, 3)
    sign_in(page, mturk_local.url, "AFLOW02")
    page.goto(f"{mturk_local.url}/worker/groups/{type_id}")
    expect(page.frame_locator("#task-frame").locator("#receipt")).to_have_text("Receipt 1")
    page.keyboard.press("Alt+S")  # in a preview: the next HIT, not accepted
    expect(page.frame_locator("#task-frame").locator("#receipt")).to_have_text("Receipt 2")
    page.keyboard.press("Control+Enter")  # in a preview: Accept & work
    page.wait_for_url(ASSIGNMENT_URL)
    first = current_assignment(page)
    task = page.frame_locator("#task-frame")
    expect(task.locator("#receipt")).to_have_text("Receipt 2")
    task.locator("#total").press("Alt+S")  # from inside the task: skip, take the next
    page.wait_for_url(lambda url: _next_assignment(url, first))
    expect(page.frame_locator("#task-frame").locator("#receipt")).to_have_text("Receipt 3")

    page.locator("#auto-accept").uncheck()  # in place: the task is not reloaded
    expect(page.locator("#flow-status")).to_have_text("Auto-accept is off.")
    expect(page.locator("#save-auto-accept")).to_be_hidden()
    task = page.frame_locator("#task-frame")
    task.locator("#total").fill("7.00")
    task.locator("#submitButton").click()
    page.wait_for_url(f"{mturk_local.url}/worker/groups/{type_id}")  # the next one's preview
    expect(page.locator("#flow-status")).to_contain_text("not accepted yet")
    expect(page.locator("#accept")).to_be_visible()
    page.keyboard.press("Control+Enter")
    page.wait_for_url(ASSIGNMENT_URL)
    page.keyboard.press("Alt+R")
    page.wait_for_url(f"{mturk_local.url}/worker")
    expect(page.locator(".notice[role=status]").first).to_have_text("The HIT was returned.")
    statuses = [(a.hit_id, a.status) for a in assignments(mturk_local, "AFLOW02")]
    assert statuses == [
        (hit_ids[1], "Returned"),
        (hit_ids[2], "Submitted"),
        (hit_ids[0], "Returned"),
    ]


# A task whose own script sends the key for "submit" as soon as it is shown (it can focus its
# own frame first: the key's message does not prove that the worker pressed anything).
GRAB = """
<script>
  window.focus();
  document.getElementById("total").focus();
  window.parent.postMessage({hitblocks: "key", key: "submit"}, "*");
</script>
"""


def test_a_tasks_own_script_cannot_accept_its_preview(mturk_local):
    hit_id = mturk_local.client.create_hit(
        Title="Grabby",
        Description="Accepts itself",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=html_question(RECEIPT.format(number="grab") + GRAB),
    )["HIT"]["HITId"]
    with chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(15_000)
        page.add_init_script(
            "window.keys = []; window.addEventListener('hitblocks:key',"
            " function (e) { window.keys.push(e.detail.key); });"
        )
        sign_in(page, mturk_local.url, "AFLOW04")
        page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
        page.wait_for_function("window.keys.length > 0")  # the task's message arrived
        page.wait_for_timeout(1000)
        assert page.url == f"{mturk_local.url}/worker/hits/{hit_id}"
        assert assignments(mturk_local, "AFLOW04") == []
        page.locator("#task-title").click()
        page.keyboard.press("Control+Enter")  # the worker's own key, on the page: accepts
        page.wait_for_url(ASSIGNMENT_URL)
        assert [a.hit_id for a in assignments(mturk_local, "AFLOW04")] == [hit_id]


def test_the_hit_url_from_the_api_opens_that_hit_after_sign_in(
    page, client, auth, make_hitblock, publishing, tmp_path
):
    hitblock = make_hitblock(type="text-classification", labels=["spam", "ham"])
    for text in ("First", "Second"):  # other HITs of the same group
        item = client.post(
            f"/v1/hitblocks/{hitblock['id']}/items", json={"text": text}, headers=auth
        ).json
        client.post(f"/v1/item/{item['id']}/post", headers=auth)
    item = client.post(
        f"/v1/hitblocks/{hitblock['id']}/items", json={"text": "Win a prize now!!!"}, headers=auth
    ).json
    posted = client.post(f"/v1/item/{item['id']}/post", headers=auth).json
    assert posted["url"] == f"{publishing.url}/worker/hits/{posted['id']}"

    ensure_worker(publishing.url, "AFLOW03")
    page.goto(posted["url"])
    expect(page.locator("h1")).to_have_text("Sign in as a worker")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(page, tmp_path, "sign-in")
    page.fill("#email", email_of("AFLOW03"))
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(posted["url"])
    frame = page.frame_locator("#task-frame")
    expect(frame.locator("text=Win a prize now!!!")).to_be_visible()
    expect(page.locator("#accept")).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(page, tmp_path, "hit-url")
    page.click("#accept")
    page.wait_for_url(ASSIGNMENT_URL)
    [assignment] = assignments(publishing, "AFLOW03")
    assert assignment.hit_id == posted["id"]
