"""A QuestionForm HIT in a real browser: headless Chromium (Debian's package) driven by
Playwright previews the form the marketplace draws (disabled), accepts the HIT, answers a
radio, a checkbox group, a number and a file, and submits. Screenshots at 1280 and 390 px
wide go to /tmp/shots/forms-*.png. Skipped when either is missing; ``.ci/run`` installs both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from mturk.questions import ANSWERS_NS
from tests.helpers.browser import CHROMIUM, chromium, expect_submitted, sign_in
from tests.helpers.question_forms import SURVEY

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
SHOTS = Path("/tmp/shots")
NS = {"a": ANSWERS_NS}
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        yield page


def shoot(page: Any, name: str) -> None:
    """The page at 1280 and at 390 px wide (a phone), back at 1280 afterwards."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"forms-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_worker_fills_and_submits_a_question_form_in_a_browser(page, mturk_local):
    hit_id = mturk_local.client.create_hit(
        Title="Describe a picture",
        Description="A few questions about one picture.",
        Reward="0.25",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=SURVEY,
    )["HIT"]["HITId"]
    sign_in(page, mturk_local.url, "AFORMSBROWSER1")

    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    task = page.frame_locator("#task-frame")
    playwright_api.expect(task.locator("text=Tell us about this picture")).to_be_visible()
    playwright_api.expect(task.locator("#submitButton")).to_be_disabled()
    playwright_api.expect(task.locator("text=This is a preview")).to_be_visible()
    shoot(page, "preview")

    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    task = page.frame_locator("#task-frame")
    playwright_api.expect(task.locator("#submitButton")).to_be_enabled()
    task.get_by_label("Blue").check()
    for thing in ("A cat", "A dog", "A tree", "A car"):  # one more than the form allows
        task.get_by_label(thing).check()
    count = task.locator("input[name='answer:count']")
    count.fill("99")  # above maxValue: the browser itself refuses to send it
    task.locator("#submitButton").click()
    assert count.evaluate("input => input.validity.rangeOverflow") is True
    count.fill("4")
    task.locator("textarea[name='answer:note']").fill("A sunny park.")
    photo = {"name": "park.png", "mimeType": "image/png", "buffer": PHOTO}
    task.locator("input[name='answer:photo']").set_input_files(photo)
    shoot(page, "filled")
    task.locator("#submitButton").click()

    # What the browser cannot check, the service does: the form comes back, answers kept.
    playwright_api.expect(task.locator("#qf-problems")).to_contain_text(
        "What is in it: Choose at most 3 options."
    )
    playwright_api.expect(task.get_by_label("Blue")).to_be_checked()
    playwright_api.expect(count).to_have_value("4")
    shoot(page, "refused")
    assert mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
    task.get_by_label("A cat").uncheck()
    task.get_by_label("A tree").uncheck()
    task.locator("input[name='answer:photo']").set_input_files(photo)  # files are not kept
    task.locator("#submitButton").click()
    expect_submitted(page)

    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    answers = {
        answer.findtext("a:QuestionIdentifier", namespaces=NS): answer
        for answer in SafeET.fromstring(assignment["Answer"]).findall("a:Answer", NS)
    }
    picked = [e.text for e in answers["things"].findall("a:SelectionIdentifier", NS)]
    assert answers["colour"].findtext("a:SelectionIdentifier", namespaces=NS) == "blue"
    assert picked == ["dog", "car"]
    assert answers["count"].findtext("a:FreeText", namespaces=NS) == "4"
    assert answers["note"].findtext("a:FreeText", namespaces=NS) == "A sunny park."
    size = answers["photo"].findtext("a:UploadedFileSizeInBytes", namespaces=NS)
    assert size == str(len(PHOTO))
    url = mturk_local.client.get_file_upload_url(
        AssignmentId=assignment["AssignmentId"], QuestionIdentifier="photo"
    )["FileUploadURL"]
    assert page.request.get(url).body() == PHOTO
