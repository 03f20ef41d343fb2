"""The worker's dashboard in a real browser (headless Debian Chromium driven by Playwright),
at 1280x800 and at 390x844: after the requester approves one assignment, rejects another
with feedback and pays a bonus through the API (boto3), the worker sees each, with the
earnings, and the page never scrolls sideways. Skipped when either is missing; ``.ci/run``
installs both.

Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots of the dashboard."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mturk.questions import html_question
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder, sign_in
from tests.worker_site import Worker

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
expect = playwright_api.expect

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId"><input name="answer"></form>'
)
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
FEEDBACK = "The receipt's total was $12.40; please read the last line of the receipt."


@pytest.fixture(params=list(SIZES))
def page(request) -> Iterator[Any]:
    width, height = SIZES[request.param]
    with chromium(playwright_api) as browser:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        yield context.new_page()


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = screenshot_folder(tmp_path)
    width = page.viewport_size["width"]
    page.screenshot(path=str(folder / f"dashboard-{name}-{width}.png"), full_page=True)


def test_the_dashboard_shows_an_approval_a_rejection_with_its_feedback_and_a_bonus(
    page, mturk_local, tmp_path
):
    client = mturk_local.client
    type_id = client.create_hit_type(
        Title="Transcribe the total of a long supermarket receipt",
        Description="Type the total",
        Reward="0.75",
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    hit_ids = [
        client.create_hit_with_hit_type(
            HITTypeId=type_id,
            MaxAssignments=1,
            LifetimeInSeconds=3600,
            Question=html_question(FORM),
        )["HIT"]["HITId"]
        for _ in range(3)
    ]
    worker = Worker(mturk_local.url, "ABROWSERDASH")
    worker.sign_in()
    done = []
    for hit_id in hit_ids:
        assignment_id = worker.accept(hit_id)
        status, answer = worker.submit(assignment_id, [("answer", "12.40")])
        assert status == 200, answer
        done.append(assignment_id)
    approved, rejected, pending = done
    client.approve_assignment(AssignmentId=approved, RequesterFeedback="Spot on, thank you!")
    client.reject_assignment(AssignmentId=rejected, RequesterFeedback=FEEDBACK)
    client.send_bonus(
        WorkerId="ABROWSERDASH",
        AssignmentId=approved,
        BonusAmount="2.00",
        Reason="You found the smudged total.",
    )
    client.notify_workers(
        Subject="New receipts tomorrow",
        MessageText="Thanks for your care.",
        WorkerIds=["ABROWSERDASH"],
    )

    sign_in(page, mturk_local.url, "ABROWSERDASH")
    page.click("#dashboard-link")
    page.wait_for_url("**/worker/dashboard")
    expect(page.locator("h1")).to_have_text("Your dashboard")
    expect(page.locator("#earned-approved")).to_have_text("$0.75")
    expect(page.locator("#earned-pending")).to_have_text("$0.75")
    expect(page.locator("#earned-bonuses")).to_have_text("$2.00")
    expect(page.locator("#earned-total")).to_have_text("$2.75")
    expect(page.locator("#approval-rate")).to_have_text("50%")

    approval = page.locator(f"tbody[data-assignment-id='{approved}']")
    expect(approval.locator(".badge")).to_have_text("Approved")
    expect(approval.locator(".bonus-note")).to_contain_text("$2.00")
    expect(approval.locator(".bonus-note")).to_contain_text("You found the smudged total.")
    rejection = page.locator(f"tbody[data-assignment-id='{rejected}']")
    expect(rejection.locator(".badge")).to_have_text("Rejected")
    feedback = rejection.locator(".feedback.rejected")
    expect(feedback).to_be_visible()
    expect(feedback).to_contain_text(FEEDBACK)
    expect(page.locator(f"tbody[data-assignment-id='{pending}'] .badge")).to_have_text(
        "Pending approval"
    )
    expect(page.locator("#bonus-list")).to_contain_text("You found the smudged total.")
    expect(page.locator("#message-list")).to_contain_text("New receipts tomorrow")
    for time in page.locator("#assignment-list time").all():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time.get_attribute("datetime"))
    assert no_sideways_scroll(page)
    screenshot(page, tmp_path, "all")

    # The keyboard alone filters the list: the status filter is labelled and reachable.
    select = page.get_by_label("Show")
    select.focus()
    select.select_option("Rejected")
    page.keyboard.press("Tab")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/worker/dashboard?status=Rejected*")
    expect(page.locator("tbody.assignment")).to_have_count(1)
    expect(page.locator(".feedback.rejected")).to_contain_text(FEEDBACK)
    assert no_sideways_scroll(page)
    screenshot(page, tmp_path, "rejected")
