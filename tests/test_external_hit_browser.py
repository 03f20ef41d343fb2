"""MTurk's own sample HTMLQuestion in a real browser with no internet: the page loads
Amazon's externalHIT_v1.js and posts to https://www.mturk.com/mturk/externalSubmit; the task
content origin serves it with the stand-in script and the service's own externalSubmit, so
the assignment id is filled in and the worker's answer is recorded.

Every request to a host other than loopback is refused, so a page that still reached for
Amazon would lose its script (and the test would see it).

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mturk.questions import html_question
from tests.helpers.browser import CHROMIUM, expect_submitted, sign_in
from tests.helpers.browser import offline_context as offline_browser
from tests.helpers.mturk_samples import MTURK_SUBMIT, SAMPLE_HTML_QUESTION

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)

NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE"


@pytest.fixture
def offline_context() -> Iterator[tuple[Any, list[str]]]:
    """A browser context that reaches loopback only (helpers/browser.py)."""
    with offline_browser(playwright_api) as offline:
        yield offline


def test_mturks_sample_html_question_works_offline_end_to_end(mturk_local, offline_context):
    context, refused = offline_context
    hit_id = mturk_local.client.create_hit(
        Title="What's up?",
        Description="Tell us",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=html_question(SAMPLE_HTML_QUESTION.format(submit=MTURK_SUBMIT)),
    )["HIT"]["HITId"]
    page = context.new_page()
    sign_in(page, mturk_local.url, "ASAMPLE1")

    # The preview: the stand-in fills in MTurk's placeholder and disables the button.
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    frame = page.frame_locator("#task-frame")
    expect = playwright_api.expect
    expect(frame.locator("#assignmentId")).to_have_value(NOT_ACCEPTED)
    expect(frame.locator("#submitButton")).to_be_disabled()

    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    assignment_id = page.url.rsplit("/", 1)[1]
    frame = page.frame_locator("#task-frame")
    expect(frame.locator("#assignmentId")).to_have_value(assignment_id)
    form = frame.locator("#mturk_form")
    expect(form).to_have_attribute("action", f"{mturk_local.url}/mturk/externalSubmit")
    frame.locator("textarea[name=comment]").fill("all good, thanks")
    frame.locator("#submitButton").click()
    expect_submitted(page)

    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert (assignment["AssignmentId"], assignment["WorkerId"]) == (assignment_id, "ASAMPLE1")
    assert assignment["AssignmentStatus"] == "Submitted"
    assert "<QuestionIdentifier>comment</QuestionIdentifier>" in assignment["Answer"]
    assert "<FreeText>all good, thanks</FreeText>" in assignment["Answer"]
    assert refused == []  # nothing reached for Amazon (or anywhere else off this machine)
