"""Which crowd HTML elements the stand-in provides, and which pages are refused
(``mturk/crowd.py``)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from mturk.crowd import (
    KNOWN_ELEMENTS,
    crowd_elements,
    loads_crowd_elements,
    refusal_message,
    refused_elements,
    unknown_elements,
)
from tests.helpers.mturk_samples import (
    IMAGE_CLASSIFIER_TEMPLATE,
    SAMPLE_HTML_QUESTION,
    SENTIMENT_TEMPLATE,
)

SCRIPT = Path(__file__).resolve().parents[2] / "mturk/service/static/crowd-html-elements.js"
LOADS = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'


def script_elements() -> set[str]:
    """The names in the stand-in's ELEMENTS table, read from the script itself."""
    table = re.search(r"var ELEMENTS = \{(.*?)\n  \};", SCRIPT.read_text(), re.DOTALL)
    assert table is not None, "the stand-in has no ELEMENTS table"
    return set(re.findall(r'^\s*"(crowd-[a-z-]+)":\s*\w+,?$', table.group(1), re.MULTILINE))


def test_the_script_defines_exactly_the_known_elements():
    assert script_elements() == KNOWN_ELEMENTS
    assert {"crowd-form", "crowd-classifier", "crowd-radio-group"} <= KNOWN_ELEMENTS


def test_the_elements_of_a_page_in_order_each_once_in_lower_case():
    page = (
        LOADS
        + """
    <crowd-form><CROWD-Classifier name="x"></crowd-classifier>
      <crowd-input name="a"></crowd-input><crowd-input name="b"></crowd-input>
      <crowd-bounding-box name="box"/>
    </crowd-form>"""
    )
    assert crowd_elements(page) == [
        "crowd-form",
        "crowd-classifier",
        "crowd-input",
        "crowd-bounding-box",
    ]
    assert unknown_elements(page) == ["crowd-bounding-box"]


def test_markup_in_scripts_and_comments_is_not_an_element():
    page = (
        LOADS
        + """
    <!-- <crowd-polygon name="old"></crowd-polygon> -->
    <script>document.body.innerHTML = '<crowd-slider name="s"></crowd-slider>';</script>
    <crowd-form><crowd-input name="a"></crowd-input></crowd-form>"""
    )
    assert unknown_elements(page) == []


def test_only_a_page_that_loads_the_script_is_refused():
    uses = "<crowd-form><crowd-keypoint name='k'></crowd-keypoint></crowd-form>"
    assert refused_elements(LOADS + uses) == ["crowd-keypoint"]
    # A page of its own custom elements under that prefix, without MTurk's script: its own.
    assert not loads_crowd_elements(uses)
    assert refused_elements(uses) == []


def test_the_script_is_recognised_wherever_it_is_served_from():
    for src in (
        "https://assets.crowd.aws/crowd-html-elements.js",
        "/assets/crowd-html-elements.js",
        "//cdn.example.org/v2/Crowd-HTML-Elements.js?v=3",
    ):
        assert loads_crowd_elements(f'<script src="{src}"></script>'), src
    for page in (
        '<script src="https://assets.crowd.aws/other.js"></script>',
        "<script>var src = 'crowd-html-elements.js';</script>",
        '<script src="http://[bad"></script>',
        '<link href="crowd-html-elements.js">',
    ):
        assert not loads_crowd_elements(page), page


def test_mturks_samples_use_known_elements_only():
    for page in (SENTIMENT_TEMPLATE, IMAGE_CLASSIFIER_TEMPLATE, SAMPLE_HTML_QUESTION):
        assert refused_elements(page) == []
    assert loads_crowd_elements(SENTIMENT_TEMPLATE)


def test_the_refusal_names_the_elements_and_what_is_supported():
    message = refusal_message(["crowd-slider", "crowd-polygon"], "The template")
    assert message.startswith("The template uses the crowd HTML elements <crowd-slider>, ")
    assert "<crowd-polygon>" in message
    assert "Supported: crowd-alert, crowd-button, crowd-checkbox" in message
    assert "uses the crowd HTML element <crowd-x>," in refusal_message(["crowd-x"], "It")


def test_any_markup_is_read_in_linear_time_and_never_fails():
    """Python's html.parser raises AssertionError on ``<![`` with no name and takes quadratic
    time on ``<a <a <a ...``: a page is read in one linear pass instead (review revA)."""
    assert refused_elements(LOADS + "<p>a <![ b</p><crowd-slider name='s'>") == ["crowd-slider"]
    assert refused_elements(LOADS + "<!--> <crowd-slider> <!-- <crowd-polygon> -->") == [
        "crowd-slider"
    ]
    assert loads_crowd_elements("<script src=crowd-html-elements&#46;js></script>")
    assert crowd_elements("<crowd-form><crowd-input name='a'") == ["crowd-form"]  # cut off
    for hostile in ("<a " * 21_000, "<!--" * 16_000, "<![" * 20_000, '<a b="' * 10_000):
        started = time.monotonic()
        assert refused_elements(LOADS + hostile + "<crowd-slider>") in ([], ["crowd-slider"])
        assert time.monotonic() - started < 1.0, hostile[:6]
