"""Templates (``app/templates.py``): which fields answer with several values, and whether a
page can submit its answers to MTurk (with the plumbing added to a plain form)."""

from __future__ import annotations

import time

import pytest

from app.templates import (
    CROWD_ELEMENTS_URL,
    EXTERNAL_HIT_URL,
    HITBLOCK_TYPES,
    MTURK_SUBMIT_URL,
    CannotSubmit,
    default_template,
    item_multi_valued_fields,
    multi_valued_fields,
    placeholders,
    submit_problem,
    submittable,
)
from mturk.html_tags import start_tags
from tests.helpers.mturk_samples import (
    IMAGE_CLASSIFIER_TEMPLATE,
    SAMPLE_HTML_QUESTION,
    SENTIMENT_TEMPLATE,
)


def test_a_checkbox_group_and_a_multi_select_are_multi_valued():
    template = """
    <form>
      <input type="hidden" name="assignmentId">
      <label><input type="checkbox" name="topics" value="shop"> Shop</label>
      <label><INPUT TYPE="Checkbox" NAME="topics" value="blog"> Blog</label>
      <label><input type="checkbox" name="sure"> Sure</label>
      <select name="sizes" multiple><option>S</option><option>L</option></select>
      <select name="size"><option>S</option><option>L</option></select>
      <input name="note"><textarea name="comment"></textarea>
    </form>
    """
    assert multi_valued_fields(template) == {"topics", "sizes"}


def test_radio_groups_and_submit_buttons_send_one_value():
    template = """
    <input type="radio" name="label" value="cat"><input type="radio" name="label" value="dog">
    <button name="action" value="save">Save</button>
    <input type="submit" name="action" value="skip">
    <button type="button" name="help"></button><button type="button" name="help"></button>
    <input type="reset" name="again"><input type="reset" name="again">
    """
    assert multi_valued_fields(template) == frozenset()


def test_any_two_controls_sending_the_same_name_are_multi_valued():
    template = '<input name="tag"><input name="tag"><input type="radio" name="x"><input name="x">'
    assert multi_valued_fields(template) == {"tag", "x"}


def test_markup_that_is_not_a_control_does_not_count():
    template = """
    <script>document.write('<input type="checkbox" name="fake"><input name="fake">');</script>
    <!-- <input type="checkbox" name="gone"><input type="checkbox" name="gone"> -->
    <crowd-input name="reason"></crowd-input><crowd-input name="reason"></crowd-input>
    """
    assert multi_valued_fields(template) == frozenset()
    assert multi_valued_fields("<p>not a form <input") == frozenset()


def test_the_built_in_templates_have_single_valued_fields():
    for hitblock_type in HITBLOCK_TYPES.values():
        if hitblock_type.body is not None:
            template = default_template(hitblock_type, ["spam", "ham"])
            assert multi_valued_fields(template) == frozenset()


def test_a_control_named_by_a_placeholder_is_read_from_the_rendered_page():
    """``name="${question}"`` on a checkbox group: the item's own name is multi-valued."""
    template = """<form>
      <input type="checkbox" name="${question}" value="red">
      <input type="checkbox" name="${question}" value="blue">
      <input name="note"></form>"""
    html = HITBLOCK_TYPES["html"]
    assert item_multi_valued_fields(html, template, {"question": "colors"}) == {"colors"}
    assert item_multi_valued_fields(html, "<input name='a'><input name='a'>", {}) == {"a"}


def test_hostile_markup_is_read_quickly_and_never_fails():
    """html.parser raised AssertionError on ``<![`` (every poll of such a hitblock failed) and
    took quadratic time on ``<a <a ...``; a regex for ``name="${...}"`` took seconds on many
    ``name=``: a template is now read in one linear pass (review revA)."""
    html = HITBLOCK_TYPES["html"]
    assert multi_valued_fields("<![ x <input name=a><input name=a>") == {"a"}
    for template in ("name=" * 13_000, "<a " * 21_000, "<!--" * 16_000, "<![" * 20_000):
        started = time.monotonic()
        assert item_multi_valued_fields(html, template + "<input name=b>", {}) == frozenset()
        assert time.monotonic() - started < 1.0, template[:6]


# ---- a way to submit (issue 11) ----------------------------------------------------------

SMALLEST = """<form>
  <p>${question}</p>
  <label>Answer <input name="answer" required></label>
  <button>Submit</button>
</form>"""


def tags_of(page: str) -> list[tuple[str, dict[str, str | None]]]:
    return list(start_tags(page))


def the_form(page: str) -> dict[str, str | None]:
    [form] = [attributes for tag, attributes in tags_of(page) if tag == "form"]
    return form


def test_a_plain_form_is_given_mturks_plumbing_and_keeps_everything_it_had():
    page = submittable(SMALLEST)
    assert submit_problem(SMALLEST) is None
    form = the_form(page)
    assert form["action"] == MTURK_SUBMIT_URL
    assert form["method"] == "post"
    assert form["id"] == "mturk_form"
    inserted = f' action="{MTURK_SUBMIT_URL}" method="post" id="mturk_form"'
    assert page.startswith("<form" + inserted + SMALLEST.removeprefix("<form"))
    tags = tags_of(page)
    assert tags[-3] == (
        "input",
        {"type": "hidden", "name": "assignmentId", "id": "assignmentId", "value": "",
         "form": "mturk_form"},
    )  # fmt: skip
    assert tags[-2] == ("script", {"src": EXTERNAL_HIT_URL})
    assert 'document.getElementById("mturk_form")' in page
    assert 'turkSetAssignmentID("mturk_form")' in page
    assert placeholders(page) == {"question"}  # the plumbing adds no ${field}


def test_a_form_that_says_otherwise_is_overridden_by_the_first_attribute():
    """action="" or "#", method="get": a browser keeps an attribute's first value, and the
    plumbing's come first; the form's own id is kept and used."""
    template = (
        '<FORM class="task" action="#" method="get" id="answers"><input name="a">'
        '<input type="submit"></FORM>'
    )
    page = submittable(template)
    form = the_form(page)
    assert (form["action"], form["method"], form["id"], form["class"]) == (
        MTURK_SUBMIT_URL, "post", "answers", "task",
    )  # fmt: skip
    assert page.count('id="mturk_form"') == 0
    assert 'form="answers"' in page
    assert 'document.getElementById("answers")' in page


def test_a_form_with_its_own_assignment_id_field_gets_no_second_one():
    template = '<form><input type="hidden" name="assignmentId"><button>Go</button></form>'
    page = submittable(template)
    assert [a.get("name") for t, a in tags_of(page) if t == "input"] == ["assignmentId"]
    # An element already called assignmentId keeps its id; the field added has none.
    template = '<p id="assignmentId"></p><form><button>Go</button></form>'
    page = submittable(template)
    [added] = [a for t, a in tags_of(page) if t == "input"]
    assert added["name"] == "assignmentId" and "id" not in added


def test_markup_that_only_looks_like_a_form_is_left_alone():
    """``<form`` in a script, a comment or an attribute is text: only the real form's tag
    is given the plumbing, and a script's own text is not changed."""
    template = (
        "<script>var html = '<form action=\"/x\">';</script><!-- <form> -->"
        '<p title="<form >">Hi</p><form><button>Go</button></form>'
    )
    page = submittable(template)
    assert "var html = '<form action=\"/x\">';" in page
    assert "<!-- <form> -->" in page and 'title="<form >"' in page
    assert the_form(page)["action"] == MTURK_SUBMIT_URL
    assert page.count(MTURK_SUBMIT_URL) == 1
    # A look-alike's mark is read whole even where a "/" follows the tag's name.
    page = submittable("<!-- <form/> --><form/><button>Go</button></form>")
    assert page.startswith(f'<!-- <form/> --><form action="{MTURK_SUBMIT_URL}"')


def test_templates_that_already_submit_are_unchanged():
    sandbox = SAMPLE_HTML_QUESTION.format(
        submit="https://workersandbox.mturk.com/mturk/externalSubmit"
    )
    scripted = (  # psiTurk-style: the page's own script points the form at turkSubmitTo
        '<form id="f" method="post"><input type="hidden" name="assignmentId"></form><script>'
        'f.action = new URLSearchParams(location.search).get("turkSubmitTo") + '
        '"/mturk/externalSubmit";</script>'
    )
    templates = [
        SAMPLE_HTML_QUESTION.format(submit=MTURK_SUBMIT_URL),
        sandbox,
        scripted,
        SENTIMENT_TEMPLATE,
        IMAGE_CLASSIFIER_TEMPLATE,
        *(default_template(t, ["a", "b"]) for t in HITBLOCK_TYPES.values() if t.body),
    ]
    for template in templates:
        assert submit_problem(template) is None
        assert submittable(template) == template


def test_a_crowd_form_without_the_script_is_given_it():
    template = "<crowd-form><crowd-input name='reason'></crowd-input></crowd-form>"
    page = submittable(template)
    assert page.startswith(template)
    assert tags_of(page)[-1] == ("script", {"src": CROWD_ELEMENTS_URL})


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("<p>${question}</p><input name='answer'>", "no way to submit"),
        ("", "no way to submit"),
        ("<!-- <form><button>Go</button></form> -->", "no way to submit"),
        ("<form><button>A</button></form><form><button>B</button></form>", "2 forms"),
        ("<form action='https://example.org/save'><button>Go</button></form>",
         'posts to "https://example.org/save"'),
        ("<form action='${target}'><button>Go</button></form>", 'posts to "${target}"'),
        ("<form action='//www.mturk.com/mturk/externalSubmit'><button>Go</button></form>",
         "not to MTurk"),
        ("<form><input name='a'></form>", "no submit button"),
        ("<form><button type='button'>Check</button><input type='reset'></form>",
         "no submit button"),
        ("<button>Go</button><form><input name='a'></form>", "no submit button"),
        ("<crowd-form></crowd-form><form><button>Go</button></form>", "both a <crowd-form>"),
        ("<crowd-form></crowd-form><crowd-form></crowd-form>", "2 <crowd-form>"),
        ("<form><button>Go</button></form><textarea name='notes'>", "never closed"),
        ("<form><button>Go</button></form><!-- note", "never closed"),
        ("<crowd-form></crowd-form><script>var x;", "never closed"),
        ("<plaintext><form><button>Go</button></form>", "never closed"),
        ("<p id='mturk_form'></p><form><button>Go</button></form>", 'id="mturk_form"'),
        ("<p id='f'></p><form id='f'><button>Go</button></form>", "used twice"),
        ("<form id='${name}'><button>Go</button></form>", "placeholder"),
        (f"<form action='{MTURK_SUBMIT_URL}'><button>Go</button></form><form></form>",
         "no assignmentId field"),
    ],
)  # fmt: skip
def test_templates_that_cannot_submit_safely_say_what_is_missing(template, says):
    problem = submit_problem(template)
    assert problem is not None and says in problem, problem
    with pytest.raises(CannotSubmit, match="."):
        submittable(template)


def test_the_messages_say_how_to_fix_it():
    assert "<crowd-form>" in submit_problem("<p>hi</p>")
    assert '<button type="submit">' in submit_problem("<form></form>")
    assert "Remove the form's action" in submit_problem("<form action=x><button></button></form>")


def test_a_form_posting_to_mturk_without_assignment_id_is_given_one():
    template = f"<form action='{MTURK_SUBMIT_URL}' id='f'><button>Go</button></form>"
    page = submittable(template)
    assert 'name="assignmentId"' in page and 'form="f"' in page


def test_hostile_markup_is_checked_quickly():
    """One linear pass, and one more to find the real form among many look-alikes."""
    for template in (
        "<form" * 5_000 + "><button>Go</button>",
        "<!-- <form -->" * 5_000 + "<form><button>Go</button></form>",
        "<script>'<form '</script>" * 3_000 + "<form><button>Go</button></form>",
        "<a " * 21_000 + "<form><button>",
    ):
        started = time.monotonic()
        submit_problem(template)
        assert time.monotonic() - started < 1.0, template[:12]
    assert submit_problem("<!-- <form -->" * 5_000 + "<form><button>Go</button></form>") is None
