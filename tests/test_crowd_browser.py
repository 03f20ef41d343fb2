"""MTurk's crowd HTML elements in a real browser with no internet: task pages load Amazon's
crowd-html-elements.js, the task content origin serves the stand-in instead, a worker answers
with mouse or keyboard, and boto3's ListAssignmentsForHIT shows the answer in MTurk's shape.

Every request to a host other than loopback is refused, so a page that still reached for
Amazon would lose its elements (and the test would see it). Headless Chromium (Debian's
package) driven by Playwright; skipped when either is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import defusedxml.ElementTree as SafeET
import pytest

from mturk.questions import ANSWERS_NS, html_question
from tests.helpers.browser import CHROMIUM, expect_submitted, sign_in
from tests.helpers.browser import offline_context as offline_browser
from tests.helpers.mturk_samples import IMAGE_CLASSIFIER_TEMPLATE, SENTIMENT_TEMPLATE

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (apt-get install chromium)"
)
expect = playwright_api.expect

PICTURE = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200">'
    '<rect width="320" height="200" fill="#f5c08a"/></svg>'
)
FORM_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body>
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form{format}>
  <crowd-instructions link-text="View instructions" link-type="button">
    <short-summary><p>Describe the photo in a few words.</p></short-summary>
    <detailed-instructions><p>Be specific: name what is in it.</p></detailed-instructions>
    <positive-example><p>Highway, cars, gas station</p></positive-example>
    <negative-example><p>Outside, daytime</p></negative-example>
  </crowd-instructions>
  <crowd-alert type="warning" dismissible>Answers are checked against known ones.</crowd-alert>
  <p>Which do you agree with?</p>
  <crowd-radio-group>
    <crowd-radio-button name="option1" value="Option 1">Option 1</crowd-radio-button>
    <crowd-radio-button name="option2" value="Option 2">Option 2</crowd-radio-button>
  </crowd-radio-group>
  <crowd-checkbox name="image_attributes" value="blurry">Blurry</crowd-checkbox>
  <crowd-checkbox name="image_attributes" value="dim">Too dim</crowd-checkbox>
  <crowd-checkbox name="website-found">Website found</crowd-checkbox>
  <label><input type="checkbox" name="topics" value="road"> Road</label>
  <label><input type="checkbox" name="topics" value="city"> City</label>
  <crowd-input name="tag1" label="Word/phrase 1" required></crowd-input>
  <crowd-input name="tag2" label="Word/phrase 2"></crowd-input>
  <crowd-text-area name="why" label="Why?" char-counter max-length="200"></crowd-text-area>
  <short-instructions>Write three words or short phrases.</short-instructions>
  <full-instructions header="Tagging">Tag what a friend needs to picture it.</full-instructions>
</crowd-form>
</body></html>
"""


@pytest.fixture
def offline_context() -> Iterator[tuple[Any, list[str]]]:
    """A browser context that reaches loopback only (helpers/browser.py)."""
    with offline_browser(playwright_api) as offline:
        yield offline


def create_hit(mturk_local: Any, page_html: str) -> str:
    return str(
        mturk_local.client.create_hit(
            Title="Label it",
            Description="Say what it is",
            Reward="0.10",
            AssignmentDurationInSeconds=600,
            LifetimeInSeconds=3600,
            MaxAssignments=1,
            Question=html_question(page_html),
        )["HIT"]["HITId"]
    )


def accepted_task(context: Any, mturk_local: Any, hit_id: str, worker_id: str) -> Any:
    """The task frame of the HIT, previewed (submit disabled), then accepted by the worker."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, mturk_local.url, worker_id)
    page.goto(f"{mturk_local.url}/worker/hits/{hit_id}")
    task = page.frame_locator("#task-frame")
    expect(task.locator("button[type=submit]")).to_be_disabled()
    page.click("#accept")
    page.wait_for_url("**/worker/assignments/*")
    task = page.frame_locator("#task-frame")
    expect(task.locator("button[type=submit]")).to_be_enabled()
    assert errors == []
    return task


def submit(task: Any) -> None:
    task.locator("button[type=submit]").click()
    expect_submitted(task.owner.page)


def answers(mturk_local: Any, hit_id: str) -> dict[str, str]:
    """The assignment's answer as boto3 shows it: QuestionIdentifier -> FreeText."""
    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    root = SafeET.fromstring(assignment["Answer"])
    ns = {"a": ANSWERS_NS}
    return {
        answer.findtext("a:QuestionIdentifier", namespaces=ns): answer.findtext(
            "a:FreeText", namespaces=ns
        )
        for answer in root.findall("a:Answer", ns)
    }


def test_mturks_image_classifier_sample_end_to_end(mturk_local, offline_context):
    context, refused = offline_context
    hit_id = create_hit(mturk_local, IMAGE_CLASSIFIER_TEMPLATE.replace("${image_url}", PICTURE))
    task = accepted_task(context, mturk_local, hit_id, "ACROWD1")

    expect(task.get_by_role("heading", name="Choose the correct category")).to_be_visible()
    expect(task.locator(".crowd-target img")).to_have_attribute("src", PICTURE)
    expect(task.get_by_text("Classification Instructions")).to_be_hidden()
    task.get_by_text("View full instructions").click()
    expect(task.get_by_text("Classification Instructions")).to_be_visible()
    task.get_by_text("Dog", exact=True).click()  # the category's label, not its radio
    expect(task.get_by_label("Dog")).to_be_checked()
    submit(task)

    assert answers(mturk_local, hit_id) == {
        "taskAnswers": json.dumps([{"category": {"label": "Dog"}}], separators=(",", ":"))
    }
    assert refused == []


def test_mturks_sentiment_sample_by_keyboard_answers_flattened(mturk_local, offline_context):
    context, refused = offline_context
    page = SENTIMENT_TEMPLATE.replace("${text}", "The food was lovely, the wait was not.")
    hit_id = create_hit(mturk_local, page)
    task = accepted_task(context, mturk_local, hit_id, "ACROWD2")

    negative = task.get_by_label("Negative", exact=True)
    task.locator("button[type=submit]").click()  # nothing chosen: the browser says so
    assert negative.evaluate("radio => radio.validity.valueMissing") is True
    negative.press("ArrowRight")  # a radio group: the arrow keys move the choice
    neutral = task.get_by_label("Neutral")
    expect(neutral).to_be_checked()
    expect(neutral).to_be_focused()
    neutral.press("4")  # the number keys pick the nth category
    positive = task.get_by_label("Positive", exact=True)
    expect(positive).to_be_checked()
    expect(positive).to_be_focused()
    expect(positive.locator("xpath=..")).to_have_class("crowd-choice crowd-checked")
    submit(task)

    # flatten-objects: one field per nested key, as MTurk's results CSV Answer.sentiment.label
    assert answers(mturk_local, hit_id) == {"sentiment.label": "Positive"}
    assert refused == []


@pytest.mark.parametrize("flatten", [False, True], ids=["task-answers", "flatten-objects"])
def test_radio_group_checkboxes_and_labelled_inputs(mturk_local, offline_context, flatten):
    context, refused = offline_context
    form_format = ' answer-format="flatten-objects"' if flatten else ""
    hit_id = create_hit(mturk_local, FORM_PAGE.replace("{format}", form_format))
    task = accepted_task(context, mturk_local, hit_id, "ACROWD3" if flatten else "ACROWD4")

    panel = task.get_by_role("complementary", name="Instructions")
    expect(panel).to_contain_text("Write three words")  # the form's own, on top
    expect(panel.get_by_text("Tag what a friend")).to_be_hidden()
    expect(task.get_by_text("Be specific")).to_be_hidden()
    task.get_by_text("View instructions").click()
    expect(task.get_by_text("Be specific")).to_be_visible()
    expect(task.get_by_role("alert")).to_contain_text("Answers are checked")
    task.get_by_role("button", name="Dismiss").click()
    expect(task.get_by_role("alert")).to_have_count(0)

    task.get_by_text("Option 1").click()
    task.get_by_text("Option 2").click()  # one of a group: the first is unchecked again
    expect(task.get_by_label("Option 1")).not_to_be_checked()
    task.get_by_text("Blurry").click()
    task.get_by_label("Road").check()
    task.get_by_label("City").check()
    task.locator("button[type=submit]").click()  # Word/phrase 1 is required
    word = task.get_by_label("Word/phrase 1")
    assert word.evaluate("input => input.validity.valueMissing") is True
    task.get_by_text("Word/phrase 1").click()  # the label focuses its field
    expect(word).to_be_focused()
    word.press_sequentially("highway")
    task.get_by_label("Why?").fill("it shows a road")
    expect(task.locator(".crowd-counter")).to_have_text("15/200")
    submit(task)

    got = answers(mturk_local, hit_id)
    if flatten:
        assert got == {
            "option1.Option 1": "false",
            "option2.Option 2": "true",
            "image_attributes.blurry": "true",
            "image_attributes.dim": "false",
            "website-found.on": "false",
            "topics": "road|city",  # a list: one field per value, joined as MTurk joins them
            "tag1": "highway",  # tag2, left empty, is not sent
            "why": "it shows a road",
        }
    else:
        assert list(got) == ["taskAnswers"]
        assert json.loads(got["taskAnswers"]) == [
            {
                "option1": {"Option 1": False},
                "option2": {"Option 2": True},
                "image_attributes": {"blurry": True, "dim": False},
                "website-found": {"on": False},
                "topics": ["road", "city"],
                "tag1": "highway",
                "why": "it shows a road",
            }
        ]
    assert refused == []


def test_a_multi_select_classifier_toggles_by_keyboard_and_excludes(mturk_local, offline_context):
    context, refused = offline_context
    page = (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script><crowd-form>'
        '<crowd-classifier-multi-select name="category" header="Select the relevant categories"'
        " categories=\"['Positive', 'Negative', 'Neutral']\""
        " exclusion-category=\"{ text: 'None of the above' }\">"
        "<classification-target>Great food, rude staff.</classification-target>"
        "</crowd-classifier-multi-select></crowd-form>"
    )
    hit_id = create_hit(mturk_local, page)
    task = accepted_task(context, mturk_local, hit_id, "ACROWD5")

    positive = task.get_by_label("Positive")
    task.locator("button[type=submit]").click()  # at least one is required
    assert positive.evaluate("box => box.validationMessage") == "Choose at least one category."
    task.get_by_label("None of the above").check()
    positive.press("1")  # toggles Positive on, and the exclusion off
    positive.press("2")
    expect(task.get_by_label("None of the above")).not_to_be_checked()
    positive.press("2")  # and off again
    positive.press("3")
    expect(task.get_by_label("Negative")).not_to_be_checked()
    submit(task)

    task_answers = json.loads(answers(mturk_local, hit_id)["taskAnswers"])
    assert task_answers == [{"category": {"labels": ["Positive", "Neutral"]}}]
    assert refused == []
