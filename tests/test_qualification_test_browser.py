"""A qualification test taken in a real browser grants a score that lets the worker accept a
guarded HIT: refused, the worker follows the refusal's link to the qualification, takes its
test (a QuestionForm graded at once by its AnswerKey), passes, and goes back to accept.

Headless Chromium (Debian's package) driven by Playwright; skipped when either is missing.
Set HITBLOCKS_SCREENSHOTS to a folder to keep the screenshots of the qualification pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mturk.questions import html_question
from tests.helpers.browser import CHROMIUM, chromium, screenshot_folder, sign_in
from tests.helpers.requesters import client_for, new_requester

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)

FORM_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
)
KEY_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd"
TEST = f"""<QuestionForm xmlns="{FORM_NS}">
  <Overview>
    <Title>Receipt screening</Title>
    <Text>Two short questions about receipts. Answer both correctly to qualify.</Text>
  </Overview>
  <Question>
    <QuestionIdentifier>total</QuestionIdentifier>
    <DisplayName>Total</DisplayName>
    <IsRequired>true</IsRequired>
    <QuestionContent><Text>A receipt lists 2.50 and 1.50. Its total?</Text></QuestionContent>
    <AnswerSpecification>
      <SelectionAnswer>
        <StyleSuggestion>radiobutton</StyleSuggestion>
        <Selections>
          <Selection><SelectionIdentifier>three</SelectionIdentifier><Text>3.00</Text></Selection>
          <Selection><SelectionIdentifier>four</SelectionIdentifier><Text>4.00</Text></Selection>
          <Selection><SelectionIdentifier>five</SelectionIdentifier><Text>5.00</Text></Selection>
        </Selections>
      </SelectionAnswer>
    </AnswerSpecification>
  </Question>
  <Question>
    <QuestionIdentifier>currency</QuestionIdentifier>
    <DisplayName>Currency</DisplayName>
    <IsRequired>true</IsRequired>
    <QuestionContent><Text>Which currency does the symbol € stand for?</Text></QuestionContent>
    <AnswerSpecification>
      <SelectionAnswer>
        <StyleSuggestion>radiobutton</StyleSuggestion>
        <Selections>
          <Selection><SelectionIdentifier>dollar</SelectionIdentifier><Text>Dollar</Text></Selection>
          <Selection><SelectionIdentifier>euro</SelectionIdentifier><Text>Euro</Text></Selection>
        </Selections>
      </SelectionAnswer>
    </AnswerSpecification>
  </Question>
</QuestionForm>"""
ANSWER_KEY = f"""<AnswerKey xmlns="{KEY_NS}">
  <Question><QuestionIdentifier>total</QuestionIdentifier>
    <AnswerOption><SelectionIdentifier>four</SelectionIdentifier><AnswerScore>1</AnswerScore></AnswerOption>
  </Question>
  <Question><QuestionIdentifier>currency</QuestionIdentifier>
    <AnswerOption><SelectionIdentifier>euro</SelectionIdentifier><AnswerScore>1</AnswerScore></AnswerOption>
  </Question>
  <QualificationValueMapping>
    <PercentageMapping><MaximumSummedScore>2</MaximumSummedScore></PercentageMapping>
  </QualificationValueMapping>
</AnswerKey>"""


@pytest.fixture
def page(tmp_path) -> Iterator[Any]:
    with chromium(playwright_api) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        yield context.new_page()


def screenshots(page: Any, tmp_path: Path, name: str) -> None:
    """The page at 1280 and at 390 pixels wide (where nothing may overflow sideways)."""
    folder = screenshot_folder(tmp_path)
    page.screenshot(path=str(folder / f"quals-{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
    page.screenshot(path=str(folder / f"quals-{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_qualification_test_taken_in_the_browser_admits_the_worker_to_a_guarded_hit(
    mturk_local, page, tmp_path
):
    client = mturk_local.client
    type_id = client.create_qualification_type(
        Name="Receipt reader",
        Description="Reads totals and currencies off shop receipts correctly.",
        Keywords="receipts, transcription",
        QualificationTypeStatus="Active",
        Test=TEST,
        AnswerKey=ANSWER_KEY,
        TestDurationInSeconds=900,
        RetryDelayInSeconds=86_400,
    )["QualificationType"]["QualificationTypeId"]
    client.create_qualification_type(
        Name="Careful transcriber",
        Description="Granted by the requester after a look at your past work.",
        QualificationTypeStatus="Active",
    )
    other = client_for(mturk_local.url, new_requester(mturk_local.app, "Language lab"))
    other.create_qualification_type(
        Name="Speaks Welsh",
        Description="For studies in Welsh; granted at once to whoever asks.",
        Keywords="language, wales",
        QualificationTypeStatus="Active",
        AutoGranted=True,
    )
    hit_id = client.create_hit(
        Title="Transcribe a receipt's total",
        Description="Type the total of one receipt",
        Reward="0.25",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        Question=html_question('<form><input name="total"></form>'),
        QualificationRequirements=[
            {
                "QualificationTypeId": type_id,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [100],
                "ActionsGuarded": "Accept",
            }
        ],
    )["HIT"]["HITId"]

    sign_in(page, mturk_local.url, "AQUALTAKER1")
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    page.click("#accept")
    refused = page.locator(".error")
    playwright_api.expect(refused).to_contain_text("qualification requirements")
    page.get_by_role("link", name="Take qualification test").first.click()

    page.wait_for_selector("#take-test")
    playwright_api.expect(page.locator("#qualification-name")).to_have_text("Receipt reader")
    screenshots(page, tmp_path, "type")
    page.click("#take-test")
    page.wait_for_url(f"**/worker/qualifications/{type_id}/test?hit={hit_id}")
    playwright_api.expect(page.locator("#time-left")).to_contain_text("left")
    screenshots(page, tmp_path, "test")
    page.check("input[name='answer:total'][value='four']")
    page.check("input[name='answer:currency'][value='euro']")
    page.locator("#test-form [type=submit]").click()

    playwright_api.expect(page.locator("#score")).to_have_text("100")
    page.click("#back-to-hit")
    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    score = client.get_qualification_score(QualificationTypeId=type_id, WorkerId="AQUALTAKER1")
    assert score["Qualification"]["IntegerValue"] == 100

    page.goto(f"{mturk_local.url}/worker/qualifications")
    playwright_api.expect(page.locator("#qualifications tbody tr")).to_have_count(3)
    screenshots(page, tmp_path, "list")
